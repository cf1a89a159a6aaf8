"""The main job end to end, in its smoke preset."""
import json

from experiments import robustness


def test_robustness_smoke(tmp_path):
  results = robustness.main(["--preset", "smoke", "--workdir", str(tmp_path),
                             "--quiet"])
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved == results
  for key in ("clean_accuracy", "fgsm_accuracy", "pgd_accuracy",
              "cw_success_rate", "cw_median_l2", "pgd_l2_accuracy",
              "targeted_success_rate"):
    assert 0.0 <= saved[key] <= (1.0 if "l2" not in key else 28.0), key
  # Even one epoch on 512 images learns something, and attacks hurt it.
  assert saved["clean_accuracy"] > 0.5
  assert saved["pgd_accuracy"] < saved["clean_accuracy"]
  assert saved["fgsm_accuracy_eps0.05"] >= saved["fgsm_accuracy"] - 0.05
  assert saved["pgd_max_linf"] <= 0.3 + 1e-6
  for name in ("adversarial_examples.png", "accuracy_vs_eps.png"):
    assert (tmp_path / name).stat().st_size > 1000
  # A second run resumes from the checkpoint instead of training again.
  again = robustness.main(["--preset", "smoke", "--workdir", str(tmp_path),
                           "--quiet"])
  assert again["clean_accuracy"] == results["clean_accuracy"]
  assert again["train_seconds"] < results["train_seconds"]
