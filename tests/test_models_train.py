"""Reference classifiers and the sharding-agnostic classifier train step."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from advjax import data
from advjax import models
from advjax import train


def test_fast_max_pool_equals_flax_max_pool_values_and_gradients():
  x = jax.random.normal(jax.random.key(0), (2, 8, 6, 3))
  ref = lambda z: nn.max_pool(z, (2, 2), strides=(2, 2))  # noqa: E731
  np.testing.assert_array_equal(models.max_pool_2x2(x), ref(x))
  w = jax.random.normal(jax.random.key(1), (2, 4, 3, 3))
  g_fast = jax.grad(lambda z: jnp.sum(models.max_pool_2x2(z) * w))(x)
  g_ref = jax.grad(lambda z: jnp.sum(ref(z) * w))(x)
  np.testing.assert_allclose(g_fast, g_ref)


@pytest.mark.parametrize("module", [models.MadryCNN(), models.SmallCNN(),
                                    models.MLP()])
def test_classifier_output_shapes(module):
  x = jnp.zeros((3, 28, 28, 1))
  variables = module.init(jax.random.key(0), x)
  assert module.apply(variables, x).shape == (3, 10)


def _setup(batch_size=64, module=None):
  module = models.SmallCNN() if module is None else module
  split, _ = data.mnist_subset()
  tx = optax.adam(1e-3)
  params, model_state = train.split_variables(
      module.init(jax.random.key(0), split.image[:1]))
  state = train.TrainState.create(params, tx, model_state)
  step = jax.jit(train.make_classifier_step(train.linen_apply(module), tx))
  batch = {"image": split.image[:batch_size], "label": split.label[:batch_size]}
  return module, split, tx, state, step, batch


def test_madry_cnn_step_runs_sharded():
  *_, state, step, batch = _setup(16, models.MadryCNN())
  mesh = train.data_mesh()
  sharded, metrics = step(train.replicate(state, mesh), train.shard_batch(batch, mesh),
                          jax.random.key(0))
  single, expected = step(state, batch, jax.random.key(0))
  np.testing.assert_allclose(metrics["loss"], expected["loss"], rtol=1e-5)


def test_step_learns_and_sharded_equals_single_device():
  _, split, _, state, step, batch = _setup()
  mesh = train.data_mesh()
  single, sharded = state, train.replicate(state, mesh)
  for i in range(3):
    single, m1 = step(single, batch, jax.random.key(i))
    sharded, m2 = step(sharded, train.shard_batch(batch, mesh), jax.random.key(i))
  np.testing.assert_allclose(m1["loss"], m2["loss"], rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5),
               single.params, sharded.params)
  assert int(single.step) == 3
  # A few hundred images are enough to see learning.
  state = single
  for i, b in enumerate(data.iterate_batches(jax.random.key(5), split, 64)):
    state, metrics = step(state, b, jax.random.key(i))
    if i == 40:
      break
  assert float(metrics["accuracy"]) > 0.6


def test_shard_batch_rejects_indivisible_batches():
  mesh = train.data_mesh()
  with pytest.raises(ValueError, match="divisible"):
    train.shard_batch({"image": np.zeros((12, 2))}, mesh)
