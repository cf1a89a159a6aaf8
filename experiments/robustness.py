"""Train a CNN on MNIST, then break it: FGSM, PGD (L∞, L2, targeted), C&W-L2.

    python -m experiments.robustness                  # offline MNIST subset
    python -m experiments.robustness --preset full --set dataset=mnist

Writes ``results.json``, ``adversarial_examples.png`` and
``accuracy_vs_eps.png`` to the workdir (default ``runs/robustness``).
"""
from __future__ import annotations

import dataclasses
import functools
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from advjax import attacks
from advjax import train
from experiments import classifier
from experiments import common
from experiments import plots


@dataclasses.dataclass(frozen=True)
class Config:
  dataset: str = "mnist_subset"
  train: classifier.TrainConfig = classifier.TrainConfig()
  n_train: int = 0            # 0: the whole split
  n_eval: int = 1000          # held-out examples attacked
  eval_batch: int = 200
  fgsm_eps: tuple = (0.05, 0.1, 0.2, 0.3)
  pgd_eps: float = 0.3
  pgd_steps: int = 40
  pgd_step_size: float = 0.01
  pgd_restarts: int = 2
  curve_steps: int = 10       # PGD steps for the accuracy-vs-eps curve
  n_curve: int = 500          # examples for that curve
  l2_eps: float = 2.0
  l2_step_size: float = 0.1
  n_cw: int = 200             # examples for C&W (the costliest attack)
  cw_steps: int = 100
  cw_search_steps: int = 5
  cw_learning_rate: float = 0.05
  cw_initial_const: float = 1.0
  seed: int = 0


PRESETS = {
    "smoke": Config(train=classifier.TrainConfig(model="small_cnn", epochs=3,
                                                 learning_rate=3e-3),
                    n_train=1024, n_eval=64, eval_batch=32, pgd_steps=3,
                    pgd_restarts=2, curve_steps=2, n_curve=32, n_cw=32, cw_steps=10,
                    cw_search_steps=2),
    "default": Config(),
    "full": Config(dataset="mnist", train=classifier.TrainConfig(epochs=20),
                   n_eval=10000, eval_batch=500, n_cw=1000, cw_search_steps=9,
                   pgd_restarts=5),
}


def evaluate(run, logits_fn, test, mesh):
  """Runs every attack on the held-out split; returns a flat results dict."""
  cfg = run.config
  x_all, y_all = test.image[: cfg.n_eval], test.label[: cfg.n_eval]
  key = jax.random.key(cfg.seed + 1)
  acc = functools.partial(classifier.accuracy, logits_fn,
                          batch_size=cfg.eval_batch, mesh=mesh)

  def run_attack(attack, x, y, n=None):
    n = len(x) if n is None else n
    return classifier.batched(jax.jit(attack), (x[:n], y[:n]), cfg.eval_batch, mesh)

  def pgd_attack(*, eps, norm, step_size, n_steps, restarts, target_fn=None):
    def attack(x, y):
      loss_fn = (attacks.untargeted(logits_fn, y) if target_fn is None else
                 attacks.targeted(logits_fn, target_fn(y)))
      return attacks.pgd(loss_fn, x, key=key, eps=eps, norm=norm,
                         step_size=step_size, n_steps=n_steps,
                         n_restarts=restarts)
    return attack

  results = {"clean_accuracy": acc(x_all, y_all)}
  curve = {"eps": [0.0] + list(cfg.fgsm_eps), "fgsm": [results["clean_accuracy"]],
           "pgd": [acc(x_all[:cfg.n_curve], y_all[:cfg.n_curve])]}
  stages = ["fgsm", "pgd_curve", "pgd", "pgd_l2", "targeted", "cw"]
  bar = run.progress(total=len(stages), desc="attacks")
  for eps in cfg.fgsm_eps:
    x_adv = run_attack(lambda x, y, eps=eps: attacks.fgsm(
        attacks.untargeted(logits_fn, y), x, eps=eps), x_all, y_all)
    results[f"fgsm_accuracy_eps{eps}"] = acc(x_adv, y_all)
    curve["fgsm"].append(results[f"fgsm_accuracy_eps{eps}"])
  results["fgsm_accuracy"] = results[f"fgsm_accuracy_eps{cfg.pgd_eps}"]
  bar.update(1)

  for eps in cfg.fgsm_eps:
    n = min(cfg.n_curve, len(x_all))
    x_adv = run_attack(pgd_attack(eps=eps, norm=jnp.inf, step_size=2.5 * eps /
                                  cfg.curve_steps, n_steps=cfg.curve_steps,
                                  restarts=1), x_all, y_all, n)
    curve["pgd"].append(acc(x_adv, y_all[:n]))
  bar.update(1)

  start = time.perf_counter()
  x_pgd = run_attack(pgd_attack(eps=cfg.pgd_eps, norm=jnp.inf,
                                step_size=cfg.pgd_step_size,
                                n_steps=cfg.pgd_steps,
                                restarts=cfg.pgd_restarts), x_all, y_all)
  results["pgd_seconds"] = time.perf_counter() - start
  results["pgd_accuracy"] = acc(x_pgd, y_all)
  results["pgd_max_linf"] = float(np.max(np.abs(x_pgd - x_all)))
  bar.update(1)

  x_l2 = run_attack(pgd_attack(eps=cfg.l2_eps, norm=2, step_size=cfg.l2_step_size,
                               n_steps=cfg.pgd_steps, restarts=1), x_all, y_all)
  results["pgd_l2_accuracy"] = acc(x_l2, y_all)
  bar.update(1)

  def next_class(y):
    return (y + 1) % 10

  x_tgt = run_attack(pgd_attack(eps=cfg.pgd_eps, norm=jnp.inf,
                                step_size=cfg.pgd_step_size,
                                n_steps=cfg.pgd_steps, restarts=1,
                                target_fn=next_class), x_all, y_all)
  preds = classifier.batched(jax.jit(lambda x: jnp.argmax(logits_fn(x), -1)),
                             (x_tgt,), cfg.eval_batch, mesh)
  results["targeted_success_rate"] = float(np.mean(preds == (y_all + 1) % 10))
  bar.update(1)

  n_cw = min(cfg.n_cw, len(x_all))
  x_cw = run_attack(lambda x, y: attacks.carlini_wagner_l2(
      logits_fn, x, y, n_steps=cfg.cw_steps, n_search_steps=cfg.cw_search_steps,
      learning_rate=cfg.cw_learning_rate, initial_const=cfg.cw_initial_const),
      x_all, y_all, n_cw)
  preds = classifier.batched(jax.jit(lambda x: jnp.argmax(logits_fn(x), -1)),
                             (x_cw,), cfg.eval_batch, mesh)
  clean_preds = classifier.batched(jax.jit(lambda x: jnp.argmax(logits_fn(x), -1)),
                                   (x_all[:n_cw],), cfg.eval_batch, mesh)
  # Success is judged on examples the model classified correctly to begin with.
  correct = clean_preds == y_all[:n_cw]
  fooled = preds != y_all[:n_cw]
  l2 = np.sqrt(np.sum((x_cw - x_all[:n_cw]).reshape(n_cw, -1) ** 2, axis=1))
  results["cw_success_rate"] = float(np.mean(fooled[correct]))
  results["cw_median_l2"] = float(np.median(l2[correct & fooled]))
  pgd_l2 = np.sqrt(np.sum((x_l2 - x_all).reshape(len(x_all), -1) ** 2, axis=1))
  results["pgd_l2_median_l2"] = float(np.median(pgd_l2))
  bar.update(1)
  bar.close()
  return results, curve, {"clean": x_all, "pgd": x_pgd, "cw": x_cw}


def main(argv=None):
  run, _ = common.setup("robustness", PRESETS, argv)
  cfg = run.config
  mesh = train.data_mesh()
  train_split, test = classifier.load_dataset(cfg.dataset, n_train=cfg.n_train)
  run.log(f"{cfg.dataset}: {len(train_split)} train / {len(test)} test examples; "
          f"{len(jax.devices())} {jax.default_backend()} device(s)")
  apply_fn, state, seconds = classifier.train_classifier(
      run, cfg.train, train_split, mesh=mesh)
  logits_fn = functools.partial(train.make_predict(apply_fn), state)

  results, curve, examples = evaluate(run, logits_fn, test, mesh)
  results["train_seconds"] = seconds
  run.write_results(results)

  n_show = 8
  x_show = examples["clean"][:n_show]
  predict = jax.jit(lambda x: jnp.argmax(logits_fn(x), -1))
  run.save_figure(plots.adversarial_grid(
      x_show, {"PGD L∞ ε=0.3": examples["pgd"][:n_show],
               "C&W L2": examples["cw"][:n_show]},
      predict, labels=test.label[:n_show]), "adversarial_examples")
  run.save_figure(plots.accuracy_vs_eps(
      curve["eps"], {"FGSM": curve["fgsm"], f"PGD-{cfg.curve_steps}": curve["pgd"]}),
      "accuracy_vs_eps")

  rows = [{"attack": k, "value": v} for k, v in sorted(results.items())]
  run.log(common.format_table(rows, ["attack", "value"]))
  run.log(f"results: {run.workdir / 'results.json'}")
  return results


if __name__ == "__main__":
  main(sys.argv[1:])
