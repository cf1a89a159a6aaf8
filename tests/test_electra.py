"""ELECTRA: masking, Gumbel-max sampling, RTD labels, the stop-gradient between
discriminator and generator, sharded steps, the Markov corpus."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from advjax import data
from advjax import models
from advjax import train

PAD, MASK, CLS = 0, 2, 3
VOCAB = 24
MODULE = models.Electra(vocab_size=VOCAB, max_len=12, d_model=16, num_heads=2,
                        num_layers=1, mlp_dim=32, generator_d_model=4,
                        dropout_rate=0.0)
MLM = models.MaskedLM(vocab_size=VOCAB, max_len=12, d_model=16, num_heads=2,
                      num_layers=1, mlp_dim=32, dropout_rate=0.0)
SPECIAL = dict(pad_id=PAD, mask_id=MASK, special_ids=(CLS,))


def _tokens(key, batch, length):
  """[cls] + random words (ids 4..) + padding of random length."""
  k_w, k_n = jax.random.split(key)
  words = jax.random.randint(k_w, (batch, length), 4, VOCAB)
  lengths = jax.random.randint(k_n, (batch, 1), 3, length + 1)
  pos = jnp.arange(length)[None]
  tokens = jnp.where(pos < lengths, words, PAD)
  return tokens.at[:, 0].set(CLS).astype(jnp.int32)


@pytest.fixture(scope="module")
def params():
  return jax.jit(MODULE.init)(jax.random.key(0), jnp.zeros((2, 12), jnp.int32))["params"]


def test_masking_skips_special_tokens_and_hits_the_rate():
  tokens = _tokens(jax.random.key(1), 512, 40)
  masked, is_masked = jax.jit(lambda t, k: train.mask_tokens(
      t, k, mask_id=MASK, special_ids=(PAD, CLS)))(tokens, jax.random.key(2))
  tokens, masked, is_masked = map(np.asarray, (tokens, masked, is_masked))
  special = (tokens == PAD) | (tokens == CLS)
  assert not is_masked[special].any()
  np.testing.assert_array_equal(masked[is_masked], MASK)
  np.testing.assert_array_equal(masked[~is_masked], tokens[~is_masked])
  rate = is_masked[~special].mean()  # ~11,000 maskable tokens: std 0.0034
  assert abs(rate - 0.15) < 0.012, rate
  with pytest.raises(ValueError, match="mask_prob"):
    train.mask_tokens(jnp.asarray(tokens), jax.random.key(0), mask_id=MASK,
                      special_ids=(PAD,), mask_prob=1.5)
  with pytest.raises(TypeError, match="tokens"):
    train.mask_tokens(jnp.ones((2, 3)), jax.random.key(0), mask_id=MASK,
                      special_ids=(PAD,))


def test_gumbel_max_samples_the_softmax_in_float32():
  logits = jnp.log(jnp.array([0.5, 0.3, 0.15, 0.05], jnp.bfloat16))
  samples = jax.jit(train.gumbel_max_sample)(
      jnp.broadcast_to(logits, (40000, 4)), jax.random.key(3))
  assert samples.dtype == jnp.int32
  freq = np.bincount(np.asarray(samples), minlength=4) / 40000
  np.testing.assert_allclose(freq, [0.5, 0.3, 0.15, 0.05], atol=0.01)
  # No gradient path: d(sum of sampled logits)/d(logits) flows only through
  # the explicit gather, never through the sample.
  g = jax.grad(lambda l: jnp.sum(train.gumbel_max_sample(l, jax.random.key(4))
                                 .astype(jnp.float32)))(jnp.zeros((3, 4)))
  np.testing.assert_array_equal(g, 0.0)


def test_rtd_labels_are_zero_where_the_sample_equals_the_original():
  # A generator that always proposes word 5: exactly the masked positions
  # whose original is not 5 are "replaced".
  tokens = _tokens(jax.random.key(5), 64, 12)
  tokens = tokens.at[:, 1:4].set(jnp.where(tokens[:, 1:4] == PAD, PAD, 5))
  gen = lambda p, t, m, *, train, key: jax.nn.one_hot(  # noqa: E731
      jnp.full(t.shape, 5), VOCAB) * 1e4
  disc = lambda p, t, m, *, train, key: jnp.zeros(t.shape)  # noqa: E731
  _, aux = jax.jit(lambda t, k: train.electra_loss(
      train.ElectraModel(gen, disc), {}, t, k, **SPECIAL))(tokens, jax.random.key(6))
  t, is_masked, replaced = map(np.asarray, (tokens, aux["is_masked"], aux["replaced"]))
  np.testing.assert_array_equal(replaced, is_masked & (t != 5))
  assert (is_masked & (t == 5)).sum() > 10  # the case under test occurs
  corrupted = np.asarray(aux["corrupted"])
  np.testing.assert_array_equal(corrupted[is_masked], 5)
  np.testing.assert_array_equal(corrupted[~is_masked], t[~is_masked])
  # A zero logit everywhere: the RTD loss is log 2, its accuracy the share of
  # originals among real tokens.
  assert float(aux["rtd_loss"]) == pytest.approx(np.log(2.0), rel=1e-5)
  assert float(aux["replaced_fraction"]) == pytest.approx(
      replaced.sum() / is_masked.sum(), rel=1e-5)


def test_rtd_loss_sends_no_gradient_to_the_generator(params):
  model = train.linen_electra(MODULE)
  tokens = _tokens(jax.random.key(7), 16, 12)

  def parts(p):
    aux = train.electra_loss(model, p, tokens, jax.random.key(8), **SPECIAL)[1]
    return jnp.stack([aux["rtd_loss"], aux["mlm_loss"]])

  def norm(tree):
    return float(sum(jnp.sum(jnp.abs(x)) for x in jax.tree.leaves(tree)))

  jac = jax.jit(jax.jacrev(parts))(params)  # one row per loss
  g_rtd, g_mlm = (jax.tree.map(lambda x, i=i: x[i], jac) for i in range(2))
  for name in models.GENERATOR_PARAMS:
    assert norm(g_rtd[name]) == 0.0, name  # stop_gradient on the samples
    assert norm(g_mlm[name]) > 0.0, name
  assert norm(g_rtd["rtd_head"]) > 0 and norm(g_mlm["rtd_head"]) == 0.0
  assert norm(g_mlm["discriminator"]["stack"]) == 0.0
  shared = lambda g: norm(g["discriminator"]["token_embed"])  # noqa: E731
  assert shared(g_rtd) > 0 and shared(g_mlm) > 0  # both train the embeddings


@pytest.mark.parametrize("kind", ["electra", "mlm"])
def test_steps_jit_and_shard(kind, params):
  tx = optax.sgd(0.1)
  if kind == "electra":
    p = params
    step = jax.jit(train.make_electra_step(train.linen_electra(MODULE), tx, **SPECIAL))
  else:
    p = jax.jit(MLM.init)(jax.random.key(9), jnp.zeros((2, 12), jnp.int32))["params"]
    step = jax.jit(train.make_mlm_step(train.linen_mlm(MLM), tx, **SPECIAL))
  state = train.TrainState.create(p, tx)
  tokens = _tokens(jax.random.key(10), 16, 12)
  key = jax.random.key(11)
  ref_state, ref_metrics = step(state, {"tokens": tokens}, key)
  mesh = train.data_mesh()
  assert mesh.shape["data"] == 8
  sh_state, sh_metrics = step(train.replicate(state, mesh),
                              train.shard_batch({"tokens": tokens}, mesh), key)
  for a, b in zip(jax.tree.leaves((ref_state, ref_metrics)),
                  jax.tree.leaves((sh_state, sh_metrics))):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
  assert int(ref_state.step) == 1
  assert 0.0 < float(ref_metrics["masked_fraction"]) < 0.5
  if kind == "electra":
    expected = ref_metrics["mlm_loss"] + 50.0 * ref_metrics["rtd_loss"]
    assert float(ref_metrics["loss"]) == pytest.approx(float(expected), rel=1e-5)
  # The pretrained encoder fits a classifier of the same size.
  clf = models.TransformerClassifier(vocab_size=VOCAB, max_len=12, d_model=16,
                                     num_heads=2, num_layers=1, mlp_dim=32,
                                     num_classes=3, dropout_rate=0.0)
  def classify(params, tokens):
    head = clf.init(jax.random.key(0), tokens[:2])["params"]["head"]
    return clf.apply({"params": {**models.encoder_params(params), "head": head}},
                     tokens)
  logits = jax.eval_shape(classify, ref_state.params, tokens)
  assert logits.shape == (16, 3)


def test_markov_corpus_structure():
  train_split, test, vocab = data.markov_corpus(
      n_train=600, n_test=50, n_words=40, n_chains=3, branching=3, min_len=5,
      max_len=16, seed=1)
  assert train_split.tokens.shape == (600, 16) and test.tokens.shape == (50, 16)
  assert vocab.words[2:4] == [data.text.MASK, data.text.CLS] and len(vocab) == 44
  t = train_split.tokens
  np.testing.assert_array_equal(t[:, 0], vocab.index[data.text.CLS])
  real = t != 0
  assert (real.sum(1) >= 5).all() and (real.sum(1) <= 16).all()
  assert (np.diff(real.astype(int), axis=1) <= 0).all()  # padding only at the end
  assert set(np.unique(train_split.label)) == {0, 1, 2}
  # Within one chain each word has at most `branching` successors; pooled
  # over chains, more (the chains differ in their transitions).
  def successors(rows):
    out = {}
    for row in rows:
      words = row[1:][row[1:] != 0]
      for a, b in zip(words[:-1], words[1:]):
        out.setdefault(a, set()).add(b)
    return out
  for c in range(3):
    assert max(len(s) for s in successors(t[train_split.label == c]).values()) <= 3
  assert max(len(s) for s in successors(t).values()) > 3
  again = data.markov_corpus(n_train=600, n_test=50, n_words=40, n_chains=3,
                             branching=3, min_len=5, max_len=16, seed=1)[0]
  np.testing.assert_array_equal(again.tokens, t)
  with pytest.raises(ValueError, match="branching"):
    data.markov_corpus(n_words=4, branching=8)
