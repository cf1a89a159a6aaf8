"""Target accuracy and the proxy A-distance against closed forms."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax.metrics import domain_classifier_error
from advjax.metrics import proxy_a_distance
from advjax.metrics import target_accuracy


def test_target_accuracy_matches_numpy():
  logits = jax.random.normal(jax.random.key(0), (50, 4))
  labels = jax.random.randint(jax.random.key(1), (50,), 0, 4)
  expected = np.mean(np.argmax(np.asarray(logits), -1) == np.asarray(labels))
  np.testing.assert_allclose(target_accuracy(logits, labels), expected)


def _gaussians(shift, n=2000, dim=1):
  k1, k2 = jax.random.split(jax.random.key(2))
  source = jax.random.normal(k1, (n, dim))
  target = jax.random.normal(k2, (n, dim)).at[:, 0].add(shift)
  return source, target


@pytest.mark.parametrize("shift", [0.0, 1.0, 2.0])
def test_a_distance_matches_the_bayes_error_of_two_gaussians(shift):
  """For N(0, 1) vs N(d, 1) the best error is Φ(−d/2): A = 2(1 − 2Φ(−d/2))."""
  source, target = _gaussians(shift, dim=2)
  bayes_error = 0.5 * math.erfc(shift / 2 / math.sqrt(2))
  error = domain_classifier_error(source, target, key=jax.random.key(3))
  assert abs(float(error) - bayes_error) < 0.04
  a = proxy_a_distance(source, target, key=jax.random.key(3))
  assert abs(float(a) - max(0.0, 2 * (1 - 2 * bayes_error))) < 0.16
  assert 0.0 <= float(a) <= 2.0


def test_separable_domains_give_two_and_identical_give_near_zero():
  source, target = _gaussians(12.0, n=200, dim=5)
  assert float(proxy_a_distance(source, target, key=jax.random.key(4))) == 2.0
  same = proxy_a_distance(source, source + 0.0, key=jax.random.key(4))
  assert float(same) < 0.3


def test_unequal_sizes_images_and_jit():
  source = jax.random.uniform(jax.random.key(5), (60, 4, 4, 3))
  target = jax.random.uniform(jax.random.key(6), (90, 4, 4, 3)) + 1.0
  a = jax.jit(lambda s, t, k: proxy_a_distance(s, t, key=k, steps=100))(
      source, target, jax.random.key(7))
  assert float(a) == 2.0


@pytest.mark.parametrize("kwargs, name", [
    ({"holdout_fraction": 1.0}, "holdout_fraction"),
    ({"steps": 0}, "steps"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"l2": -1.0}, "l2"),
])
def test_bad_arguments_are_named(kwargs, name):
  source, target = _gaussians(1.0, n=20)
  with pytest.raises((TypeError, ValueError), match=name):
    proxy_a_distance(source, target, key=jax.random.key(0), **kwargs)


def test_mismatched_features_are_rejected():
  with pytest.raises(ValueError, match="target_features"):
    proxy_a_distance(jnp.ones((10, 3)), jnp.ones((10, 4)), key=jax.random.key(0))
  with pytest.raises(TypeError, match="source_features"):
    proxy_a_distance(jnp.ones((10, 3), jnp.int32), jnp.ones((10, 3)),
                     key=jax.random.key(0))
  with pytest.raises(ValueError, match="labels"):
    target_accuracy(jnp.ones((3, 2)), jnp.array([0, 1, 2]))
