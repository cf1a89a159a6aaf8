"""The GAN step: compiles, threads state, shards, and learns a 1-D Gaussian."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from advjax import models
from advjax import train
from advjax.train import gan as gan_train


def _init(gen, disc, key, latent_dim, sample_shape, g_tx, d_tx):
  @jax.jit
  def init(key):
    k_g, k_d = jax.random.split(key)
    g_vars = gen.init(k_g, jnp.zeros((2, latent_dim)))
    d_vars = disc.init(k_d, jnp.zeros((2,) + sample_shape))
    return gan_train.GANState.create(g_vars, d_vars, g_tx, d_tx)

  return init(key)


def test_learns_a_1d_gaussian():
  gen = models.MLPGenerator(features=(16, 16), out_features=1)
  disc = models.MLPDiscriminator(features=(32, 32))
  tx = optax.adam(2e-3, b1=0.5)
  state = _init(gen, disc, jax.random.key(0), 4, (1,), tx, tx)
  step = gan_train.make_gan_step(
      train.linen_apply(gen), train.linen_apply(disc), tx, tx,
      loss="non_saturating", latent_dim=4, ema_decay=0.98)
  sample = gan_train.make_sampler(train.linen_apply(gen), latent_dim=4)
  mean, std = 2.0, 0.5

  @jax.jit
  def run(state, key):
    def body(s, i):
      k_data, k_step = jax.random.split(jax.random.fold_in(key, i))
      real = mean + std * jax.random.normal(k_data, (64, 1))
      return step(s, real, k_step)

    state, metrics = jax.lax.scan(body, state, jnp.arange(800))
    return state, metrics, sample(state, jax.random.key(9), 4000)

  state, metrics, samples = run(state, jax.random.key(1))
  assert int(state.generator.step) == 800
  assert np.all(np.isfinite(np.asarray(metrics["d_loss"])))
  samples = np.asarray(samples)[:, 0]
  assert abs(samples.mean() - mean) < 0.15, samples.mean()
  assert abs(samples.std() - std) < 0.15, samples.std()
  # An equilibrium: the discriminator cannot separate real from fake any more.
  assert abs(float(jnp.mean(metrics["d_loss"][-100:])) - 2 * np.log(2)) < 0.15


def test_sharded_step_with_every_option_equals_unsharded():
  gen = models.MLPGenerator(features=(8,), out_features=2)
  disc = models.MLPDiscriminator(features=(8,), spectral_norm=True)
  tx = optax.sgd(0.05)  # not Adam: its sign-like first step amplifies rounding
  state = _init(gen, disc, jax.random.key(2), 3, (2,), tx, tx)
  step = jax.jit(gan_train.make_gan_step(
      train.linen_apply(gen), train.linen_apply(disc), tx, tx, loss="hinge",
      latent_dim=3, n_critic=2, gp_weight=10.0,
      instance_noise=0.1, instance_noise_steps=10))
  real = jax.random.normal(jax.random.key(3), (2 * 16, 2))
  key = jax.random.key(4)
  ref_state, ref_metrics = step(state, real, key)
  mesh = train.data_mesh()
  assert mesh.shape["data"] == 8
  sh_state, sh_metrics = step(train.replicate(state, mesh),
                              train.shard_batch({"image": real}, mesh), key)
  assert int(ref_state.discriminator.step) == 2
  assert int(ref_state.generator.step) == 1
  for a, b in zip(jax.tree.leaves((ref_state, ref_metrics)),
                  jax.tree.leaves((sh_state, sh_metrics))):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
  # The spectral-norm vectors moved; the penalty and noise were applied.
  u0 = jax.tree.leaves(state.discriminator.model_state)[0]
  assert not np.allclose(jax.tree.leaves(ref_state.discriminator.model_state)[0], u0)
  assert float(ref_metrics["penalty"]) > 0
  assert float(ref_metrics["noise_sigma"]) == pytest.approx(0.1)
  # EMA moved by (1 - decay) of the update.
  g_old = jax.tree.leaves(state.generator.params)[0]
  g_new = jax.tree.leaves(ref_state.generator.params)[0]
  assert not np.allclose(g_old, g_new)
  np.testing.assert_allclose(jax.tree.leaves(ref_state.ema_params)[0],
                             g_old + 0.001 * (g_new - g_old), rtol=1e-5, atol=1e-7)


def test_recipes_and_bad_arguments():
  g_tx, d_tx = gan_train.gan_optimizers("wgan")
  params = {"w": jnp.array([0.0, 0.009, -0.5], jnp.float32)}
  grads = {"w": jnp.array([-1.0, -1.0, 1.0], jnp.float32)}
  updates, _ = d_tx.update(grads, d_tx.init(params), params)
  new = optax.apply_updates(params, updates)["w"]
  assert float(jnp.max(jnp.abs(new))) <= 0.01 + 1e-7  # the critic is clipped
  assert float(new[0]) > 0  # after an RMSProp step against the gradient
  updates, _ = g_tx.update(grads, g_tx.init(params), params)
  assert float(optax.apply_updates(params, updates)["w"][2]) < -0.5  # not clipped
  for recipe in ("dcgan", "wgan_gp", "sngan"):
    assert len(gan_train.gan_optimizers(recipe)) == 2
  gen = models.MLPGenerator(features=(8,), out_features=2)
  disc = models.MLPDiscriminator(features=(8,))
  step = gan_train.make_gan_step(
      train.linen_apply(gen), train.linen_apply(disc), g_tx, d_tx,
      loss="wasserstein", latent_dim=3, n_critic=5)
  state = _init(gen, disc, jax.random.key(5), 3, (2,), g_tx, d_tx)
  with pytest.raises(ValueError, match="n_critic"):
    step(state, jnp.ones((7, 2)), jax.random.key(0))
  with pytest.raises(ValueError, match="recipe"):
    gan_train.gan_optimizers("sgd")
  with pytest.raises(ValueError, match="name"):
    gan_train.make_gan_step(None, None, g_tx, d_tx, loss="nope", latent_dim=2)
  with pytest.raises(ValueError, match="ema_decay"):
    gan_train.make_gan_step(None, None, g_tx, d_tx, loss="hinge", latent_dim=2,
                            ema_decay=1.0)
