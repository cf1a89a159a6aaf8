"""GAN losses against textbook formulas, autodiff and closed forms."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import losses

pytestmark = pytest.mark.strict_dtypes

REAL = jnp.array([-3.0, -0.5, 0.0, 0.7, 4.0], jnp.float32)
FAKE = jnp.array([2.0, -1.0, 0.3, -6.0, 0.1], jnp.float32)


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def test_losses_match_textbook_formulas():
  d_r, d_f = _sigmoid(REAL), _sigmoid(FAKE)
  r, f = np.asarray(REAL, np.float64), np.asarray(FAKE, np.float64)
  expected = {
      "minimax_d": -np.log(d_r) - np.log(1 - d_f),
      "minimax_g": np.log(1 - d_f),
      "non_saturating_g": -np.log(d_f),
      "wasserstein_d": f - r,
      "wasserstein_g": -f,
      "hinge_d": np.maximum(0, 1 - r) + np.maximum(0, 1 + f),
      "ls_d": 0.5 * (r - 1) ** 2 + 0.5 * (f + 1) ** 2,
      "ls_g": 0.5 * (f - 0) ** 2,
  }
  got = {
      "minimax_d": losses.minimax_discriminator_loss(REAL, FAKE),
      "minimax_g": losses.minimax_generator_loss(FAKE),
      "non_saturating_g": losses.non_saturating_generator_loss(FAKE),
      "wasserstein_d": losses.wasserstein_discriminator_loss(REAL, FAKE),
      "wasserstein_g": losses.wasserstein_generator_loss(FAKE),
      "hinge_d": losses.hinge_discriminator_loss(REAL, FAKE),
      "ls_d": losses.least_squares_discriminator_loss(REAL, FAKE, a=-1.0, b=1.0),
      "ls_g": losses.least_squares_generator_loss(FAKE, c=0.0),
  }
  for name, value in got.items():
    assert value.shape == (5,), name
    np.testing.assert_allclose(value, expected[name], rtol=1e-5, atol=1e-6,
                               err_msg=name)


def test_gradients_match_autodiff_of_probability_forms():
  def textbook_d(r, f):
    return jnp.sum(-jnp.log(jax.nn.sigmoid(r)) - jnp.log(1 - jax.nn.sigmoid(f)))

  def ours_d(r, f):
    return jnp.sum(losses.minimax_discriminator_loss(r, f))

  for a, b in zip(jax.grad(ours_d, (0, 1))(REAL, FAKE),
                  jax.grad(textbook_d, (0, 1))(REAL, FAKE)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  # Closed forms: d/dl log(1 - σ(l)) = -σ(l); d/dl -log σ(l) = -σ(-l).
  g_sat = jax.grad(lambda f: jnp.sum(losses.minimax_generator_loss(f)))(FAKE)
  g_ns = jax.grad(lambda f: jnp.sum(losses.non_saturating_generator_loss(f)))(FAKE)
  np.testing.assert_allclose(g_sat, -_sigmoid(FAKE), rtol=1e-5)
  np.testing.assert_allclose(g_ns, -_sigmoid(-FAKE), rtol=1e-5)


def test_saturation_and_stability_at_extreme_logits():
  big = jnp.array([-200.0, 200.0], jnp.float32)
  for fn in (lambda x: losses.minimax_discriminator_loss(x, -x),
             losses.minimax_generator_loss, losses.non_saturating_generator_loss):
    value, grad = fn(big), jax.grad(lambda x, fn=fn: jnp.sum(fn(x)))(big)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
  # A confidently rejected fake: the saturating loss has ~no gradient, the
  # non-saturating one has ~unit gradient.
  rejected = jnp.array([-15.0], jnp.float32)
  sat = jax.grad(lambda f: jnp.sum(losses.minimax_generator_loss(f)))(rejected)
  ns = jax.grad(lambda f: jnp.sum(losses.non_saturating_generator_loss(f)))(rejected)
  assert abs(float(sat[0])) < 1e-6 and abs(float(ns[0]) + 1.0) < 1e-6


def test_gan_loss_registry_and_shapes():
  for name in ("minimax", "non_saturating", "wasserstein", "hinge", "least_squares"):
    pair = losses.gan_loss(name)
    assert pair.discriminator(REAL[:, None], FAKE[:, None]).shape == (5,)
    assert pair.generator(FAKE).shape == (5,)
  ls = losses.gan_loss("least_squares", a=-1.0, b=1.0, c=0.0)
  np.testing.assert_allclose(ls.generator(FAKE), 0.5 * FAKE ** 2, rtol=1e-6)
  with pytest.raises(ValueError, match="name"):
    losses.gan_loss("vanilla")
  with pytest.raises(ValueError, match="same batch size"):
    losses.hinge_discriminator_loss(REAL, FAKE[:3])
  with pytest.raises(TypeError, match="real"):
    losses.wasserstein_discriminator_loss(jnp.arange(5), FAKE)


def _linear_critic(w):
  return lambda x: x.reshape(x.shape[0], -1) @ w


def test_gradient_penalty_of_linear_critics():
  key = jax.random.key(0)
  real = jax.random.normal(jax.random.key(1), (6, 2, 3))
  fake = jax.random.normal(jax.random.key(2), (6, 2, 3))
  w = jax.random.normal(jax.random.key(3), (6,))
  unit = w / jnp.linalg.norm(w)
  gp = losses.gradient_penalty(_linear_critic(unit), real, fake, key)
  assert gp.shape == (6,)
  np.testing.assert_allclose(gp, 0.0, atol=1e-10)
  gp2 = losses.gradient_penalty(_linear_critic(2 * unit), real, fake, key)
  np.testing.assert_allclose(gp2, 1.0, rtol=1e-5)
  r1 = losses.r1_penalty(_linear_critic(3 * unit), real)
  np.testing.assert_allclose(r1, 9.0, rtol=1e-5)


def test_penalties_match_per_example_autodiff_and_are_nan_free():
  real = jax.random.normal(jax.random.key(1), (4, 3))
  fake = jax.random.normal(jax.random.key(2), (4, 3))
  critic = lambda x: jnp.sum(jnp.tanh(x) ** 2, axis=-1)  # nonlinear, per example
  key = jax.random.key(5)
  t = jax.random.uniform(key, (4, 1), dtype=jnp.float32)
  x_hat = t * real + (1 - t) * fake
  g_one = jax.vmap(jax.grad(lambda x: jnp.sum(jnp.tanh(x) ** 2)))(x_hat)
  expected = (jnp.linalg.norm(g_one, axis=-1) - 1.0) ** 2
  np.testing.assert_allclose(losses.gradient_penalty(critic, real, fake, key),
                             expected, rtol=1e-5)
  # A critic that is flat at the samples: zero input gradient, penalty 1, and a
  # finite parameter gradient (no NaN from the norm at 0).
  def penalty(theta):
    flat = lambda x: theta * jnp.sum(jax.nn.relu(x - 100.0), axis=-1)
    return jnp.sum(losses.gradient_penalty(flat, real, fake, key))

  value, grad = jax.value_and_grad(penalty)(jnp.float32(2.0))
  assert float(value) == pytest.approx(4.0) and np.isfinite(float(grad))


def test_instance_noise():
  sigma = losses.instance_noise_sigma(jnp.arange(0, 12, 5), initial=0.5,
                                      anneal_steps=10)
  np.testing.assert_allclose(sigma, [0.5, 0.25, 0.0], atol=1e-7)
  x = jnp.zeros((20000, 2), jnp.float32)
  noisy = losses.add_instance_noise(x, jax.random.key(0), 0.3)
  assert noisy.dtype == x.dtype
  assert float(jnp.std(noisy)) == pytest.approx(0.3, rel=0.03)
  with pytest.raises(ValueError, match="sigma"):
    losses.add_instance_noise(x, jax.random.key(0), -1.0)
  with pytest.raises(ValueError, match="anneal_steps"):
    losses.instance_noise_sigma(0, initial=0.1, anneal_steps=0)
