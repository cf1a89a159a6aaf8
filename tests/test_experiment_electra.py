"""Smoke run of experiments/electra.py (tiny preset, in-process)."""
import json
import math

from experiments import electra


def test_electra_smoke(tmp_path):
  results = electra.main(["--preset", "smoke", "--workdir", str(tmp_path), "--quiet"])
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved.keys() == results.keys()
  cfg = electra.PRESETS["smoke"]
  n_points = cfg.pretrain_steps // cfg.chunk_steps + 1
  for name in ("electra", "mlm"):
    assert 0.0 <= saved[f"{name}/downstream_accuracy"] <= 1.0
    curve = [saved[f"{name}/downstream_accuracy@{i * cfg.chunk_steps}"]
             for i in range(n_points)]
    assert all(0.0 <= a <= 1.0 for a in curve)
    assert curve[-1] == saved[f"{name}/downstream_accuracy"]
    assert saved[f"{name}/gflops_per_step"] > 0
  assert 0.0 <= saved["rtd_auc"] <= 1.0
  assert 0.0 <= saved["generator_mlm_accuracy"] <= 1.0
  # An untrained generator almost never samples the original word.
  assert saved["replaced_fraction_of_masked"] > 0.5
  # A generator of a quarter of the width: the ELECTRA step costs more than
  # the MLM step, but less than two of them.
  assert 1.0 < saved["electra/flops_ratio_vs_mlm"] < 2.0
  steps_to = saved["electra/steps_to_mlm_final"]
  assert steps_to is None or (0 <= steps_to <= cfg.pretrain_steps
                              and not math.isnan(steps_to))
  assert (tmp_path / "electra_downstream.png").exists()
