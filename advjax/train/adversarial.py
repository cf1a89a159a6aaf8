"""Adversarial training of image classifiers: PGD-AT, FGSM-RS and ensemble
adversarial training, with the pieces TRADES and Free-AT share.

A *perturbation* is ``perturb(loss_fn, x, key, count) -> x_adv``: it maximises
a per-example ``loss_fn`` around ``x`` (``count`` is the update number that
schedules of ``eps`` read). Every step factory here crafts ``x_adv`` with the
model in inference mode (``train=False``: batch statistics are read, never
updated, and there is no dropout), ``stop_gradient``-s it, and only then
takes the parameter gradient in train mode. Steps contain no collectives, so
the same step runs on one device or on a mesh with the batch sharded.

References:
  Madry et al., 2018 (PGD-AT). https://arxiv.org/abs/1706.06083
  Wong et al., 2020 (FGSM with random start). https://arxiv.org/abs/2001.03994
  Tramèr et al., 2018 (ensemble adversarial training).
  https://arxiv.org/abs/1705.07204
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import optax

from advjax import _checks
from advjax.attacks import lp
from advjax.attacks.fgsm import fgsm
from advjax.attacks.objectives import untargeted
from advjax.attacks.pgd import pgd
from advjax.losses import cross_entropy
from advjax.train.classifier import ApplyFn
from advjax.train.grad_align import grad_align_penalty
from advjax.train.state import TrainState

# perturb(loss_fn, x, key, count) -> x_adv
Perturbation = Callable[..., jax.Array]
# A hyperparameter that is a number or an optax-style schedule count -> value.
Schedule = object


def scheduled(value, count):
  """``value(count)`` for a schedule, ``value`` for a number."""
  return value(count) if callable(value) else value


def _check_schedule(value, *, name):
  if value is not None and not callable(value):
    _checks.nonnegative(value, name=name)


def pgd_perturbation(*, eps: Schedule, n_steps: int, step_size: Schedule = None,
                     norm=jnp.inf, bounds=(0.0, 1.0), random_start: bool = True,
                     n_restarts: int = 1, best_iterate: bool = True) -> Perturbation:
  """PGD inside the ``eps`` ball (:func:`advjax.attacks.pgd`) as a perturbation.

  Args:
    eps: radius, a number or a schedule ``count -> eps`` (e.g. a warm-up).
    n_steps: static number of PGD steps, >= 1.
    step_size: step length (number or schedule); default ``2.5·eps/n_steps``
      (Madry et al.), which follows a scheduled ``eps``.
    norm, bounds, random_start, n_restarts, best_iterate: as in
      :func:`advjax.attacks.pgd` (``best_iterate=False``: Madry et al.'s last
      iterate, one forward pass fewer per step of training).
  """
  _check_schedule(eps, name="eps")
  _check_schedule(step_size, name="step_size")
  n_steps = _checks.count(n_steps, name="n_steps", minimum=1)
  _checks.norm(norm)
  _checks.bounds(bounds)

  def perturb(loss_fn, x, key, count=0):
    e = scheduled(eps, count)
    alpha = 2.5 * e / n_steps if step_size is None else scheduled(step_size, count)
    return pgd(loss_fn, x, key=key, eps=e, step_size=alpha, n_steps=n_steps,
               norm=norm, bounds=bounds, random_start=random_start,
               n_restarts=n_restarts, best_iterate=best_iterate)

  return perturb


def fgsm_rs_perturbation(*, eps: Schedule, step_size: Schedule = None,
                         norm=jnp.inf, bounds=(0.0, 1.0), noise_scale: float = 1.0,
                         project: bool = True) -> Perturbation:
  """FGSM from a uniform random start (Wong et al. 2020, Algorithm 3).

  ``δ₀ ~ U(ball(noise_scale·eps))``, ``x₀ = clip(x + δ₀)``; one steepest-ascent
  step of length ``step_size`` at ``x₀`` (:func:`advjax.attacks.fgsm`),
  projected back onto the ``eps`` ball around ``x`` (if ``project``) and
  clipped to ``bounds``.

  The defaults are Wong et al.'s RS-FGSM. ``noise_scale=2, step_size=eps,
  project=False`` is N-FGSM (de Jorge et al. 2022): stronger noise and no
  projection, which avoids catastrophic overfitting at large ``eps`` at the
  same cost; its training perturbations reach ``3·eps``.

  Args:
    eps: radius (number or schedule).
    step_size: default ``1.25·eps``, the paper's choice.
    norm: ``jnp.inf`` or ``2``.
    bounds: box of valid inputs.
    noise_scale: radius of the random start, in units of ``eps``.
    project: project the result onto the ``eps`` ball.

  References:
    Wong et al., 2020. https://arxiv.org/abs/2001.03994
    de Jorge et al., 2022. https://arxiv.org/abs/2202.01181
  """
  _check_schedule(eps, name="eps")
  _check_schedule(step_size, name="step_size")
  _checks.nonnegative(noise_scale, name="noise_scale")
  p = _checks.norm(norm)
  lo, hi = _checks.bounds(bounds)

  def perturb(loss_fn, x, key, count=0):
    e = scheduled(eps, count)
    alpha = 1.25 * e if step_size is None else scheduled(step_size, count)
    e_b = jnp.broadcast_to(jnp.asarray(e, jnp.float32), (x.shape[0],))
    x32 = x.astype(jnp.float32)
    x0 = jnp.clip(x32 + lp.sample_ball(key, x.shape, p, noise_scale * e_b), lo, hi)
    x1 = fgsm(loss_fn, x0.astype(x.dtype), eps=alpha, norm=p, bounds=bounds)
    delta = x1.astype(jnp.float32) - x32
    if project:
      delta = lp.project(delta, p, e_b)
    return jnp.clip(x32 + delta, lo, hi).astype(x.dtype)

  return perturb


def inference_logits(apply_fn: ApplyFn, params, model_state):
  """``x -> logits`` of the model in inference mode with frozen parameters."""
  params = jax.lax.stop_gradient(params)
  return lambda x: apply_fn(params, model_state, x, train=False)[0]


def classification_metrics(prefix: str, logits, labels) -> dict:
  """``{prefix_loss, prefix_accuracy}``: batch means of CE and accuracy."""
  correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
  return {f"{prefix}_loss": jnp.mean(cross_entropy(logits, labels)),
          f"{prefix}_accuracy": jnp.mean(correct)}


def _check_weight(value, *, name):
  if not 0.0 <= float(value) <= 1.0:
    raise ValueError(f"`{name}` must be in [0, 1]; got {value!r}.")
  return float(value)


def make_perturbed_step(apply_fn: ApplyFn, tx: optax.GradientTransformation, *,
                        craft, objective):
  """The skeleton every adversarial step shares.

  Args:
    apply_fn: see :func:`advjax.train.linen_apply`.
    tx: the optax optimizer.
    craft: ``craft(logits_fn, batch, key, count) -> (x_adv, metrics)`` with
      ``logits_fn`` the model in inference mode.
    objective: ``objective(params, model_state, batch, x_adv, key, count) ->
      (loss, (model_state, metrics))``, evaluated in train mode (``count``:
      the update number, for schedules).

  Returns:
    ``step(state, batch, key) -> (state, metrics)``; metrics: ``loss`` (the
    objective) and whatever ``craft`` and ``objective`` report.
  """

  def step(state: TrainState, batch, key):
    k_attack, k_train = jax.random.split(key)
    logits_fn = inference_logits(apply_fn, state.params, state.model_state)
    x_adv, metrics = craft(logits_fn, batch, k_attack, state.step)
    x_adv = jax.lax.stop_gradient(x_adv)
    (loss, (model_state, more)), grads = jax.value_and_grad(
        objective, has_aux=True)(state.params, state.model_state, batch, x_adv,
                                 k_train, state.step)
    state = state.apply_gradients(grads, tx, model_state)
    return state, {"loss": loss, **metrics, **more}

  return step


def _ce_objective(apply_fn: ApplyFn, clean_weight: float):
  """``(1 − w)·CE(f(x_adv)) + w·CE(f(x))`` in train mode (batch means)."""

  def objective(params, model_state, batch, x_adv, key, count):
    del count
    k_adv, k_clean = jax.random.split(key)
    logits, model_state = apply_fn(params, model_state, x_adv, train=True,
                                   key=k_adv)
    metrics = classification_metrics("adv", logits, batch["label"])
    loss = metrics["adv_loss"]
    if clean_weight > 0.0:
      clean, model_state = apply_fn(params, model_state, batch["image"],
                                    train=True, key=k_clean)
      clean_loss = jnp.mean(cross_entropy(clean, batch["label"]))
      loss = (1.0 - clean_weight) * loss + clean_weight * clean_loss
    return loss, (model_state, metrics)

  return objective


def _untargeted_craft(perturbation: Perturbation, select=None):
  """Crafts ``x_adv`` against the CE of the inference-mode model, or of the
  source ``select(count, logits_fn) -> (index, [logits_fn_i])`` picks."""

  def craft(logits_fn, batch, key, count):
    x, y = batch["image"], batch["label"]
    metrics = classification_metrics("clean", logits_fn(x), y)
    if select is None:
      return perturbation(untargeted(logits_fn, y), x, key, count), metrics
    index, sources = select(count, logits_fn)
    branches = [lambda xx, kk, f=f: perturbation(untargeted(f, y), xx, kk, count)
                for f in sources]
    return jax.lax.switch(index, branches, x, key), metrics

  return craft


def make_adversarial_step(apply_fn: ApplyFn, tx: optax.GradientTransformation, *,
                          perturbation: Perturbation, clean_weight: float = 0.0):
  """Adversarial training with any perturbation: ``min_θ E max_δ L(x+δ, y)``.

  ``x_adv = perturbation(CE of the inference-mode model, x)``, stopped, then
  one optimizer step on ``(1 − w)·CE(f(x_adv), y) + w·CE(f(x), y)`` in train
  mode (``w = clean_weight``; 0 is Madry et al.'s objective, 0.5
  Goodfellow et al.'s mix).

  Args:
    apply_fn: see :func:`advjax.train.linen_apply`.
    tx: the optax optimizer.
    perturbation: e.g. :func:`pgd_perturbation`, :func:`fgsm_rs_perturbation`.
    clean_weight: ``w`` in ``[0, 1]``.

  Returns:
    ``step(state, batch, key) -> (state, metrics)``; metrics ``loss``,
    ``clean_loss``/``clean_accuracy`` (inference mode, before the update) and
    ``adv_loss``/``adv_accuracy`` (train mode at ``x_adv``).
  """
  w = _check_weight(clean_weight, name="clean_weight")
  return make_perturbed_step(apply_fn, tx, craft=_untargeted_craft(perturbation),
                             objective=_ce_objective(apply_fn, w))


def make_pgd_at_step(apply_fn: ApplyFn, tx: optax.GradientTransformation, *,
                     eps: Schedule, n_steps: int, step_size: Schedule = None,
                     norm=jnp.inf, bounds=(0.0, 1.0), clean_weight: float = 0.0):
  """PGD adversarial training (Madry et al. 2018).

  ``n_steps`` of PGD from a uniform random start in the ball (see
  :func:`pgd_perturbation`; ``eps`` and ``step_size`` may be schedules of
  ``state.step``), then :func:`make_adversarial_step`'s update.

  References:
    Madry et al., 2018. https://arxiv.org/abs/1706.06083
  """
  return make_adversarial_step(
      apply_fn, tx, clean_weight=clean_weight, perturbation=pgd_perturbation(
          eps=eps, n_steps=n_steps, step_size=step_size, norm=norm, bounds=bounds))


def make_fgsm_rs_step(apply_fn: ApplyFn, tx: optax.GradientTransformation, *,
                      eps: Schedule, step_size: Schedule = None, norm=jnp.inf,
                      bounds=(0.0, 1.0), noise_scale: float = 1.0,
                      project: bool = True, grad_align: float = 0.0):
  """"Fast is better than free": FGSM from a random start, step ``1.25·eps``.

  The perturbation is :func:`fgsm_rs_perturbation` (whose ``noise_scale`` and
  ``project`` also give N-FGSM). ``grad_align = λ > 0`` adds
  ``λ·`` :func:`~advjax.train.grad_align_penalty` of the clean CE at
  radius ``eps`` (L∞), in train mode: the regularizer that keeps single-step
  training from overfitting catastrophically at large ``eps``. Metrics then
  include ``grad_align`` (the unweighted penalty).

  References:
    Wong et al., 2020. https://arxiv.org/abs/2001.03994
    Andriushchenko & Flammarion, 2020 (GradAlign).
    https://arxiv.org/abs/2007.02617
  """
  _checks.nonnegative(grad_align, name="grad_align")
  perturbation = fgsm_rs_perturbation(eps=eps, step_size=step_size, norm=norm,
                                      bounds=bounds, noise_scale=noise_scale,
                                      project=project)
  if not grad_align:
    return make_adversarial_step(apply_fn, tx, perturbation=perturbation)
  if _checks.norm(norm) != jnp.inf:
    raise ValueError(f"`grad_align` needs the L∞ norm; got norm={norm!r}.")
  ce = _ce_objective(apply_fn, 0.0)

  def objective(params, model_state, batch, x_adv, key, count):
    k_ce, k_noise, k_model = jax.random.split(key, 3)
    loss, (model_state, metrics) = ce(params, model_state, batch, x_adv, k_ce, count)
    y = batch["label"]
    per_example = lambda z: cross_entropy(apply_fn(  # noqa: E731
        params, model_state, z, train=True, key=k_model)[0], y)
    penalty = grad_align_penalty(per_example, batch["image"], key=k_noise,
                                 eps=scheduled(eps, count), bounds=bounds)
    return loss + grad_align * penalty, (model_state, {**metrics,
                                                      "grad_align": penalty})

  return make_perturbed_step(apply_fn, tx, craft=_untargeted_craft(perturbation),
                             objective=objective)


def make_ensemble_adversarial_step(
    apply_fn: ApplyFn, tx: optax.GradientTransformation, *,
    static_logits_fns: Sequence[Callable[[jax.Array], jax.Array]],
    perturbation: Perturbation, clean_weight: float = 0.5):
  """Ensemble adversarial training (Tramèr et al. 2018).

  Each batch's adversarial examples are crafted, in turn, on the model
  being trained (update ``count ≡ 0``) or on one of the fixed pre-trained
  models (``count ≡ i``, ``i = 1..n``, modulo ``n + 1``): transferred
  examples decouple the generation of adversarial examples from the
  parameters being trained, which counters the gradient masking of
  single-step training.

  Args:
    apply_fn: see :func:`advjax.train.linen_apply`.
    tx: the optax optimizer.
    static_logits_fns: fixed models ``x -> logits`` (closed over their
      parameters; no gradient flows into them), at least one.
    perturbation: e.g. :func:`fgsm_rs_perturbation` (the paper's R+FGSM
      family) or :func:`pgd_perturbation`.
    clean_weight: weight of the clean loss (the paper: 0.5).

  Returns:
    ``step(state, batch, key) -> (state, metrics)`` as in
    :func:`make_adversarial_step`, plus ``source`` (0: the trained model).

  References:
    Tramèr et al., 2018. https://arxiv.org/abs/1705.07204
  """
  statics = tuple(static_logits_fns)
  if not statics or not all(callable(f) for f in statics):
    raise ValueError("`static_logits_fns` must be a non-empty sequence of "
                     "callables x -> logits.")
  w = _check_weight(clean_weight, name="clean_weight")

  def select(count, logits_fn):
    return jnp.mod(count, len(statics) + 1), [logits_fn, *statics]

  inner = _untargeted_craft(perturbation, select)

  def craft(logits_fn, batch, key, count):
    x_adv, metrics = inner(logits_fn, batch, key, count)
    return x_adv, {**metrics, "source": jnp.mod(count, len(statics) + 1)}

  return make_perturbed_step(apply_fn, tx, craft=craft,
                             objective=_ce_objective(apply_fn, w))
