"""Embedding PGD, FreeLB's perturbation helpers and HotFlip."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import attacks
from advjax.losses import cross_entropy

pytestmark = pytest.mark.strict_dtypes

B, T, D, V = 4, 6, 5, 9
LENGTHS = np.array([6, 3, 1, 4])
MASK = jnp.asarray(np.arange(T)[None, :] < LENGTHS[:, None])


def _frobenius(x):
  return np.sqrt(np.sum(np.asarray(x, np.float64) ** 2, axis=(1, 2)))


def test_init_delta_zero_on_padding_and_bounded():
  eps = jnp.asarray([0.5, 1.0, 2.0, 0.0], jnp.float32)
  delta = jax.jit(lambda k: attacks.init_embedding_delta(
      k, MASK, D, radius=eps, norm=2))(jax.random.key(0))
  assert delta.shape == (B, T, D) and delta.dtype == jnp.float32
  d = np.asarray(delta)
  assert np.all(d[~np.asarray(MASK)] == 0.0)
  # U(-eps, eps) / sqrt(N_delta), N_delta = real tokens x D.
  bound = np.asarray(eps) / np.sqrt(LENGTHS * D)
  assert np.all(np.abs(d) <= bound[:, None, None] + 1e-7)
  assert np.all(_frobenius(d) <= np.asarray(eps) + 1e-6)
  # Not degenerate: it fills a good part of the box on real tokens.
  assert np.abs(d[1][np.asarray(MASK)[1]]).max() > 0.5 * bound[1]
  linf = attacks.init_embedding_delta(jax.random.key(1), MASK, D, radius=0.3,
                                      norm=jnp.inf)
  assert np.all(np.abs(np.asarray(linf)) <= 0.3 + 1e-7)
  assert np.all(np.asarray(linf)[~np.asarray(MASK)] == 0.0)
  assert np.abs(np.asarray(linf)).max() > 0.2


def test_ascent_step_projects_onto_the_frobenius_ball():
  k1, k2 = jax.random.split(jax.random.key(2))
  delta = 3.0 * jax.random.normal(k1, (B, T, D)) * MASK[..., None].astype(jnp.float32)
  grad = jax.random.normal(k2, (B, T, D))
  eps = jnp.asarray([0.1, 1.0, 5.0, 100.0], jnp.float32)
  step = jax.jit(lambda d, g, e: attacks.embedding_ascent_step(
      d, g, MASK, step_size=0.7, max_norm=e))
  new = np.asarray(step(delta, grad, eps))
  assert np.all(_frobenius(new) <= np.asarray(eps) * (1 + 1e-5))
  assert np.all(new[~np.asarray(MASK)] == 0.0)
  # Reference: delta + a g/||g||_F on real tokens, then radial scaling.
  g = np.asarray(grad) * np.asarray(MASK)[..., None]
  ref = np.asarray(delta) + 0.7 * g / _frobenius(g)[:, None, None]
  ref *= np.minimum(1.0, np.asarray(eps) / _frobenius(ref))[:, None, None]
  np.testing.assert_allclose(new, ref, rtol=1e-5, atol=1e-6)
  # max_norm = 0 means no projection; a zero gradient gives no step, no NaN.
  free = attacks.embedding_ascent_step(delta, grad, MASK, step_size=0.7, max_norm=0.0)
  np.testing.assert_allclose(
      np.asarray(free), np.asarray(delta) + 0.7 * g / _frobenius(g)[:, None, None],
      rtol=1e-5, atol=1e-6)
  still = attacks.embedding_ascent_step(delta, jnp.zeros_like(grad), MASK,
                                        step_size=0.7, max_norm=100.0)
  np.testing.assert_array_equal(np.asarray(still), np.asarray(delta))
  linf = attacks.embedding_ascent_step(delta, grad, MASK, step_size=0.7,
                                       max_norm=0.2, norm=jnp.inf)
  assert np.abs(np.asarray(linf)).max() <= 0.2 + 1e-7


def _linear_text_model(key, num_classes=2):
  """logits = sum_t mask_t * (W e_t): linear in the embeddings."""
  k1, k2 = jax.random.split(key)
  table = jax.random.normal(k1, (V, D))
  w = jax.random.normal(k2, (D, num_classes))

  def logits_fn_of(mask):
    return lambda e: jnp.einsum("btd,dc->bc", e * mask[..., None].astype(e.dtype), w)

  return table, logits_fn_of


def test_embedding_pgd_stays_in_ball_and_never_lowers_the_loss():
  table, logits_fn_of = _linear_text_model(jax.random.key(3))
  tokens = jnp.where(MASK, jax.random.randint(jax.random.key(4), (B, T), 1, V), 0)
  labels = jnp.asarray([0, 1, 0, 1])
  emb = table[tokens]
  # A nonlinear objective (cross-entropy of a tanh model) to make ascent work.
  logits_fn = lambda e: logits_fn_of(MASK)(jnp.tanh(e))  # noqa: E731
  loss_fn = attacks.untargeted(logits_fn, labels)
  eps = 0.8
  attack = jax.jit(lambda e, k: attacks.embedding_pgd(
      loss_fn, e, MASK, key=k, eps=eps, step_size=0.3, n_steps=8))
  adv = attack(emb, jax.random.key(5))
  assert adv.shape == emb.shape and adv.dtype == emb.dtype
  delta = np.asarray(adv - emb)
  assert np.all(_frobenius(delta) <= eps * (1 + 1e-5))
  assert np.all(delta[~np.asarray(MASK)] == 0.0)
  start = np.asarray(loss_fn(emb))
  after = np.asarray(loss_fn(adv))
  assert np.all(after >= start - 1e-6)
  assert np.mean(after - start) > 0.05
  # The attack beats random points of the same ball on every example.
  rand = emb + attacks.init_embedding_delta(jax.random.key(6), MASK, D, radius=eps)
  assert np.all(after >= np.asarray(loss_fn(rand)) - 1e-6)
  with pytest.raises(ValueError, match="mask"):
    attacks.embedding_pgd(loss_fn, emb, MASK[:, :3], key=jax.random.key(0),
                          eps=eps, step_size=0.1, n_steps=1)
  with pytest.raises(ValueError, match="eps"):
    attacks.embedding_pgd(loss_fn, emb, MASK, key=jax.random.key(0), eps=-1.0,
                          step_size=0.1, n_steps=1)


def _brute_force_flips(loss_fn, tokens, table, flip_mask, allowed):
  """True loss of every single flip, ``[B, T, V]`` (-inf where not allowed)."""
  tokens = np.asarray(tokens)
  out = np.full(tokens.shape + (V,), -np.inf)
  loss_of = jax.jit(lambda t: loss_fn(table[t]))
  for i, v in itertools.product(range(T), range(V)):
    flipped = tokens.copy()
    flipped[:, i] = v
    loss = np.asarray(loss_of(jnp.asarray(flipped)))
    ok = flip_mask[:, i] & allowed[v] & (tokens[:, i] != v)
    out[:, i, v] = np.where(ok, loss, -np.inf)
  return out


def test_hotflip_score_ranks_the_true_best_flip_first_on_a_linear_model():
  table, logits_fn_of = _linear_text_model(jax.random.key(7))
  tokens = jnp.where(MASK, jax.random.randint(jax.random.key(8), (B, T), 1, V), 0)
  labels = jnp.asarray([1, 0, 1, 0])
  loss_fn = attacks.untargeted(logits_fn_of(MASK), labels)
  scores = jax.jit(lambda t: attacks.hotflip_scores(loss_fn, t, table))(tokens)
  assert scores.shape == (B, T, V)
  # The first-order score is exact for the (linear) margin of two classes...
  margin = attacks.untargeted(logits_fn_of(MASK), labels, loss="margin")
  flip_mask = np.asarray(MASK)
  allowed = np.ones(V, bool)
  true_margin = _brute_force_flips(margin, tokens, table, flip_mask, allowed)
  margin_scores = np.asarray(attacks.hotflip_scores(margin, tokens, table))
  base = np.asarray(margin(table[tokens]))
  ok = np.isfinite(true_margin)
  np.testing.assert_allclose(margin_scores[ok], (true_margin - base[:, None, None])[ok],
                             rtol=1e-4, atol=1e-4)
  # ... and cross-entropy is monotone in it, so the CE score's best flip is the
  # true best flip (of cross-entropy) for every example.
  true_ce = _brute_force_flips(loss_fn, tokens, table, flip_mask, allowed)
  masked = np.where(ok, np.asarray(scores), -np.inf)
  best_by_score = masked.reshape(B, -1).argmax(1)
  best_true = true_ce.reshape(B, -1).argmax(1)
  np.testing.assert_array_equal(best_by_score, best_true)
  # hotflip with one flip applies exactly that flip.
  result = jax.jit(lambda t: attacks.hotflip(loss_fn, t, table, n_flips=1,
                                             flip_mask=MASK))(tokens)
  np.testing.assert_allclose(np.asarray(result.loss), true_ce.reshape(B, -1).max(1),
                             rtol=1e-5)
  assert np.all(np.asarray(result.n_flips) == 1)
  assert not np.any(np.asarray(result.success))


def test_hotflip_beam_search_respects_constraints_and_stops_on_success():
  table, logits_fn_of = _linear_text_model(jax.random.key(9), num_classes=3)
  tokens = jnp.where(MASK, jax.random.randint(jax.random.key(10), (B, T), 1, V), 0)
  logits_fn = logits_fn_of(MASK)
  labels = jnp.argmax(logits_fn(table[tokens]), -1)  # all correct at the start
  loss_fn = attacks.untargeted(logits_fn, labels)
  success_fn = lambda e: jnp.argmax(logits_fn(e), -1) != labels  # noqa: E731
  allowed = np.ones(V, bool)
  allowed[[0, 3]] = False  # never substitute in tokens 0 and 3
  flip_mask = np.asarray(MASK).copy()
  flip_mask[0, :2] = False  # positions 0 and 1 of example 0 are protected
  classes = np.arange(V) % 4  # substitutions only within a class ("synonyms")
  run = jax.jit(lambda t, width: attacks.hotflip(
      loss_fn, t, table, n_flips=3, beam_width=width, flip_mask=flip_mask,
      allowed_tokens=allowed, token_classes=classes, success_fn=success_fn),
                static_argnums=1)
  greedy, beam = run(tokens, 1), run(tokens, 3)
  for res in (greedy, beam):
    adv, orig = np.asarray(res.tokens), np.asarray(tokens)
    changed = adv != orig
    assert np.all(np.asarray(res.n_flips) == changed.sum(1))
    assert np.all(np.asarray(res.n_flips) <= 3)
    assert not np.any(changed & ~flip_mask)
    assert np.all(allowed[adv[changed]])
    np.testing.assert_array_equal(classes[adv[changed]], classes[orig[changed]])
    assert changed.any()
    # success is what it says, and the reported loss is the loss at the tokens.
    np.testing.assert_array_equal(np.asarray(res.success),
                                  np.asarray(success_fn(table[res.tokens])))
    np.testing.assert_allclose(np.asarray(res.loss),
                               np.asarray(loss_fn(table[res.tokens])), rtol=1e-5)
  # The beam (width 3) contains the greedy path's first step, so it succeeds
  # at least wherever greedy succeeds with one flip.
  g1 = np.asarray(greedy.success) & (np.asarray(greedy.n_flips) == 1)
  assert np.all(np.asarray(beam.success)[g1])
  assert np.asarray(beam.success).sum() >= np.asarray(greedy.success).sum()
  # Example 2 has a single real token, so at most one flip.
  assert int(beam.n_flips[2]) <= 1
  with pytest.raises(ValueError, match="beam_width"):
    attacks.hotflip(loss_fn, tokens, table, n_flips=1, beam_width=0)
  with pytest.raises(TypeError, match="tokens"):
    attacks.hotflip(loss_fn, tokens.astype(jnp.float32), table, n_flips=1)
  with pytest.raises(ValueError, match="allowed_tokens"):
    attacks.hotflip(loss_fn, tokens, table, n_flips=1, allowed_tokens=allowed[:3])
  with pytest.raises(ValueError, match="token_classes"):
    attacks.hotflip(loss_fn, tokens, table, n_flips=1, token_classes=classes[:3])


def test_hotflip_without_success_fn_never_lowers_the_loss():
  table, logits_fn_of = _linear_text_model(jax.random.key(11))
  tokens = jnp.where(MASK, jax.random.randint(jax.random.key(12), (B, T), 1, V), 0)
  labels = jnp.asarray([0, 1, 1, 0])

  def loss_fn(e):  # nonlinear in the embeddings
    return cross_entropy(logits_fn_of(MASK)(jnp.sin(e)), labels)

  res = attacks.hotflip(loss_fn, tokens, table, n_flips=2, beam_width=2,
                        flip_mask=MASK)
  assert np.all(np.asarray(res.loss) >= np.asarray(loss_fn(table[tokens])) - 1e-6)
  assert not np.any(np.asarray(res.success))
