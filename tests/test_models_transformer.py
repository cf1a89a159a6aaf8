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
  mask = TOKENS != 0
  other = TOKENS.at[0, 3:].set(jnp.asarray([8, 2, 5]))
  swapped = TOKENS[:, jnp.asarray([1, 0, 2, 3, 4, 5])]

  @jax.jit
  def run(tokens):
    apply = lambda *a: module.apply(variables, *a)  # noqa: E731
    emb = module.apply(variables, tokens, method="embed")
    return {"ids": apply(tokens), "emb": apply(emb, mask), "table": emb,
            # Padding is invisible: other ids or embeddings there change
            # nothing, and neither does trimming it away.
            "other_pad_ids": apply(other, mask),
            "noisy_pad": apply(emb.at[0, 3:].add(100.0), mask),
            "trimmed": apply(tokens[:1, :3]),
            # Without a mask, embeddings count as real tokens everywhere.
            "unmasked": apply(emb),
            "swapped": apply(swapped)}

  out = jax.tree.map(np.asarray, run(TOKENS))
  assert out["ids"].shape == (2, 3) and out["table"].shape == (2, T, 8)
  np.testing.assert_allclose(out["ids"], out["emb"], rtol=1e-6)
  # embed() is a row lookup of the table.
  table = params["token_embed"]["embedding"]
  np.testing.assert_array_equal(out["table"], np.asarray(table[TOKENS]))
  for key in ("other_pad_ids", "noisy_pad"):
    np.testing.assert_allclose(out[key], out["ids"], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out["trimmed"][0], out["ids"][0], rtol=1e-5, atol=1e-6)
  assert not np.allclose(out["unmasked"][0], out["ids"][0])
  np.testing.assert_allclose(out["unmasked"][1], out["ids"][1], rtol=1e-5, atol=1e-6)
  # Word order matters (position embeddings).
  assert not np.allclose(out["swapped"][1], out["ids"][1])


def test_dropout_only_in_training(model_and_params):
  module, params = model_and_params
  variables = {"params": params}
  run = jax.jit(lambda k: module.apply(variables, TOKENS, train=True,
                                       rngs={"dropout": k}))
  a, b, a2 = run(jax.random.key(1)), run(jax.random.key(2)), run(jax.random.key(1))
  assert not np.allclose(np.asarray(a), np.asarray(b))
  np.testing.assert_array_equal(np.asarray(a), np.asarray(a2))


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
