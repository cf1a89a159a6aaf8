"""GAN metrics against closed forms and an independent sqrtm reference."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from advjax import data
from advjax import metrics

pytestmark = pytest.mark.strict_dtypes


def test_mixtures_have_the_benchmark_geometry():
  ring, grid = data.ring_mixture(), data.grid_mixture()
  assert ring.centers.shape == (8, 2) and grid.centers.shape == (25, 2)
  np.testing.assert_allclose(np.linalg.norm(ring.centers, axis=1), 1.0, rtol=1e-6)
  assert len({round(float(np.arctan2(y, x)), 4) for x, y in ring.centers}) == 8
  assert sorted(set(grid.centers[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
  samples = jax.jit(grid.sample, static_argnums=1)(jax.random.key(0), 5000)
  assert samples.shape == (5000, 2) and samples.dtype == jnp.float32
  offsets = samples - grid.centers[np.argmin(np.linalg.norm(
      np.asarray(samples)[:, None] - grid.centers[None], axis=-1), axis=1)]
  assert float(jnp.std(offsets)) == pytest.approx(0.05, rel=0.05)


def test_mode_coverage_of_true_and_collapsed_samples():
  ring = data.ring_mixture()
  true = jax.jit(ring.sample, static_argnums=1)(jax.random.key(1), 20000)
  coverage = jax.jit(metrics.mode_coverage, static_argnames=("std", "min_count"))
  cov = coverage(true, ring.centers, std=ring.std)
  assert int(cov["modes"]) == 8
  # 2-D Gaussian: P(|x| <= 3σ) = 1 - exp(-9/2).
  assert float(cov["high_quality"]) == pytest.approx(1 - np.exp(-4.5), abs=0.003)
  assert float(cov["reverse_kl"]) < 0.002
  # Collapse onto 2 modes, plus a few far-off samples that capture nothing.
  collapsed = jnp.concatenate([
      jnp.tile(jnp.asarray(ring.centers[:2]), (50, 1)),
      jnp.full((25, 2), 0.5, jnp.float32)])
  cov = coverage(collapsed, ring.centers, std=ring.std)
  assert int(cov["modes"]) == 2
  assert float(cov["high_quality"]) == pytest.approx(100 / 125)
  # q is concentrated on <= 3 modes (the far points go to nearest ones).
  hist = np.bincount(np.argmin(np.linalg.norm(
      np.asarray(collapsed)[:, None] - ring.centers[None], axis=-1), axis=1),
      minlength=8) / 125
  expected = sum(q * np.log(q * 8) for q in hist if q > 0)
  assert float(cov["reverse_kl"]) == pytest.approx(expected, rel=1e-5)
  assert int(coverage(collapsed, ring.centers, std=ring.std,
                      min_count=60)["modes"]) == 0


def test_frechet_distance_closed_form_and_sqrtm_reference():
  mu1, mu2 = jnp.array([0.0, 1.0, 2.0]), jnp.array([1.0, 1.0, 0.0])
  a, b = jnp.array([1.0, 4.0, 0.25]), jnp.array([9.0, 1.0, 0.25])
  # Commuting (diagonal) covariances: ||Δμ||² + Σ (√a − √b)².
  expected = 5.0 + (1 - 3) ** 2 + (2 - 1) ** 2 + 0.0
  fd = jax.jit(metrics.frechet_distance)
  got = fd(mu1, jnp.diag(a), mu2, jnp.diag(b))
  assert float(got) == pytest.approx(expected, rel=1e-5)
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
  c1, c2 = x @ x.T + 0.1 * np.eye(6), y @ y.T
  mean_term = 0.0
  ref = np.trace(c1 + c2 - 2 * np.real(scipy.linalg.sqrtm(c1 @ c2))) + mean_term
  got = fd(jnp.zeros(6, jnp.float32), jnp.asarray(c1, jnp.float32),
           jnp.zeros(6, jnp.float32), jnp.asarray(c2, jnp.float32))
  assert float(got) == pytest.approx(ref, rel=1e-3, abs=1e-3)
  # Same features: zero; features from statistics of samples.
  feats = jnp.asarray(rng.normal(size=(200, 4)), jnp.float32)
  assert abs(float(jax.jit(metrics.frechet_distance_from_features)(
      feats, feats))) < 1e-4
  mu, cov = jax.jit(metrics.feature_statistics)(feats)
  np.testing.assert_allclose(cov, np.cov(np.asarray(feats), rowvar=False), rtol=1e-4,
                             atol=1e-6)
  with pytest.raises(ValueError, match="cov2"):
    metrics.frechet_distance(mu, cov, mu, cov[:2])


def test_class_coverage():
  balanced = jnp.arange(1000, dtype=jnp.int32) % 10
  assert float(metrics.class_coverage(balanced, num_classes=10)) == 1.0
  skewed = jnp.concatenate([jnp.zeros(300, jnp.int32), balanced[:700]])
  # Class 0 holds 37%; classes 1..9 hold 7% each.
  assert float(metrics.class_coverage(skewed, num_classes=10)) == pytest.approx(0.9)
  with pytest.raises(ValueError, match="labels"):
    metrics.class_coverage(balanced + 5, num_classes=10)
