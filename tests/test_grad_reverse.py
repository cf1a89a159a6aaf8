"""Gradient reversal: identity forward, −λ·g backward, under jit/vmap/pytrees."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from jax.test_util import check_vjp

from advjax.nn import grad_reverse

pytestmark = pytest.mark.strict_dtypes


def _smooth(x):
  return jnp.sum(jnp.sin(x) * x ** 2)


def test_value_is_identity():
  x = jax.random.normal(jax.random.key(0), (3, 4))
  np.testing.assert_array_equal(grad_reverse(x, 0.7), x)
  np.testing.assert_array_equal(jax.jit(grad_reverse)(x, 0.7), x)


@pytest.mark.parametrize("lam", [0.0, 0.5, 2.0])
def test_vjp_is_minus_lam_times_identity_jacobian(lam):
  """The VJP, checked against finite differences of x ↦ −λ·f(x)."""
  x = jax.random.normal(jax.random.key(1), (5,))

  def reversed_vjp(x):
    value, vjp = jax.vjp(lambda x: _smooth(grad_reverse(x, lam)), x)
    return -lam * value, vjp  # the primal of the reference below

  check_vjp(lambda x: -lam * _smooth(x), reversed_vjp, (x,), atol=1e-2,
            rtol=1e-2, eps=1e-3)


def test_lam_minus_one_is_a_true_identity_for_check_grads():
  x = jax.random.normal(jax.random.key(2), (4,))
  check_grads(lambda x: _smooth(grad_reverse(x, -1.0)), (x,), order=1,
              modes=("rev",), atol=1e-2, rtol=1e-2, eps=1e-3)


def test_gradient_equals_minus_lam_times_plain_gradient():
  x = jax.random.normal(jax.random.key(3), (6,))
  lam = 0.37
  got = jax.grad(lambda x: _smooth(grad_reverse(x, lam)))(x)
  np.testing.assert_allclose(got, -lam * jax.grad(_smooth)(x), rtol=1e-6)


def test_traced_lam_under_jit_follows_a_schedule():
  x = jnp.arange(1.0, 4.0)

  @jax.jit
  def grad_at(step):
    lam = 2.0 / (1.0 + jnp.exp(-10.0 * step / 100.0)) - 1.0
    return jax.grad(lambda x: jnp.sum(grad_reverse(x, lam) ** 2))(x), lam

  for step in (0, 10, 100):
    g, lam = grad_at(jnp.float32(step))
    np.testing.assert_allclose(g, -float(lam) * 2 * np.arange(1.0, 4.0), rtol=1e-6)
  # λ has no gradient of its own: the forward pass does not depend on it.
  assert jax.grad(lambda lam: jnp.sum(grad_reverse(x, lam)))(0.5) == 0.0


def test_vmap_over_inputs_and_lam():
  xs = jax.random.normal(jax.random.key(4), (3, 5))
  lams = jnp.array([0.0, 1.0, 3.0])
  grads = jax.vmap(jax.grad(lambda x, lam: _smooth(grad_reverse(x, lam))))(xs, lams)
  expected = -lams[:, None] * jax.vmap(jax.grad(_smooth))(xs)
  np.testing.assert_allclose(grads, expected, rtol=1e-6, atol=1e-7)


def test_pytree_input():
  tree = {"a": jnp.arange(3.0), "b": (jnp.ones((2, 2)), jnp.full((1,), 2.0))}

  def loss(tree):
    out = grad_reverse(tree, 0.5)
    assert jax.tree.structure(out) == jax.tree.structure(tree)
    return sum(jnp.sum(leaf ** 2) for leaf in jax.tree.leaves(out))

  grads = jax.grad(loss)(tree)
  jax.tree.map(lambda g, x: np.testing.assert_allclose(g, -0.5 * 2 * x), grads, tree)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_cotangent_keeps_input_dtype(dtype):
  x = jnp.linspace(-1, 1, 8, dtype=dtype)
  lam = jnp.float32(0.3)  # a float32 λ must not promote a low-precision gradient
  g = jax.grad(lambda x: jnp.sum(grad_reverse(x, lam).astype(jnp.float32) ** 2))(x)
  assert g.dtype == dtype
  expected = -0.3 * 2 * np.asarray(x, np.float32)
  np.testing.assert_allclose(np.asarray(g, np.float32), expected, rtol=1e-2, atol=1e-2)


def test_integer_leaves_pass_through():
  tree = {"x": jnp.ones(3), "idx": jnp.arange(3)}
  g = jax.grad(lambda t: jnp.sum(grad_reverse(t, 2.0)["x"]), allow_int=True)(tree)
  np.testing.assert_array_equal(g["x"], -2.0 * np.ones(3))
  assert g["idx"].dtype == jax.dtypes.float0


@pytest.mark.parametrize("lam, error", [
    ("1", TypeError), (None, TypeError), (True, TypeError),
    (jnp.ones(2), ValueError), (float("nan"), ValueError),
    (jnp.array(1 + 1j), TypeError),
])
def test_bad_lam(lam, error):
  with pytest.raises(error, match="lam"):
    grad_reverse(jnp.ones(2), lam)


def test_integer_lam_is_accepted():
  g = jax.grad(lambda x: jnp.sum(grad_reverse(x, 2)))(jnp.ones(2))
  np.testing.assert_array_equal(g, [-2.0, -2.0])


def test_composes_with_checkpoint_and_scan():
  x = jnp.arange(3.0)

  def body(carry, _):
    return jax.checkpoint(functools.partial(grad_reverse, lam=0.5))(carry) * 2.0, None

  g = jax.grad(lambda x: jnp.sum(jax.lax.scan(body, x, None, length=2)[0]))(x)
  np.testing.assert_allclose(g, 0.25 * 4.0 * np.ones(3))
