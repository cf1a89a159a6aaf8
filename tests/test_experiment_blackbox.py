"""The black-box experiment end to end, in its smoke preset."""
import json

from experiments import blackbox


def test_blackbox_smoke(tmp_path):
  results = blackbox.main(["--preset", "smoke", "--workdir", str(tmp_path), "--quiet"])
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved == results
  for key in ("square_success_rate", "nes_success_rate", "spsa_success_rate",
              "coordinate_success_rate", "transfer_success_rate",
              "eot_survival_rate", "pgd_survival_rate",
              "sklearn_square_success_rate", "sklearn_nes_success_rate"):
    assert 0.0 <= saved[key] <= 1.0, key
  assert saved["clean_accuracy"] > 0.5
  # Even a briefly trained CNN falls to Square and NES, inside the ball.
  assert saved["square_success_rate"] >= 0.8
  assert saved["nes_success_rate"] >= 0.5
  for name in ("square", "nes", "spsa", "coordinate"):
    assert saved[f"{name}_max_linf"] <= 0.3 + 1e-6
  assert 1 <= saved["square_median_queries"] <= 100
  assert 1 <= saved["nes_median_queries"] <= 1000
  assert saved["sklearn_square_success_rate"] >= 0.8
  assert (tmp_path / "success_vs_queries.png").stat().st_size > 1000
  assert (tmp_path / "adversarial_examples.png").stat().st_size > 1000
  # A second run reuses the checkpoints and the cached attack stages.
  again = blackbox.main(["--preset", "smoke", "--workdir", str(tmp_path), "--quiet"])
  for key in ("square_success_rate", "nes_median_queries", "eot_survival_rate",
              "transfer_success_rate", "sklearn_nes_success_rate"):
    assert again[key] == results[key], key
  assert again["wall_seconds"] < results["wall_seconds"]
