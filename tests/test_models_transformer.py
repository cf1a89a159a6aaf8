"""The Transformer text classifier: ids vs embeddings, padding, dropout."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import models

V, T = 11, 6
TOKENS = jnp.asarray([[3, 4, 5, 0, 0, 0], [7, 1, 2, 9, 10, 6]], jnp.int32)


@pytest.fixture(scope="module")
def model_and_params():
  module = models.TransformerClassifier(vocab_size=V, num_classes=3, max_len=T,
                                        d_model=8, num_heads=2, num_layers=2,
                                        mlp_dim=16, dropout_rate=0.5)
  params = jax.jit(module.init)(jax.random.key(0), TOKENS)["params"]
  return module, params


def test_ids_and_embeddings_give_the_same_logits(model_and_params):
  module, params = model_and_params
  variables = {"params": params}

  @jax.jit
  def both(tokens):
    emb = module.apply(variables, tokens, method="embed")
    return (module.apply(variables, tokens), module.apply(variables, emb, tokens != 0),
            emb)

  from_ids, from_emb, emb = both(TOKENS)
  assert from_ids.shape == (2, 3) and emb.shape == (2, T, 8)
  np.testing.assert_allclose(np.asarray(from_ids), np.asarray(from_emb), rtol=1e-6)
  # embed() is a row lookup of the table.
  table = params["encoder"]["token_embed"]["embedding"]
  np.testing.assert_array_equal(np.asarray(emb), np.asarray(table[TOKENS]))
  # Padding is invisible: other ids or embeddings there change nothing, and
  # neither does trimming it away.
  other = TOKENS.at[0, 3:].set(jnp.asarray([8, 2, 5]))
  masked = module.apply(variables, other, TOKENS != 0)
  np.testing.assert_allclose(np.asarray(masked), np.asarray(from_ids), rtol=1e-5,
                             atol=1e-6)
  noisy = emb.at[0, 3:].add(100.0)
  np.testing.assert_allclose(np.asarray(module.apply(variables, noisy, TOKENS != 0)),
                             np.asarray(from_ids), rtol=1e-5, atol=1e-6)
  short = module.apply(variables, TOKENS[:1, :3])
  np.testing.assert_allclose(np.asarray(short[0]), np.asarray(from_ids[0]),
                             rtol=1e-5, atol=1e-6)
  # Without a mask, embeddings count as all real tokens (the padding now matters).
  unmasked = module.apply(variables, emb)
  assert not np.allclose(np.asarray(unmasked[0]), np.asarray(from_ids[0]))
  # Word order matters (position embeddings).
  flipped = module.apply(variables, TOKENS[:, jnp.asarray([1, 0, 2, 3, 4, 5])])
  assert not np.allclose(np.asarray(flipped[1]), np.asarray(from_ids[1]))


def test_dropout_only_in_training(model_and_params):
  module, params = model_and_params
  variables = {"params": params}
  run = jax.jit(lambda k: module.apply(variables, TOKENS, train=True,
                                       rngs={"dropout": k}))
  a, b, a2 = run(jax.random.key(1)), run(jax.random.key(2)), run(jax.random.key(1))
  assert not np.allclose(np.asarray(a), np.asarray(b))
  np.testing.assert_array_equal(np.asarray(a), np.asarray(a2))
  evals = module.apply(variables, TOKENS, train=False)
  assert np.all(np.isfinite(np.asarray(evals)))


def test_bad_inputs_are_named(model_and_params):
  module, params = model_and_params
  variables = {"params": params}
  with pytest.raises(ValueError, match="mask"):
    module.apply(variables, TOKENS, TOKENS[:, :3] != 0)
  with pytest.raises(TypeError, match="inputs"):
    module.apply(variables, TOKENS != 0)
  with pytest.raises(ValueError, match="max_len"):
    module.apply(variables, jnp.ones((1, T + 1), jnp.int32))
  with pytest.raises(ValueError, match="inputs"):
    module.apply(variables, jnp.ones((2, T, 5), jnp.float32))
  with pytest.raises(ValueError, match="num_heads"):
    bad = models.TransformerClassifier(vocab_size=V, d_model=8, num_heads=3)
    bad.init(jax.random.key(0), TOKENS)
