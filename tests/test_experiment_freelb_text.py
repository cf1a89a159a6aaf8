"""Smoke run of experiments/freelb_text.py (tiny preset, in-process)."""
import json

from experiments import freelb_text


def test_freelb_text_smoke(tmp_path):
  results = freelb_text.main(["--preset", "smoke", "--workdir", str(tmp_path),
                              "--quiet"])
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved == results
  for method in ("plain", "pgd", "freelb"):
    for key in ("clean_accuracy", "embedding_pgd_accuracy", "embedding_pgd_accuracy_2",
                "hotflip_success_rate", "hotflip_success_rate_1flip"):
      value = saved[f"{method}/{key}"]
      assert 0.0 <= value <= 1.0, (method, key, value)
    # An attack never raises accuracy; a larger ball is never easier to resist
    # by much (independent random starts per radius).
    assert saved[f"{method}/embedding_pgd_accuracy"] <= saved[f"{method}/clean_accuracy"]
    assert saved[f"{method}/hotflip_success_rate_1flip"] <= saved[f"{method}/hotflip_success_rate"]
    # Same-kind word swaps never change the grammar's label.
    assert saved[f"{method}/hotflip_label_preserved"] == 1.0
    assert saved[f"{method}/train_time_s"] > 0 and saved[f"{method}/step_time_ms"] > 0
  assert saved["freelb/step_time_ratio_vs_pgd"] > 0
  for name in ("freelb_text.png", "adversarial_examples.txt", "config.json"):
    assert (tmp_path / name).exists()
  # Every training stage left its final checkpoint (a rerun resumes from it).
  for method in ("plain", "pgd", "freelb"):
    steps = sorted(int(p.name) for p in (tmp_path / "ckpt" / method).iterdir()
                   if p.name.isdigit())
    assert steps and steps[-1] == freelb_text.PRESETS["smoke"].epochs
