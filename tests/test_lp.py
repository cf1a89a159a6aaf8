"""Lp-ball geometry: norms, steepest ascent, projections, uniform sampling."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax.attacks import lp

pytestmark = pytest.mark.strict_dtypes
NORMS = [jnp.inf, 2, 1]


def _random(shape, seed=0, scale=1.0):
  return scale * jax.random.normal(jax.random.key(seed), shape, jnp.float32)


@pytest.mark.parametrize("norm", NORMS)
def test_lp_norm_matches_numpy(norm):
  x = _random((5, 3, 4))
  expected = np.linalg.norm(np.asarray(x).reshape(5, -1), ord=norm, axis=1)
  np.testing.assert_allclose(lp.lp_norm(x, norm), expected, rtol=1e-5)


@pytest.mark.parametrize("norm", NORMS)
def test_steepest_ascent_is_unit_and_optimal(norm):
  g = _random((6, 10))
  d = lp.steepest_ascent(g, norm)
  np.testing.assert_allclose(lp.lp_norm(d, norm), 1.0, rtol=1e-5)
  # <g, d> equals the dual norm of g: the maximum over the unit ball.
  dual = {jnp.inf: 1, 2: 2, 1: jnp.inf}[norm]
  np.testing.assert_allclose(jnp.sum(g * d, axis=1), lp.lp_norm(g, dual), rtol=1e-5)


@pytest.mark.parametrize("norm", NORMS)
def test_steepest_ascent_of_zero_gradient_is_zero(norm):
  d = lp.steepest_ascent(jnp.zeros((2, 5)), norm)
  assert np.all(np.isfinite(d)) and np.all(d == 0)


def test_l1_sparse_steps_split_mass_over_top_k():
  g = jnp.array([[0.1, -5.0, 3.0, 0.2, -4.0]])
  d = lp.steepest_ascent(g, 1, l1_top_k=3)
  np.testing.assert_allclose(d, [[0, -1 / 3, 1 / 3, 0, -1 / 3]], rtol=1e-6)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("eps", [0.5, 2.0])
def test_projection_is_the_euclidean_projection(norm, eps):
  v = _random((8, 12), seed=1)
  p = lp.project(v, norm, eps)
  assert np.all(lp.lp_norm(p, norm) <= eps * (1 + 1e-5))
  # Variational inequality: <v - p, z - p> <= 0 for every feasible z.
  z = lp.sample_ball(jax.random.key(2), (8, 12), norm, eps)
  for i in range(8):
    zi = lp.sample_ball(jax.random.key(10 + i), (256, 12), norm, eps)
    inner = (zi - p[i]) @ (v[i] - p[i])
    assert np.max(inner) <= 1e-4, (norm, i, float(np.max(inner)))
  del z
  # Points already inside are left alone.
  inside = lp.sample_ball(jax.random.key(3), (8, 12), norm, eps)
  np.testing.assert_allclose(lp.project(inside, norm, eps), inside, atol=1e-6)


def test_l2_projection_closed_form():
  v = _random((4, 7), seed=4, scale=3.0)
  n = np.linalg.norm(np.asarray(v), axis=1, keepdims=True)
  np.testing.assert_allclose(lp.project(v, 2, 1.5), v * np.minimum(1, 1.5 / n),
                             rtol=1e-5)


def test_projection_keeps_dtype_and_accepts_per_example_eps():
  v = _random((3, 5)).astype(jnp.bfloat16)
  eps = jnp.array([0.1, 0.2, 0.3])
  p = lp.project(v, jnp.inf, eps)
  assert p.dtype == jnp.bfloat16
  np.testing.assert_array_less(np.abs(np.asarray(p, np.float32)).max(1),
                               np.asarray(eps) + 1e-2)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("dim", [2, 50])
def test_samples_are_uniform_in_the_ball(norm, dim):
  # For any norm ball, vol(r·B) ∝ r^d, so (||x||/eps)^d ~ U(0, 1) exactly
  # when x is uniform in the ball (not when the radius is uniform).
  eps, n = 0.7, 20000
  x = lp.sample_ball(jax.random.key(5), (n, dim), norm, eps)
  r = np.asarray(lp.lp_norm(x, norm)) / eps
  assert r.max() <= 1 + 1e-5
  u = np.sort(r.astype(np.float64) ** dim)
  ks = np.max(np.abs(u - np.arange(1, n + 1) / n))
  assert ks < 1.63 / math.sqrt(n) * 1.5, ks  # well inside KS at 1%
  # Coordinates are symmetric around zero.
  assert abs(float(np.mean(np.asarray(x)[:, 0]))) < 4 * eps / math.sqrt(n)


def test_uniform_radius_would_fail_the_uniformity_check():
  # The check above can fail: a uniform radius in d=50 is far from r^d ~ U.
  r = np.random.default_rng(0).uniform(size=20000)
  u = np.sort(r ** 50)
  assert np.max(np.abs(u - np.arange(1, 20001) / 20000)) > 0.5


def test_bad_norm_and_eps_are_named():
  with pytest.raises(ValueError, match="norm"):
    lp.project(jnp.zeros((1, 2)), 3, 1.0)
  with pytest.raises(ValueError, match="eps"):
    lp.project(jnp.zeros((1, 2)), 2, -1.0)
