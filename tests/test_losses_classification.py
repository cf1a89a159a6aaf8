"""Per-example classification losses against NumPy references."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import losses

pytestmark = pytest.mark.strict_dtypes


def _problem(b=7, k=10, seed=0):
  logits = 3 * jax.random.normal(jax.random.key(seed), (b, k), jnp.float32)
  labels = jax.random.randint(jax.random.key(seed + 1), (b,), 0, k)
  return logits, labels


def test_cross_entropy_matches_log_softmax():
  logits, labels = _problem()
  z = np.asarray(logits, np.float64)
  ref = -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(7), labels]
  np.testing.assert_allclose(losses.cross_entropy(logits, labels), ref, rtol=1e-5)


def test_margin_loss_is_best_other_minus_true():
  logits, labels = _problem()
  z = np.asarray(logits)
  ref = [np.max(np.delete(z[i], labels[i])) - z[i, labels[i]] for i in range(7)]
  np.testing.assert_allclose(losses.margin_loss(logits, labels), ref, rtol=1e-6)
  # Positive exactly when misclassified.
  mis = np.argmax(z, 1) != np.asarray(labels)
  assert np.all((np.asarray(losses.margin_loss(logits, labels)) > 0) == mis)


def test_dlr_is_shift_and_scale_invariant():
  logits, labels = _problem()
  z = np.sort(np.asarray(logits), 1)[:, ::-1]
  margin = np.asarray(losses.margin_loss(logits, labels))
  np.testing.assert_allclose(losses.dlr_loss(logits, labels),
                             margin / (z[:, 0] - z[:, 2]), rtol=1e-5)
  np.testing.assert_allclose(losses.dlr_loss(5.0 * logits + 3.0, labels),
                             losses.dlr_loss(logits, labels), rtol=1e-4)


def test_targeted_dlr_sign_and_invariance():
  logits, labels = _problem()
  target = (labels + 1) % 10
  out = np.asarray(losses.targeted_dlr_loss(logits, labels, target))
  z = np.asarray(logits)
  above = z[np.arange(7), target] > z[np.arange(7), labels]
  assert np.all((out > 0) == above)
  np.testing.assert_allclose(
      losses.targeted_dlr_loss(4.0 * logits - 1.0, labels, target), out, rtol=1e-4)


def test_huge_logits_stay_finite_and_bf16_is_computed_in_float32():
  logits, labels = _problem()
  for fn in (losses.cross_entropy, losses.margin_loss, losses.dlr_loss):
    assert np.all(np.isfinite(fn(1e30 * logits, labels)))
  out = losses.cross_entropy(logits.astype(jnp.bfloat16), labels)
  assert out.dtype == jnp.float32


def test_bad_labels_are_named():
  logits, labels = _problem()
  with pytest.raises(ValueError, match="labels"):
    losses.cross_entropy(logits, labels + 10)
  with pytest.raises(TypeError, match="labels"):
    losses.margin_loss(logits, labels.astype(jnp.float32))
  with pytest.raises(ValueError, match="labels"):
    losses.cross_entropy(logits, labels[:3])
  with pytest.raises(ValueError, match="logits"):
    losses.cross_entropy(logits[0], labels)
