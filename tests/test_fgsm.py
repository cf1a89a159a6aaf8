"""FGSM/FGM: exact maximiser of the linearised loss for each norm."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import attacks

pytestmark = pytest.mark.strict_dtypes
BOX = (-10.0, 10.0)  # wide bounds: no clipping, so the closed form is exact


def _linear_problem(b=6, d=20, seed=0):
  kw, kx = jax.random.split(jax.random.key(seed))
  w = jax.random.normal(kw, (b, d), jnp.float32)
  x = jax.random.uniform(kx, (b, d), jnp.float32)
  return w, x, lambda z: jnp.sum(w * z.astype(jnp.float32), axis=1)


def test_linf_is_eps_sign_of_gradient():
  w, x, loss_fn = _linear_problem()
  x_adv = attacks.fgsm(loss_fn, x, eps=0.1, bounds=BOX)
  np.testing.assert_allclose(x_adv - x, 0.1 * jnp.sign(w), atol=1e-6)


def test_l2_is_eps_normalised_gradient():
  w, x, loss_fn = _linear_problem()
  x_adv = attacks.fgsm(loss_fn, x, eps=0.5, norm=2, bounds=BOX)
  expected = 0.5 * w / jnp.linalg.norm(w, axis=1, keepdims=True)
  np.testing.assert_allclose(x_adv - x, expected, atol=1e-6)


def test_l1_puts_all_of_eps_on_the_largest_coordinate():
  w, x, loss_fn = _linear_problem()
  x_adv = attacks.fgsm(loss_fn, x, eps=0.3, norm=1, bounds=BOX)
  i = jnp.argmax(jnp.abs(w), axis=1)
  expected = 0.3 * jax.nn.one_hot(i, w.shape[1]) * jnp.sign(w)
  np.testing.assert_allclose(x_adv - x, expected, atol=1e-6)


@pytest.mark.parametrize("norm", [jnp.inf, 2, 1])
def test_beats_every_feasible_perturbation_on_a_linear_loss(norm):
  w, x, loss_fn = _linear_problem(seed=1)
  gain = loss_fn(attacks.fgsm(loss_fn, x, eps=0.2, norm=norm, bounds=BOX)) - loss_fn(x)
  deltas = attacks.sample_ball(jax.random.key(2), (4096, w.shape[1]), norm, 0.2)
  best_random = jnp.max(deltas @ w.T, axis=0)
  assert np.all(gain >= best_random - 1e-5)


def test_per_example_gradients_are_not_scaled_by_batch_size():
  # A batch-mean loss would shrink L2 steps' pre-normalised gradients; the
  # attack must still give each example its own full-size step.
  w, x, loss_fn = _linear_problem(b=64)
  x_adv = attacks.fgsm(loss_fn, x, eps=1.0, norm=2, bounds=BOX)
  np.testing.assert_allclose(attacks.lp_norm(x_adv - x, 2), 1.0, rtol=1e-5)


def test_clipped_to_bounds_and_dtype_kept():
  w, x, loss_fn = _linear_problem()
  x_adv = attacks.fgsm(loss_fn, x.astype(jnp.bfloat16), eps=0.5)
  assert x_adv.dtype == jnp.bfloat16
  assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
  del w


def test_jit_and_bad_arguments():
  _, x, loss_fn = _linear_problem()
  jitted = jax.jit(lambda z: attacks.fgsm(loss_fn, z, eps=0.1))
  np.testing.assert_allclose(jitted(x), attacks.fgsm(loss_fn, x, eps=0.1))
  with pytest.raises(ValueError, match="eps"):
    attacks.fgsm(loss_fn, x, eps=-0.1)
  with pytest.raises(ValueError, match="norm"):
    attacks.fgsm(loss_fn, x, eps=0.1, norm="l3")
  with pytest.raises(ValueError, match="bounds"):
    attacks.fgsm(loss_fn, x, eps=0.1, bounds=(1.0, 0.0))
  with pytest.raises(ValueError, match="x"):
    attacks.fgsm(loss_fn, x + 2.0, eps=0.1)
  with pytest.raises(TypeError, match="x"):
    attacks.fgsm(loss_fn, jnp.ones((6, 20), jnp.int32), eps=0.1)
  with pytest.raises(ValueError, match="per-example"):
    attacks.fgsm(lambda z: jnp.sum(z), x, eps=0.1)
