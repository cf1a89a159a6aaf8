"""NaN-check mode: per-leaf finiteness flags from a step, checked on the host.

``with_finite_check(step)`` makes a step also report, in its metrics under
``"finite"``, one boolean per floating leaf of the new state and of the
metrics (``metrics/loss``, ``params/Dense_0/kernel``, ...). The flags are
computed inside the compiled step; :func:`check_finite` pulls them to the
host after the call and raises ``FloatingPointError`` naming the step and
the offending quantities. The wrapped step returns the same state and
metrics as the original, so switching the mode on never changes results.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

FINITE_KEY = "finite"


def _key_name(k) -> str:
  for attr in ("name", "key", "idx"):
    if hasattr(k, attr):
      return str(getattr(k, attr))
  return str(k)


def _path(prefix: str, path) -> str:
  return "/".join([prefix] * bool(prefix) + [_key_name(k) for k in path])


def finite_flags(tree: Any, *, prefix: str = "") -> dict[str, jax.Array]:
  """``{path: all(isfinite(leaf))}`` for every floating leaf of ``tree``.

  Args:
    tree: any pytree (a train state, metrics, gradients).
    prefix: prepended to every path (``"metrics"`` gives ``metrics/loss``).

  Returns:
    A flat dict of scalar booleans, keyed ``prefix/key/subkey``.
  """
  flags = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.inexact):
      flags[_path(prefix, path)] = jnp.all(jnp.isfinite(leaf))
  return flags


def with_finite_check(step: Callable) -> Callable:
  """Wraps ``step(state, batch, key) -> (state, metrics)`` for NaN-check mode.

  The wrapped step returns the same state and metrics, plus
  ``metrics["finite"] = {path: bool}`` for the metrics (``metrics/...``) and
  the new state (``params/...``, ``opt_state/...``). Feed its metrics to
  :func:`check_finite` after each call (or after a ``lax.scan`` of calls,
  which stacks the flags along axis 0).
  """

  def checked(state, batch, key):
    new_state, metrics = step(state, batch, key)
    flags = finite_flags(metrics, prefix="metrics")
    flags.update(finite_flags(new_state))
    return new_state, {**metrics, FINITE_KEY: flags}

  return checked


def check_finite(metrics: dict, *, step: int) -> dict:
  """Raises ``FloatingPointError`` if any flag of ``metrics["finite"]`` is off.

  Args:
    metrics: the metrics of a step wrapped by :func:`with_finite_check`
      (metrics without flags are returned unchanged).
    step: the number of the (first) step these metrics come from. Flags
      stacked along axis 0 (a scan of ``n`` steps) report ``step + i`` for
      the first failing call ``i``.

  Returns:
    ``metrics`` without the ``"finite"`` entry.
  """
  if FINITE_KEY not in metrics:
    return metrics
  metrics = dict(metrics)
  flags = jax.device_get(metrics.pop(FINITE_KEY))
  ok = {k: np.asarray(v) for k, v in flags.items()}
  if all(bool(np.all(v == 1)) for v in ok.values()):
    return metrics
  first = step
  stacked = [v for v in ok.values() if v.ndim >= 1]
  if stacked:
    per_call = np.all(np.stack([v.reshape(v.shape[0], -1).all(1) for v in stacked]),
                      axis=0)
    bad_calls = np.flatnonzero(~per_call)
    if bad_calls.size:
      first = step + int(bad_calls[0])
  first_i = first - step

  def bad_at(v):
    if v.ndim >= 1:
      return not bool(np.all(v[first_i] == 1))
    return not bool(np.all(v == 1))

  names = [k for k, v in ok.items() if bad_at(v)]
  shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
  raise FloatingPointError(
      f"non-finite value (NaN or inf) at step {first}: {names[0]} "
      f"(all non-finite quantities: {shown}).")
