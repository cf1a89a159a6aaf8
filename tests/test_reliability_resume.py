"""Reliability: a training run SIGKILLed at random moments resumes and ends
bit-for-bit where an uninterrupted run ends; a two-process rerun of the same
seed is identical; a corrupted or half-written checkpoint falls back to the
previous one."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from experiments import common

ROOT = pathlib.Path(__file__).resolve().parents[1]
# dann_moons, two stages of 8 checkpointed chunks each (~15 s on one core).
ARGS = ["--preset", "smoke", "--quiet", "--set", "steps=400", "--set", "chunk=50",
        "--set", "seeds=2", "--set", "n_test=50"]
STAGES = ("source_only", "dann")


def _command(workdir):
  return [sys.executable, "-m", "experiments.dann_moons", "--workdir", str(workdir),
          *ARGS]


def _env():
  env = dict(os.environ, JAX_PLATFORMS="cpu", TQDM_DISABLE="1")
  env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
  env.pop("PYTEST_XDIST_WORKER", None)
  return env


def _final_arrays(workdir):
  out = {}
  for stage in STAGES:
    path = workdir / "ckpt" / stage / "400" / "default"
    tree = ocp.StandardCheckpointer().restore(path)
    for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
      out[f"{stage}{jax.tree_util.keystr(p)}"] = np.asarray(leaf)
  return out


def test_sigkill_resume_equals_uninterrupted_and_rerun_is_identical(tmp_path):
  clean = tmp_path / "clean"
  start = time.perf_counter()
  subprocess.run(_command(clean), cwd=ROOT, env=_env(), check=True, timeout=300)
  duration = time.perf_counter() - start

  killed = tmp_path / "killed"
  rng = np.random.default_rng(11)
  kills, runs = 0, 0
  for fraction in rng.uniform(0.35, 0.85, size=2):  # seeded kill times
    proc = subprocess.Popen(_command(killed), cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs += 1
    try:
      proc.wait(timeout=fraction * duration)
    except subprocess.TimeoutExpired:
      proc.send_signal(signal.SIGKILL)
      proc.wait()
      kills += 1
  while not (killed / "results.json").exists() and runs < 6:  # resume to the end
    subprocess.run(_command(killed), cwd=ROOT, env=_env(), check=True, timeout=300)
    runs += 1
  assert kills >= 1 and (killed / "results.json").exists()

  a, b = _final_arrays(clean), _final_arrays(killed)
  assert sorted(a) == sorted(b) and len(a) > 10
  for name in a:  # bit-for-bit
    assert a[name].dtype == b[name].dtype and a[name].tobytes() == b[name].tobytes(), name
  # The resumed run and the uninterrupted one report identical numbers:
  # same seed, two separate process chains.
  ra = json.loads((clean / "results.json").read_text())
  rb = json.loads((killed / "results.json").read_text())
  assert ra == rb and ra["seeds"] == 2


def _tree(v):
  return {"w": jnp.full((3, 4), float(v)), "b": jnp.arange(4.0) + v,
          "step": jnp.int32(v)}


def _saved(path, steps=(1, 2, 3)):
  ckpt = common.Checkpointer(path)
  for s in steps:
    ckpt.save(s, _tree(s))
  ckpt.close()


def _data_files(step_dir):
  return [f for f in step_dir.rglob("*") if f.is_file() and f.stat().st_size > 0
          and "_METADATA" not in f.name and "manifest" not in f.name]


def test_corrupted_latest_checkpoint_falls_back(tmp_path, capsys):
  for how in ("truncate", "garble", "delete"):
    path = tmp_path / how
    _saved(path)
    latest = path / "3"
    files = sorted(latest.rglob("*"), key=lambda f: -f.stat().st_size if f.is_file() else 0)
    target = [f for f in files if f.is_file()][0]  # the biggest file: array data
    if how == "truncate":
      target.write_bytes(target.read_bytes()[: target.stat().st_size // 3])
    elif how == "garble":
      data = bytearray(target.read_bytes())
      data[: min(len(data), 64)] = b"\xff" * min(len(data), 64)
      target.write_bytes(bytes(data))
    else:
      for f in latest.rglob("*"):
        if f.is_file() and f.name != "_CHECKPOINT_METADATA":
          f.unlink()
    state, step = common.Checkpointer(path).restore(_tree(0))
    assert step in (2, 3), how
    if step == 3:  # orbax read a file we did not break: the values must be right
      assert int(state["step"]) == 3
    else:
      assert int(state["step"]) == 2 and float(state["w"][0, 0]) == 2.0, how
  # At least the truncation and the deletion are caught (and reported).
  assert "unreadable" in capsys.readouterr().err


def test_partial_checkpoint_dir_is_ignored(tmp_path):
  """A kill during a save leaves orbax's temporary directory: not a step."""
  path = tmp_path / "partial"
  _saved(path, steps=(1, 2))
  tmp = path / "3.orbax-checkpoint-tmp-1234567"
  tmp.mkdir()
  (tmp / "default").mkdir()
  (tmp / "default" / "garbage").write_bytes(b"\x00" * 10)
  ckpt = common.Checkpointer(path)
  assert ckpt.latest_step() == 2
  state, step = ckpt.restore(_tree(0))
  assert step == 2 and int(state["step"]) == 2
  ckpt.save(3, _tree(3))  # the run continues and saves over the leftover
  ckpt.close()
  state, step = common.Checkpointer(path).restore(_tree(0))
  assert step == 3 and float(state["b"][1]) == 4.0
  # max_to_keep=3: the oldest is gone.
  ckpt = common.Checkpointer(path)
  for s in (4, 5):
    ckpt.save(s, _tree(s))
  ckpt.close()
  assert sorted(int(p.name) for p in path.iterdir() if p.name.isdigit()) == [3, 4, 5]
