"""Black-box PGD: projected ascent on a finite-difference gradient estimate,
with per-example query counts and early stop."""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from advjax import _checks
from advjax.attacks import estimators
from advjax.attacks import lp
from advjax.attacks._common import check_attack_args
from advjax.attacks._common import check_loss_shape
from advjax.attacks._common import per_example


class BlackBoxResult(NamedTuple):
  """What a query-based attack returns, per example.

  Attributes:
    x_adv: ``[B, ...]`` adversarial inputs (``x``'s shape and dtype).
    n_queries: ``[B]`` int32 loss queries spent on each example (the attack
      stops querying an example once it is adversarial).
    success: ``[B]`` bool, ``loss_fn(x_adv) > 0``.
    loss: ``[B]`` float32 ``loss_fn(x_adv)``.
  """
  x_adv: jax.Array
  n_queries: jax.Array
  success: jax.Array
  loss: jax.Array


def blackbox_pgd_queries(*, method: str, n_samples: int, n_steps: int,
                         dim: int) -> int:
  """Most queries :func:`blackbox_pgd` spends on one example: one at the start
  and, per step, the estimate's plus one at the new iterate."""
  per_step = estimators.estimator_queries(method, n_samples=n_samples, dim=dim) + 1
  return 1 + _checks.count(n_steps, name="n_steps") * per_step


def blackbox_pgd(loss_fn: Callable[[jax.Array], jax.Array], x: jax.Array, *,
                 key: jax.Array, eps, step_size, n_steps: int, method: str = "nes",
                 n_samples: int, sigma=1e-3, norm=jnp.inf, bounds=(0.0, 1.0),
                 early_stop: bool = True,
                 max_batch: int | None = None) -> BlackBoxResult:
  """PGD on a gradient estimated from loss values (NES-, SPSA-, ZOO-PGD).

  Starts at ``x``; each step estimates the gradient with
  :func:`~advjax.attacks.estimate_gradient` (fresh directions per step),
  moves ``step_size`` along the norm's steepest-ascent direction, projects
  onto the ``eps``-ball and ``bounds``, and queries the loss at the new point.
  ``loss_fn`` must be *margin-style*: positive exactly when the example is
  adversarial, e.g. ``attacks.untargeted(logits_fn, y, loss="margin")``. With
  ``early_stop`` an example stops (its point frozen, no more queries counted)
  as soon as its loss is positive; otherwise all ``n_steps`` run. Per example
  the highest-loss point queried is returned. Shapes never change: finished
  examples are masked, not removed, so their compute is spent but not counted;
  the loop ends early once every example has stopped.

  Args:
    loss_fn: ``x -> [B]`` margin-style loss, only evaluated.
    x: ``[B, ...]`` floating inputs inside ``bounds``.
    key: PRNG key (step ``i`` uses ``fold_in(key, i)``).
    eps: radius (scalar or ``[B]``), >= 0.
    step_size: step length in the attack norm, >= 0.
    n_steps: static number of steps; see :func:`blackbox_pgd_queries`.
    method, n_samples, sigma, max_batch: the estimator's, see
      :func:`~advjax.attacks.estimate_gradient`.
    norm: ``jnp.inf``, ``2`` or ``1``.
    bounds: ``(lo, hi)`` box of valid inputs.
    early_stop: stop each example at its first success.

  Returns:
    A :class:`BlackBoxResult`.

  References:
    Ilyas et al., 2018. https://arxiv.org/abs/1804.08598
    Uesato et al., 2018. https://arxiv.org/abs/1802.05666
  """
  p, (lo, hi) = check_attack_args(x, eps=eps, norm=norm, bounds=bounds)
  _checks.nonnegative(step_size, name="step_size")
  n_steps = _checks.count(n_steps, name="n_steps", minimum=0)
  grad_fn = estimators.make_grad_estimator(loss_fn, method=method,
                                           n_samples=n_samples, sigma=sigma,
                                           max_batch=max_batch)
  dim = x[0].size
  per_step = estimators.estimator_queries(method, n_samples=n_samples, dim=dim) + 1
  x32 = x.astype(jnp.float32)
  eps_b = jnp.broadcast_to(jnp.asarray(eps, jnp.float32), (x.shape[0],))
  alpha = jnp.asarray(step_size, jnp.float32)

  def evaluate(xc):
    values = loss_fn(xc.astype(x.dtype))
    check_loss_shape(values, xc)
    return jax.lax.stop_gradient(values.astype(jnp.float32))

  def is_active(loss):
    return loss <= 0 if early_stop else jnp.ones(loss.shape, bool)

  loss0 = evaluate(x32)
  init = (jnp.int32(0), x32, x32, loss0, jnp.ones(x.shape[0], jnp.int32))

  def body(carry):
    i, xc, best_x, best_loss, count = carry
    active = is_active(best_loss)
    g = grad_fn(xc.astype(x.dtype), jax.random.fold_in(key, i)).astype(jnp.float32)
    step = alpha * lp.steepest_ascent(g, p)
    x_new = jnp.clip(x32 + lp.project(xc + step - x32, p, eps_b), lo, hi)
    loss_new = evaluate(x_new)
    better = active & (loss_new > best_loss)
    best_x = jnp.where(per_example(better, x32), x_new, best_x)
    best_loss = jnp.where(better, loss_new, best_loss)
    xc = jnp.where(per_example(active, x32), x_new, xc)
    return i + 1, xc, best_x, best_loss, count + active.astype(jnp.int32) * per_step

  def not_done(carry):  # exits early once every example has stopped
    i, _, _, best_loss, _ = carry
    return (i < n_steps) & jnp.any(is_active(best_loss))

  _, _, best_x, best_loss, count = jax.lax.while_loop(not_done, body, init)
  return BlackBoxResult(best_x.astype(x.dtype), count, best_loss > 0, best_loss)
