"""Square attack: score-based random search with square-shaped updates."""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from advjax import _checks
from advjax.attacks._common import check_attack_args
from advjax.attacks._common import check_loss_shape
from advjax.attacks.blackbox import BlackBoxResult

# The published schedule (Andriushchenko et al. 2020, Sec. 3 and their code):
# on a 10,000-iteration scale, p is halved at these iterations.
_P_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_p_schedule(p_init: float, n_queries: int) -> np.ndarray:
  """``p`` (fraction of pixels changed) at each of the ``n_queries - 1`` steps.

  The paper's piecewise-constant schedule for 10,000 iterations, rescaled to
  the budget: ``p_init`` halves after iterations 10, 50, 200, 500, 1000, 2000,
  4000, 6000 and 8000 of 10,000.
  """
  it = (np.arange(n_queries - 1) / n_queries * 10000).astype(np.int64)
  halvings = np.searchsorted(np.asarray(_P_HALVINGS), it, side="left")
  p = p_init / 2.0 ** halvings
  return np.where(it > 10000, p_init, p)


def _side_lengths(p: np.ndarray, *, norm, h: int, w: int, c: int) -> np.ndarray:
  """Square side per step: ``round(sqrt(p · h · w))``, clamped to the image
  (L2: at least 3 and odd, as in the paper's code)."""
  n_features = h * w * c
  top = min(h, w) - 1
  out = []
  for pi in p:
    s = int(round(math.sqrt(pi * n_features / c)))
    if norm == math.inf:
      s = min(max(s, 1), top)
    else:
      s = max(s, 3)
      s += s % 2 == 0
      s = min(s, top if top % 2 else top - 1)
    out.append(max(s, 1))
  return np.asarray(out, np.int32)


def _pseudo_gaussian_rectangle(x: int, y: int) -> np.ndarray:
  """The paper's pseudo-Gaussian bump: nested rectangles weighted 1/k²."""
  delta = np.zeros((x, y))
  x_c, y_c = x // 2 + 1, y // 2 + 1
  c0, c1 = x_c - 1, y_c - 1
  for k in range(max(x_c, y_c)):
    delta[max(c0, 0):min(c0 + 2 * k + 1, x), max(0, c1):min(c1 + 2 * k + 1, y)] += (
        1.0 / (k + 1) ** 2)
    c0 -= 1
    c1 -= 1
  return delta / np.sqrt(np.sum(delta ** 2))


def _meta_pseudo_gaussian(s: int) -> np.ndarray:
  """Two opposite-signed bumps side by side, unit L2 norm (``[s, s]``)."""
  delta = np.zeros((s, s))
  delta[: s // 2] = _pseudo_gaussian_rectangle(s // 2, s)
  delta[s // 2:] = -_pseudo_gaussian_rectangle(s - s // 2, s)
  return delta / np.sqrt(np.sum(delta ** 2))


def _window_mask(top, left, s, h, w):
  """``[B, h, w]`` masks of the squares ``[top, top+s) × [left, left+s)``."""
  rows = jnp.arange(h)[None, :, None]
  cols = jnp.arange(w)[None, None, :]
  top, left, s = top[:, None, None], left[:, None, None], jnp.asarray(s)
  return ((rows >= top) & (rows < top + s) & (cols >= left) & (cols < left + s))


def _random_corners(key, b, s, h, w):
  k1, k2 = jax.random.split(key)
  top = jax.random.randint(k1, (b,), 0, h - s)
  left = jax.random.randint(k2, (b,), 0, w - s)
  return top, left


def _sq(v, axes):
  return jnp.sqrt(jnp.sum(v * v, axis=axes, keepdims=True))


def square_attack(loss_fn: Callable[[jax.Array], jax.Array], x: jax.Array, *,
                  key: jax.Array, eps, n_queries: int, norm=jnp.inf,
                  p_init: float = 0.8, bounds=(0.0, 1.0)) -> BlackBoxResult:
  """Square attack (Andriushchenko et al. 2020), L∞ and L2, jitted.

  Random search: each step changes one random square of side
  ``≈ sqrt(p·h·w)`` per example (``p`` from the paper's schedule, see
  :func:`square_p_schedule`) — L∞: to ``±eps`` with one random sign per
  channel; L2: a pair of opposite pseudo-Gaussian bumps that moves mass
  between two squares at total norm ``eps`` — and keeps it when the loss
  increases. Initialisation as in the paper: vertical ``±eps`` stripes (L∞),
  a grid of bumps scaled to norm ``eps`` (L2). The paper's resampling of an
  L∞ square that would leave the image unchanged is replaced by flipping
  the sign of those channels (same effect, no data-dependent loop).

  ``loss_fn`` must be *margin-style*, positive exactly when the example is
  adversarial: ``attacks.untargeted(logits_fn, y, loss="margin")`` (the
  paper's margin loss, AutoAttack's Square), ``attacks.targeted(...,
  loss="margin")`` or any black-box score. An example stops as soon as its
  loss is positive (masks; finished examples still flow through the batch
  but are not counted) and the loop ends when all have succeeded. The budget is exact: one query for the initial
  point and one per step, ``n_queries`` in all.

  Args:
    loss_fn: ``x -> [B]`` margin-style loss (only evaluated).
    x: ``[B, H, W, C]`` floating images inside ``bounds`` (NHWC).
    key: PRNG key.
    eps: radius (scalar or ``[B]``), >= 0.
    n_queries: static query budget per example, >= 1.
    norm: ``jnp.inf`` or ``2``.
    p_init: initial fraction of pixels changed per step, in (0, 1]
      (0.8 as in AutoAttack; the paper uses 0.05 (L∞) and 0.1 (L2) on
      ImageNet and 0.8 on MNIST).
    bounds: ``(lo, hi)`` box of valid inputs.

  Returns:
    A :class:`BlackBoxResult`: ``x_adv``, per-example ``n_queries`` (``<=``
    the budget), ``success`` and ``loss``.

  References:
    Andriushchenko et al., 2020. https://arxiv.org/abs/1912.00049
    Croce & Hein, 2020 (AutoAttack). https://arxiv.org/abs/2003.01690
  """
  p, (lo, hi) = check_attack_args(x, eps=eps, norm=norm, bounds=bounds)
  if p == 1:
    raise ValueError("`norm` must be jnp.inf or 2 for the Square attack; got 1.")
  if x.ndim != 4:
    raise ValueError(f"`x` must be NHWC images [B, H, W, C]; got shape {x.shape}.")
  n_queries = _checks.count(n_queries, name="n_queries", minimum=1)
  if not 0.0 < p_init <= 1.0:
    raise ValueError(f"`p_init` must be in (0, 1]; got {p_init}.")
  b, h, w, c = x.shape
  if min(h, w) < 2:
    raise ValueError(f"`x` images must be at least 2×2; got {h}×{w}.")
  sides = _side_lengths(square_p_schedule(p_init, n_queries), norm=p, h=h, w=w, c=c)

  x32 = x.astype(jnp.float32)
  eps_b = jnp.broadcast_to(jnp.asarray(eps, jnp.float32), (b,)).reshape(b, 1, 1, 1)
  k_init, k_loop = jax.random.split(key)

  def evaluate(xc):
    values = loss_fn(xc.astype(x.dtype))
    check_loss_shape(values, xc)
    return jax.lax.stop_gradient(values.astype(jnp.float32))

  if p == math.inf:
    stripes = jax.random.rademacher(k_init, (b, 1, w, c), jnp.float32)
    x_init = jnp.clip(x32 + eps_b * stripes, lo, hi)
  else:
    x_init = jnp.clip(x32 + _l2_init(k_init, x32, eps_b), lo, hi)

  if p == math.inf:
    propose = _linf_proposal(x32, eps_b, lo, hi)
  else:
    propose = _l2_proposal(x32, eps_b, lo, hi, sides)
  sides_j = jnp.asarray(sides)

  def body(carry):
    i, best_x, best_loss, count = carry
    active = best_loss <= 0
    k = jax.random.fold_in(k_loop, i)
    x_new = propose(k, best_x, sides_j[i], i)
    loss_new = evaluate(x_new)
    better = active & (loss_new > best_loss)
    best_x = jnp.where(better[:, None, None, None], x_new, best_x)
    best_loss = jnp.where(better, loss_new, best_loss)
    return i + 1, best_x, best_loss, count + active.astype(jnp.int32)

  def not_done(carry):  # exits early once every example is adversarial
    i, _, best_loss, _ = carry
    return (i < n_queries - 1) & jnp.any(best_loss <= 0)

  init = (jnp.int32(0), x_init, evaluate(x_init), jnp.ones((b,), jnp.int32))
  _, best_x, best_loss, count = jax.lax.while_loop(not_done, body, init)
  return BlackBoxResult(best_x.astype(x.dtype), count, best_loss > 0, best_loss)


def _linf_proposal(x32, eps_b, lo, hi):
  b, h, w, c = x32.shape

  def propose(key, best_x, s, _):
    k_pos, k_sign = jax.random.split(key)
    top, left = _random_corners(k_pos, b, s, h, w)
    mask = _window_mask(top, left, s, h, w)[..., None]            # [B,h,w,1]
    sign = jax.random.rademacher(k_sign, (b, 1, 1, c), jnp.float32)
    # A sign that leaves a channel's square unchanged is flipped.
    cand = jnp.clip(x32 + eps_b * sign, lo, hi)
    unchanged = jnp.all(jnp.where(mask, jnp.abs(cand - best_x) < 1e-7, True),
                        axis=(1, 2), keepdims=True)
    sign = jnp.where(unchanged, -sign, sign)
    delta = jnp.where(mask, eps_b * sign, best_x - x32)
    return jnp.clip(x32 + delta, lo, hi)

  return propose


def _l2_patterns(sides, h, w):
  """``[n_distinct, 2, h, w]`` meta pseudo-Gaussian bumps (and transposes) in
  the top-left corner, and the index of each step's pattern."""
  distinct = sorted(set(int(s) for s in sides))
  table = np.zeros((len(distinct), 2, h, w), np.float32)
  for i, s in enumerate(distinct):
    m = _meta_pseudo_gaussian(s)
    table[i, 0, :s, :s] = m
    table[i, 1, :s, :s] = m.T
  index = np.asarray([distinct.index(int(s)) for s in sides], np.int32)
  return jnp.asarray(table), jnp.asarray(index)


def _shift(pattern, top, left):
  """Moves ``[B, h, w]`` top-left patterns to ``(top, left)`` (no wrap-around:
  the pattern's support fits)."""
  return jax.vmap(lambda pt, t, l: jnp.roll(pt, (t, l), axis=(0, 1)))(pattern, top, left)


def _l2_init(key, x32, eps_b):
  """The paper's L2 start: a 5×5 grid of bumps with random signs, norm eps."""
  b, h, w, c = x32.shape
  s = max(h // 5, 1)
  start_h, start_w = (h - s * 5) // 2, (w - s * 5) // 2
  bump = _meta_pseudo_gaussian(s) if s >= 2 else np.ones((1, 1))
  n_h, n_w = h // s, w // s
  signs = jax.random.rademacher(key, (b, n_h, n_w, c), jnp.float32)
  delta = jnp.zeros(x32.shape, jnp.float32)
  for r in range(n_h):
    for q in range(n_w):
      top, left = start_h + r * s, start_w + q * s
      if top < 0 or left < 0 or top + s > h or left + s > w:
        continue
      patch = jnp.asarray(bump, jnp.float32)[None, :, :, None] * signs[:, r:r + 1, q:q + 1]
      delta = delta.at[:, top:top + s, left:left + s, :].add(patch)
  norms = jnp.maximum(_sq(delta, (1, 2, 3)), 1e-12)
  return delta / norms * eps_b


def _l2_proposal(x32, eps_b, lo, hi, sides):
  b, h, w, c = x32.shape
  table, index = _l2_patterns(sides, h, w)

  def propose(key, best_x, s, i):
    k1, k2, k_sign, k_t = jax.random.split(key, 4)
    top1, left1 = _random_corners(k1, b, s, h, w)
    top2, left2 = _random_corners(k2, b, s, h, w)
    mask1 = _window_mask(top1, left1, s, h, w)[..., None]
    mask2 = _window_mask(top2, left2, s, h, w)[..., None]
    delta = best_x - x32
    in1 = jnp.where(mask1, delta, 0.0)
    norm_window = _sq(in1, (1, 2))                                  # [B,1,1,c]
    norm_image = _sq(delta, (1, 2, 3))                              # [B,1,1,1]
    norms_windows = _sq(jnp.where(mask1 | mask2, delta, 0.0), (1, 2))  # [B,1,1,c]
    transpose = jax.random.bernoulli(k_t, 0.5, (b,)).astype(jnp.int32)
    bump = _shift(table[index[i]][transpose], top1, left1)[..., None]
    sign = jax.random.rademacher(k_sign, (b, 1, 1, c), jnp.float32)
    new = bump * sign + in1 / (1e-10 + norm_window)
    budget = jnp.maximum(eps_b ** 2 - norm_image ** 2, 0.0) / c + norms_windows ** 2
    new = new / jnp.maximum(_sq(new, (1, 2)), 1e-12) * jnp.sqrt(budget)
    delta = jnp.where(mask2, 0.0, delta)
    delta = jnp.where(mask1, new, delta)
    delta = delta / jnp.maximum(_sq(delta, (1, 2, 3)), 1e-12) * eps_b
    return jnp.clip(x32 + delta, lo, hi)

  return propose
