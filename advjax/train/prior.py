"""Single-step adversarial training from a prior: each example's perturbation
is remembered from epoch to epoch and the next FGSM step starts from it.

Over ``E`` epochs every example accumulates ``E`` steps of projected ascent
against a slowly moving model, at FGSM's cost per step: the starting point
is already adversarial, which is what keeps one-step training from
catastrophic overfitting (Jia et al. 2022, FGSM-EP) and makes its examples
nearly as strong as multi-step PGD's (Zheng et al. 2020, ATTA).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from advjax import _checks
from advjax.attacks import lp
from advjax.attacks.fgsm import fgsm
from advjax.attacks.objectives import untargeted
from advjax.train.adversarial import _ce_objective
from advjax.train.adversarial import _check_schedule
from advjax.train.adversarial import _check_weight
from advjax.train.adversarial import classification_metrics
from advjax.train.adversarial import inference_logits
from advjax.train.adversarial import Schedule
from advjax.train.adversarial import scheduled
from advjax.train.classifier import ApplyFn
from advjax.train.state import TrainState


class PriorState(TrainState):
  """A :class:`TrainState` that also holds ``prior`` (``[N, ...]``): the last
  perturbation of each of the ``N`` training examples, indexed by the
  batch's ``"index"``. Arrays only: a checkpoint keeps the priors too."""
  prior: jax.Array = None

  @classmethod
  def create(cls, params, tx: optax.GradientTransformation, model_state=None, *,
             example_shape, n_examples: int, dtype=jnp.float32):
    n_examples = _checks.count(n_examples, name="n_examples", minimum=1)
    base = TrainState.create(params, tx, model_state)
    return cls(step=base.step, params=base.params, opt_state=base.opt_state,
               model_state=base.model_state,
               prior=jnp.zeros((n_examples, *example_shape), dtype))


def make_fgsm_prior_step(apply_fn: ApplyFn, tx: optax.GradientTransformation, *,
                         eps: Schedule, step_size: Schedule = None, norm=jnp.inf,
                         bounds=(0.0, 1.0), noise_scale: float = 0.0,
                         restart_prob: float = 0.0, consistency: float = 0.0):
  """FGSM adversarial training from each example's previous perturbation.

  With ``δ_prev = state.prior[index]``: ``δ₀ = Π_ε(δ_prev + u)``, ``u`` uniform
  in the ``noise_scale·ε`` ball (0: none) — or, for each example with
  probability ``restart_prob``, a fresh uniform start in the ε ball
  instead (FGSM-RS's); one FGSM step of length
  ``step_size`` at ``clip(x + δ₀)``, projected onto the ε ball; the model is
  trained on ``x + δ`` (stopped; crafted in inference mode) and ``δ`` is
  written back to ``state.prior[index]``. A prior crafted at a smaller,
  ramped ``ε`` is projected onto the current ball. Cost per batch: FGSM-RS's
  (without the regularizer below).
  ``consistency = λ > 0`` adds Jia et al.'s prior-guided regularizer
  ``λ·mean ‖softmax f(x + δ) − softmax f(x + δ₀)‖²`` (both in train mode, one
  more forward and backward pass), which keeps the model from fitting each
  example's stored perturbation alone.

  Args:
    apply_fn: see :func:`advjax.train.linen_apply`.
    tx: the optax optimizer.
    eps: radius (number or schedule of ``state.step``).
    step_size: default ``eps``.
    norm: ``jnp.inf`` or ``2``.
    bounds: box of valid inputs.
    noise_scale: radius of the noise added to the prior, in units of ``eps``.
    restart_prob: probability in ``[0, 1]`` of a random start instead of the prior.
    consistency: ``λ >= 0``, the regularizer's weight.

  Returns:
    ``step(state, batch, key) -> (state, metrics)`` for a :class:`PriorState`;
    ``batch`` holds ``image``, ``label`` and ``index`` (``[B]`` int, rows of
    ``state.prior``; distinct within a batch). Metrics as
    :func:`~advjax.train.make_adversarial_step`'s, and ``consistency`` (the
    unweighted regularizer) if ``λ > 0``.

  References:
    Zheng et al., 2020 (ATTA). https://arxiv.org/abs/1912.11969
    Jia et al., 2022 (FGSM-EP/PGI). https://arxiv.org/abs/2207.08859
  """
  _check_schedule(eps, name="eps")
  _check_schedule(step_size, name="step_size")
  _checks.nonnegative(noise_scale, name="noise_scale")
  restart_prob = _check_weight(restart_prob, name="restart_prob")
  _checks.nonnegative(consistency, name="consistency")
  p = _checks.norm(norm)
  lo, hi = _checks.bounds(bounds)
  ce = _ce_objective(apply_fn, 0.0)

  def objective(params, model_state, batch, x_adv, x_start, key, count):
    if not consistency:
      return ce(params, model_state, batch, x_adv, key, count)
    k_adv, k_start = jax.random.split(key)
    adv, model_state = apply_fn(params, model_state, x_adv, train=True, key=k_adv)
    start, model_state = apply_fn(params, model_state, x_start, train=True,
                                  key=k_start)
    metrics = classification_metrics("adv", adv, batch["label"])
    gap = jax.nn.softmax(adv.astype(jnp.float32)) - jax.nn.softmax(
        start.astype(jnp.float32))
    penalty = jnp.mean(jnp.sum(jnp.square(gap), -1))
    loss = metrics["adv_loss"] + consistency * penalty
    return loss, (model_state, {**metrics, "consistency": penalty})

  def step(state: PriorState, batch, key):
    x, y, index = batch["image"], batch["label"], batch.get("index")
    if index is None or state.prior is None:
      raise ValueError("make_fgsm_prior_step needs a PriorState and batches "
                       "with an `index` of each example's row in `prior`.")
    if state.prior.shape[1:] != x.shape[1:]:
      raise ValueError(f"the state's `prior` rows have shape "
                       f"{state.prior.shape[1:]}; the batch's images have "
                       f"{x.shape[1:]}.")
    k_noise, k_restart, k_train = jax.random.split(key, 3)
    e = scheduled(eps, state.step)
    alpha = e if step_size is None else scheduled(step_size, state.step)
    e_b = jnp.broadcast_to(jnp.asarray(e, jnp.float32), (x.shape[0],))
    x32 = x.astype(jnp.float32)
    delta0 = state.prior[index].astype(jnp.float32)
    if noise_scale:
      delta0 = delta0 + lp.sample_ball(k_noise, x.shape, p, noise_scale * e_b)
    if restart_prob:
      k_which, k_start = jax.random.split(k_restart)
      fresh = jax.random.bernoulli(k_which, restart_prob, (x.shape[0],))
      delta0 = jnp.where(fresh.reshape((-1,) + (1,) * (x.ndim - 1)),
                         lp.sample_ball(k_start, x.shape, p, e_b), delta0)
    x0 = jnp.clip(x32 + lp.project(delta0, p, e_b), lo, hi)
    logits_fn = inference_logits(apply_fn, state.params, state.model_state)
    x1 = fgsm(untargeted(logits_fn, y), x0.astype(x.dtype), eps=alpha, norm=p,
              bounds=bounds)
    delta = jax.lax.stop_gradient(lp.project(x1.astype(jnp.float32) - x32, p, e_b))
    x_adv = jnp.clip(x32 + delta, lo, hi).astype(x.dtype)
    x_start = jax.lax.stop_gradient(x0).astype(x.dtype)
    clean = classification_metrics("clean", logits_fn(x), y)
    (loss, (model_state, more)), grads = jax.value_and_grad(
        objective, has_aux=True)(state.params, state.model_state, batch, x_adv,
                                 x_start, k_train, state.step)
    state = state.apply_gradients(grads, tx, model_state)
    state = state.replace(prior=state.prior.at[index].set(
        delta.astype(state.prior.dtype)))
    return state, {"loss": loss, **clean, **more}

  return step
