"""Momentum iterative fast gradient sign method (MI-FGSM)."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from advjax import _checks
from advjax.attacks import lp
from advjax.attacks._common import check_attack_args
from advjax.attacks._common import value_and_grad

_TINY = 1e-12  # clamps the L1 normaliser so a zero gradient adds nothing


def mifgsm(loss_fn, x: jax.Array, *, eps, step_size, n_steps: int, decay=1.0,
           norm=jnp.inf, bounds=(0.0, 1.0)) -> jax.Array:
  """Iterative FGSM with a momentum of L1-normalised gradients.

  Each step accumulates ``g ← μ·g + ∇/||∇||₁`` per example (``μ = decay``),
  moves by ``step_size`` along the steepest-ascent direction of ``g`` in the
  attack norm (``sign(g)`` for L∞, ``g/||g||₂`` for L2), projects onto the
  ball of radius ``eps`` around ``x`` and clips to ``bounds``. The final
  iterate is returned, as in the paper. ``decay=0`` is I-FGSM (BIM); the
  paper uses ``step_size = eps / n_steps``.

  Args:
    loss_fn: ``x -> [B]`` per-example loss to increase.
    x: ``[B, ...]`` floating inputs inside ``bounds``.
    eps: radius (scalar or ``[B]``), >= 0.
    step_size: step length in the attack norm, >= 0.
    n_steps: static number of steps, >= 0.
    decay: momentum factor ``μ >= 0``.
    norm: ``jnp.inf`` or ``2``.
    bounds: ``(lo, hi)`` box of valid inputs.

  Returns:
    ``x_adv`` with ``x``'s shape and dtype.

  References:
    Dong et al., 2018. https://arxiv.org/abs/1710.06081
  """
  p, (lo, hi) = check_attack_args(x, eps=eps, norm=norm, bounds=bounds)
  if p not in (math.inf, 2):
    raise ValueError(f"`norm` must be jnp.inf or 2 for MI-FGSM; got {norm!r}.")
  _checks.nonnegative(step_size, name="step_size")
  _checks.nonnegative(decay, name="decay")
  n_steps = _checks.count(n_steps, name="n_steps", minimum=0)

  x32 = x.astype(jnp.float32)
  eps_b = jnp.broadcast_to(jnp.asarray(eps, jnp.float32), (x.shape[0],))
  alpha = jnp.asarray(step_size, jnp.float32)
  mu = jnp.asarray(decay, jnp.float32)
  grad = value_and_grad(loss_fn)

  def body(_, carry):
    xc, momentum = carry
    _, g = grad(xc.astype(x.dtype))
    g = g.astype(jnp.float32)
    l1 = jnp.maximum(lp.lp_norm(g, 1), _TINY)
    momentum = mu * momentum + g / l1.reshape((-1,) + (1,) * (g.ndim - 1))
    delta = lp.project(xc + alpha * lp.steepest_ascent(momentum, p) - x32, p, eps_b)
    return jnp.clip(x32 + delta, lo, hi), momentum

  x_adv, _ = jax.lax.fori_loop(0, n_steps, body, (x32, jnp.zeros_like(x32)))
  return x_adv.astype(x.dtype)
