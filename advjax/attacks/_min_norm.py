"""Pieces shared by the minimum-norm attacks (Carlini–Wagner, the optimization
attack): label checks, the success margin, best-so-far bookkeeping and the
per-example search over the trade-off constant."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from advjax import _checks
from advjax.losses import margin_loss

# The search treats a constant at or above this as "no upper bound found yet".
_UNBOUNDED = 1e10


def check_labels(logits_fn, x, labels, target) -> int:
  """Checks ``labels`` (and ``target``) against ``logits_fn(x)``'s shape.

  Returns:
    The number of classes.
  """
  _checks.floating_batch(x, name="x", min_ndim=1)
  _checks.nonempty_batch(x, name="x")
  out = jax.eval_shape(logits_fn, x)
  if len(out.shape) != 2 or out.shape[0] != x.shape[0]:
    raise ValueError(
        f"`logits_fn(x)` must return logits of shape ({x.shape[0]}, K); got "
        f"{tuple(out.shape)}.")
  num_classes = out.shape[1]
  _checks.labels(labels, num_classes, name="labels", batch=x.shape[0])
  if target is not None:
    _checks.labels(target, num_classes, name="target", batch=x.shape[0])
  return num_classes


def attack_margin(logits, labels, target) -> jax.Array:
  """``[B]`` margin that is positive exactly when the attack succeeds.

  Untargeted: ``max_{j≠y} z_j − z_y``; targeted: ``z_t − max_{j≠t} z_j``.
  """
  if target is None:
    return margin_loss(logits, labels)
  return -margin_loss(logits, target)


def squared_l2(delta) -> jax.Array:
  """``[B]`` squared L2 norms in float32."""
  flat = delta.astype(jnp.float32).reshape(delta.shape[0], -1)
  return jnp.sum(flat * flat, axis=1)


def keep_smallest(best, cand_x, cand_dist, success):
  """Keeps, per example, the successful candidate with the smallest distance."""
  best_x, best_dist = best
  better = success & (cand_dist < best_dist)
  mask = better.reshape((-1,) + (1,) * (cand_x.ndim - 1))
  return jnp.where(mask, cand_x, best_x), jnp.where(better, cand_dist, best_dist)


def init_search(initial_const, batch: int):
  """``(const, lower, upper)`` for :func:`update_search`, one per example."""
  const = jnp.broadcast_to(jnp.asarray(initial_const, jnp.float32), (batch,))
  return (const, jnp.zeros((batch,), jnp.float32),
          jnp.full((batch,), _UNBOUNDED, jnp.float32))


def update_search(const, lower, upper, success):
  """One step of Carlini and Wagner's per-example search over the constant.

  ``const`` weighs the adversarial term, so success means it can shrink:
  success bisects towards ``lower``; failure bisects towards ``upper``, or
  multiplies by 10 while no successful constant is known.
  """
  upper = jnp.where(success, jnp.minimum(upper, const), upper)
  lower = jnp.where(success, lower, jnp.maximum(lower, const))
  bracketed = upper < 0.1 * _UNBOUNDED
  const = jnp.where(bracketed, 0.5 * (lower + upper), 10.0 * const)
  return const, lower, upper


def adam_init(params: jax.Array):
  """State of :func:`adam_step`: ``(step count, first moment, second moment)``."""
  zeros = jnp.zeros_like(params)
  return jnp.zeros((), params.dtype), zeros, zeros


def adam_step(params: jax.Array, grads: jax.Array, state, learning_rate, *,
              b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
  """One Adam descent step, as ``optax.adam`` computes it, dtype-clean.

  Written out because optax's bias correction mixes int32 and float and fails
  under strict dtype promotion.

  References:
    Kingma & Ba, 2015. https://arxiv.org/abs/1412.6980
  """
  count, mu, nu = state
  count = count + 1
  mu = b1 * mu + (1 - b1) * grads
  nu = b2 * nu + (1 - b2) * grads * grads
  mu_hat = mu / (1 - b1 ** count)
  nu_hat = nu / (1 - b2 ** count)
  params = params - learning_rate * mu_hat / (jnp.sqrt(nu_hat) + eps)
  return params, (count, mu, nu)
