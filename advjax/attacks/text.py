"""Adversarial examples for text: PGD on input embeddings and HotFlip.

Both act through ``loss_fn(embeddings [B, T, D]) -> [B]``, a per-example loss
to increase (e.g. :func:`advjax.attacks.untargeted` around a model that takes
embeddings). Padding is masked: it is never perturbed and never flipped.
The perturbation helpers (:func:`init_embedding_delta`,
:func:`embedding_ascent_step`) are shared with FreeLB and embedding-PGD
adversarial training (:mod:`advjax.train.freelb`).
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from advjax import _checks
from advjax.attacks import lp
from advjax.attacks._common import check_loss_shape
from advjax.attacks._common import value_and_grad
from advjax.models.transformer import embedding_lookup

_TINY = 1e-12  # clamps gradient norms: a zero gradient gives a zero step

LossFn = Callable[[jax.Array], jax.Array]


def _check_embeddings(embeddings, mask):
  _checks.floating_batch(embeddings, name="embeddings", min_ndim=3)
  if embeddings.ndim != 3:
    raise ValueError(f"`embeddings` must have shape [B, T, D]; got "
                     f"{embeddings.shape}.")
  if mask.shape != embeddings.shape[:2]:
    raise ValueError(f"`mask` must have shape {embeddings.shape[:2]}; got "
                     f"{mask.shape}.")


def _token_mask(mask, dtype=jnp.float32):
  return mask.astype(dtype)[..., None]


def init_embedding_delta(key: jax.Array, mask: jax.Array, embed_dim: int, *,
                         radius, norm=2) -> jax.Array:
  """The random start of FreeLB (Zhu et al. 2020, Algorithm 1, line 4).

  L2: ``δ₀ = U(−radius, radius) / √N_δ`` on real tokens, where ``N_δ`` is the
  number of real tokens times ``embed_dim`` of each example, so that
  ``‖δ₀‖_F ≤ radius``. L∞: ``U(−radius, radius)`` on real tokens. Zero on
  padding.

  Args:
    key: PRNG key.
    mask: ``[B, T]`` bool, True on real tokens.
    embed_dim: ``D``.
    radius: scale of the start, a scalar or ``[B]``, >= 0.
    norm: ``2`` or ``jnp.inf``.

  Returns:
    ``δ₀`` of shape ``[B, T, D]``, float32.
  """
  p = _check_ball_norm(norm)
  _checks.nonnegative(radius, name="radius")
  b, t = mask.shape
  m = _token_mask(mask)
  r = jnp.broadcast_to(jnp.asarray(radius, jnp.float32), (b,))[:, None, None]
  delta = jax.random.uniform(key, (b, t, embed_dim), jnp.float32, -1.0, 1.0) * m
  if p == 2:
    n_delta = jnp.maximum(jnp.sum(m, axis=(1, 2)) * embed_dim, 1.0)
    r = r / jnp.sqrt(n_delta)[:, None, None]
  return delta * r


def embedding_ascent_step(delta: jax.Array, grad: jax.Array, mask: jax.Array, *,
                          step_size, max_norm, norm=2) -> jax.Array:
  """One normalized ascent step on ``δ`` and the projection onto its ball.

  ``δ ← Π_{‖δ‖ ≤ max_norm}(δ + step_size · g / ‖g‖)`` per example, with
  ``g`` the gradient on real tokens and ``‖·‖`` the ball's norm (Frobenius for
  L2; max-abs for L∞, as in FreeLB's code), clamped away from zero. A
  ``max_norm`` of 0 means no projection (FreeLB's convention).

  Args:
    delta: ``[B, T, D]`` current perturbation.
    grad: ``[B, T, D]`` loss gradient at ``delta``.
    mask: ``[B, T]`` bool, True on real tokens.
    step_size: ``α``, >= 0.
    max_norm: radius ``ε`` (a static scalar; 0: unbounded).
    norm: ``2`` or ``jnp.inf``.

  Returns:
    The new ``δ`` (float32, zero on padding).
  """
  p = _check_ball_norm(norm)
  _checks.nonnegative(step_size, name="step_size")
  _checks.nonnegative(max_norm, name="max_norm")
  m = _token_mask(mask)
  g = grad.astype(jnp.float32) * m
  scale = jnp.maximum(lp.lp_norm(g, p), _TINY)[:, None, None]
  delta = (delta.astype(jnp.float32) + step_size * g / scale) * m
  if _is_unbounded(max_norm):
    return delta
  return lp.project(delta, p, max_norm)


def _check_ball_norm(norm):
  p = _checks.norm(norm)
  if p not in (2, math.inf):
    raise ValueError(f"`norm` must be 2 or jnp.inf for embedding balls; got {norm!r}.")
  return p


def _is_unbounded(max_norm) -> bool:
  try:
    return float(max_norm) == 0.0
  except (TypeError, jax.errors.ConcretizationTypeError):
    return False  # a traced radius is a bound


def embedding_pgd(loss_fn: LossFn, embeddings: jax.Array, mask: jax.Array, *,
                  key: jax.Array, eps, step_size, n_steps: int, norm=2,
                  random_start: bool = True) -> jax.Array:
  """PGD on input embeddings inside a per-example Frobenius (or L∞) ball.

  Starts at ``embeddings + δ₀`` (FreeLB's start, or ``δ₀ = 0``), takes
  ``n_steps`` normalized ascent steps (:func:`embedding_ascent_step`) and
  returns, per example, the iterate with the highest loss seen (never lower
  than the start). Padding positions are never perturbed.

  Args:
    loss_fn: ``embeddings -> [B]`` per-example loss to increase.
    embeddings: ``[B, T, D]`` clean word embeddings.
    mask: ``[B, T]`` bool, True on real tokens.
    key: PRNG key for the random start.
    eps: radius ``ε`` of the ball (scalar or ``[B]``), >= 0.
    step_size: ``α``, >= 0.
    n_steps: static number of steps, >= 0.
    norm: ``2`` (Frobenius over the sentence) or ``jnp.inf``.
    random_start: start from FreeLB's random ``δ₀`` inside the ball.

  Returns:
    Adversarial embeddings with ``embeddings``' shape and dtype.

  References:
    Madry et al., 2018. https://arxiv.org/abs/1706.06083
    Zhu et al., 2020 (FreeLB). https://arxiv.org/abs/1909.11764
  """
  _check_embeddings(embeddings, mask)
  _checks.nonnegative(eps, name="eps")
  n_steps = _checks.count(n_steps, name="n_steps", minimum=0)
  p = _check_ball_norm(norm)
  b, _, d = embeddings.shape
  eps_b = jnp.broadcast_to(jnp.asarray(eps, jnp.float32), (b,))
  x32 = embeddings.astype(jnp.float32)
  vg = value_and_grad(loss_fn)

  def loss_and_grad(delta):
    values, g = vg((x32 + delta).astype(embeddings.dtype))
    return values.astype(jnp.float32), g

  delta0 = (init_embedding_delta(key, mask, d, radius=eps_b, norm=p)
            if random_start else jnp.zeros_like(x32))

  def body(_, carry):
    delta, best_delta, best_loss = carry
    values, g = loss_and_grad(delta)
    better = values > best_loss
    best_delta = jnp.where(better[:, None, None], delta, best_delta)
    best_loss = jnp.maximum(values, best_loss)
    # eps_b is a bound even where it is 0, so project explicitly.
    delta = lp.project(embedding_ascent_step(
        delta, g, mask, step_size=step_size, max_norm=0.0, norm=p), p, eps_b)
    return delta, best_delta, best_loss

  init = (delta0, delta0, jnp.full((b,), -jnp.inf, jnp.float32))
  delta, best_delta, best_loss = jax.lax.fori_loop(0, n_steps, body, init)
  final = loss_fn((x32 + delta).astype(embeddings.dtype))
  check_loss_shape(final, embeddings, name="loss_fn")
  best_delta = jnp.where((final.astype(jnp.float32) > best_loss)[:, None, None],
                         delta, best_delta)
  return (x32 + best_delta).astype(embeddings.dtype)


def hotflip_scores(loss_fn: LossFn, tokens: jax.Array,
                   embedding_matrix: jax.Array) -> jax.Array:
  """First-order loss changes of every single-token flip (Ebrahimi et al. 2018).

  ``score[b, i, v] = (e_v − e_{a_i})ᵀ ∇_{e_i} L``: the linear estimate of how
  much the loss of example ``b`` grows when the token ``a_i`` at position
  ``i`` is replaced by ``v``. Exact when the loss is linear in the embeddings.

  Args:
    loss_fn: ``embeddings [B, T, D] -> [B]`` per-example loss to increase.
    tokens: ``[B, T]`` integer ids.
    embedding_matrix: ``[V, D]`` word embeddings (``embeddings = E[tokens]``).

  Returns:
    ``[B, T, V]`` float32 scores (0 for ``v = a_i``).

  References:
    Ebrahimi et al., 2018. https://arxiv.org/abs/1712.06751
  """
  _check_tokens(tokens, embedding_matrix)
  return _scores(value_and_grad(loss_fn), tokens, embedding_matrix)[1]


def _check_tokens(tokens, embedding_matrix):
  if not hasattr(tokens, "dtype") or not jnp.issubdtype(tokens.dtype, jnp.integer):
    raise TypeError(f"`tokens` must be an integer array; got "
                    f"{getattr(tokens, 'dtype', type(tokens).__name__)}.")
  if tokens.ndim != 2:
    raise ValueError(f"`tokens` must have shape [B, T]; got {tokens.shape}.")
  _checks.floating_batch(embedding_matrix, name="embedding_matrix", min_ndim=2)
  if embedding_matrix.ndim != 2:
    raise ValueError(f"`embedding_matrix` must have shape [V, D]; got "
                     f"{embedding_matrix.shape}.")


def _scores(vg, tokens, embedding_matrix):
  """``(loss [B], scores [B, T, V])`` at ``tokens``."""
  e = embedding_matrix.astype(jnp.float32)
  values, g = vg(embedding_lookup(embedding_matrix, tokens))
  g = g.astype(jnp.float32)
  current = jnp.sum(g * embedding_lookup(e, tokens), axis=-1)
  scores = jnp.einsum("btd,vd->btv", g, e) - current[..., None]
  return values.astype(jnp.float32), scores


class HotFlipResult(NamedTuple):
  """The outcome of :func:`hotflip`, per example.

  Attributes:
    tokens: ``[B, T]`` adversarial token ids.
    n_flips: ``[B]`` int32 number of flipped positions.
    loss: ``[B]`` float32 loss at ``tokens``.
    success: ``[B]`` bool ``success_fn`` at ``tokens`` (False without one).
  """
  tokens: jax.Array
  n_flips: jax.Array
  loss: jax.Array
  success: jax.Array


def hotflip(loss_fn: LossFn, tokens: jax.Array, embedding_matrix: jax.Array, *,
            n_flips: int, beam_width: int = 1, flip_mask: jax.Array | None = None,
            allowed_tokens: jax.Array | None = None,
            token_classes: jax.Array | None = None,
            success_fn: LossFn | None = None) -> HotFlipResult:
  """HotFlip: up to ``n_flips`` token substitutions chosen by gradient scores.

  At each depth every beam's flips are scored by :func:`hotflip_scores`
  (positions already flipped, positions outside ``flip_mask``, tokens
  outside ``allowed_tokens`` and tokens of another class than the one they
  replace excluded); each beam proposes its
  ``beam_width`` best-scored flips, whose true losses are evaluated, and the
  ``beam_width`` best candidates become the next beams. ``beam_width=1`` is
  the greedy search. An example stops as soon as ``success_fn`` holds for it
  (fewest flips first); without ``success_fn`` the highest-loss sequence
  seen (the original included) is returned. Beams that reach the same
  sequence in different orders are not merged.

  ``loss_fn`` and ``success_fn`` are mapped over beams with ``jax.vmap``, so
  they keep seeing batches of ``B`` examples (labels and masks closed over
  stay valid).

  Args:
    loss_fn: ``embeddings [B, T, D] -> [B]`` per-example loss to increase.
    tokens: ``[B, T]`` integer ids.
    embedding_matrix: ``[V, D]`` word embeddings.
    n_flips: static largest number of flips, >= 0.
    beam_width: static beam width, >= 1.
    flip_mask: ``[B, T]`` bool, positions that may be flipped (default: all;
      pass the padding mask at least).
    allowed_tokens: ``[V]`` bool, tokens that may be substituted in (default:
      all).
    token_classes: ``[V]`` int, e.g. synonym sets: a token may only be
      replaced by one of its own class (default: one class).
    success_fn: optional ``embeddings -> [B]`` bool, e.g. misclassification.

  Returns:
    A :class:`HotFlipResult`.

  References:
    Ebrahimi et al., 2018. https://arxiv.org/abs/1712.06751
  """
  _check_tokens(tokens, embedding_matrix)
  n_flips = _checks.count(n_flips, name="n_flips", minimum=0)
  width = _checks.count(beam_width, name="beam_width", minimum=1)
  b, t = tokens.shape
  v = embedding_matrix.shape[0]
  flip_mask = (jnp.ones((b, t), jnp.bool_) if flip_mask is None
               else jnp.asarray(flip_mask, jnp.bool_))
  if flip_mask.shape != (b, t):
    raise ValueError(f"`flip_mask` must have shape {(b, t)}; got {flip_mask.shape}.")
  allowed = (jnp.ones((v,), jnp.bool_) if allowed_tokens is None
             else jnp.asarray(allowed_tokens, jnp.bool_))
  if allowed.shape != (v,):
    raise ValueError(f"`allowed_tokens` must have shape ({v},); got {allowed.shape}.")
  classes = (jnp.zeros((v,), jnp.int32) if token_classes is None
             else jnp.asarray(token_classes))
  if classes.shape != (v,) or not jnp.issubdtype(classes.dtype, jnp.integer):
    raise ValueError(f"`token_classes` must be integers of shape ({v},); got "
                     f"{classes.dtype}{list(classes.shape)}.")
  n_cand = min(width, t * v)

  def embed(tok):
    return embedding_lookup(embedding_matrix, tok)

  def evaluate(tok):  # [W, B, T] -> (loss [W, B], success [W, B])
    e = jax.vmap(embed)(tok)
    loss = jax.vmap(loss_fn)(e).astype(jnp.float32)
    if success_fn is None:
      return loss, jnp.zeros(loss.shape, jnp.bool_)
    return loss, jax.vmap(success_fn)(e).astype(jnp.bool_)

  scores_fn = jax.vmap(lambda tok: _scores(value_and_grad(loss_fn), tok,
                                           embedding_matrix)[1])

  def depth(_, carry):
    beams, flipped, valid, done, best = carry  # [W,B,T], [W,B,T], [W,B], [B]
    scores = scores_fn(beams)  # [W, B, T, V]
    ok = (flip_mask[None, :, :, None] & ~flipped[..., None]
          & allowed[None, None, None, :]
          & (jnp.arange(v)[None, None, None, :] != beams[..., None])
          & (classes[None, None, None, :] == embedding_lookup(classes, beams)[..., None])
          & valid[:, :, None, None])
    scores = jnp.where(ok, scores, -jnp.inf).reshape(width, b, t * v)
    top_score, top_idx = jax.lax.top_k(scores, n_cand)  # [W, B, n_cand]
    pos, new_tok = top_idx // v, top_idx % v
    hit = jax.nn.one_hot(pos, t, dtype=jnp.bool_)  # [W, B, n_cand, T]
    cand = jnp.where(hit, new_tok[..., None], beams[:, :, None, :])
    cand_flipped = flipped[:, :, None, :] | hit
    cand_valid = jnp.isfinite(top_score)
    # Candidates to [W * n_cand, B, ...] so that the model sees batches of B.
    cand = jnp.moveaxis(cand, 2, 1).reshape(width * n_cand, b, t)
    cand_flipped = jnp.moveaxis(cand_flipped, 2, 1).reshape(width * n_cand, b, t)
    cand_valid = jnp.moveaxis(cand_valid, 2, 1).reshape(width * n_cand, b)
    loss, success = evaluate(cand)
    key = _rank(loss, success, cand_valid)
    _, keep = jax.lax.top_k(key.T, width)  # [B, W]
    pick = lambda a: jnp.take_along_axis(  # noqa: E731
        a, keep.T.reshape((width, b) + (1,) * (a.ndim - 2)), axis=0)
    new = (pick(cand), pick(cand_flipped), pick(cand_valid), pick(loss),
           pick(success))
    # Finished examples keep their beams.
    stay = lambda old, nw: jnp.where(  # noqa: E731
        done.reshape((1, b) + (1,) * (old.ndim - 2)), old, nw)
    beams, flipped, valid = (stay(beams, new[0]), stay(flipped, new[1]),
                             stay(valid, new[2]))
    best = _keep_best(best, beams, new[3], new[4], valid, done)
    done = done | best[2]
    return beams, flipped, valid, done, best

  beams0 = jnp.broadcast_to(tokens, (width, b, t))
  valid0 = jnp.arange(width)[:, None] == jnp.zeros((1, b), jnp.int32)
  loss0, success0 = evaluate(tokens[None])
  best0 = (tokens, loss0[0], success0[0])
  init = (beams0, jnp.zeros((width, b, t), jnp.bool_), valid0, success0[0], best0)
  *_, (adv, loss, success) = jax.lax.fori_loop(0, n_flips, depth, init)
  # Each position flips at most once and never back, so this counts flips.
  n_changed = jnp.sum(adv != tokens, axis=1).astype(jnp.int32)
  return HotFlipResult(adv, n_changed, loss, success)


def _keep_best(best, beams, loss, success, valid, done):
  """Updates the best ``(tokens, loss, success)`` with the new beams."""
  best_tok, best_loss, best_success = best
  top = jnp.argmax(_rank(loss, success, valid), axis=0)  # [B]
  take = lambda a: jnp.take_along_axis(  # noqa: E731
      a, top.reshape((1, -1) + (1,) * (a.ndim - 2)), axis=0)[0]
  cand_tok, cand_loss, cand_success = take(beams), take(loss), take(success)
  better = take(valid) & ~done & (
      (cand_success & ~best_success)
      | ((cand_success == best_success) & (cand_loss > best_loss)))
  return (jnp.where(better[:, None], cand_tok, best_tok),
          jnp.where(better, cand_loss, best_loss),
          jnp.where(better, cand_success, best_success))


def _rank(loss, success, valid):
  """Sort key of candidates: successes first, then the loss."""
  return jnp.where(valid, jnp.where(success, jnp.inf, loss), -jnp.inf)
