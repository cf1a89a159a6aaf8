"""Carlini–Wagner L2 attack: minimum-distortion adversarial examples."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from advjax import _checks
from advjax.attacks import _min_norm
from advjax.attacks._common import check_attack_args

# atanh(±1) is infinite; C&W scale by this factor before the inverse map.
_TANH_SHRINK = 0.999999


def carlini_wagner_l2(logits_fn: Callable[[jax.Array], jax.Array], x: jax.Array,
                      labels: jax.Array, *, target: jax.Array | None = None,
                      confidence=0.0, initial_const=1e-3,
                      n_search_steps: int = 9, n_steps: int = 100,
                      learning_rate=1e-1, bounds=(0.0, 1.0)) -> jax.Array:
  """Carlini and Wagner's L2 attack.

  Per example, minimises over ``w``

      ||x'(w) − x||₂² + c · max(−m(x'(w)), −κ),
      x'(w) = lo + (hi − lo) · (tanh(w) + 1) / 2,

  with Adam, where ``m`` is the margin that is positive exactly when the
  attack succeeds (untargeted ``max_{j≠y} z_j − z_y``, targeted
  ``z_t − max_{j≠t} z_j``) and ``κ = confidence``. The tanh change of
  variables keeps every iterate inside ``bounds`` without clipping. The
  constant ``c`` is found per example by binary search (``×10`` until a
  success, then bisection); each search step restarts Adam at ``x``. Every
  iterate with ``m > κ`` is a success, and the one closest to ``x`` over all
  steps is kept. All examples run the same static number of steps; successes
  are tracked per example with masks.

  Args:
    logits_fn: ``x -> [B, K]`` logits.
    x: ``[B, ...]`` floating inputs inside ``bounds``.
    labels: ``[B]`` integer true labels.
    target: optional ``[B]`` integer target labels (targeted attack).
    confidence: ``κ >= 0``, the margin an adversarial example must exceed.
    initial_const: starting ``c`` (scalar or ``[B]``), > 0.
    n_search_steps: static number of binary-search steps over ``c``, >= 1.
    n_steps: static number of Adam steps per search step, >= 1.
    learning_rate: Adam step size in ``w`` space, > 0. The paper's 1e-2 is
      meant for thousands of steps: pixels at ``lo`` or ``hi`` (most of an
      MNIST image) start where tanh is flat, and with 100 steps 1e-2 leaves
      most MNIST examples unbroken, while 1e-1 breaks them all.
    bounds: ``(lo, hi)`` box of valid inputs.

  Returns:
    ``x_adv`` with ``x``'s shape and dtype, inside ``bounds``: for each
    example the successful point with the smallest L2 distortion found, or
    ``x`` itself (unchanged) where no success was found.

  References:
    Carlini & Wagner, 2017. https://arxiv.org/abs/1608.04644
  """
  _, (lo, hi) = check_attack_args(x, bounds=bounds)
  _checks.nonnegative(confidence, name="confidence")
  _checks.positive(initial_const, name="initial_const")
  _checks.positive(learning_rate, name="learning_rate")
  n_search_steps = _checks.count(n_search_steps, name="n_search_steps", minimum=1)
  n_steps = _checks.count(n_steps, name="n_steps", minimum=1)
  _min_norm.check_labels(logits_fn, x, labels, target)

  batch = x.shape[0]
  x32 = x.astype(jnp.float32)
  center, half_width = 0.5 * (hi + lo), 0.5 * (hi - lo)
  w_start = jnp.arctanh(
      jnp.clip((x32 - center) / half_width, -1.0, 1.0) * _TANH_SHRINK)
  kappa = jnp.asarray(confidence, jnp.float32)
  lr = jnp.asarray(learning_rate, jnp.float32)

  def to_x(w):
    return center + half_width * jnp.tanh(w)

  def objective(w, const):
    x_adv = to_x(w)
    logits = logits_fn(x_adv.astype(x.dtype))
    margin = _min_norm.attack_margin(logits, labels, target).astype(jnp.float32)
    dist = _min_norm.squared_l2(x_adv - x32)
    loss = dist + const * jnp.maximum(-margin, -kappa)
    return jnp.sum(loss), (x_adv, dist, margin)

  value_and_grad = jax.value_and_grad(objective, has_aux=True)

  def search_step(_, carry):
    const, lower, upper, best = carry

    def adam_step(_, inner):
      w, opt_state, found, best = inner
      (_, (x_adv, dist, margin)), g = value_and_grad(w, const)
      success = margin > kappa
      best = _min_norm.keep_smallest(best, x_adv, dist, success)
      w, opt_state = _min_norm.adam_step(w, g, opt_state, lr)
      return w, opt_state, found | success, best

    no_success = jnp.zeros((batch,), jnp.bool_)
    inner = (w_start, _min_norm.adam_init(w_start), no_success, best)
    _, _, found, best = jax.lax.fori_loop(0, n_steps, adam_step, inner)
    const, lower, upper = _min_norm.update_search(const, lower, upper, found)
    return const, lower, upper, best

  best = (x32, jnp.full((batch,), jnp.inf, jnp.float32))
  carry = (*_min_norm.init_search(initial_const, batch), best)
  *_, (best_x, _) = jax.lax.fori_loop(0, n_search_steps, search_step, carry)
  return best_x.astype(x.dtype)
