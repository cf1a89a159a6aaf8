"""pix2pix networks (Flax Linen, NHWC): a small U-Net generator and a
PatchGAN discriminator that scores overlapping patches of ``concat(input,
output)``.

References:
  Isola et al., 2017 (pix2pix). https://arxiv.org/abs/1611.07004
  Ronneberger et al., 2015 (U-Net). https://arxiv.org/abs/1505.04597
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax.numpy as jnp

from advjax import _checks
from advjax.models.fast_conv import conv_general_dilated
from advjax.models.gan import DCGAN_INIT

_PAD1 = ((1, 1), (1, 1))


def patchgan_receptive_field(num_downsamples: int) -> int:
  """Side of the input patch one PatchGAN logit sees: ``9·2ⁿ − 2``.

  ``n`` stride-2 4×4 convolutions, then two stride-1 4×4 convolutions: each
  stride-1 layer adds 3 pixels and each stride-2 layer maps ``r`` to
  ``2r + 2``. ``n = 3`` is the paper's 70×70 PatchGAN; ``n = 1`` gives 16×16,
  ``n = 2`` 34×34.
  """
  n = _checks.count(num_downsamples, name="num_downsamples", minimum=0)
  return 9 * 2**n - 2


def patchgan_output_size(size: int, num_downsamples: int) -> int:
  """Side of the PatchGAN's logit grid for a ``size``×``size`` input."""
  n = _checks.count(num_downsamples, name="num_downsamples", minimum=0)
  for _ in range(n):
    size //= 2  # 4×4, stride 2, padding 1
  return size - 2  # two 4×4 stride-1 convolutions with padding 1


class PatchDiscriminator(nn.Module):
  """PatchGAN: a logit per overlapping input patch, for conditional GANs.

  ``num_downsamples`` 4×4 stride-2 convolutions (``features·2^i`` channels),
  one 4×4 stride-1 convolution (``features·2ⁿ``) and a 4×4 stride-1
  convolution to one channel, LeakyReLU(0.2) in between, padding 1 throughout
  (as the paper's C64-C128-C256-C512 70×70 network, without batch norm so
  every example is scored independently). The receptive field of each logit
  is :func:`patchgan_receptive_field` ``(n) = 9·2ⁿ − 2`` pixels square: 16×16
  for the default ``n = 1`` (on 28×28 inputs a 12×12 grid of logits), 70×70
  for ``n = 3``.

  Call it on ``concat([condition, image], -1)`` (see
  :func:`advjax.train.make_pix2pix_step`); returns ``[B, H', W']`` logits with
  ``H' =`` :func:`patchgan_output_size` ``(H, n)``.

  References:
    Isola et al., 2017, section 3.2.2 and appendix 6.1.2.
    https://arxiv.org/abs/1611.07004
  """
  features: int = 32
  num_downsamples: int = 1
  conv_impl: str = "auto"  # see advjax.models.fast_conv.conv_general_dilated

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    del train
    if x.ndim != 4:
      raise ValueError(f"`x` must be NHWC images [B, H, W, C]; got shape {x.shape}.")
    if patchgan_output_size(min(x.shape[1:3]), self.num_downsamples) < 1:
      raise ValueError(f"input of side {x.shape[1:3]} is too small for "
                       f"{self.num_downsamples} downsamplings.")
    conv = functools.partial(nn.Conv, kernel_init=DCGAN_INIT,
                             conv_general_dilated=conv_general_dilated(self.conv_impl))
    for i in range(self.num_downsamples):
      x = conv(self.features * 2**i, (4, 4), strides=2, padding=_PAD1)(x)
      x = nn.leaky_relu(x, 0.2)
    x = conv(self.features * 2**self.num_downsamples, (4, 4), padding=_PAD1)(x)
    x = nn.leaky_relu(x, 0.2)
    x = conv(1, (4, 4), padding=_PAD1)(x)
    return x[..., 0]


class UNetGenerator(nn.Module):
  """A small U-Net image-to-image generator with ``tanh`` outputs in [-1, 1].

  Encoder: ``depth`` 4×4 stride-2 convolutions (``features·2^i`` channels,
  LeakyReLU 0.2); bottleneck: ``bottleneck_blocks`` residual 3×3 convolutions
  at the lowest resolution (they widen the receptive field, so textures can
  be coherent across the image); decoder: nearest-neighbour ×2 upsampling
  and a 3×3 convolution (ReLU) per level (the paper uses 4×4 stride-2
  transposed convolutions; resize-convolution avoids their checkerboard
  artefacts, Odena et al. 2016, and runs ~9× faster on XLA's CPU backend),
  each concatenated with the encoder features of the
  same resolution (the skip connections that carry low-level detail, e.g.
  where the strokes are), then a 3×3 convolution to ``out_channels``. Sides
  must be divisible by ``2^depth`` (28 for ``depth = 2``).

  Dropout (``dropout_rate``, active with ``train=True``) on the decoder is
  the paper's only source of noise; 0 by default (a deterministic mapping).
  No batch norm: the generator carries no state.

  References:
    Isola et al., 2017, section 3.2.1. https://arxiv.org/abs/1611.07004
    Ronneberger et al., 2015. https://arxiv.org/abs/1505.04597
    Odena et al., 2016. https://distill.pub/2016/deconv-checkerboard/
  """
  out_channels: int = 3
  features: int = 32
  depth: int = 2
  bottleneck_blocks: int = 2
  dropout_rate: float = 0.0
  conv_impl: str = "auto"  # see advjax.models.fast_conv.conv_general_dilated

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    if x.ndim != 4:
      raise ValueError(f"`x` must be NHWC images [B, H, W, C]; got shape {x.shape}.")
    if x.shape[1] % 2**self.depth or x.shape[2] % 2**self.depth:
      raise ValueError(f"image sides {x.shape[1:3]} must be divisible by "
                       f"2**depth = {2**self.depth}.")
    conv = functools.partial(nn.Conv, kernel_init=DCGAN_INIT,
                             conv_general_dilated=conv_general_dilated(self.conv_impl))
    skips = []
    h = x
    for i in range(self.depth):
      skips.append(h)
      h = conv(self.features * 2**i, (4, 4), strides=2, padding="SAME")(h)
      h = nn.leaky_relu(h, 0.2)
    width = h.shape[-1]
    for _ in range(self.bottleneck_blocks):
      r = conv(width, (3, 3), padding="SAME")(h)
      r = conv(width, (3, 3), padding="SAME")(nn.relu(r))
      h = nn.leaky_relu(h + r, 0.2)
    drop = nn.Dropout(self.dropout_rate, deterministic=not train)
    for i in reversed(range(self.depth)):
      h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)  # nearest ×2
      h = conv(self.features * 2**max(i - 1, 0), (3, 3), padding="SAME")(h)
      h = nn.relu(drop(h) if self.dropout_rate else h)
      h = jnp.concatenate([h, skips[i].astype(h.dtype)], axis=-1)
    h = conv(self.out_channels, (3, 3), padding="SAME")(h)
    return jnp.tanh(h)

