"""One process of the two-process CPU test in test_multihost.py (not a test).

    python tests/multihost_worker.py PROCESS_ID PORT OUT.npz

Joins a 2-process JAX cluster on localhost (gloo CPU collectives, 4 CPU
devices per process), loads only its half of a global batch, runs one
PGD-AT step on the 8-device ``data`` mesh and saves the new parameters.
"""
import sys

import jax


def reference_setup():
  """``(step, state, global_batch)``, shared with the single-process reference."""
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import optax  # pylint: disable=import-outside-toplevel
  from advjax import data, models, train  # pylint: disable=import-outside-toplevel
  module = models.MLP(features=(16,))
  tx = optax.sgd(0.1)
  params = module.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]
  step = jax.jit(train.make_pgd_at_step(train.linen_apply(module), tx, eps=0.1, n_steps=2))
  tr, _ = data.digits()
  batch = {"image": tr.image[:16], "label": tr.label[:16]}
  return step, train.TrainState.create(params, tx), batch


def main(process_id: int, port: int, out: str):
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.config.update("jax_num_cpu_devices", 4)
  jax.distributed.initialize(coordinator_address=f"localhost:{port}",
                             num_processes=2, process_id=process_id)
  import numpy as np  # pylint: disable=import-outside-toplevel
  from advjax import train  # pylint: disable=import-outside-toplevel
  assert jax.process_count() == 2 and jax.device_count() == 8, jax.devices()
  step, state, batch = reference_setup()
  mesh = train.data_mesh()
  rows = train.process_batch_slice(16)
  local = jax.tree.map(lambda x: x[rows], batch)          # this host's 8 rows only
  global_batch = train.shard_local_batch(local, mesh)
  assert global_batch["image"].shape == (16, 8, 8, 1)
  state, metrics = step(train.replicate(state, mesh), global_batch, jax.random.key(7))
  # Replicated outputs: every process holds a full copy on its devices.
  leaves = [np.asarray(x.addressable_shards[0].data)
            for x in jax.tree.leaves((state.params, metrics))]
  np.savez(out, *leaves, rows=np.array([rows.start, rows.stop]))
  jax.distributed.shutdown()


if __name__ == "__main__":
  main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
