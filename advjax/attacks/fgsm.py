"""Fast gradient (sign) method: one exact steepest-ascent step."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from advjax.attacks import lp
from advjax.attacks._common import check_attack_args
from advjax.attacks._common import value_and_grad


def fgsm(loss_fn, x: jax.Array, *, eps, norm=jnp.inf,
         bounds=(0.0, 1.0)) -> jax.Array:
  """Fast gradient method in the L∞, L2 or L1 norm.

  Solves ``max <g, δ> s.t. ||δ||_p <= eps`` exactly for each example, with
  ``g = ∇_x loss_fn(x)_i``: the optimum for the linearised loss. L∞ gives
  ``eps·sign(g)`` (FGSM), L2 ``eps·g/||g||₂``, L1 all of ``eps`` on the
  largest-magnitude coordinate. The result is clipped to ``bounds``, which
  never increases the perturbation's norm.

  Args:
    loss_fn: ``x -> [B]`` per-example loss to increase.
    x: ``[B, ...]`` floating inputs inside ``bounds``.
    eps: radius (scalar or ``[B]``), >= 0.
    norm: ``jnp.inf``, ``2`` or ``1``.
    bounds: ``(lo, hi)`` box of valid inputs.

  Returns:
    ``x_adv`` with ``x``'s shape and dtype.

  References:
    Goodfellow et al., 2015. https://arxiv.org/abs/1412.6572
  """
  p, (lo, hi) = check_attack_args(x, eps=eps, norm=norm, bounds=bounds)
  _, g = value_and_grad(loss_fn)(x)
  eps_b = jnp.broadcast_to(jnp.asarray(eps, jnp.float32), (x.shape[0],))
  step = lp.steepest_ascent(g, p).astype(jnp.float32)
  step = step * eps_b.reshape((-1,) + (1,) * (x.ndim - 1))
  return jnp.clip(x.astype(jnp.float32) + step, lo, hi).astype(x.dtype)
