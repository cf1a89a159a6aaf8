"""Reference classifiers for 28×28×1 inputs (Flax Linen, NHWC).

Max-pooling is written as reshape-and-max: the same values as ``nn.max_pool``
with a 2×2 window and stride, but its gradient is a cheap mask instead of
XLA's select-and-scatter, which is several times slower on the CPU backend
(see experiments/benchmark.py). Convolutions default to
:func:`~advjax.models.fast_conv.patch_conv` on the CPU backend (im2col: the
same values and parameters, far faster input gradients there); ``conv_impl``
selects the implementation explicitly.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from advjax.models import fast_conv


def max_pool_2x2(x: jax.Array) -> jax.Array:
  """2×2, stride-2 max-pooling of NHWC ``x`` (odd trailing rows/cols dropped)."""
  b, h, w, c = x.shape
  x = x[:, : h - h % 2, : w - w % 2, :]
  return jnp.max(x.reshape(b, h // 2, 2, w // 2, 2, c), axis=(2, 4))


class MadryCNN(nn.Module):
  """The MNIST CNN of Madry et al. 2018 (https://arxiv.org/abs/1706.06083).

  conv32 5×5 → pool → conv64 5×5 → pool → fc1024 → fc``num_classes``.

  Attributes:
    num_classes: number of logits.
    conv_impl: ``"auto"``, ``"patch_grad"``, ``"patches"`` or ``"lax"`` (see
      :func:`advjax.models.fast_conv.conv_general_dilated`); the same values
      and parameters whichever is chosen.
  """
  num_classes: int = 10
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    del train
    conv = fast_conv.conv_general_dilated(self.conv_impl)
    x = nn.Conv(32, (5, 5), padding="SAME", conv_general_dilated=conv,
                name="Conv_0")(x)
    x = max_pool_2x2(nn.relu(x))
    x = nn.Conv(64, (5, 5), padding="SAME", conv_general_dilated=conv,
                name="Conv_1")(x)
    x = max_pool_2x2(nn.relu(x))
    x = nn.relu(nn.Dense(1024)(x.reshape(x.shape[0], -1)))
    return nn.Dense(self.num_classes)(x)


class SmallCNN(nn.Module):
  """A small, fast CNN: conv16 4×4/2 → conv32 4×4/2 → fc100 → fc10.

  The "small CNN" of the benchmark, matching the PyTorch model layer for layer.

  ``widths``/``hidden`` widen it (``(32, 64)``/``200`` costs about the same on
  CPU and gives adversarial training the capacity it needs).

  Attributes:
    num_classes: number of logits.
    widths: channels of each stride-2 convolution, in order.
    hidden: width of the hidden dense layer.
    conv_impl: ``"auto"``, ``"patch_grad"``, ``"patches"`` or ``"lax"`` (see
      :func:`advjax.models.fast_conv.conv_general_dilated`); the same values
      and parameters whichever is chosen.
  """
  num_classes: int = 10
  widths: Sequence[int] = (16, 32)
  hidden: int = 100
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    del train
    conv = fast_conv.conv_general_dilated(self.conv_impl)
    for i, width in enumerate(self.widths):
      x = nn.relu(nn.Conv(width, (4, 4), strides=2, padding=((1, 1), (1, 1)),
                          conv_general_dilated=conv, name=f"Conv_{i}")(x))
    x = nn.relu(nn.Dense(self.hidden)(x.reshape(x.shape[0], -1)))
    return nn.Dense(self.num_classes)(x)


class MLP(nn.Module):
  """A ReLU MLP on flattened inputs."""
  features: Sequence[int] = (256, 256)
  num_classes: int = 10

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    del train
    x = x.reshape(x.shape[0], -1)
    for f in self.features:
      x = nn.relu(nn.Dense(f)(x))
    return nn.Dense(self.num_classes)(x)
