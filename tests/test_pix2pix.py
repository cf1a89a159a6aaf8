"""pix2pix: PatchGAN geometry, the U-Net, the step (vs a hand-written cGAN
step, L1-only, sharded) and the sharpness metric."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from advjax import losses
from advjax import metrics
from advjax import models
from advjax import train
from advjax.train import gan as gan_train

GEN = models.UNetGenerator(out_channels=3, features=4, depth=2, bottleneck_blocks=1)
DISC = models.PatchDiscriminator(features=4, num_downsamples=1)
TX = optax.sgd(0.1)  # not Adam: its sign-like first step amplifies rounding


@pytest.fixture(scope="module")
def setup():
  k_g, k_d, k_x, k_y = jax.random.split(jax.random.key(0), 4)
  state = jax.jit(lambda: gan_train.GANState.create(
      GEN.init(k_g, jnp.zeros((2, 28, 28, 1))),
      DISC.init(k_d, jnp.zeros((2, 28, 28, 4))), TX, TX))()
  batch = {"input": jax.random.uniform(k_x, (8, 28, 28, 1), minval=-1, maxval=1),
           "target": jax.random.uniform(k_y, (8, 28, 28, 3), minval=-1, maxval=1)}
  return state, batch


@pytest.fixture(scope="module")
def cgan_step():
  return jax.jit(train.make_pix2pix_step(
      train.linen_apply(GEN), train.linen_apply(DISC), TX, TX, l1_weight=0.0))


@pytest.mark.parametrize("size,n,side", [(28, 1, 12), (28, 2, 5), (32, 1, 14),
                                         (64, 3, 6), (256, 3, 30)])
def test_patchgan_output_grid(size, n, side):
  assert models.patchgan_output_size(size, n) == side
  disc = models.PatchDiscriminator(features=2, num_downsamples=n)
  out = jax.eval_shape(lambda x: disc.init_with_output(jax.random.key(0), x)[0],
                       jax.ShapeDtypeStruct((3, size, size, 4), jnp.float32))
  assert out.shape == (3, side, side)


def test_patchgan_receptive_field_matches_gradient_support():
  assert [models.patchgan_receptive_field(n) for n in range(4)] == [7, 16, 34, 70]
  for n, size in ((1, 32), (2, 48)):
    disc = models.PatchDiscriminator(features=2, num_downsamples=n)
    x = jax.random.normal(jax.random.key(1), (1, size, size, 1))
    params = disc.init(jax.random.key(2), x)
    c = models.patchgan_output_size(size, n) // 2
    g = jax.jit(jax.grad(lambda x_: disc.apply(params, x_)[0, c, c]))(x)
    rows, cols = np.nonzero(np.abs(np.asarray(g[0])).sum(-1))
    rf = models.patchgan_receptive_field(n)
    assert rows.max() - rows.min() + 1 == rf
    assert cols.max() - cols.min() + 1 == rf


def test_unet_shapes_range_and_errors():
  x = jax.random.normal(jax.random.key(3), (2, 28, 28, 1))
  y, params = jax.jit(lambda x_: GEN.init_with_output(jax.random.key(4), 10.0 * x_))(x)
  assert y.shape == (2, 28, 28, 3)
  assert float(jnp.max(jnp.abs(y))) <= 1.0
  del params
  with pytest.raises(ValueError, match="divisible"):
    jax.eval_shape(lambda x_: GEN.init(jax.random.key(4), x_),
                   jax.ShapeDtypeStruct((1, 30, 30, 1), jnp.float32))


def test_l1_weight_zero_is_a_conditional_gan_step(setup, cgan_step):
  state, batch = setup
  new, m = cgan_step(state, batch, jax.random.key(5))

  # The same step written out: D on patches of concat(x, ·), loss × ½, then G
  # on the non-saturating loss against the updated D.
  pair = losses.gan_loss("non_saturating")
  x, y = batch["input"], batch["target"]
  g_params, d_params = state.generator.params, state.discriminator.params
  gen = lambda p: GEN.apply({"params": p}, x)  # noqa: E731
  disc = lambda p, img: DISC.apply({"params": p}, jnp.concatenate([x, img], -1))  # noqa: E731
  fake = gen(g_params)
  d_loss = lambda p: 0.5 * jnp.mean(pair.discriminator(  # noqa: E731
      disc(p, y).reshape(-1), disc(p, fake).reshape(-1)))
  d_ref = jax.tree.map(lambda p, g: p - 0.1 * g, d_params,
                       jax.jit(jax.grad(d_loss))(d_params))
  g_loss = lambda p, d: jnp.mean(pair.generator(disc(d, gen(p)).reshape(-1)))  # noqa: E731
  g_ref = jax.tree.map(lambda p, g: p - 0.1 * g, g_params,
                       jax.jit(jax.grad(g_loss))(g_params, d_ref))
  for a, b in zip(jax.tree.leaves((d_ref, g_ref)),
                  jax.tree.leaves((new.discriminator.params, new.generator.params))):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)
  assert float(m["d_loss"]) == pytest.approx(float(d_loss(d_params)), rel=1e-5)
  assert float(m["l1"]) > 0 and float(m["g_loss"]) == pytest.approx(float(m["g_gan"]))


def test_l1_only_step_leaves_discriminator_untouched(setup):
  state, batch = setup
  step = jax.jit(train.make_pix2pix_step(
      train.linen_apply(GEN), train.linen_apply(DISC), TX, TX, gan_weight=0.0))
  new, m = step(state, batch, jax.random.key(6))
  for a, b in zip(jax.tree.leaves(state.discriminator), jax.tree.leaves(new.discriminator)):
    np.testing.assert_array_equal(a, b)
  x, y = batch["input"], batch["target"]
  l1 = lambda p: 100.0 * jnp.mean(jnp.abs(GEN.apply({"params": p}, x) - y))  # noqa: E731
  grads = jax.jit(jax.grad(l1))(state.generator.params)
  ref = jax.tree.map(lambda p, g: p - 0.1 * g, state.generator.params, grads)
  for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(new.generator.params)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  assert float(m["g_loss"]) == pytest.approx(100 * float(m["l1"]), rel=1e-5)


def test_sharded_step_equals_unsharded(setup, cgan_step):
  state, batch = setup
  step = cgan_step
  key = jax.random.key(5)
  ref = step(state, batch, key)  # cached: the same call as the test above
  mesh = train.data_mesh()
  assert mesh.shape["data"] == 8
  out = step(train.replicate(state, mesh), train.shard_batch(batch, mesh), key)
  for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(out)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
  assert int(out[0].generator.step) == int(out[0].discriminator.step) == 1


def test_step_bad_arguments(setup):
  state, batch = setup
  apply_g, apply_d = train.linen_apply(GEN), train.linen_apply(DISC)
  with pytest.raises(ValueError, match="both be 0"):
    train.make_pix2pix_step(apply_g, apply_d, TX, TX, l1_weight=0.0, gan_weight=0.0)
  with pytest.raises(ValueError, match="l1_weight"):
    train.make_pix2pix_step(apply_g, apply_d, TX, TX, l1_weight=-1.0)
  step = train.make_pix2pix_step(apply_g, apply_d, TX, TX)
  with pytest.raises(ValueError, match="input"):
    step(state, batch["input"], jax.random.key(0))
  with pytest.raises(ValueError, match="agree"):
    step(state, {"input": batch["input"][:4], "target": batch["target"]},
         jax.random.key(0))


def test_laplacian_variance_closed_form_and_blur():
  i, j = np.meshgrid(np.arange(10), np.arange(12), indexing="ij")
  checker = ((-1.0) ** (i + j)).astype(np.float32)[None, ..., None]
  # Interior Laplacian of (−1)^(i+j) is −8·(−1)^(i+j): variance 64.
  np.testing.assert_allclose(metrics.laplacian_variance(checker), [64.0], rtol=1e-6)
  np.testing.assert_allclose(metrics.laplacian_variance(np.ones((2, 5, 5, 3), np.float32)),
                             [0.0, 0.0], atol=1e-12)
  images = jax.random.uniform(jax.random.key(8), (4, 16, 16, 3))
  blurred = (images + jnp.roll(images, 1, 1) + jnp.roll(images, 1, 2)
             + jnp.roll(images, (1, 1), (1, 2))) / 4
  assert float(metrics.sharpness_ratio(images, images)) == pytest.approx(1.0)
  assert float(metrics.sharpness_ratio(blurred, images)) < 0.5
  with pytest.raises(ValueError, match="images"):
    metrics.laplacian_variance(np.ones((2, 2, 5, 1), np.float32))
