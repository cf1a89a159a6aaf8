"""Smoke run of experiments/pix2pix.py (tiny preset, in-process)."""
import json

from experiments import pix2pix


def test_pix2pix_smoke(tmp_path):
  results = pix2pix.main(["--preset", "smoke", "--workdir", str(tmp_path), "--quiet"])
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved == results
  for method in ("l1", "cgan"):
    assert 0.0 < saved[f"{method}/l1_error"] < 1.0
    assert saved[f"{method}/sharpness_ratio"] > 0.0
    assert 0.0 <= saved[f"{method}/classifier_accuracy"] <= 1.0
  assert 0.0 <= saved["classifier/target_accuracy"] <= 1.0
  assert saved["receptive_field"] == 16
  assert (tmp_path / "pix2pix_grid.png").exists()
  for stage in ("classifier", "l1", "cgan"):
    steps = [int(p.name) for p in (tmp_path / "ckpt" / stage).iterdir()
             if p.name.isdigit()]
    assert steps, stage
