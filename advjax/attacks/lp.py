"""Geometry of Lp balls, per example: norms, steepest-ascent directions,
projections and uniform sampling.

All functions treat axis 0 as the batch and the remaining axes as one vector
per example. Arithmetic runs in float32 (or wider) and results are cast back
to the input dtype.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from advjax import _checks
from advjax.attacks._common import per_example as _per_example

_TINY = 1e-12  # clamps norms so a zero gradient gives a zero step, not NaN


def _f32(x):
  return x.astype(_checks.compute_dtype(x.dtype))


def _flat(x):
  return _f32(x).reshape(x.shape[0], -1)


def lp_norm(x: jax.Array, norm) -> jax.Array:
  """``[B]`` Lp norms of each example (axes 1.. flattened), in float32."""
  p = _checks.norm(norm)
  flat = _flat(x)
  if p == math.inf:
    return jnp.max(jnp.abs(flat), axis=1)
  if p == 2:
    sq = jnp.sum(flat * flat, axis=1)
    # sqrt'(0) is infinite: route zero vectors through a dummy branch so the
    # gradient of a zero vector's norm is 0, not NaN.
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)
  return jnp.sum(jnp.abs(flat), axis=1)


def steepest_ascent(g: jax.Array, norm, *, l1_top_k: int = 1) -> jax.Array:
  """The unit-norm direction ``d`` maximising ``<g, d>``, per example.

  L∞: ``sign(g)``; L2: ``g / ||g||_2``; L1: mass split equally over the
  ``l1_top_k`` largest-magnitude coordinates with their signs (``l1_top_k=1``
  is the exact maximiser; larger values give the sparse steps of SLIDE,
  Tramèr & Boneh 2019, https://arxiv.org/abs/1904.13000). A zero gradient
  gives a zero direction.
  """
  p = _checks.norm(norm)
  gf = _f32(g)
  if p == math.inf:
    d = jnp.sign(gf)
  elif p == 2:
    d = gf / _per_example(jnp.maximum(lp_norm(gf, 2), _TINY), gf)
  else:
    flat = gf.reshape(g.shape[0], -1)
    k = max(1, min(int(l1_top_k), flat.shape[1]))
    kth = jax.lax.top_k(jnp.abs(flat), k)[0][:, -1:]
    # Ties at the k-th magnitude can select more than k coordinates; dividing
    # by the selected count keeps ||d||_1 = 1 exactly.
    mask = (jnp.abs(flat) >= kth) & (flat != 0)
    n_sel = jnp.maximum(jnp.sum(mask, axis=1, keepdims=True), 1).astype(flat.dtype)
    d = (jnp.where(mask, jnp.sign(flat), 0.0) / n_sel).reshape(g.shape)
  return d.astype(g.dtype)


def _project_l1(flat, eps):
  """Euclidean projection of each row onto the L1 ball (Duchi et al. 2008)."""
  abs_v = jnp.abs(flat)
  inside = jnp.sum(abs_v, axis=1) <= eps
  mu = -jnp.sort(-abs_v, axis=1)  # descending
  cssv = jnp.cumsum(mu, axis=1) - eps[:, None]
  ind = jnp.arange(1, flat.shape[1] + 1, dtype=flat.dtype)
  cond = mu - cssv / ind > 0
  rho = jnp.sum(cond, axis=1).astype(flat.dtype)  # active coordinates, >= 1
  theta = jnp.take_along_axis(
      cssv, (rho - 1).astype(jnp.int32)[:, None], axis=1) / rho[:, None]
  proj = jnp.sign(flat) * jnp.maximum(abs_v - jnp.maximum(theta, 0.0), 0.0)
  return jnp.where(inside[:, None], flat, proj)


def project(delta: jax.Array, norm, eps) -> jax.Array:
  """Euclidean projection of each example of ``delta`` onto ``{||d||_p <= eps}``.

  Args:
    delta: ``[B, ...]`` perturbations.
    norm: ``jnp.inf``, ``2`` or ``1``.
    eps: radius, a scalar or a ``[B]`` array.

  Returns:
    The projection, with ``delta``'s shape and dtype. L1 uses the exact
    sort-based algorithm of Duchi et al. 2008
    (https://doi.org/10.1145/1390156.1390191).
  """
  p = _checks.norm(norm)
  _checks.nonnegative(eps, name="eps")
  df = _f32(delta)
  eps_b = jnp.broadcast_to(jnp.asarray(eps, df.dtype), (delta.shape[0],))
  if p == math.inf:
    out = jnp.clip(df, -_per_example(eps_b, df), _per_example(eps_b, df))
  elif p == 2:
    n = lp_norm(df, 2)
    scale = jnp.minimum(1.0, eps_b / jnp.maximum(n, _TINY))
    out = df * _per_example(scale, df)
  else:
    out = _project_l1(df.reshape(delta.shape[0], -1), eps_b).reshape(delta.shape)
  return out.astype(delta.dtype)


def sample_ball(key: jax.Array, shape, norm, eps, *, dtype=jnp.float32) -> jax.Array:
  """Samples ``shape[0]`` points uniformly from the Lp ball of radius ``eps``.

  L∞: independent uniforms. L2: a Gaussian direction scaled by
  ``eps * u^(1/d)`` (uniform *volume*, not uniform radius). L1: uniform on the
  simplex via normalised exponentials (a Dirichlet(1, ..., 1) with one slack
  coordinate) with random signs.

  Args:
    key: a PRNG key.
    shape: output shape, batch first.
    norm: ``jnp.inf``, ``2`` or ``1``.
    eps: radius, a scalar or a ``[B]`` array.
    dtype: output dtype.
  """
  p = _checks.norm(norm)
  _checks.nonnegative(eps, name="eps")
  shape = tuple(shape)
  b, d = shape[0], math.prod(shape[1:])
  eps_b = jnp.broadcast_to(jnp.asarray(eps, jnp.float32), (b,))[:, None]
  k1, k2, k3 = jax.random.split(key, 3)
  if p == math.inf:
    flat = jax.random.uniform(k1, (b, d), jnp.float32, -1.0, 1.0) * eps_b
  elif p == 2:
    direction = jax.random.normal(k1, (b, d), jnp.float32)
    direction /= jnp.maximum(jnp.linalg.norm(direction, axis=1, keepdims=True), _TINY)
    radius = jax.random.uniform(k2, (b, 1), jnp.float32) ** (1.0 / d)
    flat = direction * radius * eps_b
  else:
    e = jax.random.exponential(k1, (b, d + 1), jnp.float32)
    simplex = e[:, :d] / jnp.sum(e, axis=1, keepdims=True)
    signs = jax.random.rademacher(k3, (b, d), jnp.float32)
    flat = simplex * signs * eps_b
  return flat.reshape(shape).astype(dtype)
