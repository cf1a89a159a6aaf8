"""Data-parallel sharding: a 1-D ``data`` mesh over all devices.

Library steps are sharding-agnostic; callers place the batch with
:func:`shard_batch` and the state with :func:`replicate`, and ``jit`` does the
rest (gradients are all-reduced by XLA, no ``pmean`` in the steps).
"""
from __future__ import annotations

import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P


def data_mesh(devices=None) -> jax.sharding.Mesh:
  """A mesh with one ``data`` axis over ``devices`` (default: all)."""
  devices = jax.devices() if devices is None else list(devices)
  # Auto axes: XLA propagates shardings through the step, so library code
  # needs no sharding annotations (recent JAX defaults to Explicit axes).
  return jax.make_mesh((len(devices),), ("data",), devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,))


def shard_batch(batch, mesh: jax.sharding.Mesh):
  """Places each array of ``batch`` split along axis 0 over ``data``.

  Raises:
    ValueError: if a leading dimension is not divisible by the mesh size.
  """
  n = mesh.shape["data"]

  def put(x):
    if x.ndim == 0 or x.shape[0] % n:
      raise ValueError(
          f"batch arrays must have a leading dimension divisible by the "
          f"{n} devices of the mesh; got shape {x.shape}.")
    return jax.device_put(x, NamedSharding(mesh, P("data")))

  return jax.tree.map(put, batch)


def replicate(tree, mesh: jax.sharding.Mesh):
  """Places every array of ``tree`` fully replicated on the mesh."""
  return jax.device_put(tree, NamedSharding(mesh, P()))
