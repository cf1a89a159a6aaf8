"""GAN model shapes, ranges and DCGAN initialization."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import models


@pytest.mark.parametrize("size,side", [(28, 7), (32, 4)])
def test_dcgan_shapes(size, side):
  # Shapes only: eval_shape traces without compiling.
  gen = models.DCGANGenerator(image_size=size, channels=3, features=8)
  disc = models.DCGANDiscriminator(image_size=size, features=8, spectral_norm=True)
  z = jnp.ones((4, 16))
  g_vars = jax.eval_shape(gen.init, jax.random.key(1), z)
  assert g_vars["params"]["Dense_0"]["kernel"].shape == (
      16, side * side * 8 * 2**(1 if size == 28 else 2))
  images = jax.eval_shape(gen.apply, g_vars, z)
  assert images.shape == (4, size, size, 3)
  d_vars = jax.eval_shape(disc.init, jax.random.key(2), images)
  assert set(d_vars) == {"params", "spectral_stats"}
  assert jax.eval_shape(disc.apply, d_vars, images).shape == (4,)


def test_dcgan_init_range_and_batch_norm_state():
  gen = models.DCGANGenerator(image_size=28, features=4)
  z = jax.random.normal(jax.random.key(0), (8, 16))
  g_vars = jax.jit(gen.init)(jax.random.key(1), z)
  assert set(g_vars) == {"params", "batch_stats"}
  kernels = [p for path, p in jax.tree_util.tree_leaves_with_path(g_vars["params"])
             if "kernel" in jax.tree_util.keystr(path)]
  assert float(jnp.std(jnp.concatenate([k.ravel() for k in kernels]))) == \
      pytest.approx(0.02, rel=0.1)
  images, new_state = jax.jit(lambda v, z_: gen.apply(
      v, z_, train=True, mutable=["batch_stats"]))(g_vars, z)
  assert images.shape == (8, 28, 28, 1)
  assert float(jnp.max(jnp.abs(images))) <= 1.0
  assert not np.allclose(jax.tree.leaves(new_state)[0],
                         jax.tree.leaves(g_vars["batch_stats"])[0])


def test_mlp_models_and_bad_size():
  gen = models.MLPGenerator(features=(16,))
  disc = models.MLPDiscriminator((16,), spectral_norm=True)
  z = jnp.ones((3, 4))
  x = jax.eval_shape(gen.apply, jax.eval_shape(gen.init, jax.random.key(0), z), z)
  assert x.shape == (3, 2)
  d_vars = jax.eval_shape(disc.init, jax.random.key(1), x)
  assert set(d_vars) == {"params", "spectral_stats"}
  assert jax.eval_shape(disc.apply, d_vars, x).shape == (3,)
  with pytest.raises(ValueError, match="image_size"):
    jax.eval_shape(models.DCGANGenerator(image_size=30).init, jax.random.key(0), z)
