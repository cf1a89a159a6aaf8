"""Finite-difference gradient estimators that only *evaluate* the loss.

The black-box attacker sees ``loss_fn(x) -> [B]`` values, never gradients.
Every estimator perturbs each example along ``n`` directions, queries the
loss at ``x ± σ·u`` and combines the differences:

* ``"coordinate"``: ``u = e_i`` on ``n`` coordinates per example (drawn with
  the key without replacement; all of them when ``n >= dim``), giving the
  symmetric difference ``(f(x + σe_i) − f(x − σe_i)) / 2σ`` as the estimate of
  ``∂f/∂x_i`` and zero on the other coordinates (ZOO's coordinate estimate;
  exact up to O(σ²) with all coordinates).
* ``"nes"``: antithetic Gaussian directions ``u ~ N(0, I)``,
  ``g = 1/(2σn) Σ_j (f(x + σu_j) − f(x − σu_j)) u_j`` (Ilyas et al. 2018).
* ``"spsa"``: the same with Rademacher directions ``u ∈ {−1, +1}^d``
  (Spall 1992; Uesato et al. 2018).

For NES and SPSA ``E[u uᵀ] = I``, so the estimate is unbiased for the
gradient of the Gaussian-smoothed loss (for SPSA, of the loss to O(σ²)): its
norm matches the true gradient's once ``n`` is large compared with the
dimension. All ``2n`` queries of one estimate go through ``loss_fn`` as
vectorized calls (``vmap`` over the directions: each call still sees a
``[B, ...]`` batch, so a ``loss_fn`` that closes over labels works), in
chunks of at most ``max_batch`` inputs accumulated by a ``lax.scan``, so the
``[B, n, ...]`` query tensor is never materialized. The default chunk
depends on the backend (:func:`default_max_batch`); the estimate is the same
up to float summation order whatever the chunk.
"""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from advjax import _checks
from advjax.attacks._common import check_loss_shape

METHODS = ("coordinate", "nes", "spsa")
# Inputs per vectorized loss call. On XLA's CPU backend chunks of ~1k
# MNIST-sized queries ran 1.5-1.7x faster per query than one call of 3k-8k
# (a small CNN and an MLP, 2 cores; experiments/benchmark_estimators.py);
# accelerators keep the large calls they are built for.
DEFAULT_MAX_BATCH = 8192
CPU_MAX_BATCH = 1024


def default_max_batch() -> int:
  """The ``max_batch`` used when none is given: :data:`CPU_MAX_BATCH` on the
  CPU backend, :data:`DEFAULT_MAX_BATCH` elsewhere."""
  return CPU_MAX_BATCH if jax.default_backend() == "cpu" else DEFAULT_MAX_BATCH


def _resolve_max_batch(max_batch: int | None) -> int:
  if max_batch is None:
    return default_max_batch()
  return _checks.count(max_batch, name="max_batch", minimum=1)


def _check_method(method: str) -> str:
  if method not in METHODS:
    raise ValueError(f"`method` must be one of {METHODS}; got {method!r}.")
  return method


def estimator_queries(method: str, *, n_samples: int, dim: int) -> int:
  """Loss queries per example that one call of :func:`estimate_gradient` costs.

  ``2 * n_samples`` for NES and SPSA (antithetic pairs); ``2 * min(n_samples,
  dim)`` for the coordinate method.
  """
  _check_method(method)
  n_samples = _checks.count(n_samples, name="n_samples", minimum=1)
  dim = _checks.count(dim, name="dim", minimum=1)
  if method == "coordinate":
    return 2 * min(n_samples, dim)
  return 2 * n_samples


def _chunk_sizes(n: int, batch: int, max_batch: int) -> tuple[int, int, int]:
  """``(chunk, n_full_chunks, remainder)`` directions per vectorized call."""
  chunk = max(1, min(n, max_batch // max(1, 2 * batch)))
  return chunk, n // chunk, n % chunk


def estimate_gradient(loss_fn: Callable[[jax.Array], jax.Array], x: jax.Array, *,
                      key: jax.Array, method: str = "nes", n_samples: int,
                      sigma=1e-3, max_batch: int | None = None) -> jax.Array:
  """Estimates ``∇_x loss_fn(x)_i`` per example from loss values only.

  ``loss_fn`` is never differentiated: it may be a ``jax.pure_callback`` to a
  non-JAX model or wrapped in ``stop_gradient``. Jittable (``method``,
  ``n_samples`` and ``max_batch`` are static).

  Args:
    loss_fn: ``x -> [B]`` per-example loss (only evaluated).
    x: ``[B, ...]`` floating inputs.
    key: PRNG key for the directions (the coordinates, for ``"coordinate"``).
    method: ``"coordinate"``, ``"nes"`` or ``"spsa"``.
    n_samples: directions (coordinates) per example, >= 1; each costs two
      queries (see :func:`estimator_queries`).
    sigma: finite-difference step, > 0. The queries ``x ± σu`` are not
      clipped to any box.
    max_batch: at most this many inputs per vectorized ``loss_fn`` call
      (``2 × chunk × B``); larger estimates run as a ``lax.scan`` over chunks.
      ``None``: :func:`default_max_batch` (1,024 on CPU, 8,192 elsewhere).

  Returns:
    ``g`` with ``x``'s shape and dtype.

  References:
    Chen et al., 2017 (ZOO). https://arxiv.org/abs/1708.03999
    Ilyas et al., 2018 (NES). https://arxiv.org/abs/1804.08598
    Uesato et al., 2018 (SPSA). https://arxiv.org/abs/1802.05666
  """
  method = _check_method(method)
  _checks.floating_batch(x, name="x", min_ndim=1)
  n_samples = _checks.count(n_samples, name="n_samples", minimum=1)
  max_batch = _resolve_max_batch(max_batch)
  _checks.positive(sigma, name="sigma")
  check_loss_shape(jax.eval_shape(loss_fn, x), x)
  b = x.shape[0]
  dim = math.prod(x.shape[1:])
  cdtype = _checks.compute_dtype(x.dtype)
  x_c = x.astype(cdtype)
  sig = jnp.asarray(sigma, cdtype)

  if method == "coordinate":
    n = min(n_samples, dim)
    if n == dim:
      coords = jnp.broadcast_to(jnp.arange(dim), (b, dim))
    else:  # n distinct coordinates per example
      coords = jax.lax.top_k(jax.random.uniform(key, (b, dim)), n)[1]

    def direction(j):
      return jax.nn.one_hot(coords[:, j], dim, dtype=cdtype).reshape(x.shape)
  else:
    n = n_samples

    def direction(j):
      k = jax.random.fold_in(key, j)
      if method == "nes":
        return jax.random.normal(k, x.shape, cdtype)
      return jax.random.rademacher(k, x.shape, cdtype)

  def differences(js):
    """``[c]`` direction indices -> ``[c, B, ...]`` directions, ``[c, B]`` Δf."""
    u = jax.vmap(direction)(js)
    queries = jnp.concatenate([x_c + sig * u, x_c - sig * u]).astype(x.dtype)
    values = jax.vmap(loss_fn)(queries)
    values = jax.lax.stop_gradient(values.astype(cdtype))
    c = js.shape[0]
    return u, values[:c] - values[c:]

  def accumulate(js):
    u, diff = differences(js)
    return jnp.einsum("cb,cb...->b...", diff, u)

  chunk, n_full, rest = _chunk_sizes(n, b, max_batch)
  total = jnp.zeros(x.shape, cdtype)
  if n_full == 1:
    total = accumulate(jnp.arange(chunk))
  elif n_full > 1:
    def body(acc, start):
      return acc + accumulate(start + jnp.arange(chunk)), None
    total, _ = jax.lax.scan(body, total, jnp.arange(n_full) * chunk)
  if rest:
    total = total + accumulate(n_full * chunk + jnp.arange(rest))
  scale = 1.0 if method == "coordinate" else 1.0 / n
  return (total * (scale / (2.0 * sig))).astype(x.dtype)


def make_grad_estimator(loss_fn: Callable[[jax.Array], jax.Array], *,
                        method: str = "nes", n_samples: int, sigma=1e-3,
                        max_batch: int | None = None):
  """``grad_fn(x, key) -> g`` for ``attacks.pgd(..., grad_fn=grad_fn)``.

  PGD passes a fresh key each step, so every step draws new directions.
  Arguments as in :func:`estimate_gradient`; they are checked here, once.
  """
  _check_method(method)
  _checks.count(n_samples, name="n_samples", minimum=1)
  max_batch = _resolve_max_batch(max_batch)
  _checks.positive(sigma, name="sigma")

  def grad_fn(x, key):
    return estimate_gradient(loss_fn, x, key=key, method=method,
                             n_samples=n_samples, sigma=sigma, max_batch=max_batch)

  return grad_fn
