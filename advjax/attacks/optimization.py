"""The box-constrained optimization attack (Szegedy et al.) with the constant
found by search, or by dual gradient ascent on the misclassification
constraint."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from advjax import _checks
from advjax.attacks import _min_norm
from advjax.attacks._common import check_attack_args
from advjax.attacks.objectives import targeted
from advjax.attacks.objectives import untargeted

_METHODS = ("search", "dual")
# (n_rounds, n_steps): the dual ascent wants frequent, small updates of λ.
_DEFAULT_SCHEDULE = {"search": (9, 100), "dual": (90, 10)}


def optimization_attack(logits_fn: Callable[[jax.Array], jax.Array],
                        x: jax.Array, labels: jax.Array, *,
                        target: jax.Array | None = None, method: str = "search",
                        loss: str = "ce", confidence=0.0, initial_const=1.0,
                        initial_multiplier=1.0, dual_step_size=0.01,
                        n_rounds: int | None = None, n_steps: int | None = None,
                        learning_rate=1e-2, bounds=(0.0, 1.0)) -> jax.Array:
  """Smallest-L2 adversarial examples by box-constrained optimization.

  ``method="search"`` solves, per example,

      min_{x' ∈ [lo, hi]}  c·||x' − x||₂² + J(x', l')

  where ``J`` is the loss of the attack's goal (``loss="ce"``: cross-entropy
  to the target ``l'``, or minus the cross-entropy of the true label when
  untargeted; ``loss="margin"``: minus the success margin ``m`` below). ``c``
  is searched per example for the largest value that still succeeds (the
  smallest perturbation): by bisection on ``1/c``, dividing ``c`` by 10 until
  a success, as Carlini and Wagner search their constant. Each round restarts
  at ``x``.

  ``method="dual"`` solves ``min ||x' − x||₂²`` subject to
  ``g(x') = κ − m(x') <= 0`` and ``x' ∈ [lo, hi]`` by dual gradient ascent on
  the Lagrangian ``||x' − x||₂² + λ·g(x')``: each round takes ``n_steps``
  primal steps, then ``λ ← max(0, λ + dual_step_size · g(x'))`` per example.
  The primal iterate and optimizer state carry over between rounds.

  ``m`` is the margin that is positive exactly when the attack succeeds
  (untargeted ``max_{j≠y} z_j − z_y``, targeted ``z_t − max_{j≠t} z_j``); an
  iterate succeeds when ``m > κ`` (``κ = confidence``). The primal steps are
  projected gradient descent on the box, with Adam's step directions. The
  successful iterate closest to ``x`` over all steps is kept, per example,
  with masks; all examples run the same static number of steps.

  Args:
    logits_fn: ``x -> [B, K]`` logits.
    x: ``[B, ...]`` floating inputs inside ``bounds``.
    labels: ``[B]`` integer true labels.
    target: optional ``[B]`` integer target labels ``l'`` (targeted attack).
    method: ``"search"`` or ``"dual"``.
    loss: ``J`` for ``method="search"``: ``"ce"`` or ``"margin"``.
    confidence: ``κ >= 0``, the margin an adversarial example must exceed.
    initial_const: starting ``c`` for ``"search"`` (scalar or ``[B]``), > 0.
    initial_multiplier: starting ``λ`` for ``"dual"`` (scalar or ``[B]``),
      >= 0.
    dual_step_size: step of the dual ascent on ``λ``, >= 0.
    n_rounds: static number of rounds, >= 1: search steps over ``c``
      (default 9), or dual updates of ``λ`` (default 90).
    n_steps: static number of primal steps per round, >= 1 (default 100 for
      ``"search"``, 10 for ``"dual"``: both take 900 gradient steps).
    learning_rate: primal (Adam) step size, > 0.
    bounds: ``(lo, hi)`` box of valid inputs.

  Returns:
    ``x_adv`` with ``x``'s shape and dtype, inside ``bounds``: for each
    example the successful point with the smallest L2 distortion found, or
    ``x`` itself (unchanged) where no success was found.

  References:
    Szegedy et al., 2014. https://arxiv.org/abs/1312.6199
    Carlini & Wagner, 2017 (search over the constant).
    https://arxiv.org/abs/1608.04644
  """
  _, (lo, hi) = check_attack_args(x, bounds=bounds)
  if method not in _METHODS:
    raise ValueError(f"`method` must be one of {_METHODS}; got {method!r}.")
  goal = (untargeted(lambda z: z, labels, loss=loss) if target is None else
          targeted(lambda z: z, target, loss=loss))  # loss to increase, on logits
  _checks.nonnegative(confidence, name="confidence")
  _checks.positive(initial_const, name="initial_const")
  _checks.nonnegative(initial_multiplier, name="initial_multiplier")
  _checks.nonnegative(dual_step_size, name="dual_step_size")
  _checks.positive(learning_rate, name="learning_rate")
  default_rounds, default_steps = _DEFAULT_SCHEDULE[method]
  n_rounds = _checks.count(default_rounds if n_rounds is None else n_rounds,
                           name="n_rounds", minimum=1)
  n_steps = _checks.count(default_steps if n_steps is None else n_steps,
                          name="n_steps", minimum=1)
  _min_norm.check_labels(logits_fn, x, labels, target)

  batch = x.shape[0]
  x32 = x.astype(jnp.float32)
  kappa = jnp.asarray(confidence, jnp.float32)
  lr = jnp.asarray(learning_rate, jnp.float32)

  def objective(xc, weight):
    logits = logits_fn(xc.astype(x.dtype))
    margin = _min_norm.attack_margin(logits, labels, target).astype(jnp.float32)
    dist = _min_norm.squared_l2(xc - x32)
    if method == "search":  # weight = c
      per_example = weight * dist - goal(logits).astype(jnp.float32)
    else:  # weight = λ
      per_example = dist + weight * (kappa - margin)
    return jnp.sum(per_example), (dist, margin)

  value_and_grad = jax.value_and_grad(objective, has_aux=True)

  def descend(xc, opt_state, weight, best):
    """``n_steps`` of projected descent; returns the last margin and successes."""

    def step(_, inner):
      xc, opt_state, found, best, _ = inner
      (_, (dist, margin)), g = value_and_grad(xc, weight)
      success = margin > kappa
      best = _min_norm.keep_smallest(best, xc, dist, success)
      xc, opt_state = _min_norm.adam_step(xc, g, opt_state, lr)
      xc = jnp.clip(xc, lo, hi)
      return xc, opt_state, found | success, best, margin

    no_success = jnp.zeros((batch,), jnp.bool_)
    inner = (xc, opt_state, no_success, best, jnp.zeros((batch,), jnp.float32))
    return jax.lax.fori_loop(0, n_steps, step, inner)

  def search_round(_, carry):
    # The search runs on k = 1/c, the weight of J relative to the distance.
    k, lower, upper, best = carry
    *_, found, best, _ = descend(x32, _min_norm.adam_init(x32), 1.0 / k, best)
    k, lower, upper = _min_norm.update_search(k, lower, upper, found)
    return k, lower, upper, best

  def dual_round(_, carry):
    xc, opt_state, lam, best = carry
    xc, opt_state, _, best, margin = descend(xc, opt_state, lam, best)
    lam = jnp.maximum(0.0, lam + dual_step_size * (kappa - margin))
    return xc, opt_state, lam, best

  best = (x32, jnp.full((batch,), jnp.inf, jnp.float32))
  if method == "search":
    k0 = 1.0 / jnp.asarray(initial_const, jnp.float32)
    carry = (*_min_norm.init_search(k0, batch), best)
    *_, (best_x, _) = jax.lax.fori_loop(0, n_rounds, search_round, carry)
  else:
    lam0 = jnp.broadcast_to(jnp.asarray(initial_multiplier, jnp.float32), (batch,))
    carry = (x32, _min_norm.adam_init(x32), lam0, best)
    *_, (best_x, _) = jax.lax.fori_loop(0, n_rounds, dual_round, carry)
  return best_x.astype(x.dtype)
