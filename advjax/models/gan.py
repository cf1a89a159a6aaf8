"""GAN generators and discriminators (Flax Linen, NHWC).

Generators map latents ``z [B, L]`` to samples; discriminators map samples to
one logit / critic value per example, shape ``[B]``. All take ``train``:
batch norm uses batch statistics and spectral norm updates its ``u`` only when
``train=True``. The DCGAN models' (transposed) convolutions default to the
shifted-slices-and-matmul forms of :mod:`advjax.models.fast_conv` on the CPU
backend (same values and parameters, several times faster gradients there);
``conv_impl`` selects the implementation explicitly.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from advjax.models import fast_conv
from advjax.nn import SpectralConv
from advjax.nn import SpectralDense

# Radford et al.: all weights from N(0, 0.02); batch-norm scales from N(1, 0.02).
DCGAN_INIT = nn.initializers.normal(0.02)


def _bn_scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _dense(features, *, spectral_norm, train, kernel_init=None):
  kwargs = {} if kernel_init is None else {"kernel_init": kernel_init}
  if spectral_norm:
    return lambda x: SpectralDense(features, **kwargs)(x, update_stats=train)
  return nn.Dense(features, **kwargs)


class MLPGenerator(nn.Module):
  """A ReLU MLP from latents to ``out_features``-dimensional samples."""
  features: Sequence[int] = (128, 128)
  out_features: int = 2

  @nn.compact
  def __call__(self, z, *, train: bool = False):
    del train
    x = z
    for f in self.features:
      x = nn.relu(nn.Dense(f)(x))
    return nn.Dense(self.out_features)(x)


class MLPDiscriminator(nn.Module):
  """A ReLU MLP critic on flattened inputs, optionally spectrally normalized.

  With ``spectral_norm=True`` every layer is 1-Lipschitz, hence the network.
  """
  features: Sequence[int] = (128, 128)
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    x = x.reshape(x.shape[0], -1)
    for f in self.features:
      x = nn.relu(_dense(f, spectral_norm=self.spectral_norm, train=train)(x))
    return _dense(1, spectral_norm=self.spectral_norm, train=train)(x)[:, 0]


def _num_halvings(image_size: int) -> int:
  """How many stride-2 stages: halve while the side is even and above 4."""
  if image_size < 8 or image_size % 4:
    raise ValueError(
        f"`image_size` must be a multiple of 4 and >= 8 (e.g. 28 or 32); "
        f"got {image_size}.")
  n, side = 0, image_size
  while side % 2 == 0 and side > 4:
    side //= 2
    n += 1
  return n


class DCGANGenerator(nn.Module):
  """DCGAN generator: project, then stride-2 transposed convolutions.

  For 28×28: z → 7×7×2f → 14×14×f → 28×28×C; for 32×32: z → 4×4×4f → 8×8×2f
  → 16×16×f → 32×32×C. BatchNorm and ReLU after every layer but the last,
  which is ``tanh``: outputs lie in [-1, 1].

  Attributes:
    image_size: output side (a multiple of 4, >= 8).
    channels: output channels.
    features: channels of the last hidden layer (doubled per earlier layer).
    conv_impl: ``"auto"``, ``"patch_grad"``, ``"patches"`` or ``"lax"`` (see
      :func:`advjax.models.fast_conv.conv_transpose`); the same values and
      parameters whichever is chosen.

  References:
    Radford et al., 2015. https://arxiv.org/abs/1511.06434
  """
  image_size: int = 28
  channels: int = 1
  features: int = 64
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, z, *, train: bool = False):
    n = _num_halvings(self.image_size)
    side = self.image_size // 2**n
    bn = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9,
                              scale_init=_bn_scale_init)
    width = self.features * 2**(n - 1)
    x = nn.Dense(side * side * width, kernel_init=DCGAN_INIT)(z)
    x = nn.relu(bn()(x)).reshape(z.shape[0], side, side, width)
    up = lambda f: fast_conv.ConvTranspose(  # noqa: E731
        f, (4, 4), strides=(2, 2), padding="SAME", kernel_init=DCGAN_INIT,
        conv_impl=self.conv_impl)
    for i in reversed(range(n - 1)):
      x = nn.relu(bn()(up(self.features * 2**i)(x)))
    return jnp.tanh(up(self.channels)(x))


class DCGANDiscriminator(nn.Module):
  """DCGAN discriminator: stride-2 4×4 convolutions with LeakyReLU(0.2).

  28×28 → 14 → 7, 32×32 → 16 → 8 → 4, then a linear logit. No batch norm, so
  the critic is per-example (as gradient penalties require); with
  ``spectral_norm=True`` every layer is spectrally normalized (SN-GAN).

  Attributes:
    image_size: input side (a multiple of 4, >= 8).
    features: channels of the first layer (doubled per later layer).
    spectral_norm: spectrally normalize every layer.
    conv_impl: ``"auto"``, ``"patch_grad"``, ``"patches"`` or ``"lax"`` (see
      :func:`advjax.models.fast_conv.conv_general_dilated`); the same values
      and parameters whichever is chosen.

  References:
    Radford et al., 2015. https://arxiv.org/abs/1511.06434
    Miyato et al., 2018. https://arxiv.org/abs/1802.05957
  """
  image_size: int = 28
  features: int = 64
  spectral_norm: bool = False
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    n = _num_halvings(self.image_size)
    conv = fast_conv.conv_general_dilated(self.conv_impl)
    for i in range(n):
      f = self.features * 2**i
      if self.spectral_norm:
        x = SpectralConv(f, (4, 4), strides=2, padding="SAME",
                         kernel_init=DCGAN_INIT, conv_general_dilated=conv)(
                             x, update_stats=train)
      else:
        x = nn.Conv(f, (4, 4), strides=2, padding="SAME",
                    kernel_init=DCGAN_INIT, conv_general_dilated=conv)(x)
      x = nn.leaky_relu(x, 0.2)
    x = x.reshape(x.shape[0], -1)
    return _dense(1, spectral_norm=self.spectral_norm, train=train,
                  kernel_init=DCGAN_INIT)(x)[:, 0]
