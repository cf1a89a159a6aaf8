"""Argument checks shared by the public functions.

Every check runs at trace time on Python values (or on concrete arrays) and
raises a ``ValueError``/``TypeError`` that names the argument and the range it
accepts. Traced values cannot be inspected and are let through.
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_NORM_ALIASES = {
    "inf": math.inf, "linf": math.inf, "l_inf": math.inf,
    "2": 2, "l2": 2,
    "1": 1, "l1": 1,
}


def _concrete(value: Any):
  """Returns ``value`` as a NumPy array, or None when it is traced."""
  if isinstance(value, jax.core.Tracer):
    return None
  try:
    return np.asarray(value)
  except Exception:  # pylint: disable=broad-except
    return None


def compute_dtype(dtype) -> jnp.dtype:
  """The dtype to compute in: float32, or float64 for float64 inputs."""
  dtype = jnp.dtype(dtype)
  if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits > 32:
    return dtype
  return jnp.dtype(jnp.float32)


def norm(value: Any, *, name: str = "norm") -> float | int:
  """Canonical norm: ``math.inf``, ``2`` or ``1``."""
  if isinstance(value, str):
    key = value.strip().lower()
    if key in _NORM_ALIASES:
      return _NORM_ALIASES[key]
  elif isinstance(value, (int, float, np.integer, np.floating)):
    if value in (math.inf, 2, 1):
      return math.inf if value == math.inf else int(value)
  raise ValueError(
      f"`{name}` must be one of jnp.inf, 2 or 1 (or 'linf', 'l2', 'l1'); "
      f"got {value!r}.")


def nonnegative(value: Any, *, name: str) -> None:
  """Checks a finite, non-negative scalar (skipped for traced values)."""
  arr = _concrete(value)
  if arr is None:
    return
  if arr.dtype.kind not in "biuf":
    raise TypeError(f"`{name}` must be a real number; got {value!r}.")
  if not np.all(np.isfinite(arr)) or np.any(arr < 0):
    raise ValueError(f"`{name}` must be finite and >= 0; got {value!r}.")


def positive(value: Any, *, name: str) -> None:
  """Checks a finite, strictly positive scalar (skipped for traced values)."""
  nonnegative(value, name=name)
  arr = _concrete(value)
  if arr is not None and np.any(arr <= 0):
    raise ValueError(f"`{name}` must be > 0; got {value!r}.")


def count(value: Any, *, name: str, minimum: int = 0) -> int:
  """Checks a static Python integer >= ``minimum``."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError(
        f"`{name}` must be a Python int (a static count); got {value!r}.")
  if value < minimum:
    raise ValueError(f"`{name}` must be >= {minimum}; got {value}.")
  return int(value)


def bounds(value: Any, *, name: str = "bounds") -> tuple[float, float]:
  """Checks a ``(lo, hi)`` pair of finite numbers with ``lo < hi``."""
  if isinstance(value, (str, bytes)):
    raise ValueError(f"`{name}` must be a pair (lo, hi) of numbers; got {value!r}.")
  try:
    lo, hi = value
    lo, hi = float(lo), float(hi)
  except (TypeError, ValueError):
    raise ValueError(
        f"`{name}` must be a pair (lo, hi) of numbers; got {value!r}.") from None
  if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
    raise ValueError(
        f"`{name}` must satisfy lo < hi with finite values; got {value!r}.")
  return lo, hi


def floating_batch(x: Any, *, name: str = "x", min_ndim: int = 1) -> None:
  """Checks a floating array with a leading batch axis."""
  if not hasattr(x, "dtype") or not hasattr(x, "shape"):
    raise TypeError(f"`{name}` must be an array; got {type(x).__name__}.")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(
        f"`{name}` must have a floating dtype; got {x.dtype}. "
        "Convert images with x.astype(jnp.float32) / 255.")
  if x.ndim < min_ndim:
    raise ValueError(
        f"`{name}` must have at least {min_ndim} axes (batch first); "
        f"got shape {x.shape}.")


def nonempty_batch(x: Any, *, name: str = "x") -> None:
  """Checks a leading batch axis of size >= 1 (an empty batch has nothing to
  attack and would otherwise fail deep inside a reduction)."""
  if x.ndim < 1 or x.shape[0] == 0:
    raise ValueError(f"`{name}` must hold at least one example; got shape {x.shape}.")


def within_bounds(x: Any, lo: float, hi: float, *, name: str = "x") -> None:
  """Checks that a concrete ``x`` lies inside ``[lo, hi]``."""
  arr = _concrete(x)
  if arr is None or arr.size == 0:
    return
  if np.any(arr < lo) or np.any(arr > hi):
    raise ValueError(
        f"`{name}` must lie inside bounds [{lo}, {hi}]; its values span "
        f"[{arr.min()}, {arr.max()}].")


def labels(y: Any, num_classes: int, *, name: str = "labels",
           batch: int | None = None) -> None:
  """Checks integer labels in ``[0, num_classes)`` (values only if concrete)."""
  if not hasattr(y, "dtype") or not jnp.issubdtype(y.dtype, jnp.integer):
    raise TypeError(f"`{name}` must be an integer array; got "
                    f"{getattr(y, 'dtype', type(y).__name__)}.")
  if batch is not None and (y.ndim != 1 or y.shape[0] != batch):
    raise ValueError(
        f"`{name}` must have shape ({batch},); got {tuple(y.shape)}.")
  arr = _concrete(y)
  if arr is not None and arr.size and (arr.min() < 0 or arr.max() >= num_classes):
    raise ValueError(
        f"`{name}` must lie in [0, {num_classes}); got values in "
        f"[{arr.min()}, {arr.max()}].")
