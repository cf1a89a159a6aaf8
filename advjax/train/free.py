"""Free adversarial training: one backward pass gives both the parameter
gradient and the perturbation's, and each minibatch is replayed ``m`` times
(Shafahi et al. 2019)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from advjax import _checks
from advjax.attacks import lp
from advjax.losses import cross_entropy
from advjax.train.adversarial import _check_schedule
from advjax.train.adversarial import classification_metrics
from advjax.train.adversarial import inference_logits
from advjax.train.adversarial import Schedule
from advjax.train.adversarial import scheduled
from advjax.train.classifier import ApplyFn
from advjax.train.state import TrainState


class FreeATState(TrainState):
  """A :class:`TrainState` that carries Free-AT's perturbation ``delta``
  (``[B, ...]``, one batch's shape) from replay to replay and from minibatch
  to minibatch, as the paper's global ``δ``. Arrays only: checkpointable."""
  delta: jax.Array = None

  @classmethod
  def create(cls, params, tx: optax.GradientTransformation, model_state=None, *,
             batch_shape=None, dtype=jnp.float32):
    if batch_shape is None:
      raise ValueError("`batch_shape` (the [B, ...] shape of one input batch) "
                       "is required: δ is carried across minibatches.")
    base = TrainState.create(params, tx, model_state)
    return cls(step=base.step, params=base.params, opt_state=base.opt_state,
               model_state=base.model_state,
               delta=jnp.zeros(tuple(batch_shape), dtype))


def make_free_at_step(apply_fn: ApplyFn, tx: optax.GradientTransformation, *,
                      eps: Schedule, n_replays: int, step_size: Schedule = None,
                      norm=jnp.inf, bounds=(0.0, 1.0)):
  """``m`` "free" replays of one minibatch (Shafahi et al. 2019, Algorithm 1).

  For ``i = 1..m`` (one ``lax.scan``): one ``value_and_grad`` of the
  batch-mean CE at ``clip(x + δ)`` in train mode with respect to the
  parameters *and* ``δ``; the parameters take an optimizer step
  (``state.step`` grows by ``m``) and ``δ ← Π_ε(δ + α·sign(∇_δ))``
  (``α = eps`` by default, the paper's choice). ``δ`` lives in
  :class:`FreeATState` and carries over to the next minibatch. The ``δ``
  gradient is a by-product of the training pass, which is the method's point:
  unlike the other steps no separate inference-mode attack runs. Train for
  ``epochs / m`` passes over the data to match a standard run's cost.

  Args:
    apply_fn: see :func:`advjax.train.linen_apply`.
    tx: the optax optimizer.
    eps: radius (number or schedule of ``state.step``).
    n_replays: ``m >= 1``.
    step_size: default ``eps``.
    norm: ``jnp.inf`` (the paper) or ``2``.
    bounds: box of valid inputs.

  Returns:
    ``step(state, batch, key) -> (state, metrics)`` for a
    :class:`FreeATState`; metrics ``loss``/``adv_loss``/``adv_accuracy``
    (means over the replays) and ``clean_loss``/``clean_accuracy``
    (inference mode, before the first replay).

  References:
    Shafahi et al., 2019. https://arxiv.org/abs/1904.12843
  """
  n_replays = _checks.count(n_replays, name="n_replays", minimum=1)
  _check_schedule(eps, name="eps")
  _check_schedule(step_size, name="step_size")
  p = _checks.norm(norm)
  lo, hi = _checks.bounds(bounds)

  def loss_at(params, delta, model_state, x, y, key):
    x_adv = jnp.clip(x + delta.astype(x.dtype), lo, hi)
    logits, model_state = apply_fn(params, model_state, x_adv, train=True, key=key)
    correct = (jnp.argmax(logits, -1) == y).astype(jnp.float32)
    return jnp.mean(cross_entropy(logits, y)), (model_state, jnp.mean(correct))

  grad_fn = jax.value_and_grad(loss_at, argnums=(0, 1), has_aux=True)

  def step(state: FreeATState, batch, key):
    x, y = batch["image"], batch["label"]
    if state.delta is None or state.delta.shape != x.shape:
      raise ValueError(f"the state's `delta` has shape "
                       f"{None if state.delta is None else state.delta.shape}; "
                       f"the batch's images have {x.shape} (batches must have "
                       "a fixed shape; create the state with batch_shape).")
    clean = classification_metrics(
        "clean", inference_logits(apply_fn, state.params, state.model_state)(x), y)

    def replay(state, i):
      e = scheduled(eps, state.step)
      alpha = e if step_size is None else scheduled(step_size, state.step)
      e_b = jnp.broadcast_to(jnp.asarray(e, jnp.float32), (x.shape[0],))
      (loss, (model_state, acc)), (g_params, g_delta) = grad_fn(
          state.params, state.delta, state.model_state, x, y,
          jax.random.fold_in(key, i))
      direction = lp.steepest_ascent(g_delta.astype(jnp.float32), p)
      delta = lp.project(state.delta.astype(jnp.float32) + alpha * direction, p, e_b)
      state = state.apply_gradients(g_params, tx, model_state)
      return state.replace(delta=delta.astype(state.delta.dtype)), (loss, acc)

    state, (losses, accs) = jax.lax.scan(replay, state, jnp.arange(n_replays))
    return state, {"loss": jnp.mean(losses), "adv_loss": jnp.mean(losses),
                   "adv_accuracy": jnp.mean(accs), **clean}

  return step
