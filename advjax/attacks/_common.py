"""Pieces shared by the attacks: argument checks and per-example gradients."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from advjax import _checks


_NO_NORM = object()  # the attack has no norm argument (C&W, optimization)


def check_attack_args(x, *, eps=None, norm=_NO_NORM, bounds=(0.0, 1.0)):
  """Validates the common attack arguments; returns ``(norm, (lo, hi))``."""
  _checks.floating_batch(x, name="x", min_ndim=1)
  _checks.nonempty_batch(x, name="x")
  if eps is not None:
    _checks.nonnegative(eps, name="eps")
  p = None if norm is _NO_NORM else _checks.norm(norm)
  lo, hi = _checks.bounds(bounds)
  _checks.within_bounds(x, lo, hi, name="x")
  return p, (lo, hi)


def check_loss_shape(values, x, *, name="loss_fn"):
  if values.shape != (x.shape[0],):
    raise ValueError(
        f"`{name}(x)` must return per-example losses of shape ({x.shape[0]},); "
        f"got {values.shape}. Do not reduce over the batch.")


def value_and_grad(loss_fn):
  """``x -> (loss [B], dloss/dx)`` with per-example (unscaled) gradients.

  Differentiates the *sum* of per-example losses: example i's gradient is the
  gradient of its own loss, never divided by the batch size.
  """

  def fn(x):
    def total(x_):
      values = loss_fn(x_)
      check_loss_shape(values, x_)
      return jnp.sum(values.astype(jnp.float32)), values

    (_, values), g = jax.value_and_grad(total, has_aux=True)(x)
    return values, g

  return fn


def per_example(v, x):
  """Reshapes a ``[B]`` vector to broadcast against ``x``'s ``[B, ...]`` shape."""
  return v.reshape((x.shape[0],) + (1,) * (x.ndim - 1))
