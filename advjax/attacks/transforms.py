"""Random differentiable image transforms for EOT: ``transform(key, x) -> x'``.

Each factory returns a pure function of a PRNG key and an NHWC batch that
draws one transform per example and is differentiable in ``x`` (bilinear
resampling through ``jax.scipy.ndimage.map_coordinates``; the rest is
arithmetic and clipping). Compose them with :func:`compose`.
"""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
from jax.scipy import ndimage

from advjax import _checks

Transform = Callable[[jax.Array, jax.Array], jax.Array]


def identity(key: jax.Array, x: jax.Array) -> jax.Array:
  """The identity transform (EOT with it is the plain loss)."""
  del key
  return x


def _uniform(key, shape, lo, hi):
  return jax.random.uniform(key, shape, jnp.float32, lo, hi)


def affine(x: jax.Array, *, angle, scale, shift, fill: float = 0.0) -> jax.Array:
  """Rotates (counter-clockwise by ``angle`` radians, about the centre), scales
  and shifts (``[B, 2]`` pixels, rows then columns) each NHWC image, with
  bilinear resampling and ``fill`` outside. Linear, hence differentiable, in
  ``x``; ``angle`` and ``scale`` are ``[B]``."""
  _checks.floating_batch(x, name="x", min_ndim=4)
  b, h, w, _ = x.shape
  angle = jnp.broadcast_to(jnp.asarray(angle, jnp.float32), (b,))
  scale = jnp.broadcast_to(jnp.asarray(scale, jnp.float32), (b,))
  shift = jnp.broadcast_to(jnp.asarray(shift, jnp.float32), (b, 2))
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                            jnp.arange(w, dtype=jnp.float32), indexing="ij")
  cr, cc = (h - 1) / 2.0, (w - 1) / 2.0

  def one(img, th, sc, sh):
    # Inverse map: output pixel p <- R(-θ)(p - centre - shift)/scale + centre,
    # with rows pointing down (so +θ turns the picture counter-clockwise).
    dr, dc = rows - cr - sh[0], cols - cc - sh[1]
    cos, sin = jnp.cos(th), jnp.sin(th)
    src_r = (cos * dr + sin * dc) / sc + cr
    src_c = (-sin * dr + cos * dc) / sc + cc
    resample = lambda ch: ndimage.map_coordinates(
        ch, [src_r, src_c], order=1, mode="constant", cval=fill)
    return jax.vmap(resample, in_axes=-1, out_axes=-1)(img)

  return jax.vmap(one)(x.astype(jnp.float32), angle, scale, shift).astype(x.dtype)


def random_affine(*, max_degrees: float = 15.0, max_shift: float = 2.0,
                  scale=(0.9, 1.1), fill: float = 0.0) -> Transform:
  """Random rotation about the centre, isotropic scaling and translation.

  Per example: angle ``U(−max_degrees, max_degrees)``, scale ``U(*scale)``,
  shift ``U(−max_shift, max_shift)`` pixels along each axis; bilinear
  resampling, ``fill`` outside the image.
  """
  _checks.nonnegative(max_degrees, name="max_degrees")
  _checks.nonnegative(max_shift, name="max_shift")
  s_lo, s_hi = float(scale[0]), float(scale[1])
  if not 0 < s_lo <= s_hi:
    raise ValueError(f"`scale` must be (lo, hi) with 0 < lo <= hi; got {scale!r}.")
  max_rad = math.radians(max_degrees)

  def transform(key, x):
    _checks.floating_batch(x, name="x", min_ndim=4)
    b = x.shape[0]
    k1, k2, k3 = jax.random.split(key, 3)
    theta = _uniform(k1, (b,), -max_rad, max_rad)
    s = _uniform(k2, (b,), s_lo, s_hi) if s_hi > s_lo else jnp.full((b,), s_lo)
    shift = _uniform(k3, (b, 2), -max_shift, max_shift)
    return affine(x, angle=theta, scale=s, shift=shift, fill=fill)

  return transform


def random_brightness_contrast(*, brightness: float = 0.1, contrast=(0.8, 1.2),
                               bounds=(0.0, 1.0)) -> Transform:
  """``(x − mean)·c + mean + b`` per example, ``c ~ U(*contrast)``,
  ``b ~ U(−brightness, brightness)``, clipped to ``bounds``."""
  _checks.nonnegative(brightness, name="brightness")
  c_lo, c_hi = float(contrast[0]), float(contrast[1])
  if not 0 < c_lo <= c_hi:
    raise ValueError(f"`contrast` must be (lo, hi) with 0 < lo <= hi; got {contrast!r}.")
  lo, hi = _checks.bounds(bounds)

  def transform(key, x):
    _checks.floating_batch(x, name="x", min_ndim=2)
    k1, k2 = jax.random.split(key)
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    c = _uniform(k1, shape, c_lo, c_hi) if c_hi > c_lo else jnp.full(shape, c_lo)
    b = _uniform(k2, shape, -brightness, brightness)
    xf = x.astype(jnp.float32)
    mean = jnp.mean(xf, axis=tuple(range(1, x.ndim)), keepdims=True)
    return jnp.clip((xf - mean) * c + mean + b, lo, hi).astype(x.dtype)

  return transform


def gaussian_noise(*, sigma: float = 0.05, bounds=(0.0, 1.0)) -> Transform:
  """Additive ``N(0, sigma²)`` pixel noise, clipped to ``bounds``."""
  _checks.nonnegative(sigma, name="sigma")
  lo, hi = _checks.bounds(bounds)

  def transform(key, x):
    noise = sigma * jax.random.normal(key, x.shape, jnp.float32)
    return jnp.clip(x.astype(jnp.float32) + noise, lo, hi).astype(x.dtype)

  return transform


def compose(*transforms: Transform) -> Transform:
  """Applies ``transforms`` in order, each with its own key."""
  for t in transforms:
    if not callable(t):
      raise TypeError(f"every transform must be callable; got {type(t).__name__}.")

  def transform(key, x):
    for i, t in enumerate(transforms):
      x = t(jax.random.fold_in(key, i), x)
    return x

  return transform
