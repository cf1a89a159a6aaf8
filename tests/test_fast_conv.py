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


@pytest.mark.parametrize("kernel,strides,padding", [
    ((4, 4), (2, 2), ((1, 1), (1, 1))),
    ((5, 5), (1, 1), "SAME"),
    ((3, 2), (2, 1), "VALID"),
    ((4, 4), (2, 2), "SAME"),
    ((1, 1), (1, 1), ((0, 1), (2, 0))),
])
def test_patch_conv_matches_lax_values_and_gradients(kernel, strides, padding):
  x = jax.random.normal(jax.random.key(0), (2, 9, 8, 3))
  w = jax.random.normal(jax.random.key(1), kernel + (3, 4))
  ref = lambda a, b: lax.conv_general_dilated(  # noqa: E731
      a, b, strides, padding, dimension_numbers=_NHWC)
  ours = lambda a, b: models.patch_conv(  # noqa: E731
      a, b, strides, padding, dimension_numbers=_NHWC)
  np.testing.assert_allclose(ours(x, w), ref(x, w), rtol=1e-5, atol=1e-5)
  cot = jax.random.normal(jax.random.key(2), ref(x, w).shape)
  g_ref = jax.grad(lambda a, b: jnp.sum(ref(a, b) * cot), (0, 1))(x, w)
  g_ours = jax.grad(lambda a, b: jnp.sum(ours(a, b) * cot), (0, 1))(x, w)
  for a, b in zip(g_ours, g_ref):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_patch_conv_gradients_match_finite_differences():
  x = jax.random.normal(jax.random.key(0), (1, 6, 6, 2))
  w = jax.random.normal(jax.random.key(1), (4, 4, 2, 3))
  check_grads(lambda a, b: models.patch_conv(a, b, (2, 2), ((1, 1), (1, 1)),
                                             dimension_numbers=_NHWC),
              (x, w), order=1, modes=("rev",), atol=5e-2, rtol=5e-2)


def test_patch_conv_falls_back_to_lax_for_other_layouts_and_dilations():
  x = jax.random.normal(jax.random.key(0), (2, 3, 9, 9))  # NCHW
  w = jax.random.normal(jax.random.key(1), (4, 3, 3, 3))  # OIHW
  np.testing.assert_allclose(
      models.patch_conv(x, w, (1, 1), "SAME", rhs_dilation=(2, 2)),
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
  assert fast_conv.conv_general_dilated("auto") is models.patch_conv  # CPU tests
  with pytest.raises(ValueError, match="conv_impl"):
    fast_conv.conv_general_dilated("winograd")
  with pytest.raises(ValueError, match="conv_impl"):
    models.SmallCNN(conv_impl="cudnn").init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
