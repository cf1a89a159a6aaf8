"""Smoke runs of the two DANN experiments (in-process, tiny presets)."""
import json

from experiments import dann_digits
from experiments import dann_moons


def test_dann_moons_smoke(tmp_path):
  dann_moons.main(["--preset", "smoke", "--workdir", str(tmp_path), "--quiet"])
  results = json.loads((tmp_path / "results.json").read_text())
  for stage in ("source_only", "dann"):
    assert 0.5 <= results[f"target_accuracy_{stage}"] <= 1.0
    assert results[f"source_accuracy_{stage}"] > 0.8  # 200 steps fit the source
  assert results["seeds"] == 8
  for name in ("moons_boundaries.png", "accuracy_per_seed.png"):
    assert (tmp_path / name).stat().st_size > 0
  assert (tmp_path / "ckpt" / "dann").is_dir()
  # A second run resumes from the final checkpoints and reproduces the numbers.
  again = dann_moons.main(["--preset", "smoke", "--workdir", str(tmp_path), "--quiet"])
  assert again["target_accuracy_dann"] == results["target_accuracy_dann"]


def test_dann_digits_smoke(tmp_path):
  dann_digits.main(["--preset", "smoke", "--workdir", str(tmp_path), "--quiet"])
  results = json.loads((tmp_path / "results.json").read_text())
  for stage in ("source_only", "dann", "train_on_target"):
    assert 0.0 <= results[f"target_accuracy_{stage}"] <= 1.0
    assert 0.0 <= results[f"a_distance_{stage}"] <= 2.0
  assert "gap_closed" in results
  for name in ("features.png", "training.png", "domains.png"):
    assert (tmp_path / name).stat().st_size > 0
