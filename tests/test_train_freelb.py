"""FreeLB and embedding-PGD training steps against unrolled references."""
import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn
import optax
import pytest

from advjax import attacks
from advjax import losses
from advjax import models
from advjax import train
from advjax.models.transformer import input_mask

B, T, V = 8, 7, 13
LENGTHS = np.array([7, 3, 1, 5, 7, 2, 4, 6])
TOKENS = jnp.asarray(np.where(np.arange(T)[None] < LENGTHS[:, None],
                              np.random.default_rng(0).integers(1, V, (B, T)), 0),
                     jnp.int32)
LABELS = jnp.asarray(np.arange(B) % 2, jnp.int32)
BATCH = {"tokens": TOKENS, "label": LABELS}
MASK = TOKENS != 0
HP = dict(max_norm=0.3, step_size=0.2, n_steps=3)


class _BagClassifier(nn.Module):
  """A small Linen text classifier with ``embed`` and dropout: a tanh bag of
  embeddings and a linear head. The steps are model-agnostic and it compiles
  far faster than the Transformer (which experiments/freelb_text.py trains)."""
  vocab_size: int = V
  features: int = 8
  dropout_rate: float = 0.3
  pad_id: int = 0

  def setup(self):
    self.table = nn.Embed(self.vocab_size, self.features)
    self.hidden = nn.Dense(16)
    self.head = nn.Dense(2)
    self.dropout = nn.Dropout(self.dropout_rate)

  def embed(self, tokens):
    return models.embedding_lookup(self.table.embedding, tokens)

  def __call__(self, inputs, mask=None, *, train=False):
    mask = input_mask(inputs, mask, pad_id=self.pad_id)
    x = self.embed(inputs) if inputs.ndim == 2 else inputs
    x = self.dropout(jnp.tanh(self.hidden(x)), deterministic=not train)
    return self.head(jnp.sum(x * mask[..., None].astype(x.dtype), axis=1))


@pytest.fixture(scope="module")
def setup():
  module = _BagClassifier()
  params = jax.jit(module.init)(jax.random.key(0), TOKENS)["params"]
  return module, train.linen_text_apply(module), params


def _reference_loss(module, params, delta, dropout_key):
  """Mean cross-entropy at E[tokens] + δ, written against the Linen module."""
  emb = module.apply({"params": params}, TOKENS, method="embed") + delta
  logits = module.apply({"params": params}, emb, MASK, train=True,
                        rngs={"dropout": dropout_key})
  return jnp.mean(losses.cross_entropy(logits, LABELS))


def _frobenius_step(delta, g, alpha, eps):
  """δ + α g/‖g‖_F, then scaled back into the ball ‖δ‖_F ≤ ε (per example)."""
  g = g * MASK[..., None]
  norm = jnp.sqrt(jnp.sum(g * g, axis=(1, 2), keepdims=True))
  delta = delta + alpha * g / norm
  size = jnp.sqrt(jnp.sum(delta * delta, axis=(1, 2), keepdims=True))
  return delta * jnp.minimum(1.0, eps / size)


def test_freelb_accumulates_the_mean_of_the_k_step_gradients(setup):
  module, text_model, params = setup
  key = jax.random.key(42)
  grads_fn = jax.jit(train.make_freelb_gradients(text_model, **HP))
  grads, _, metrics = grads_fn(params, {}, BATCH, key)
  # Unrolled reference: Algorithm 1 step by step in Python.
  k_init, k_dropout = jax.random.split(key)
  delta = attacks.init_embedding_delta(k_init, MASK, 8, radius=HP["max_norm"])
  both = jax.jit(jax.value_and_grad(
      lambda p, d: _reference_loss(module, p, d, k_dropout), argnums=(0, 1)))
  per_step, step_losses = [], []
  for _ in range(HP["n_steps"]):
    loss, (g_params, g_delta) = both(params, delta)
    per_step.append(g_params)
    step_losses.append(loss)
    delta = _frobenius_step(delta, g_delta, HP["step_size"], HP["max_norm"])
  mean = jax.tree.map(lambda *g: sum(g) / len(g), *per_step)
  for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(mean)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-4,
                               atol=1e-6)
  np.testing.assert_allclose(float(metrics["loss"]), np.mean(step_losses), rtol=1e-5)
  np.testing.assert_allclose(
      float(metrics["delta_norm"]),
      np.mean(np.sqrt(np.sum(np.asarray(delta) ** 2, axis=(1, 2)))), rtol=1e-5)
  # The steps differ (δ moves), so the mean is not just any one of them, and
  # the embedding table (looked up inside the loss) receives a gradient.
  leaf = lambda g: np.asarray(g["table"]["embedding"])  # noqa: E731
  assert not np.allclose(leaf(per_step[0]), leaf(per_step[-1]), rtol=1e-3)
  assert np.abs(leaf(grads)).max() > 0
  # The ascent raised the loss: FreeLB trains on harder points than δ₀.
  assert step_losses[-1] > step_losses[0]

  # PGD-AT: K ascent steps on δ (same start), then one gradient at δ_K.
  pgd_fn = jax.jit(train.make_embedding_pgd_gradients(text_model, **HP))
  pgd_grads, _, pgd_metrics = pgd_fn(params, {}, BATCH, key)
  loss_k, (want_k, _) = both(params, delta)
  for got, want in zip(jax.tree.leaves(pgd_grads), jax.tree.leaves(want_k)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-4,
                               atol=1e-6)
  np.testing.assert_allclose(float(pgd_metrics["loss"]), float(loss_k), rtol=1e-5)


def test_k1_eps0_is_plain_training(setup):
  module, text_model, params = setup
  tx = optax.adam(1e-2)
  state = train.TrainState.create(params, tx)
  freelb = jax.jit(train.make_freelb_step(text_model, tx, max_norm=0.0,
                                          init_mag=0.0, step_size=0.5, n_steps=1))
  plain = jax.jit(train.make_classifier_step(train.linen_apply(module), tx))
  key = jax.random.key(3)
  # FreeLB splits its key into (δ₀ key, dropout key); plain dropout gets the latter.
  s_free, m_free = freelb(state, BATCH, key)
  s_plain, m_plain = plain(state, {"image": TOKENS, "label": LABELS},
                           jax.random.split(key)[1])
  for got, want in zip(jax.tree.leaves(s_free.params), jax.tree.leaves(s_plain.params)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5,
                               atol=1e-6)
  np.testing.assert_allclose(float(m_free["loss"]), float(m_plain["loss"]), rtol=1e-6)
  # δ₀ = 0; the one ascent step (unprojected, max_norm 0) does not matter.
  np.testing.assert_allclose(float(m_free["delta_norm"]), 0.5, rtol=1e-5)
  assert int(s_free.step) == 1


def _bag_model():
  """A cheap text model (tanh bag of embeddings, linear head) for options."""

  def embed_fn(params, tokens):
    return models.embedding_lookup(params["table"], tokens)

  def apply_fn(params, model_state, embeddings, mask, *, train, key=None):
    del train, key
    pooled = jnp.sum(jnp.tanh(embeddings) * mask[..., None], axis=1)
    return pooled @ params["head"], model_state

  k1, k2 = jax.random.split(jax.random.key(5))
  params = {"table": jax.random.normal(k1, (V, 4)),
            "head": jax.random.normal(k2, (4, 2))}
  return train.TextModel(embed_fn, apply_fn), params


def test_steps_jit_with_schedules_options_and_sharded_batches():
  text_model, params = _bag_model()
  tx = optax.sgd(0.1)
  mesh = train.data_mesh()
  batch = train.shard_batch(BATCH, mesh)
  state = train.replicate(train.TrainState.create(params, tx), mesh)
  ramp = optax.linear_schedule(0.0, 0.4, 10)
  # A schedule of ε and a clean pass, on a batch sharded over 8 devices.
  step = jax.jit(train.make_freelb_step(text_model, tx, max_norm=ramp,
                                        step_size=0.5, n_steps=2, clean_pass=True))
  new, metrics = step(state, batch, jax.random.key(1))
  assert int(new.step) == 1
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert not np.allclose(np.asarray(new.params["head"]), np.asarray(params["head"]))
  # The schedule is read at the update count (radius 0 at count 0, 0.2 at 5);
  # in the L∞ ball of PGD-AT the largest coordinate of δ_K sits on the bound.
  grads_fn = jax.jit(train.make_embedding_pgd_gradients(
      text_model, max_norm=ramp, step_size=0.5, n_steps=2, norm=jnp.inf))
  _, _, m0 = grads_fn(params, {}, BATCH, jax.random.key(1), 0)
  _, _, m5 = grads_fn(params, {}, BATCH, jax.random.key(1), 5)
  assert float(m0["delta_norm"]) == 0.0
  np.testing.assert_allclose(float(m5["delta_norm"]), 0.2, rtol=1e-5)
  with pytest.raises(ValueError, match="n_steps"):
    train.make_freelb_step(text_model, tx, max_norm=0.1, step_size=0.1, n_steps=0)
  with pytest.raises(ValueError, match="max_norm"):
    train.make_freelb_step(text_model, tx, max_norm=-0.1, step_size=0.1, n_steps=1)
  with pytest.raises(ValueError, match="norm"):
    train.make_embedding_pgd_step(text_model, tx, max_norm=0.1, step_size=0.1,
                                  n_steps=1, norm=1)
