"""patch_conv_transpose (adjoint of im2col) equals lax.conv_transpose and
nn.ConvTranspose; the DCGAN models give the same values with either conv_impl."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from advjax import models
from advjax.models import fast_conv


def _values_and_grads(fn, x, w, key):
  """``fn(x, w)`` and the gradients of ``sum(fn(x, w) · cot)`` w.r.t. x and w
  (one compilation)."""
  cot = jax.random.normal(key, jax.eval_shape(fn, x, w).shape)

  def run(a, b):
    out, vjp = jax.vjp(fn, a, b)
    return out, vjp(cot)
  return jax.jit(run)(x, w)


def _assert_close(ours, ref, tol=1e-4):
  """Close up to ``tol`` relative to each leaf's largest entry (absolute 1e-6
  floor: some gradients, e.g. of a bias before batch norm, are 0 ± rounding)."""
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
    a, b = np.asarray(a), np.asarray(b)  # numpy: no compile per leaf shape
    scale = float(np.max(np.abs(b)))
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale + 1e-6)


@pytest.mark.parametrize("kernel,strides,padding,transpose_kernel", [
    ((4, 4), (2, 2), "SAME", False),  # the DCGAN layer
    ((3, 2), (2, 3), "VALID", True),  # stride > kernel, flipped/swapped kernel
    ((4, 3), (2, 1), ((1, 2), (2, 1)), False),  # explicit pads of the dilated input
    ((3, 3), (2, 2), ((3, 0), (0, 3)), False),  # pad > kernel - 1
])
def test_patch_conv_transpose_matches_lax_values_and_gradients(
    kernel, strides, padding, transpose_kernel):
  x = jax.random.normal(jax.random.key(0), (2, 5, 6, 3))
  w = jax.random.normal(jax.random.key(1),
                        kernel + ((4, 3) if transpose_kernel else (3, 4)))
  conv = lambda f: lambda a, b: f(  # noqa: E731
      a, b, strides, padding, transpose_kernel=transpose_kernel)
  key = jax.random.key(2)
  ref_out, ref_grads = _values_and_grads(conv(lax.conv_transpose), x, w, key)
  out, grads = _values_and_grads(conv(fast_conv.patch_conv_transpose), x, w, key)
  assert out.shape == ref_out.shape and out.dtype == ref_out.dtype
  _assert_close(out, ref_out, 1e-5)
  _assert_close(grads, ref_grads)


def test_unsupported_configurations_fall_back_to_lax_or_raise():
  x = jax.random.normal(jax.random.key(0), (1, 5, 5, 2))
  w = jax.random.normal(jax.random.key(1), (3, 3, 2, 2))
  dilated = fast_conv.patch_conv_transpose(x, w, (2, 2), "SAME", rhs_dilation=(2, 2))
  np.testing.assert_allclose(
      dilated, lax.conv_transpose(x, w, (2, 2), "SAME", rhs_dilation=(2, 2)),
      rtol=1e-6)
  with pytest.raises(ValueError, match="padding"):
    fast_conv.patch_conv_transpose(x, w, (2, 2), "CAUSAL")
  assert fast_conv.conv_transpose("lax") is lax.conv_transpose
  assert fast_conv.conv_transpose("auto") is fast_conv.patch_conv_transpose  # CPU
  with pytest.raises(ValueError, match="conv_impl"):
    fast_conv.conv_transpose("fft")
  layer = fast_conv.ConvTranspose(2, (3, 3), padding="CIRCULAR")
  with pytest.raises(ValueError, match="padding"):
    layer.init(jax.random.key(0), x)


def test_conv_transpose_layer_is_nn_conv_transpose():
  x = jax.random.normal(jax.random.key(0), (3, 7, 7, 5))
  ref = nn.ConvTranspose(4, (4, 4), strides=(2, 2), padding="SAME")
  ours = fast_conv.ConvTranspose(4, (4, 4), strides=(2, 2), padding="SAME",
                                 conv_impl="patches")
  params = ref.init(jax.random.key(1), x)
  ours_params = ours.init(jax.random.key(1), x)  # same names, shapes, values
  assert jax.tree.map(jnp.shape, ours_params) == jax.tree.map(jnp.shape, params)
  _assert_close(ours_params, params, 0.0)
  key = jax.random.key(2)
  ref_out, ref_grads = _values_and_grads(ref.apply, params, x, key)
  out, grads = _values_and_grads(ours.apply, params, x, key)
  assert out.shape == (3, 14, 14, 4)
  _assert_close(out, ref_out, 1e-5)
  _assert_close(grads, ref_grads)


def _random_like(shapes, *, seed):
  """Random variables with the given shapes (numpy, and no ``init``: both
  would compile per shape, and the spectral norm's warm-up is slow on CPU)."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda s: jnp.asarray(0.5 * rng.standard_normal(s.shape), jnp.float32),
      shapes)


def test_dcgan_models_agree_across_conv_impls():
  z = jax.random.normal(jax.random.key(0), (4, 8))
  x = jnp.zeros((4, 16, 16, 1))
  build = lambda impl: (  # noqa: E731
      models.DCGANGenerator(image_size=16, features=4, conv_impl=impl),
      models.DCGANDiscriminator(image_size=16, features=4, conv_impl=impl,
                                spectral_norm=True),
      models.DCGANDiscriminator(image_size=16, features=4, conv_impl=impl))
  shapes = {impl: [jax.eval_shape(m.init, jax.random.key(1), a)
                   for m, a in zip(build(impl), (z, x, x))]
            for impl in ("lax", "patches")}
  assert shapes["lax"] == shapes["patches"]  # conv_impl changes no parameter
  assert {"ConvTranspose_0", "ConvTranspose_1"} <= set(shapes["lax"][0]["params"])
  variables = _random_like(shapes["lax"], seed=2)

  def run(impl):
    gen, sn_disc, disc = build(impl)

    def loss(v, z_):
      fake, _ = gen.apply(v[0], z_, train=True, mutable=["batch_stats"])
      sn_out, _ = sn_disc.apply(v[1], fake, train=True, mutable=["spectral_stats"])
      out = disc.apply(v[2], fake)
      value = jnp.mean(jax.nn.softplus(-sn_out) + jax.nn.softplus(out))
      return value, (fake, sn_out, out)
    (_, aux), grads = jax.jit(jax.value_and_grad(loss, (0, 1), has_aux=True))(
        variables, z)
    return aux, grads

  (ref_aux, ref_grads), (aux, grads) = run("lax"), run("patches")
  assert float(jnp.std(aux[0])) > 1e-2 and float(jnp.std(aux[2])) > 1e-3
  _assert_close(aux, ref_aux, 1e-5)
  _assert_close(grads, ref_grads)
