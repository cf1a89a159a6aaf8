"""Projected gradient descent (ascent) with random starts and restarts."""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from advjax import _checks
from advjax.attacks import lp
from advjax.attacks._common import check_attack_args
from advjax.attacks._common import check_loss_shape
from advjax.attacks._common import value_and_grad
from advjax.attacks._common import per_example

# grad_fn(x, key) -> gradient estimate with x's shape (black-box PGD).
GradFn = Callable[[jax.Array, jax.Array], jax.Array]


def pgd(loss_fn, x: jax.Array, *, key: jax.Array, eps, step_size, n_steps: int,
        norm=jnp.inf, bounds=(0.0, 1.0), random_start: bool = True,
        n_restarts: int = 1, grad_fn: GradFn | None = None,
        l1_sparsity: float = 0.99, best_iterate: bool = True) -> jax.Array:
  """Projected gradient ascent on ``loss_fn`` inside an Lp ball and a box.

  Each step moves along the steepest-ascent direction of the norm (sign for
  L∞, normalised gradient for L2, sparse top-coordinate steps for L1) by
  ``step_size``, then projects onto the ball around ``x`` (L1: exact
  sort-based projection) and clips to ``bounds``. Every restart begins at a
  point drawn uniformly *in* the ball (when ``random_start``) or at ``x``.
  Per example, the point with the highest loss seen over all iterates and
  restarts is returned, so the attack never returns a point with lower loss
  than its start, and more restarts are never worse. With
  ``best_iterate=False`` each restart ends at its last iterate instead (as in
  Madry et al. and torchattacks), and the restart whose last iterate has the
  highest loss wins; with one restart that saves a forward pass and the
  per-step bookkeeping, which adversarial training may prefer.

  With ``n_restarts=1``, ``random_start=False`` and ``n_steps=1`` this is
  FGSM with step ``step_size`` (BIM/I-FGSM for more steps).

  Args:
    loss_fn: ``x -> [B]`` per-example loss to increase.
    x: ``[B, ...]`` floating inputs inside ``bounds``.
    key: PRNG key (random starts; passed on to ``grad_fn``).
    eps: radius (scalar or ``[B]``), >= 0.
    step_size: step length in the attack norm, >= 0.
    n_steps: static number of steps per restart, >= 0.
    norm: ``jnp.inf``, ``2`` or ``1``.
    bounds: ``(lo, hi)`` box of valid inputs.
    random_start: start each restart uniformly inside the ball.
    n_restarts: static number of restarts, >= 1.
    grad_fn: optional ``(x, key) -> g`` replacing ``jax.grad(loss_fn)``, e.g. a
      finite-difference estimator; ``loss_fn`` is then only evaluated.
    l1_sparsity: for L1, the quantile of gradient magnitudes above which
      coordinates are stepped (0.99: the top 1%).

  Returns:
    ``x_adv`` with ``x``'s shape and dtype.

  References:
    Madry et al., 2018. https://arxiv.org/abs/1706.06083
    Tramèr & Boneh, 2019 (L1 steps). https://arxiv.org/abs/1904.13000
  """
  p, (lo, hi) = check_attack_args(x, eps=eps, norm=norm, bounds=bounds)
  _checks.nonnegative(step_size, name="step_size")
  n_steps = _checks.count(n_steps, name="n_steps", minimum=0)
  n_restarts = _checks.count(n_restarts, name="n_restarts", minimum=1)
  if not 0.0 <= l1_sparsity < 1.0:
    raise ValueError(f"`l1_sparsity` must be in [0, 1); got {l1_sparsity}.")
  dim = math.prod(x.shape[1:])
  l1_top_k = max(1, int(round((1.0 - l1_sparsity) * dim)))

  x32 = x.astype(jnp.float32)
  eps_b = jnp.broadcast_to(jnp.asarray(eps, jnp.float32), (x.shape[0],))
  alpha = jnp.asarray(step_size, jnp.float32)

  if grad_fn is None:
    vg = value_and_grad(loss_fn)

    def loss_and_grad(xc, _):
      values, g = vg(xc)
      return values.astype(jnp.float32), g
  else:
    def loss_and_grad(xc, k):
      values = loss_fn(xc)
      check_loss_shape(values, xc)
      return values.astype(jnp.float32), grad_fn(xc, k)

  def evaluate(xc):
    values = loss_fn(xc)
    check_loss_shape(values, xc)
    return values.astype(jnp.float32)

  def keep_best(best, cand_x, cand_loss):
    best_x, best_loss = best
    better = cand_loss > best_loss
    return jnp.where(per_example(better, cand_x), cand_x, best_x), jnp.where(
        better, cand_loss, best_loss)

  def one_restart(r, best):
    k_start, k_steps = jax.random.split(jax.random.fold_in(key, r))
    if random_start:
      delta0 = lp.sample_ball(k_start, x.shape, p, eps_b, dtype=jnp.float32)
      x0 = jnp.clip(x32 + delta0, lo, hi)
    else:
      x0 = x32

    def body(i, carry):
      xc, best = carry
      values, g = loss_and_grad(xc.astype(x.dtype), jax.random.fold_in(k_steps, i))
      if best_iterate:
        best = keep_best(best, xc, values)
      direction = lp.steepest_ascent(g.astype(jnp.float32), p, l1_top_k=l1_top_k)
      delta = lp.project(xc + alpha * direction - x32, p, eps_b)
      return jnp.clip(x32 + delta, lo, hi), best

    xc, best = jax.lax.fori_loop(0, n_steps, body, (x0, best))
    if not best_iterate and n_restarts == 1:
      return xc, best[1]  # nothing to compare: no final forward pass
    return keep_best(best, xc, evaluate(xc.astype(x.dtype)))

  init = (x32, jnp.full((x.shape[0],), -jnp.inf, jnp.float32))
  best_x, _ = jax.lax.fori_loop(0, n_restarts, one_restart, init)
  return best_x.astype(x.dtype)
