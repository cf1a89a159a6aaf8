"""EOT and its transforms: identity, differentiability, ranges, gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from advjax import attacks
from advjax.attacks import transforms

pytestmark = pytest.mark.strict_dtypes


def _batch(b=3, h=9, w=8, c=2, seed=0):
  return jax.random.uniform(jax.random.key(seed), (b, h, w, c), jnp.float32)


def _loss(x):
  return jnp.sum(jnp.sin(3.0 * x.reshape(x.shape[0], -1)), axis=1)


def test_eot_with_the_identity_is_the_plain_loss():
  x = _batch()
  eot_loss = attacks.eot(_loss, transforms.identity, n_samples=5)
  np.testing.assert_allclose(eot_loss(x, jax.random.key(0)), _loss(x), rtol=1e-6)
  g = attacks.eot_grad_fn(_loss, transforms.identity, n_samples=5)(x, jax.random.key(1))
  np.testing.assert_allclose(g, jax.grad(lambda z: jnp.sum(_loss(z)))(x), rtol=1e-5)


def test_eot_averages_the_transformed_losses():
  x = _batch()
  t = transforms.gaussian_noise(sigma=0.1)
  key = jax.random.key(3)
  keys = jax.random.split(key, 4)
  expected = np.mean([_loss(t(k, x)) for k in keys], axis=0)
  eot_loss = attacks.eot(_loss, t, n_samples=4)
  np.testing.assert_allclose(eot_loss(x, key), expected, rtol=1e-5)
  assert not np.allclose(eot_loss(x, jax.random.key(4)), eot_loss(x, key))


def test_neutral_affine_is_the_identity_and_a_rotation_is_not():
  x = _batch()
  same = transforms.random_affine(max_degrees=0.0, max_shift=0.0, scale=(1.0, 1.0))
  np.testing.assert_allclose(same(jax.random.key(0), x), x, atol=1e-6)
  turn = transforms.random_affine(max_degrees=20.0, max_shift=0.0, scale=(1.0, 1.0))
  y = turn(jax.random.key(0), x)
  assert y.shape == x.shape and y.dtype == x.dtype
  assert float(jnp.max(jnp.abs(y - x))) > 0.1


def test_affine_matches_closed_forms():
  x = _batch(h=7, w=7)
  quarter = transforms.affine(x, angle=np.pi / 2, scale=1.0, shift=(0.0, 0.0))
  np.testing.assert_allclose(quarter, np.rot90(np.asarray(x), 1, axes=(1, 2)),
                             atol=1e-5)  # counter-clockwise, as np.rot90
  moved = transforms.affine(x, angle=0.0, scale=1.0, shift=(2.0, -1.0))
  expected = np.zeros_like(np.asarray(x))
  expected[:, 2:, :-1] = np.asarray(x)[:, :-2, 1:]
  np.testing.assert_allclose(moved, expected, atol=1e-6)
  half = transforms.affine(x, angle=0.0, scale=1.0, shift=(0.5, 0.0))
  np.testing.assert_allclose(half[:, 1:], 0.5 * (x[:, 1:] + x[:, :-1]), atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: transforms.random_affine(max_degrees=10.0, max_shift=1.5, scale=(0.9, 1.1)),
    lambda: transforms.random_brightness_contrast(brightness=0.1, contrast=(0.8, 1.2)),
    lambda: transforms.gaussian_noise(sigma=0.05),
])
def test_transforms_are_differentiable_and_stay_in_range(make):
  t = make()
  x = 0.2 + 0.6 * _batch(b=2, h=5, w=5, c=1)  # away from the clipping points
  key = jax.random.key(7)
  y = t(key, x)
  assert y.shape == x.shape and y.dtype == x.dtype
  assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
  check_grads(lambda z: t(key, z), (x,), order=1, modes=["rev"], atol=1e-2, rtol=1e-2)


def test_compose_and_bad_arguments():
  x = _batch()
  t = transforms.compose(transforms.gaussian_noise(sigma=0.0), transforms.identity)
  np.testing.assert_allclose(t(jax.random.key(0), x), x)
  with pytest.raises(TypeError, match="callable"):
    transforms.compose(3)
  with pytest.raises(ValueError, match="scale"):
    transforms.random_affine(scale=(0.0, 1.0))
  with pytest.raises(ValueError, match="n_samples"):
    attacks.eot(_loss, transforms.identity, n_samples=0)
