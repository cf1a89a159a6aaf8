"""Robust accuracy is the per-example worst case over attacks."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import losses
from advjax import metrics

pytestmark = pytest.mark.strict_dtypes

# Four examples classified by their first coordinate; each attack flips a
# different half, so each alone leaves 50% accuracy but together they leave 0.
X = np.array([[0.9], [0.8], [0.1], [0.2]], np.float32)
Y = np.array([1, 1, 0, 0], np.int32)


def predict(x):
  return (jnp.asarray(x)[:, 0] > 0.5).astype(jnp.int32)


def flip(rows):
  """An attack that flips the examples ``rows`` (found by value, since the
  cascade passes subsets) across the decision threshold."""

  def attack(x, y, key):
    del key, y
    hit = np.isin(np.round(np.asarray(x)[:, 0], 3), np.round(X[list(rows), 0], 3))
    return jnp.where(jnp.asarray(hit)[:, None], 1.0 - jnp.asarray(x), x)

  return attack


def test_worst_case_is_per_example():
  robust, per_attack = metrics.worst_case_correct(
      predict, X, Y, attacks=[flip([0, 2]), flip([1, 3])], key=jax.random.key(0))
  np.testing.assert_array_equal(per_attack.mean(axis=1), [0.5, 0.5])
  np.testing.assert_array_equal(robust, [False] * 4)
  acc = metrics.robust_accuracy(predict, X, Y, attacks=[flip([0, 2]), flip([1, 3])],
                                key=jax.random.key(0))
  assert float(acc) == 0.0  # not min(0.5, 0.5)
  acc = metrics.robust_accuracy(predict, X, Y, attacks=[flip([0]), flip([0])],
                                key=jax.random.key(0))
  assert float(acc) == 0.75


def test_cascade_attacks_only_survivors_and_agrees():
  calls = []

  def counted(attack):
    def fn(x, y, key):
      calls.append(len(np.unique(np.asarray(x)[:, 0])))
      return attack(x, y, key)
    return fn

  robust, acc = metrics.cascade_evaluation(
      predict, X, Y, attacks={"a": counted(flip([0, 2])), "b": counted(flip([1]))},
      key=jax.random.key(0), batch_size=4)
  np.testing.assert_array_equal(robust, [False, False, False, True])
  assert acc == {"clean": 1.0, "a": 0.5, "b": 0.25}
  assert calls == [4, 2]  # the second attack saw only the two survivors


def test_kl_and_distillation_losses_closed_forms():
  p = jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
  q = jnp.array([[0.0, 1.0, 0.0], [1.0, 2.0, 3.0]])
  pp, lq = jax.nn.softmax(p), jax.nn.log_softmax(q)
  expected = jnp.sum(pp * (jnp.log(pp) - lq), -1)
  np.testing.assert_allclose(losses.kl_divergence(p, q), expected, rtol=1e-5)
  np.testing.assert_allclose(losses.kl_divergence(p, p), 0.0, atol=1e-6)
  t = 4.0
  got = losses.distillation_loss(q, p, temperature=t)
  want = -jnp.sum(jax.nn.softmax(p / t) * jax.nn.log_softmax(q / t), -1)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # Gradients flow to the student only.
  g = jax.grad(lambda s, te: jnp.sum(losses.distillation_loss(s, te, temperature=t)),
               argnums=1)(q, p)
  np.testing.assert_array_equal(g, 0.0)
  with pytest.raises(ValueError, match="temperature"):
    losses.distillation_loss(q, p, temperature=0.0)
