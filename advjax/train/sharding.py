"""Data-parallel sharding: a 1-D ``data`` mesh over all devices.

Library steps are sharding-agnostic; callers place the batch with
:func:`shard_batch` and the state with :func:`replicate`, and ``jit`` does the
rest (gradients are all-reduced by XLA, no ``pmean`` in the steps). On many
hosts (after ``jax.distributed.initialize()``) each process loads its
:func:`process_batch_slice` and assembles the global batch with
:func:`shard_local_batch`.
"""
from __future__ import annotations

import jax
import numpy as np
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


def process_batch_slice(global_batch_size: int) -> slice:
  """The rows of a global batch that this process loads.

  With ``jax.process_count()`` hosts (one after ``jax.distributed.initialize()``)
  process ``i`` feeds rows ``[i·b, (i + 1)·b)``, ``b = global_batch_size /
  process_count`` — the order of a :func:`data_mesh` over ``jax.devices()``,
  whose devices are grouped by process.

  Raises:
    ValueError: if ``global_batch_size`` is not divisible by the process count.
  """
  n = jax.process_count()
  if global_batch_size <= 0 or global_batch_size % n:
    raise ValueError(f"`global_batch_size` must be a positive multiple of the "
                     f"{n} processes; got {global_batch_size}.")
  b = global_batch_size // n
  return slice(jax.process_index() * b, (jax.process_index() + 1) * b)


def shard_local_batch(local_batch, mesh: jax.sharding.Mesh):
  """Assembles a global batch sharded over ``data`` from per-host slices.

  Multi-host data parallelism: each process passes only the rows it loaded
  (e.g. ``batch[process_batch_slice(B)]``) and gets global ``jax.Array`` s of
  leading size ``B`` (``jax.make_array_from_process_local_data``). On a single
  process it equals :func:`shard_batch`.

  Raises:
    ValueError: if a local leading dimension is not divisible by this
      process's devices in the mesh.
  """
  sharding = NamedSharding(mesh, P("data"))
  n_local = sum(d.process_index == jax.process_index() for d in mesh.devices.flat)

  def put(x):
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[0] % n_local:
      raise ValueError(
          f"local batch arrays must have a leading dimension divisible by the "
          f"{n_local} local devices of the mesh; got shape {x.shape}.")
    return jax.make_array_from_process_local_data(sharding, x)

  return jax.tree.map(put, local_batch)
