"""patch_conv (im2col) equals lax.conv_general_dilated: values and gradients."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.test_util import check_grads

from advjax import models
from advjax.models import fast_conv

pytestmark = pytest.mark.strict_dtypes

_NHWC = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize("channels", [3, 8])  # 8: patch_grad's convolution tangent
@pytest.mark.parametrize("conv", [models.patch_conv, models.patch_grad_conv])
@pytest.mark.parametrize("kernel,strides,padding", [
    ((4, 4), (2, 2), ((1, 1), (1, 1))),
    ((5, 5), (1, 1), "SAME"),
    ((3, 2), (2, 1), "VALID"),
    ((1, 1), (1, 1), ((0, 1), (2, 0))),
])
def test_fast_convs_match_lax_values_and_gradients(conv, kernel, strides, padding,
                                                  channels):
  x = jax.random.normal(jax.random.key(0), (2, 9, 8, channels))
  w = jax.random.normal(jax.random.key(1), kernel + (channels, 4))
  def value_and_grads(conv):
    def fn(a, b, cot):
      out = conv(a, b, strides, padding, dimension_numbers=_NHWC)
      return out, jax.grad(lambda a_, b_: jnp.sum(
          conv(a_, b_, strides, padding, dimension_numbers=_NHWC) * cot), (0, 1))(a, b)
    return jax.jit(fn)

  ref_out, _ = value_and_grads(lax.conv_general_dilated)(x, w, 0.0)
  cot = jax.random.normal(jax.random.key(2), ref_out.shape)
  ref_out, g_ref = value_and_grads(lax.conv_general_dilated)(x, w, cot)
  out, g_ours = value_and_grads(conv)(x, w, cot)
  np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
  for a, b in zip(g_ours, g_ref):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_patch_conv_gradients_match_finite_differences():
  x = jax.random.normal(jax.random.key(0), (1, 6, 6, 2))
  w = jax.random.normal(jax.random.key(1), (4, 4, 2, 3))
  check_grads(lambda a, b: models.patch_conv(a, b, (2, 2), ((1, 1), (1, 1)),
                                             dimension_numbers=_NHWC),
              (x, w), order=1, modes=("rev",), atol=5e-2, rtol=5e-2)


@pytest.mark.parametrize("channels,strides", [(2, (2, 2)), (1, (1, 1)), (8, (1, 1))])
def test_patch_grad_conv_forward_mode_and_second_order_match_lax(channels, strides):
  x = jax.random.normal(jax.random.key(0), (2, 7, 7, channels))
  w = jax.random.normal(jax.random.key(1), (4, 4, channels, 3))
  dx = jax.random.normal(jax.random.key(2), x.shape)
  def results(conv):
    f = lambda a, b: conv(a, b, strides, "SAME", dimension_numbers=_NHWC)  # noqa: E731
    tangent = jax.jvp(lambda a: f(a, w), (x,), (dx,))[1]
    input_grad = lambda a: jax.grad(lambda z: jnp.sum(jnp.sin(f(z, w))))(a)  # noqa: E731
    # The gradient of a gradient norm (gradient penalties, GradAlign).
    second = jax.grad(lambda a: jnp.sum(input_grad(a) ** 2))(x)
    return tangent, second
  for ours, ref in zip(results(models.patch_grad_conv), results(lax.conv_general_dilated)):
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


def test_patch_grad_conv_attack_gradient_builds_no_kernel_im2col():
  """With the kernel constant, the input gradient must not depend on it being
  differentiated: the JVP rule skips the kernel's (symbolically zero) tangent."""
  x = jax.random.normal(jax.random.key(0), (1, 8, 8, 1))
  w = jax.random.normal(jax.random.key(1), (4, 4, 1, 2))
  grad = jax.grad(lambda a: jnp.sum(models.patch_grad_conv(
      a, w, (2, 2), "SAME", dimension_numbers=_NHWC)))
  jaxpr = str(jax.make_jaxpr(grad)(x))
  assert "conv_general_dilated" in jaxpr  # the forward pass
  assert jaxpr.count("dot_general") == 1  # one matmul: the input gradient's


def test_patch_grad_conv_input_gradient_is_a_plain_convolution():
  """With enough channels a stride-1 input gradient is an ordinary HWIO
  convolution (XLA's fast path), not lax's transpose with a swapped ``oi``
  kernel; a strided one is matmuls (no input-dilated convolution)."""
  x = jnp.ones((1, 8, 8, 8))
  w = jnp.ones((3, 3, 8, 4))
  def convolutions(conv, strides):
    grad = jax.grad(lambda a: jnp.sum(jnp.sin(conv(a, w, strides, "SAME",
                                                    dimension_numbers=_NHWC))))
    hlo = jax.jit(grad).lower(x).as_text()
    return [line for line in hlo.splitlines() if "stablehlo.convolution" in line]
  reference = convolutions(lax.conv_general_dilated, (1, 1))
  assert any("x[0, 1, o, i]" in line for line in reference)  # what the test guards
  ours = convolutions(models.patch_grad_conv, (1, 1))
  assert len(ours) == 2  # forward and input gradient
  for line in ours:
    assert "x[0, 1, i, o]" in line and "lhs_dilate = [1, 1]" in line, line
  assert len(convolutions(models.patch_grad_conv, (2, 2))) == 1  # the forward only


@pytest.mark.parametrize("in_features,strides", [(1, (2, 2)), (8, (2, 2)), (8, (1, 1))])
def test_cpu_conv_kernel_gradient_is_a_plain_convolution(in_features, strides):
  """lax's kernel gradient swaps batch and features and dilates the kernel by
  the stride, a form XLA's CPU backend runs 7–90× slower inside loops (GAN
  steps scan over critic updates); cpu_conv's is an ordinary b01f_01io one.
  Reverse and forward mode in the kernel still match lax."""
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, in_features))
  w = jax.random.normal(jax.random.key(1), (4, 4, in_features, 4))
  conv = lambda f, b: f(x, b, strides, "SAME", dimension_numbers=_NHWC)  # noqa: E731
  loss = lambda f: lambda b: jnp.sum(jnp.sin(conv(f, b)))  # noqa: E731
  hlo = jax.jit(jax.grad(loss(models.cpu_conv))).lower(w).as_text()
  convs = [line for line in hlo.splitlines() if "stablehlo.convolution" in line]
  assert len(convs) == (1 if in_features == 1 else 2)  # (forward,) kernel gradient
  for line in convs:
    assert "[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]" in line, line
    assert "rhs_dilate = [1, 1]" in line, line
  np.testing.assert_allclose(jax.grad(loss(models.cpu_conv))(w),
                             jax.grad(loss(lax.conv_general_dilated))(w),
                             rtol=1e-4, atol=1e-4)
  dw = jax.random.normal(jax.random.key(2), w.shape)
  tangents = [jax.jvp(lambda b, f=f: conv(f, b), (w,), (dw,))[1]
              for f in (models.cpu_conv, lax.conv_general_dilated)]
  np.testing.assert_allclose(*tangents, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("conv", [models.patch_conv, models.patch_grad_conv])
def test_fast_convs_fall_back_to_lax_for_other_layouts_and_dilations(conv):
  x = jax.random.normal(jax.random.key(0), (2, 3, 9, 9))  # NCHW
  w = jax.random.normal(jax.random.key(1), (4, 3, 3, 3))  # OIHW
  np.testing.assert_allclose(
      conv(x, w, (1, 1), "SAME", rhs_dilation=(2, 2)),
      lax.conv_general_dilated(x, w, (1, 1), "SAME", rhs_dilation=(2, 2)),
      rtol=1e-6)


def test_flax_conv_with_patch_conv_keeps_parameters():
  x = jax.random.normal(jax.random.key(0), (2, 12, 12, 3))
  ref = nn.Conv(5, (4, 4), strides=2, padding="SAME")
  ours = nn.Conv(5, (4, 4), strides=2, padding="SAME",
                 conv_general_dilated=models.patch_conv)
  variables = ref.init(jax.random.key(1), x)
  assert (jax.tree.map(jnp.shape, ours.init(jax.random.key(1), x))
          == jax.tree.map(jnp.shape, variables))
  np.testing.assert_allclose(ours.apply(variables, x), ref.apply(variables, x),
                             rtol=1e-5, atol=1e-5)


def test_conv_impl_choice_and_bad_names():
  assert fast_conv.conv_general_dilated("lax") is lax.conv_general_dilated
  assert fast_conv.conv_general_dilated("patches") is models.patch_conv
  assert fast_conv.conv_general_dilated("patch_grad") is models.patch_grad_conv
  assert fast_conv.conv_general_dilated("auto") is models.cpu_conv  # CPU
  with pytest.raises(ValueError, match="conv_impl"):
    fast_conv.conv_general_dilated("winograd")
  with pytest.raises(ValueError, match="conv_impl"):
    models.SmallCNN(conv_impl="cudnn").init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))


@pytest.mark.parametrize("in_features, im2col", [(1, True), (3, True), (4, False), (16, False)])
def test_cpu_conv_takes_im2col_for_few_input_channels(in_features, im2col):
  x = jax.random.normal(jax.random.key(0), (2, 12, 12, in_features))
  w = jax.random.normal(jax.random.key(1), (4, 4, in_features, 8))
  conv = lambda f: lambda a, b: f(a, b, (2, 2), "VALID",  # noqa: E731
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
  jaxpr = str(jax.make_jaxpr(conv(models.cpu_conv))(x, w))
  assert ("conv_general_dilated" not in jaxpr) == im2col  # patch_conv: a matmul
  np.testing.assert_allclose(conv(models.cpu_conv)(x, w),
                             conv(lax.conv_general_dilated)(x, w), rtol=1e-5, atol=1e-5)
  grads = [jax.grad(lambda a, b, f=f: jnp.sum(conv(f)(a, b) ** 2), argnums=(0, 1))(x, w)
           for f in (models.cpu_conv, lax.conv_general_dilated)]
  for ours, ref in zip(*grads):
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


def test_cpu_compiler_options_keep_convolutions_off_ynnpack():
  options = models.cpu_compiler_options()
  assert options == fast_conv.EIGEN_CONV_OPTIONS  # this jaxlib accepts them
  options["extra"] = "x"  # a fresh dict each call
  assert models.cpu_compiler_options() == fast_conv.EIGEN_CONV_OPTIONS
  x = jax.random.normal(jax.random.key(0), (4, 14, 14, 16))
  w = jax.random.normal(jax.random.key(1), (5, 5, 16, 32))
  conv = lambda a, b: lax.conv_general_dilated(  # noqa: E731
      a, b, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  compiled = jax.jit(conv, compiler_options=models.cpu_compiler_options()).lower(x, w).compile()
  assert "ynn_fusion" not in compiled.as_text()
  np.testing.assert_allclose(compiled(x, w), jax.jit(conv)(x, w), rtol=1e-5, atol=1e-4)
