"""Adversarial training on MNIST and an honest evaluation of it.

    python -m experiments.adversarial_training                  # all methods
    python -m experiments.adversarial_training --set methods=pgd_at

Methods: standard, fgsm_rs (FGSM from a random start: N-FGSM, de Jorge et al.
2022, by default; Wong et al. 2020 by --set), fgsm_prior (FGSM from each
example's perturbation of the previous epoch: Zheng et al. 2020, Jia et al.
2022), pgd_at (Madry et al. 2018),
free_at (Shafahi et al. 2019), trades (Zhang et al. 2019), distillation
(Papernot et al. 2016). Each is trained (one checkpointed stage per method;
an interrupted run resumes) and evaluated on the held-out split: clean
accuracy; robust accuracy at L∞ ε as the per-example worst case of APGD-CE,
APGD-T and PGD-50 with restarts (run as a cascade on the survivors);
gradient-masking diagnostics (accuracy vs ε must fall to ~0; CE-PGD vs
margin-PGD). For pgd_at also the perturbation sets of CS182 Problem 4.

Per-method results go to ``eval_<method>.json``; ``results.json`` merges every
method evaluated so far in the workdir, so methods can be rerun one by one.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from advjax import attacks
from advjax import data
from advjax import metrics
from advjax import models
from advjax import train
from experiments import classifier
from experiments import common
from experiments import plots

METHODS = ("standard", "fgsm_rs", "fgsm_prior", "pgd_at", "free_at", "trades",
           "distillation")
SINGLE_STEP = ("fgsm_rs", "fgsm_prior")
# Each stage's initialization key folds in its position here: new stages go
# at the end, so that adding one leaves every other stage's run as it was.
_STAGES = ("standard", "fgsm_rs", "pgd_at", "free_at", "trades", "distillation",
           "distillation_teacher", "fgsm_prior")


@dataclasses.dataclass(frozen=True)
class Config:
  dataset: str = "mnist_subset"
  methods: tuple = METHODS
  n_train: int = 0              # 0: the whole split
  widths: tuple = (32, 64)      # SmallCNN conv widths
  hidden: int = 200
  epochs: int = 40              # PGD-AT and TRADES
  # FGSM from a random start, N-FGSM's way (de Jorge et al. 2022): noise 1.5ε,
  # step ε, no projection. Wong et al.'s recipe (noise ε, step 1.25ε,
  # projected; --set fgsm_noise=1 fgsm_step=1.25 fgsm_project=true
  # fgsm_epochs=30) overfits catastrophically on this subset: robust 0.02.
  fgsm_epochs: int = 120        # FGSM-RS (2 passes per batch instead of 9)
  fgsm_step: float = 1.0        # FGSM-RS step / ε (Wong et al.: 1.25)
  fgsm_noise: float = 1.5       # random-start radius / ε (Wong et al.: 1)
  fgsm_project: bool = False    # project onto the ε ball (Wong et al.: yes)
  fgsm_grad_align: float = 0.0  # GradAlign λ (Andriushchenko & Flammarion)
  # FGSM from each example's previous perturbation (fgsm_prior; step
  # fgsm_step·ε) with Jia et al.'s prior-guided regularizer of weight λ.
  prior_epochs: int = 60        # 1 attack + 2 training passes per batch
  prior_consistency: float = 10.0
  prior_noise: float = 0.0      # noise added to the prior / ε
  prior_restart: float = 0.2    # probability of a random start instead
  # Wong et al.'s guard against catastrophic overfitting: after every epoch a
  # PGD probe on a fixed batch of *training* images; the epoch with the best
  # probe accuracy is the model kept, and training stops once the probe falls
  # more than early_stop_drop below that best.
  early_stop_methods: tuple = SINGLE_STEP
  probe_size: int = 512
  probe_steps: int = 10
  probe_every: int = 1          # epochs between probes (the last is always probed)
  early_stop_drop: float = 0.2
  standard_epochs: int = 8      # standard and each distillation stage
  # Free-AT makes epochs·(train_steps + 2)/free_replays passes of
  # free_replays replays: PGD-AT's cost.
  batch_size: int = 100
  learning_rate: float = 3e-3   # Adam, linear warm-up then cosine decay
  weight_decay: float = 0.0     # > 0: AdamW's decoupled weight decay
  warmup_frac: float = 0.3
  eps: float = 0.3
  train_eps: float = 0.0        # the ε training ramps to; 0: eps
  eps_ramp_frac: float = 0.4    # ε grows linearly from 0 over this part of training
  train_steps: int = 7          # PGD steps in PGD-AT and TRADES
  trades_beta: float = 6.0
  free_replays: int = 8
  temperature: float = 100.0    # defensive distillation
  n_eval: int = 1000
  eval_batch: int = 250
  pgd_steps: int = 50
  pgd_restarts: int = 10
  apgd_steps: int = 100
  apgd_targets: int = 3         # AutoAttack's standard list uses 9
  # Square (margin loss) last in the cascade and alone as the black-box check
  # of gradient masking; 0 leaves it out (the measured default predates it).
  square_queries: int = 0
  curve_eps: tuple = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
  curve_steps: int = 20
  n_curve: int = 500
  gen_steps: int = 50           # perturbation-set generalization attacks
  night_brightness: float = 0.35
  brightness_sweep: tuple = (0.8, 0.6, 0.5)  # clean accuracy on dimmed images
  seed: int = 0


PRESETS = {
    "smoke": Config(n_train=1000, widths=(8, 16), hidden=32, epochs=2,
                    # 2 epochs of N-FGSM's 2.5ε-wide noise leave a near-constant
                    # classifier (no attack moves it); Wong et al.'s start here.
                    fgsm_epochs=2, prior_epochs=2, fgsm_noise=1.0, fgsm_step=1.25, fgsm_project=True,
                    standard_epochs=3, batch_size=40, train_steps=2,
                    free_replays=2, probe_size=40, probe_steps=3, n_eval=80, eval_batch=40, pgd_steps=5,
                    pgd_restarts=2, apgd_steps=10, apgd_targets=2,
                    curve_eps=(0.1, 0.3, 0.5), curve_steps=5, n_curve=40,
                    gen_steps=5, square_queries=10),  # equal step counts share compiled attacks
    "default": Config(),
    "full": Config(dataset="mnist", epochs=40, fgsm_epochs=30, prior_epochs=30,
                   standard_epochs=10,
                   train_steps=40, n_eval=10000, batch_size=128, eval_batch=512,
                   apgd_targets=9, square_queries=5000),
}


# ----------------------------------------------------------------- training --

def _schedules(cfg, steps_per_epoch, epochs):
  total = max(epochs * steps_per_epoch, 1)
  lr = optax.warmup_cosine_decay_schedule(
      0.0, cfg.learning_rate, max(int(cfg.warmup_frac * total), 1), total)
  ramp = max(cfg.eps_ramp_frac * total, 1.0)
  top = cfg.train_eps or cfg.eps
  eps = lambda count: top * jnp.minimum(1.0, count / ramp)  # noqa: E731
  return lr, eps


def _make_step(method, cfg, apply_fn, tx, eps, teacher=None):
  if method == "standard":
    return train.make_classifier_step(apply_fn, tx)
  fgsm_step_size = lambda c: cfg.fgsm_step * eps(c)  # noqa: E731
  if method == "fgsm_rs":
    return train.make_fgsm_rs_step(
        apply_fn, tx, eps=eps, step_size=fgsm_step_size,
        noise_scale=cfg.fgsm_noise, project=cfg.fgsm_project,
        grad_align=cfg.fgsm_grad_align)
  if method == "fgsm_prior":
    return train.make_fgsm_prior_step(
        apply_fn, tx, eps=eps, step_size=fgsm_step_size,
        noise_scale=cfg.prior_noise, restart_prob=cfg.prior_restart,
        consistency=cfg.prior_consistency)
  if method == "pgd_at":
    return train.make_pgd_at_step(apply_fn, tx, eps=eps, n_steps=cfg.train_steps)
  if method == "free_at":
    return train.make_free_at_step(apply_fn, tx, eps=eps,
                                   n_replays=cfg.free_replays)
  if method == "trades":
    return train.make_trades_step(apply_fn, tx, eps=eps, beta=cfg.trades_beta,
                                  n_steps=cfg.train_steps)
  if method in ("distillation_teacher", "distillation"):
    return train.make_distillation_step(apply_fn, tx, temperature=cfg.temperature,
                                        teacher_logits_fn=teacher)
  raise ValueError(f"unknown method {method!r}; methods: {METHODS}")


def train_method(run, method, train_split, mesh, module, *, teacher=None,
                 ev=None):
  """Trains one stage with a checkpoint per epoch; returns ``(variables,
  history {metric: [epochs]}, [wall seconds, CPU seconds])``. ``ev`` (an
  :class:`Evaluator`) runs the early-stopping probe of
  ``cfg.early_stop_methods``."""
  cfg = run.config
  apply_fn = train.linen_apply(module)
  adversarial = method not in ("standard", "distillation_teacher", "distillation")
  epochs = cfg.epochs if adversarial else cfg.standard_epochs
  epochs = cfg.fgsm_epochs if method == "fgsm_rs" else epochs
  epochs = cfg.prior_epochs if method == "fgsm_prior" else epochs
  updates_per_batch = 1
  if method == "free_at":  # PGD-AT's cost: train_steps + 2 passes per batch
    updates_per_batch = cfg.free_replays
    epochs = max(1, round(cfg.epochs * (cfg.train_steps + 2) / cfg.free_replays))
  steps_per_epoch = len(train_split) // cfg.batch_size
  lr, eps = _schedules(cfg, steps_per_epoch * updates_per_batch, epochs)
  tx = (optax.adamw(lr, weight_decay=cfg.weight_decay) if cfg.weight_decay
        else optax.adam(lr))
  init_key, key = jax.random.split(jax.random.fold_in(jax.random.key(cfg.seed),
                                                      _STAGES.index(method)))
  params, model_state = train.split_variables(
      module.init(init_key, train_split.image[:1]))
  if method == "free_at":
    state = train.FreeATState.create(
        params, tx, model_state,
        batch_shape=(cfg.batch_size,) + train_split.image.shape[1:])
  elif method == "fgsm_prior":
    state = train.PriorState.create(params, tx, model_state,
                                    example_shape=train_split.image.shape[1:],
                                    n_examples=len(train_split))
  else:
    state = train.TrainState.create(params, tx, model_state)
  teacher_fn = None
  if teacher is not None:
    teacher_fn = lambda x: module.apply(teacher, x)  # noqa: E731
  step = jax.jit(run.checked_step(_make_step(method, cfg, apply_fn, tx, eps,
                                            teacher_fn)), donate_argnums=0)
  names = ("loss", "clean_accuracy", "adv_accuracy")
  template = {"state": state, "history": np.full((epochs, len(names)), np.nan,
                                                 np.float32),
              "seconds": np.zeros((2,), np.float64)}
  probe = None
  if method in cfg.early_stop_methods:
    if cfg.probe_every < 1:
      raise ValueError(f"`probe_every` must be >= 1; got {cfg.probe_every}.")
    if ev is None:
      raise ValueError(f"`ev` is needed to early-stop {method!r} on a PGD probe")
    probe = _make_probe(ev, cfg, train_split)
    template["probe"] = np.full((epochs,), np.nan, np.float32)
    # A host copy: the step donates the state it is given.
    template["best"] = jax.device_get({"params": state.params, **state.model_state})
  ckpt = run.checkpointer(method)
  saved, epoch = ckpt.restore(template)
  state = train.replicate(saved["state"], mesh)
  history, seconds = np.array(saved["history"]), np.array(saved["seconds"])
  bar = run.progress(total=epochs, initial=epoch, desc=f"train {method}")
  while epoch < epochs and not (probe and _stopped(cfg, saved["probe"])):
    start = np.array([time.perf_counter(), time.process_time()])
    epoch_key = jax.random.fold_in(key, epoch)
    sums = np.zeros(len(names))
    n = 0
    for i, batch in enumerate(data.iterate_batches(
        epoch_key, train_split, cfg.batch_size,
        with_index=method == "fgsm_prior")):
      state, m = step(state, train.shard_batch(batch, mesh),
                      jax.random.fold_in(epoch_key, i))
      m = run.check_finite(m, step=epoch * steps_per_epoch + i)
      m = {"clean_accuracy": m.get("accuracy", np.nan), **m}
      sums += [float(m.get(k, np.nan)) for k in names]
      n += 1
    history[epoch] = sums / max(n, 1)
    saved = {**saved, "state": state, "history": history}
    if probe and ((epoch + 1) % cfg.probe_every == 0 or epoch + 1 == epochs):
      variables = {"params": state.params, **state.model_state}
      saved["probe"] = np.array(saved["probe"])
      saved["probe"][epoch] = probe(variables, jax.random.fold_in(key, 2**31 - 1))
      if saved["probe"][epoch] >= np.nanmax(saved["probe"]):
        saved["best"] = jax.device_get(variables)  # the step donates state
      run.log(f"{method} epoch {epoch + 1}: train adv acc {history[epoch, 2]:.3f}, "
              f"PGD-{cfg.probe_steps} probe {saved['probe'][epoch]:.3f}")
    seconds += np.array([time.perf_counter(), time.process_time()]) - start
    saved["seconds"] = np.asarray(seconds)
    epoch += 1
    ckpt.save(epoch, saved)
    bar.update(1)
    bar.set_postfix(loss=f"{history[epoch - 1, 0]:.3f}",
                    adv=f"{history[epoch - 1, 2]:.3f}")
  bar.close()
  ckpt.close()
  history = {k: history[:, j].tolist() for j, k in enumerate(names)}
  if probe:  # the best epoch by the probe is the model
    history["probe_accuracy"] = np.asarray(saved["probe"]).tolist()
    return saved["best"], history, seconds
  variables = {"params": state.params, **state.model_state}
  return variables, history, seconds


def _stopped(cfg, probe_history) -> bool:
  """Catastrophic overfitting: the probe fell far below its best."""
  done = np.asarray(probe_history)
  done = done[~np.isnan(done)]
  return bool(done.size) and done[-1] < done.max() - cfg.early_stop_drop


def _make_probe(ev, cfg, train_split):
  """``probe(variables, key) -> float``: PGD accuracy at the full ε on a fixed
  random batch of training images (Wong et al. 2020's early-stopping check),
  with the evaluation's own PGD."""
  idx = np.asarray(jax.random.permutation(jax.random.key(cfg.seed + 3),
                                          len(train_split)))[: cfg.probe_size]
  x, y = train_split.image[idx], train_split.label[idx]
  attack = ev.attack("pgd", eps=cfg.eps, n_steps=cfg.probe_steps)

  def probe(variables, key):
    x_adv = attack(variables)(x, y, key)
    predicted = ev.predict_jit(variables, train.shard_batch(x_adv, ev.mesh))
    return float(np.mean(np.asarray(predicted) == y))

  return probe


# --------------------------------------------------------------- evaluation --

class Evaluator:
  """Jitted attacks shared by every method (same architecture: one compile);
  the model's variables are an argument."""

  def __init__(self, module, cfg, mesh):
    self.cfg, self.mesh = cfg, mesh
    self.logits = lambda v, x: module.apply(v, x)  # noqa: E731
    self.predict_jit = jax.jit(lambda v, x: jnp.argmax(self.logits(v, x), -1))
    self._cache = {}

  def _jit(self, name, make):
    if name not in self._cache:
      self._cache[name] = jax.jit(make)
    return self._cache[name]

  def attack(self, kind, *, eps, norm=jnp.inf, loss="ce", n_steps=None,
             restarts=1):
    """``(variables) -> attack(x, y, key)`` for the cascade."""
    cfg = self.cfg
    if kind == "pgd":
      n = cfg.pgd_steps if n_steps is None else n_steps

      def fn(v, x, y, k, eps):
        f = lambda z: self.logits(v, z)  # noqa: E731
        return attacks.pgd(attacks.untargeted(f, y, loss=loss), x, key=k,
                           eps=eps, norm=norm, step_size=2.5 * eps / n,
                           n_steps=n, n_restarts=restarts)
    elif kind == "apgd_ce":
      def fn(v, x, y, k, eps):
        return attacks.apgd_attack(lambda z: self.logits(v, z), x, y, key=k,
                                   eps=eps, norm=norm, loss="ce",
                                   n_steps=cfg.apgd_steps)
    elif kind == "apgd_t":
      def fn(v, x, y, k, eps):
        return attacks.apgd_targeted(lambda z: self.logits(v, z), x, y, key=k,
                                     eps=eps, norm=norm,
                                     n_target_classes=cfg.apgd_targets,
                                     n_steps=cfg.apgd_steps)
    elif kind == "square":
      def fn(v, x, y, k, eps):
        margin = attacks.untargeted(lambda z: self.logits(v, z), y, loss="margin")
        return attacks.square_attack(margin, x, key=k, eps=eps, norm=norm,
                                     n_queries=cfg.square_queries).x_adv
    else:
      raise ValueError(kind)
    steps = {"pgd": cfg.pgd_steps if n_steps is None else n_steps}.get(kind)
    jitted = self._jit((kind, norm, loss, steps, restarts), fn)

    def bind(variables):
      def attack(x, y, key):
        xs, ys = train.shard_batch((x, y), self.mesh)
        return np.asarray(jitted(variables, xs, ys, key, jnp.float32(eps)))
      return attack

    return bind

  def cascade(self, variables, x, y, named, key):
    predict = lambda x_: np.asarray(self.predict_jit(  # noqa: E731
        variables, train.shard_batch(x_, self.mesh)))
    return metrics.cascade_evaluation(
        predict, x, y, attacks={k: a(variables) for k, a in named.items()},
        key=key, batch_size=self.cfg.eval_batch)


def robust_attacks(ev, cfg):
  """The attacks whose per-example worst case is ``robust_accuracy``, in
  cascade order (a black-box attack such as Square belongs at the end)."""
  named = {"apgd_ce": ev.attack("apgd_ce", eps=cfg.eps),
           "apgd_t": ev.attack("apgd_t", eps=cfg.eps),
           "pgd": ev.attack("pgd", eps=cfg.eps, restarts=cfg.pgd_restarts)}
  if cfg.square_queries:
    named["square"] = ev.attack("square", eps=cfg.eps)
  return named


def evaluate_method(run, ev, method, variables, test):
  cfg = run.config
  x, y = test.image[: cfg.n_eval], test.label[: cfg.n_eval]
  key = jax.random.key(cfg.seed + 1)
  out = {}
  start = time.perf_counter()
  _, acc = ev.cascade(variables, x, y, robust_attacks(ev, cfg), key)
  out["clean_accuracy"] = acc["clean"]
  out.update({f"after_{k}_accuracy": v for k, v in acc.items() if k != "clean"})
  out["robust_accuracy"] = acc[list(acc)[-1]]
  out["eval_seconds"] = time.perf_counter() - start
  # Gradient-masking diagnostics: each attack alone, CE versus margin loss.
  nc = min(cfg.n_curve, len(x))
  for loss in ("ce", "margin"):
    _, a = ev.cascade(variables, x[:nc], y[:nc],
                      {"pgd": ev.attack("pgd", eps=cfg.eps, loss=loss)}, key)
    out[f"pgd_{loss}_accuracy"] = a["pgd"]
  out["ce_margin_gap"] = out["pgd_ce_accuracy"] - out["pgd_margin_accuracy"]
  if cfg.square_queries:  # black-box far below white-box would mean masking
    _, a = ev.cascade(variables, x[:nc], y[:nc],
                      {"square": ev.attack("square", eps=cfg.eps)}, key)
    out["square_accuracy"] = a["square"]
  curve = [metrics_clean(ev, variables, x[:nc], y[:nc])]
  for eps in cfg.curve_eps:
    _, a = ev.cascade(variables, x[:nc], y[:nc], {"pgd": ev.attack(
        "pgd", eps=eps, loss="margin", n_steps=cfg.curve_steps)}, key)
    curve.append(a["pgd"])
    out[f"curve_accuracy_eps{eps}"] = a["pgd"]
  out["diagnostic_clean_accuracy"] = curve[0]  # the diagnostics' n_curve images
  out["max_eps_accuracy"] = curve[-1]
  return out, curve


def metrics_clean(ev, variables, x, y):
  _, a = ev.cascade(variables, x, y, {}, jax.random.key(0))
  return a["clean"]


def dimmed(x, brightness):
  return np.clip(x * brightness, 0.0, 1.0).astype(x.dtype)


def brightness_accuracies(ev, variables, test, cfg):
  """Clean accuracy on dimmed test images: ``night_accuracy`` (×
  ``night_brightness``) and ``brightness_<b>_accuracy`` per sweep value."""
  x, y = test.image[: cfg.n_eval], test.label[: cfg.n_eval]
  out = {"night_accuracy": metrics_clean(ev, variables,
                                         dimmed(x, cfg.night_brightness), y)}
  for b in cfg.brightness_sweep:
    out[f"brightness_{b}_accuracy"] = metrics_clean(ev, variables, dimmed(x, b), y)
  return out


def generalization(run, ev, variables, test, night_accuracy):
  """CS182 Problem 4 for an L∞-0.3-trained model: which other perturbation
  sets does the robustness carry over to? Returns results and table rows."""
  cfg = run.config
  x, y = test.image[: cfg.n_eval], test.label[: cfg.n_eval]
  key = jax.random.key(cfg.seed + 2)
  inside = "≥ the L∞ 0.3 accuracy: the set lies inside the trained ball"
  sets = [("linf_0.1", jnp.inf, 0.1, inside),
          ("linf_0.4", jnp.inf, 0.4, "no guarantee: larger than the trained ball"),
          ("l2_0.3", 2, 0.3, inside + " (‖δ‖∞ ≤ ‖δ‖₂)"),
          ("l2_2.0", 2, 2.0, "no guarantee: ‖δ‖₂ ≤ 2 allows ‖δ‖∞ up to 1")]
  out, rows = {}, []
  for name, norm, eps, prediction in sets:
    named = {"apgd_ce": ev.attack("apgd_ce", eps=eps, norm=norm),
             "pgd": ev.attack("pgd", eps=eps, norm=norm, n_steps=cfg.gen_steps)}
    _, a = ev.cascade(variables, x, y, named, key)
    out[f"{name}_accuracy"] = a["pgd"]
    rows.append({"perturbation set": name, "prediction": prediction,
                 "measured": a["pgd"]})
  rows.append({"perturbation set": f"night (brightness ×{cfg.night_brightness})",
               "prediction": "no guarantee: a dimmed image is far outside the "
               "L∞ 0.3 ball", "measured": night_accuracy})
  return out, rows


# --------------------------------------------------------------------- main --

def main(argv=None):
  run, _ = common.setup("adversarial_training", PRESETS, argv)
  cfg = run.config
  for m in cfg.methods:
    if m not in METHODS:
      raise ValueError(f"--set methods: unknown method {m!r}; methods: {METHODS}")
  mesh = train.data_mesh()
  train_split, test = classifier.load_dataset(cfg.dataset, n_train=cfg.n_train)
  run.log(f"{cfg.dataset}: {len(train_split)} train / {len(test)} test; "
          f"{len(jax.devices())} {jax.default_backend()} device(s)")
  module = models.SmallCNN(widths=tuple(cfg.widths), hidden=cfg.hidden)
  ev = Evaluator(module, cfg, mesh)
  for method in cfg.methods:
    teacher = None
    extra_seconds = np.zeros(2)
    if method == "distillation":
      teacher, _, extra_seconds = train_method(
          run, "distillation_teacher", train_split, mesh, module)
    variables, history, seconds = train_method(run, method, train_split, mesh,
                                               module, teacher=teacher, ev=ev)
    out, curve = evaluate_method(run, ev, method, variables, test)
    out["train_seconds"], out["train_cpu_seconds"] = (seconds + extra_seconds).tolist()
    out.update(brightness_accuracies(ev, variables, test, cfg))
    if method == "pgd_at":
      gen, rows = generalization(run, ev, variables, test, out["night_accuracy"])
      out.update(gen)
      (run.workdir / "generalization.md").write_text(common.format_table(
          rows, ["perturbation set", "prediction", "measured"]) + "\n")
    (run.workdir / f"eval_{method}.json").write_text(json.dumps(
        {"results": out, "curve": curve, "history": history}, indent=1))
    run.log(f"{method}: clean {out['clean_accuracy']:.3f}, robust "
            f"{out['robust_accuracy']:.3f} (CE-PGD {out['pgd_ce_accuracy']:.3f}, "
            f"margin-PGD {out['pgd_margin_accuracy']:.3f}), train "
            f"{out['train_seconds']:.0f}s, eval {out['eval_seconds']:.0f}s")
  return report(run)


def report(run):
  """Merges every ``eval_<method>.json`` of the workdir into results.json,
  the table and the plots."""
  cfg = run.config
  evals = {}
  for method in METHODS:
    path = run.workdir / f"eval_{method}.json"
    if path.exists():
      evals[method] = json.loads(path.read_text())
  results = {f"{m}/{k}": v for m, e in evals.items() for k, v in e["results"].items()}
  run.write_results(results)
  rows = [{"method": m, **{k: e["results"].get(k) for k in (
      "clean_accuracy", "robust_accuracy", "pgd_ce_accuracy",
      "pgd_margin_accuracy", "train_seconds", "train_cpu_seconds")}}
      for m, e in evals.items()]
  table = common.format_table(rows, ["method", "clean_accuracy", "robust_accuracy",
                                     "pgd_ce_accuracy", "pgd_margin_accuracy",
                                     "train_seconds", "train_cpu_seconds"])
  (run.workdir / "table.md").write_text(table + "\n")
  run.log(table)
  if evals:
    eps = [0.0] + list(cfg.curve_eps)
    run.save_figure(plots.accuracy_vs_eps(
        eps, {m: e["curve"] for m, e in evals.items() if len(e["curve"]) == len(eps)},
        title=f"Margin-PGD-{cfg.curve_steps} accuracy"), "robust_accuracy_vs_eps")
    run.save_figure(_training_curves(evals), "training_curves")
  gen = run.workdir / "generalization.md"
  if gen.exists():
    run.log(gen.read_text())
  run.log(f"results: {run.workdir / 'results.json'}")
  return results


def _training_curves(evals):
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
  for m, e in evals.items():
    h = e["history"]
    axes[0].plot(range(1, len(h["loss"]) + 1), h["loss"], label=m)
    acc = h["adv_accuracy"] if not all(np.isnan(h["adv_accuracy"])) else h[
        "clean_accuracy"]
    axes[1].plot(range(1, len(acc) + 1), acc, label=m)
  axes[0].set_title("training loss")
  axes[1].set_title("training accuracy (adversarial where trained so)")
  for ax in axes:
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
  axes[1].legend(fontsize=7)
  fig.tight_layout()
  return fig


if __name__ == "__main__":
  main(sys.argv[1:])
