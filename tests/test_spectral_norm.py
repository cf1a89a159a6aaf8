"""Spectral normalization against SVD; Lipschitz bound; state handling."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from advjax import nn as advnn
from advjax.train import clipping

pytestmark = pytest.mark.strict_dtypes


def _top_singular_value(w):
  return np.linalg.svd(np.asarray(w, np.float64).reshape(-1, w.shape[-1]),
                       compute_uv=False)[0]


def test_matches_svd_and_normalizes_top_singular_value_to_one():
  for shape in ((12, 7), (3, 3, 4, 6)):
    w = jax.random.normal(jax.random.key(0), shape)
    u = jax.random.normal(jax.random.key(1), (shape[-1],))
    w_sn, u_new, sigma = jax.jit(functools.partial(
        advnn.spectral_normalize, n_iters=200))(w, u)
    assert w_sn.shape == w.shape and u_new.shape == u.shape
    np.testing.assert_allclose(sigma, _top_singular_value(w), rtol=1e-4)
    np.testing.assert_allclose(_top_singular_value(w_sn), 1.0, rtol=1e-4)
    np.testing.assert_allclose(jnp.linalg.norm(u_new), 1.0, rtol=1e-5)


def test_gradient_is_that_of_the_exact_spectral_norm_at_convergence():
  w = jax.random.normal(jax.random.key(2), (6, 4))
  u = jnp.asarray(np.linalg.svd(np.asarray(w))[2][0])  # top right-singular vector
  probe = jax.random.normal(jax.random.key(3), (6, 4))

  @jax.jit
  def grads(w):
    ours = jax.grad(lambda w_: jnp.sum(
        advnn.spectral_normalize(w_, u, n_iters=1)[0] * probe))(w)
    exact = jax.grad(lambda w_: jnp.sum(w_ / jnp.linalg.norm(w_, 2) * probe))(w)
    return ours, exact

  ours, exact = grads(w)
  np.testing.assert_allclose(ours, exact, rtol=1e-3, atol=1e-5)


def test_carried_u_converges_with_one_iteration_per_step():
  w = jax.random.normal(jax.random.key(4), (48, 32))
  exact = _top_singular_value(w)
  u = jax.random.normal(jax.random.key(5), (32,))

  def body(u_, _):
    _, u_, sigma = advnn.spectral_normalize(w, u_, n_iters=1)
    return u_, sigma

  _, sigmas = jax.lax.scan(body, u, length=300)
  errors = np.abs(np.asarray(sigmas) - exact) / exact
  assert errors[0] > 1e-3 and errors[-1] < 1e-4
  assert np.all(np.asarray(sigmas) <= exact * (1 + 1e-5))  # Rayleigh bound


class _SNNet(nn.Module):
  """A ReLU MLP of spectrally normalized layers, plus one wrapped conv."""

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    x = advnn.SpectralDense(32)(x, update_stats=train)
    x = nn.relu(x)
    x = advnn.SpectralNorm(nn.Dense(32))(x, update_stats=train)
    x = nn.leaky_relu(x, 0.2)
    return advnn.SpectralDense(1)(x, update_stats=train)[:, 0]


def test_spectral_normalized_relu_network_is_1_lipschitz():
  net = _SNNet()
  x = 3.0 * jax.random.normal(jax.random.key(6), (512, 5))
  variables = jax.jit(net.init)(jax.random.key(7), x)
  # Blow the raw weights up: the normalized network must not care.
  variables = {**variables,
               "params": jax.tree.map(lambda p: 10.0 * p, variables["params"])}

  @jax.jit
  def outputs_and_input_gradients(variables):
    grads = jax.vmap(jax.grad(lambda xi: net.apply(variables, xi[None])[0]))(x)
    return net.apply(variables, x), grads

  y, grads = outputs_and_input_gradients(variables)
  norms = np.linalg.norm(np.asarray(grads), axis=-1)
  assert norms.max() <= 1.0 + 1e-4
  assert norms.max() > 0.05  # not trivially flat
  # The Lipschitz bound holds between pairs of points too.
  y = np.asarray(y)
  dx = np.linalg.norm(np.asarray(x[1:] - x[:-1]), axis=-1)
  assert np.all(np.abs(y[1:] - y[:-1]) <= dx * (1 + 1e-4))


def test_layers_store_raw_weights_and_only_update_u_in_train_mode():
  net = _SNNet()
  x = jax.random.normal(jax.random.key(8), (4, 5))
  variables = jax.jit(net.init)(jax.random.key(9), x)
  assert set(variables) == {"params", "spectral_stats"}
  kernel = variables["params"]["SpectralDense_0"]["dense"]["kernel"]
  u = variables["spectral_stats"]["SpectralDense_0"]["sn"]["kernel"]
  assert u.shape == (32,)
  # Raw kernel kept (lecun-normal 5x32 has σ well above 1), and u warmed up:
  # it is the top right-singular vector already.
  assert _top_singular_value(kernel) > 1.5
  top = np.linalg.svd(np.asarray(kernel, np.float64))[2][0]
  assert abs(float(np.dot(top, np.asarray(u)))) == pytest.approx(1.0, abs=1e-4)

  @jax.jit
  def run(variables):
    out_eval, state_eval = net.apply(variables, x, train=False,
                                     mutable=["spectral_stats"])
    out_train, state_train = net.apply(variables, x, train=True,
                                       mutable=["spectral_stats"])
    grads = jax.grad(lambda p: jnp.sum(net.apply(
        {**variables, "params": p}, x)))(variables["params"])
    return out_eval, state_eval, out_train, state_train, grads

  out_eval, state_eval, out_train, state_train, grads = run(variables)
  for a, b in zip(jax.tree.leaves(state_eval), jax.tree.leaves(
      variables["spectral_stats"])):
    np.testing.assert_array_equal(a, b)
  changed = [not np.array_equal(a, b) for a, b in zip(
      jax.tree.leaves(state_train), jax.tree.leaves(variables["spectral_stats"]))]
  assert any(changed)
  np.testing.assert_allclose(out_eval, out_train, rtol=1e-3, atol=1e-4)
  # Gradients reach the raw parameters, and only through W / σ.
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_spectral_conv_normalizes_the_reshaped_kernel():
  conv = advnn.SpectralConv(6, (3, 3), strides=2, warmup_iters=200)
  x = jax.random.normal(jax.random.key(10), (2, 8, 8, 3))
  variables = jax.jit(conv.init)(jax.random.key(11), x)
  kernel = variables["params"]["conv"]["kernel"]
  assert kernel.shape == (3, 3, 3, 6)
  bias = variables["params"]["conv"]["bias"]
  expected = jax.lax.conv_general_dilated(
      x, kernel / _top_singular_value(kernel), (2, 2), "SAME",
      dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias
  np.testing.assert_allclose(jax.jit(conv.apply)(variables, x), expected, rtol=1e-4,
                             atol=1e-5)


def test_bad_arguments_name_themselves():
  w = jnp.ones((3, 4))
  with pytest.raises(ValueError, match="`u`"):
    advnn.spectral_normalize(w, jnp.ones(3))
  with pytest.raises(ValueError, match="n_iters"):
    advnn.spectral_normalize(w, jnp.ones(4), n_iters=0)
  with pytest.raises(ValueError, match="`w`"):
    advnn.spectral_normalize(jnp.ones(4), jnp.ones(4))


def test_weight_clipping_transformation():
  params = {"w": jnp.array([0.005, -0.009, 0.0], jnp.float32)}
  tx = optax.chain(optax.sgd(1.0), clipping.clip_weights(0.01))
  grads = {"w": jnp.array([-1.0, 1.0, 0.003], jnp.float32)}
  updates, _ = tx.update(grads, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  np.testing.assert_allclose(new["w"], [0.01, -0.01, -0.003], atol=1e-9)
  np.testing.assert_allclose(clipping.clip_params({"a": jnp.array([2.0, -3.0])},
                                                  1.5)["a"], [1.5, -1.5])
  with pytest.raises(ValueError, match="limit"):
    clipping.clip_weights(0.0)
  with pytest.raises(ValueError, match="params"):
    tx.update(grads, tx.init(params))
