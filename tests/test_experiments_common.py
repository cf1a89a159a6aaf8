"""The experiment runner: presets and overrides, results, resumable checkpoints."""
import dataclasses
import json
import shutil

import jax.numpy as jnp
import numpy as np
import pytest

from experiments import common


@dataclasses.dataclass(frozen=True)
class _Config:
  steps: int = 10
  lr: float = 0.1
  name: str = "a"
  flag: bool = False
  sizes: tuple = (1, 2)


PRESETS = {"smoke": _Config(steps=1), "default": _Config()}


def test_setup_applies_preset_and_overrides(tmp_path):
  run, _ = common.setup("demo", PRESETS, [
      "--preset", "smoke", "--workdir", str(tmp_path), "--set", "lr=0.5",
      "--set", "flag=true", "--set", "sizes=3,4,5", "--quiet"])
  assert run.config == _Config(steps=1, lr=0.5, flag=True, sizes=(3, 4, 5))
  saved = json.loads((tmp_path / "config.json").read_text())
  assert saved["preset"] == "smoke" and saved["lr"] == 0.5


def test_unknown_override_is_rejected(tmp_path):
  with pytest.raises(SystemExit):
    common.setup("demo", PRESETS, ["--workdir", str(tmp_path), "--set", "nope=1"])


def test_results_are_flat_numbers(tmp_path):
  run, _ = common.setup("demo", PRESETS, ["--workdir", str(tmp_path), "--quiet"])
  run.write_results({"a": 1, "b": np.float32(0.5), "c": jnp.array(2.0)})
  assert json.loads((tmp_path / "results.json").read_text()) == {
      "a": 1, "b": 0.5, "c": 2.0}
  with pytest.raises(TypeError, match="bad"):
    run.write_results({"bad": "text"})


def test_checkpoints_resume_and_skip_a_corrupted_one(tmp_path):
  run, _ = common.setup("demo", PRESETS, ["--workdir", str(tmp_path), "--quiet"])
  template = {"w": np.zeros(3, np.float32), "step": np.array(0, np.int32)}
  ckpt = run.checkpointer("stage")
  assert ckpt.restore(template)[1] == 0  # nothing yet: the template back
  for step in (1, 2, 3):
    ckpt.save(step, {"w": np.full(3, step, np.float32), "step": np.array(step)})
  ckpt.close()

  ckpt = run.checkpointer("stage")
  state, step = ckpt.restore(template)
  assert step == 3 and np.all(state["w"] == 3)
  ckpt.close()

  # Damage the newest checkpoint: the one before is used instead.
  newest = tmp_path / "ckpt" / "stage" / "3"
  for f in newest.rglob("*"):
    if f.is_file():
      f.write_bytes(b"garbage")
  ckpt = run.checkpointer("stage")
  state, step = ckpt.restore(template)
  assert step == 2 and np.all(state["w"] == 2)
  ckpt.close()
  shutil.rmtree(tmp_path / "ckpt")


def test_fresh_flag_discards_checkpoints(tmp_path):
  args = ["--workdir", str(tmp_path), "--quiet"]
  run, _ = common.setup("demo", PRESETS, args)
  ckpt = run.checkpointer("s")
  ckpt.save(1, {"w": np.ones(2, np.float32)})
  ckpt.close()
  run, _ = common.setup("demo", PRESETS, args + ["--fresh"])
  assert run.checkpointer("s").latest_step() is None
