"""Data-parallel throughput scaling of a train step — ``python -m experiments.bench_scaling``.

One PGD-AT step (``train.make_pgd_at_step``, PGD-``pgd_steps`` L∞ ε = 0.3,
Adam) on ``SmallCNN``, timed on a ``data`` mesh over the first 1, 2, 4, 8, …
devices of ``jax.devices()``. Weak scaling: ``batch_per_device`` images per
device, so the global batch grows with the mesh; the step is compiled (and
run once) before timing. Writes ``results.json`` with ``images_per_s/<n>`` and
``efficiency/<n>`` (throughput ÷ (n × one-device throughput)).

``--cpu_devices N`` splits the host CPU into N XLA devices (fake devices
that share the same cores: use it to exercise the code path, not to measure
a speed-up). On a GPU host the devices are the GPUs, on a TPU VM the cores.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from experiments import common


@dataclasses.dataclass(frozen=True)
class Config:
  batch_per_device: int = 64
  pgd_steps: int = 7
  widths: tuple = (16, 32)
  hidden: int = 100
  repeats: int = 10           # timed steps per mesh size
  max_devices: int = 0        # 0: all
  seed: int = 0


PRESETS = {
    "smoke": Config(batch_per_device=8, pgd_steps=1, widths=(4, 8), hidden=16, repeats=2,
                    max_devices=2),
    "default": Config(),
    "full": Config(batch_per_device=256, repeats=50),
}


def _flags(parser):
  parser.add_argument("--cpu_devices", type=int, default=0,
                      help="split the CPU into this many XLA devices (0: leave as is)")


def mesh_sizes(n_devices: int) -> list[int]:
  """1, 2, 4, … up to ``n_devices``, and ``n_devices`` itself."""
  sizes, n = [], 1
  while n < n_devices:
    sizes.append(n)
    n *= 2
  return sizes + [n_devices]


def measure(cfg: Config, n: int) -> float:
  """Images per second of the PGD-AT step on a mesh of the first ``n`` devices."""
  import jax  # pylint: disable=import-outside-toplevel
  import optax  # pylint: disable=import-outside-toplevel
  from advjax import data, models, train  # pylint: disable=import-outside-toplevel
  split, _ = data.mnist_subset()
  mesh = train.data_mesh(jax.devices()[:n])
  batch_size = cfg.batch_per_device * n
  reps = np.resize(np.arange(len(split.label)), batch_size)
  batch = train.shard_batch({"image": split.image[reps], "label": split.label[reps]}, mesh)
  module = models.SmallCNN(widths=cfg.widths, hidden=cfg.hidden)
  tx = optax.adam(1e-3)
  params, model_state = train.split_variables(
      module.init(jax.random.key(cfg.seed), split.image[:1]))
  state = train.replicate(train.TrainState.create(params, tx, model_state), mesh)
  step = jax.jit(train.make_pgd_at_step(train.linen_apply(module), tx, eps=0.3,
                                        n_steps=cfg.pgd_steps))
  state, m = step(state, batch, jax.random.key(0))          # compile + warm-up
  jax.block_until_ready(m)
  start = time.perf_counter()
  for i in range(cfg.repeats):
    state, m = step(state, batch, jax.random.key(i + 1))
  jax.block_until_ready((state, m))
  return cfg.repeats * batch_size / (time.perf_counter() - start)


def main(argv=None):
  run, args = common.setup("bench_scaling", PRESETS, argv, extra_flags=_flags)
  import jax  # pylint: disable=import-outside-toplevel
  if args.cpu_devices:
    jax.config.update("jax_num_cpu_devices", args.cpu_devices)
  cfg = run.config
  n_all = jax.device_count() if not cfg.max_devices else min(cfg.max_devices, jax.device_count())
  device = jax.devices()[0]
  run.log(f"backend {jax.default_backend()}, {jax.device_count()} devices "
          f"({device.device_kind}); batch {cfg.batch_per_device} per device")
  results, rows = {"device_count": jax.device_count()}, []
  for n in mesh_sizes(n_all):
    ips = measure(cfg, n)
    results[f"images_per_s/{n}"] = ips
    results[f"efficiency/{n}"] = ips / (n * results["images_per_s/1"])
    rows.append({"devices": n, "global batch": cfg.batch_per_device * n,
                 "images/s": round(ips, 1), "efficiency": results[f"efficiency/{n}"]})
    run.log(f"{n} devices: {ips:.1f} images/s")
  run.log(common.format_table(rows, ["devices", "global batch", "images/s", "efficiency"]))
  run.write_results(results)
  return results


if __name__ == "__main__":
  main()
