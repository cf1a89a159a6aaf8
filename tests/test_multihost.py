"""Multi-host data parallelism on one machine: two CPU processes joined by
``jax.distributed.initialize`` (gloo collectives), each feeding its half of a
batch, reach the parameters of the single-process 8-device step."""
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from advjax import train
import multihost_worker

WORKER = os.path.join(os.path.dirname(__file__), "multihost_worker.py")


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_equal_one_process(tmp_path):
  port = _free_port()
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_cpu_multi_thread_eigen=false",
             PYTHONPATH=os.pathsep.join([os.getcwd()] + sys.path))
  procs = [subprocess.Popen([sys.executable, WORKER, str(i), str(port),
                             str(tmp_path / f"p{i}.npz")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for i in range(2)]
  try:
    logs = [p.communicate(timeout=240)[0] for p in procs]
  finally:
    for p in procs:
      p.kill()
  for p, log in zip(procs, logs):
    assert p.returncode == 0, log[-3000:]
  step, state, batch = multihost_worker.reference_setup()
  mesh = train.data_mesh()
  ref_state, ref_metrics = step(train.replicate(state, mesh), train.shard_batch(batch, mesh),
                                jax.random.key(7))
  ref = [np.asarray(x) for x in jax.tree.leaves((ref_state.params, ref_metrics))]
  for i in range(2):
    got = np.load(tmp_path / f"p{i}.npz")
    np.testing.assert_array_equal(got["rows"], [8 * i, 8 * i + 8])
    assert len(got.files) == len(ref) + 1
    for k, want in enumerate(ref):
      np.testing.assert_allclose(got[f"arr_{k}"], want, rtol=1e-4, atol=1e-6)


def test_local_batch_helpers_on_one_process():
  mesh = train.data_mesh()
  assert train.process_batch_slice(16) == slice(0, 16)
  x = np.arange(32, dtype=np.float32).reshape(16, 2)
  a, b = train.shard_local_batch(x, mesh), train.shard_batch(x, mesh)
  assert a.sharding.is_equivalent_to(b.sharding, 2)
  np.testing.assert_array_equal(np.asarray(a), x)
  with pytest.raises(ValueError, match="divisible"):
    train.shard_local_batch(np.zeros((12, 2)), mesh)
  with pytest.raises(ValueError, match="global_batch_size"):
    train.process_batch_slice(0)


def test_experiments_distributed_flag_calls_initialize(tmp_path, monkeypatch):
  import dataclasses  # pylint: disable=import-outside-toplevel
  from experiments import common  # pylint: disable=import-outside-toplevel

  @dataclasses.dataclass(frozen=True)
  class Config:
    steps: int = 1

  calls = []
  monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
  presets = {"default": Config()}
  common.setup("x", presets, ["--workdir", str(tmp_path)])
  assert calls == []
  common.setup("x", presets, ["--workdir", str(tmp_path), "--distributed"])
  common.setup("x", presets, ["--workdir", str(tmp_path), "--distributed",
                              "--coordinator_address", "10.0.0.1:1234",
                              "--num_processes", "2", "--process_id", "1"])
  assert calls == [{}, {"coordinator_address": "10.0.0.1:1234", "num_processes": 2,
                        "process_id": 1}]
  with pytest.raises(ValueError, match="--distributed"):
    common.setup("x", presets, ["--workdir", str(tmp_path), "--num_processes", "2"])


def test_bench_scaling_smoke(tmp_path):
  from experiments import bench_scaling  # pylint: disable=import-outside-toplevel
  assert bench_scaling.mesh_sizes(8) == [1, 2, 4, 8]
  assert bench_scaling.mesh_sizes(6) == [1, 2, 4, 6]
  results = bench_scaling.main(["--preset", "smoke", "--workdir", str(tmp_path), "--quiet"])
  assert results["device_count"] == 8
  assert set(results) == {"device_count", "images_per_s/1", "images_per_s/2",
                          "efficiency/1", "efficiency/2"}
  assert results["images_per_s/1"] > 0 and results["efficiency/1"] == pytest.approx(1.0)
  assert (tmp_path / "results.json").exists()
