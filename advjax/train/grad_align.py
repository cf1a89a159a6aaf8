"""GradAlign: the gradient-alignment regularizer against catastrophic overfitting.

Single-step adversarial training (FGSM, FGSM-RS) collapses when the loss
stops being locally linear: the FGSM direction at ``x`` then says nothing
about the loss a few steps away, and PGD robustness falls to ~0 within an
epoch. GradAlign penalises exactly that non-linearity — the misalignment of
input gradients at ``x`` and at a random point ``x + η`` of the ball — and is
differentiated with respect to the parameters (double backpropagation).

References:
  Andriushchenko & Flammarion, 2020. https://arxiv.org/abs/2007.02617
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from advjax import _checks
from advjax.attacks import lp


def grad_align_penalty(loss_fn: Callable[[jax.Array], jax.Array], x: jax.Array, *,
                       key: jax.Array, eps, bounds=(0.0, 1.0)) -> jax.Array:
  """``mean_i [1 − cos(∇ℓ_i(x_i), ∇ℓ_i(x_i + η_i))]``, ``η ~ U([−ε, ε]^d)``.

  Args:
    loss_fn: ``x -> [B]`` per-example losses; it may close over parameters,
      which the penalty stays differentiable in.
    x: ``[B, ...]`` inputs.
    key: PRNG key for ``η``.
    eps: L∞ radius of ``η`` (a number or a traced scalar).
    bounds: ``x + η`` is clipped to this box.

  Returns:
    A scalar in ``[0, 2]``: 0 when the two gradients point the same way.
  """
  lo, hi = _checks.bounds(bounds)
  e_b = jnp.broadcast_to(jnp.asarray(eps, jnp.float32), (x.shape[0],))
  noise = lp.sample_ball(key, x.shape, jnp.inf, e_b)
  x_near = jnp.clip(x.astype(jnp.float32) + noise, lo, hi).astype(x.dtype)
  input_grad = jax.grad(lambda z: jnp.sum(loss_fn(z)))
  flat = lambda g: g.reshape(g.shape[0], -1).astype(jnp.float32)  # noqa: E731
  g0, g1 = flat(input_grad(x)), flat(input_grad(x_near))
  tiny = jnp.finfo(jnp.float32).tiny
  cos = jnp.sum(g0 * g1, -1) / (jnp.maximum(jnp.linalg.norm(g0, axis=-1), tiny)
                                * jnp.maximum(jnp.linalg.norm(g1, axis=-1), tiny))
  return jnp.mean(1.0 - cos)
