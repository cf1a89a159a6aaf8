"""Black-box, transfer and physically robust attacks on an MNIST CNN, and a
scikit-learn model broken through a NumPy oracle.

    python -m experiments.blackbox                    # offline MNIST subset
    python -m experiments.blackbox --preset smoke

Stages (each cached in the workdir, so an interrupted run resumes):
  1. train the target CNN and a surrogate of another architecture on disjoint
     halves of the training split (orbax checkpoints);
  2. score-based attacks on held-out images the target classifies correctly
     (L∞, ε = 0.3): Square, NES-PGD, SPSA-PGD and coordinate-wise (ZOO-style)
     PGD, with per-example query counts -> success rate vs queries;
  3. transfer: PGD on the surrogate (white-box), success on the target;
  4. targeted EOT-PGD vs plain targeted PGD: the fraction of 100 random
     transforms (rotation, shift, scale, brightness/contrast, noise; drawn
     with a key the attacks never use) under which the example is still
     classified as the target;
  5. a scikit-learn gradient-boosting classifier on the 8×8 digits, attacked
     with Square and NES through ``attacks.numpy_oracle``.

Writes ``results.json``, ``success_vs_queries.png`` and
``adversarial_examples.png`` to the workdir (default ``runs/blackbox``).
"""
from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from advjax import attacks
from advjax import data
from advjax import train
from advjax.attacks import transforms
from experiments import classifier
from experiments import common
from experiments import plots


@dataclasses.dataclass(frozen=True)
class Config:
  dataset: str = "mnist_subset"
  # The robustness experiment's model (Madry et al.'s MNIST CNN).
  target: classifier.TrainConfig = classifier.TrainConfig(model="madry_cnn",
                                                          epochs=10,
                                                          learning_rate=2e-3)
  surrogate: classifier.TrainConfig = classifier.TrainConfig(model="mlp", epochs=10,
                                                             seed=1)
  n_train: int = 0               # 0: the whole split (then halved)
  eps: float = 0.3               # L∞ radius of every attack
  batch: int = 64                # examples per jitted attack call
  # Square
  n_square: int = 500
  square_queries: int = 1000
  square_p_init: float = 0.8
  # Gradient-estimation PGD (NES, SPSA, coordinate-wise)
  n_query: int = 100             # images for the query-hungry attacks
  max_queries: int = 10_000
  nes_samples: int = 50          # directions per estimate (2x queries)
  nes_sigma: float = 1e-3
  nes_step: float = 0.02
  coord_samples: int = 100       # coordinates per estimate
  coord_step: float = 0.1
  # Transfer
  n_transfer: int = 1000
  transfer_steps: int = 40
  transfer_step_size: float = 0.01
  # EOT
  n_eot: int = 100
  eot_eps: float = 0.3
  eot_steps: int = 100
  eot_step_size: float = 0.01
  eot_samples: int = 16          # transforms per gradient
  eot_eval_transforms: int = 100
  max_degrees: float = 10.0      # the random transforms (attack and evaluation)
  max_shift: float = 1.5         # pixels
  scale_range: tuple = (0.95, 1.05)
  brightness: float = 0.05
  contrast_range: tuple = (0.9, 1.1)
  noise_sigma: float = 0.02
  # scikit-learn
  sklearn_iters: int = 100
  n_sklearn: int = 200
  sklearn_eps: float = 0.3
  sklearn_square_queries: int = 1000
  sklearn_nes_samples: int = 20
  sklearn_nes_sigma: float = 0.1
  sklearn_nes_step: float = 0.05
  sklearn_nes_steps: int = 24
  seed: int = 0


PRESETS = {
    "smoke": Config(target=classifier.TrainConfig(model="small_cnn", epochs=2,
                                                  learning_rate=3e-3),
                    surrogate=classifier.TrainConfig(model="mlp", epochs=2, seed=1),
                    n_train=1024, batch=16, n_square=32, square_queries=100,
                    n_query=16, max_queries=1000, nes_samples=10, coord_samples=20,
                    n_transfer=64, transfer_steps=5, n_eot=16, eot_steps=5,
                    eot_samples=2, eot_eval_transforms=10, sklearn_iters=10,
                    n_sklearn=32, sklearn_square_queries=100, sklearn_nes_steps=5),
    "default": Config(),
    "full": Config(dataset="mnist", target=classifier.TrainConfig(
        model="madry_cnn", epochs=20), surrogate=classifier.TrainConfig(
            model="small_cnn", epochs=20, seed=1), batch=256, n_square=10000,
                   n_query=1000, n_transfer=10000, n_eot=1000, n_sklearn=290),
}


def _cached(run, name, compute):
  """Runs ``compute() -> dict of arrays`` once; later runs reload the result."""
  path = run.workdir / "stages" / f"{name}.npz"
  if path.exists() and not run.fresh:
    with np.load(path) as f:
      return {k: f[k] for k in f.files}
  out = {k: np.asarray(v) for k, v in compute().items()}
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.stem + ".tmp.npz")
  np.savez(tmp, **out)
  os.replace(tmp, path)
  return out


def _halves(split):
  """Two disjoint halves (even / odd positions) of a shuffled split."""
  return (data.Split(split.image[0::2], split.label[0::2]),
          data.Split(split.image[1::2], split.label[1::2]))


def _query_stats(res, budget):
  success = res["success"] & (res["n_queries"] <= budget)
  q = res["n_queries"][success]
  return float(np.mean(success)), float(np.median(q)) if len(q) else float("nan")


def _eot_transform(cfg):
  return transforms.compose(
      transforms.random_affine(max_degrees=cfg.max_degrees, max_shift=cfg.max_shift,
                               scale=cfg.scale_range),
      transforms.random_brightness_contrast(brightness=cfg.brightness,
                                            contrast=cfg.contrast_range),
      transforms.gaussian_noise(sigma=cfg.noise_sigma))


def query_attacks(run, logits_fn, x, y, mesh):
  """Square, NES-, SPSA- and coordinate-PGD on ``(x, y)``; per-example results."""
  cfg = run.config
  key = jax.random.key(cfg.seed + 10)
  dim = int(np.prod(x.shape[1:]))

  def margin(y_):
    return attacks.untargeted(logits_fn, y_, loss="margin")

  def run_attack(attack, n):
    start = time.perf_counter()
    out = classifier.batched(jax.jit(attack), (x[:n], y[:n]), cfg.batch, mesh)
    return {"n_queries": out.n_queries, "success": out.success, "x_adv": out.x_adv,
            "seconds": time.perf_counter() - start}

  def square(xb, yb):
    return attacks.square_attack(margin(yb), xb, key=key, eps=cfg.eps,
                                 n_queries=cfg.square_queries, p_init=cfg.square_p_init)

  def estimated(method, n_samples, step):
    per_step = attacks.estimator_queries(method, n_samples=n_samples, dim=dim) + 1
    n_steps = (cfg.max_queries - 1) // per_step

    def attack(xb, yb):
      return attacks.blackbox_pgd(margin(yb), xb, key=key, eps=cfg.eps,
                                  step_size=step, n_steps=n_steps, method=method,
                                  n_samples=n_samples, sigma=cfg.nes_sigma)
    return attack

  plan = {
      "square": (square, cfg.n_square),
      "nes": (estimated("nes", cfg.nes_samples, cfg.nes_step), cfg.n_query),
      "spsa": (estimated("spsa", cfg.nes_samples, cfg.nes_step), cfg.n_query),
      "coordinate": (estimated("coordinate", cfg.coord_samples, cfg.coord_step),
                     cfg.n_query),
  }
  out = {}
  bar = run.progress(total=len(plan), desc="query attacks")
  for name, (attack, n) in plan.items():
    out[name] = _cached(run, name, lambda a=attack, n=n: run_attack(a, min(n, len(x))))
    bar.update(1)
  bar.close()
  return out


def transfer_attack(run, logits_fn, surrogate_fn, x, y, mesh):
  """PGD on the surrogate; how often it fools the target."""
  cfg = run.config
  key = jax.random.key(cfg.seed + 20)

  def attack(xb, yb):
    return attacks.pgd(attacks.untargeted(surrogate_fn, yb), xb, key=key,
                       eps=cfg.eps, step_size=cfg.transfer_step_size,
                       n_steps=cfg.transfer_steps)

  def compute():
    x_adv = classifier.batched(jax.jit(attack), (x, y), cfg.batch, mesh)
    predict = jax.jit(lambda z: jnp.argmax(logits_fn(z), -1))
    predict_s = jax.jit(lambda z: jnp.argmax(surrogate_fn(z), -1))
    return {"target_pred": classifier.batched(predict, (x_adv,), cfg.batch, mesh),
            "surrogate_pred": classifier.batched(predict_s, (x_adv,), cfg.batch, mesh)}

  return _cached(run, "transfer", compute)


def eot_attack(run, logits_fn, x, y, mesh):
  """Targeted EOT-PGD vs plain targeted PGD (target ``y + 1 mod 10``, the
  printable adversarial example); per example, the fraction of held-out
  transforms under which it is still classified as the target."""
  cfg = run.config
  key = jax.random.key(cfg.seed + 30)
  t = _eot_transform(cfg)
  n_eval = cfg.eot_eval_transforms

  def objective(yb):
    return attacks.targeted(logits_fn, (yb + 1) % 10)

  def plain(xb, yb):
    return attacks.pgd(objective(yb), xb, key=key,
                       eps=cfg.eot_eps, step_size=cfg.eot_step_size,
                       n_steps=cfg.eot_steps)

  def robust(xb, yb):
    loss_fn = objective(yb)
    eot_loss = attacks.eot(loss_fn, t, n_samples=cfg.eot_samples)
    fixed = jax.random.key(cfg.seed + 31)
    return attacks.pgd(lambda z: eot_loss(z, fixed), xb, key=key, eps=cfg.eot_eps,
                       step_size=cfg.eot_step_size, n_steps=cfg.eot_steps,
                       grad_fn=attacks.eot_grad_fn(loss_fn, t,
                                                   n_samples=cfg.eot_samples))

  def survival(xb, yb):
    """Fraction of ``n_eval`` held-out transforms under which xb hits the target."""
    held_out = jax.random.key(cfg.seed + 99)  # never used by the attacks

    def one(k):
      return jnp.argmax(logits_fn(t(k, xb)), -1) == (yb + 1) % 10
    fooled = jax.lax.map(one, jax.random.split(held_out, n_eval))
    return jnp.mean(fooled.astype(jnp.float32), axis=0)

  def compute():
    surv = jax.jit(survival)
    x_pgd = classifier.batched(jax.jit(plain), (x, y), cfg.batch, mesh)
    x_eot = classifier.batched(jax.jit(robust), (x, y), cfg.batch, mesh)
    return {"x_pgd": x_pgd, "x_eot": x_eot,
            "pgd_survival": classifier.batched(surv, (x_pgd, y), cfg.batch, mesh),
            "eot_survival": classifier.batched(surv, (x_eot, y), cfg.batch, mesh),
            "clean_survival": classifier.batched(surv, (x, y), cfg.batch, mesh)}

  return _cached(run, "eot", compute)


def sklearn_attacks(run):
  """Gradient boosting on 8×8 digits, broken by Square and NES via a callback."""
  from sklearn.ensemble import HistGradientBoostingClassifier  # pylint: disable=import-outside-toplevel
  from threadpoolctl import threadpool_limits  # pylint: disable=import-outside-toplevel
  cfg = run.config
  train_split, test = data.digits()
  clf = HistGradientBoostingClassifier(max_iter=cfg.sklearn_iters, random_state=0)
  start = time.perf_counter()
  # One OpenMP thread: on a shared machine more threads spin and slow it down.
  with threadpool_limits(limits=1):
    clf.fit(train_split.image.reshape(len(train_split), -1), train_split.label)
  fit_seconds = time.perf_counter() - start

  def predict_proba(rows):
    with threadpool_limits(limits=1):
      return clf.predict_proba(rows)

  logits_fn = attacks.numpy_oracle(predict_proba, num_classes=10)
  x, y = test.image[: cfg.n_sklearn], test.label[: cfg.n_sklearn]
  clean = np.asarray(jnp.argmax(logits_fn(jnp.asarray(x)), -1))
  correct = clean == y
  xs, ys = jnp.asarray(x[correct]), jnp.asarray(y[correct])
  loss_fn = attacks.untargeted(logits_fn, ys, loss="margin")
  key = jax.random.key(cfg.seed + 40)

  def compute():
    sq = jax.jit(lambda z: attacks.square_attack(
        loss_fn, z, key=key, eps=cfg.sklearn_eps,
        n_queries=cfg.sklearn_square_queries, p_init=cfg.square_p_init))(xs)
    nes = jax.jit(lambda z: attacks.blackbox_pgd(
        loss_fn, z, key=key, eps=cfg.sklearn_eps, step_size=cfg.sklearn_nes_step,
        n_steps=cfg.sklearn_nes_steps, n_samples=cfg.sklearn_nes_samples,
        sigma=cfg.sklearn_nes_sigma))(xs)
    return {"square_success": sq.success, "square_queries": sq.n_queries,
            "nes_success": nes.success, "nes_queries": nes.n_queries,
            "correct": correct}

  out = _cached(run, "sklearn", compute)
  return out, fit_seconds


def success_curve(res, budgets):
  return [float(np.mean(res["success"] & (res["n_queries"] <= q))) for q in budgets]


def plot_curves(query, budget):
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig, ax = plt.subplots(figsize=(5, 3.4))
  budgets = np.unique(np.geomspace(1, budget, 200).astype(int))
  labels = {"square": "Square", "nes": "NES-PGD", "spsa": "SPSA-PGD",
            "coordinate": "coordinate-wise PGD"}
  for name, res in query.items():
    ax.plot(budgets, success_curve(res, budgets), label=labels[name])
  ax.set_xscale("log")
  ax.set_xlabel("queries per image")
  ax.set_ylabel("success rate")
  ax.set_ylim(-0.02, 1.02)
  ax.grid(alpha=0.3)
  ax.legend()
  ax.set_title("Black-box L∞ ε = 0.3 on MNIST")
  fig.tight_layout()
  return fig


def main(argv=None):
  run, _ = common.setup("blackbox", PRESETS, argv)
  cfg = run.config
  wall = time.perf_counter()
  mesh = train.data_mesh()
  train_split, test = classifier.load_dataset(cfg.dataset, n_train=cfg.n_train)
  target_split, surrogate_split = _halves(train_split)
  run.log(f"{cfg.dataset}: {len(target_split)} + {len(surrogate_split)} disjoint train "
          f"/ {len(test)} test; {len(jax.devices())} {jax.default_backend()} device(s)")
  apply_fn, state, target_seconds = classifier.train_classifier(
      run, cfg.target, target_split, stage="target", mesh=mesh)
  logits_fn = functools.partial(train.make_predict(apply_fn), state)
  s_apply, s_state, surrogate_seconds = classifier.train_classifier(
      run, cfg.surrogate, surrogate_split, stage="surrogate", mesh=mesh)
  surrogate_fn = functools.partial(train.make_predict(s_apply), s_state)

  predict = jax.jit(lambda z: jnp.argmax(logits_fn(z), -1))
  clean = classifier.batched(predict, (test.image,), cfg.batch, mesh)
  correct = clean == test.label
  x, y = test.image[correct], test.label[correct]  # attack what is right
  results = {"clean_accuracy": float(np.mean(correct)),
             "surrogate_clean_accuracy": classifier.accuracy(
                 surrogate_fn, test.image, test.label, batch_size=cfg.batch,
                 mesh=mesh),
             "target_train_seconds": target_seconds,
             "surrogate_train_seconds": surrogate_seconds}

  query = query_attacks(run, logits_fn, x, y, mesh)
  budgets = {"square": cfg.square_queries}
  for name, res in query.items():
    budget = budgets.get(name, cfg.max_queries)
    results[f"{name}_success_rate"], results[f"{name}_median_queries"] = (
        _query_stats(res, budget))
    results[f"{name}_mean_queries"] = float(np.mean(res["n_queries"]))
    results[f"{name}_n_images"] = len(res["success"])
    results[f"{name}_seconds"] = float(res["seconds"])
    results[f"{name}_max_linf"] = float(np.max(np.abs(res["x_adv"] - x[:len(res["x_adv"])])))
  results["square_success_rate_100_queries"] = success_curve(query["square"], [100])[0]
  results["nes_success_rate_1000_queries"] = success_curve(query["nes"], [1000])[0]

  n_t = min(cfg.n_transfer, len(x))
  tr = transfer_attack(run, logits_fn, surrogate_fn, x[:n_t], y[:n_t], mesh)
  results["transfer_success_rate"] = float(np.mean(tr["target_pred"] != y[:n_t]))
  results["surrogate_whitebox_success_rate"] = float(
      np.mean(tr["surrogate_pred"] != y[:n_t]))

  n_e = min(cfg.n_eot, len(x))
  eo = eot_attack(run, logits_fn, x[:n_e], y[:n_e], mesh)
  results["eot_survival_rate"] = float(np.mean(eo["eot_survival"]))
  results["pgd_survival_rate"] = float(np.mean(eo["pgd_survival"]))
  results["clean_transformed_error"] = float(np.mean(eo["clean_survival"]))
  results["eot_untransformed_success_rate"] = float(
      np.mean(np.asarray(predict(jnp.asarray(eo["x_eot"]))) != y[:n_e]))
  results["pgd_untransformed_success_rate"] = float(
      np.mean(np.asarray(predict(jnp.asarray(eo["x_pgd"]))) != y[:n_e]))

  sk, fit_seconds = sklearn_attacks(run)
  results["sklearn_clean_accuracy"] = float(np.mean(sk["correct"]))
  results["sklearn_square_success_rate"] = float(np.mean(sk["square_success"]))
  results["sklearn_square_median_queries"] = float(np.median(
      sk["square_queries"][sk["square_success"]])) if sk["square_success"].any() else float("nan")
  results["sklearn_nes_success_rate"] = float(np.mean(sk["nes_success"]))
  results["sklearn_nes_median_queries"] = float(np.median(
      sk["nes_queries"][sk["nes_success"]])) if sk["nes_success"].any() else float("nan")
  results["sklearn_fit_seconds"] = fit_seconds
  results["wall_seconds"] = time.perf_counter() - wall
  run.write_results(results)

  run.save_figure(plot_curves(query, cfg.max_queries), "success_vs_queries")
  n_show = 8
  run.save_figure(plots.adversarial_grid(
      x[:n_show], {"Square": query["square"]["x_adv"][:n_show],
                   "NES-PGD": query["nes"]["x_adv"][:n_show],
                   "EOT-PGD": eo["x_eot"][:n_show]},
      predict, labels=y[:n_show]), "adversarial_examples")

  rows = [{"measure": k, "value": v} for k, v in sorted(results.items())]
  run.log(common.format_table(rows, ["measure", "value"]))
  run.log(f"results: {run.workdir / 'results.json'}")
  return results


if __name__ == "__main__":
  main(sys.argv[1:])
