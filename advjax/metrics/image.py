"""Image sharpness: the variance of the Laplacian.

Blur removes high spatial frequencies, and the discrete Laplacian is a high-
pass filter, so the variance of its response is a standard no-reference
focus/sharpness measure. An image model's outputs are compared with the
targets through the ratio of their mean Laplacian variances: 1 when outputs
carry as much fine detail as real images, near 0 when they are blurred
averages.

References:
  Pech-Pacheco et al., 2000, "Diatom autofocusing in brightfield microscopy".
  https://doi.org/10.1109/ICPR.2000.903548
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from advjax import _checks

def laplacian_variance(images: jax.Array) -> jax.Array:
  """Per-image variance of the 4-neighbour Laplacian, per channel then averaged.

  Args:
    images: ``[B, H, W, C]`` (or ``[B, H, W]``) floats, ``H, W >= 3``.

  Returns:
    ``[B]`` float32: the variance over the ``(H−2)×(W−2)`` valid positions of
    ``x[i−1,j] + x[i+1,j] + x[i,j−1] + x[i,j+1] − 4x[i,j]``, averaged over
    channels.
  """
  _checks.floating_batch(images, name="images", min_ndim=3)
  x = images.astype(jnp.float32)
  if x.ndim == 3:
    x = x[..., None]
  if x.ndim != 4 or min(x.shape[1:3]) < 3:
    raise ValueError(f"`images` must be [B, H, W] or [B, H, W, C] with H, W >= 3; "
                     f"got shape {images.shape}.")
  lap = (x[:, :-2, 1:-1] + x[:, 2:, 1:-1] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:]
         - 4.0 * x[:, 1:-1, 1:-1])
  return jnp.mean(jnp.var(lap, axis=(1, 2)), axis=-1)


def sharpness_ratio(images: jax.Array, reference: jax.Array) -> jax.Array:
  """``mean laplacian_variance(images) / mean laplacian_variance(reference)``.

  1 means the images are as sharp as the reference set on average; a blurred
  copy of the reference scores below 1.
  """
  return (jnp.mean(laplacian_variance(images))
          / jnp.maximum(jnp.mean(laplacian_variance(reference)), 1e-12))
