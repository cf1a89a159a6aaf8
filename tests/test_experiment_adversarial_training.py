"""The adversarial-training experiment end to end, in its smoke preset."""
import json

import jax
import numpy as np
import pytest

from advjax import models
from advjax import train
from experiments import adversarial_training
from experiments import classifier
from experiments import common


def test_adversarial_training_smoke(tmp_path):
  args = ["--preset", "smoke", "--workdir", str(tmp_path), "--quiet"]
  results = adversarial_training.main(args)
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved == results
  for m in adversarial_training.METHODS:
    clean, robust = saved[f"{m}/clean_accuracy"], saved[f"{m}/robust_accuracy"]
    assert 0.0 <= robust <= clean <= 1.0, m
    # The cascade's accuracy only falls: it is a per-example worst case.
    assert clean >= saved[f"{m}/after_apgd_ce_accuracy"] >= saved[
        f"{m}/after_apgd_t_accuracy"] >= saved[f"{m}/after_pgd_accuracy"] >= saved[
            f"{m}/after_square_accuracy"] == robust, m
    # The diagnostics attack a subset: bounded by that subset's clean accuracy.
    subset_clean = saved[f"{m}/diagnostic_clean_accuracy"]
    for attack in ("square", "pgd_ce", "pgd_margin"):
      assert 0.0 <= saved[f"{m}/{attack}_accuracy"] <= subset_clean, (m, attack)
    # Diagnostic: at ε = 0.5 any MNIST digit can be turned grey.
    assert saved[f"{m}/max_eps_accuracy"] <= 0.1, m
    assert saved[f"{m}/train_seconds"] > 0.0
    for b in (0.35, 0.5, 0.6, 0.8):  # night and the brightness sweep
      key = "night" if b == 0.35 else f"brightness_{b}"
      assert 0.0 <= saved[f"{m}/{key}_accuracy"] <= 1.0, (m, key)
  assert saved["standard/clean_accuracy"] > 0.7  # 60 steps on 1,000 images learn
  assert saved["standard/robust_accuracy"] <= 0.05
  for key in ("l2_0.3", "l2_2.0", "linf_0.1", "linf_0.4", "night"):
    assert 0.0 <= saved[f"pgd_at/{key}_accuracy"] <= 1.0, key
  for name in ("robust_accuracy_vs_eps.png", "training_curves.png"):
    assert (tmp_path / name).stat().st_size > 1000
  assert "l2_0.3" in (tmp_path / "generalization.md").read_text()
  # A rerun resumes every stage from its checkpoint instead of training ...
  run, _ = common.setup("adversarial_training", adversarial_training.PRESETS, args)
  train_split, _ = classifier.load_dataset(run.config.dataset,
                                           n_train=run.config.n_train)
  module = models.SmallCNN(widths=run.config.widths, hidden=run.config.hidden)
  _, history, seconds = adversarial_training.train_method(
      run, "standard", train_split, train.data_mesh(), module)
  assert seconds[0] == results["standard/train_seconds"]
  assert len(history["loss"]) == run.config.standard_epochs
  # ... and a run of no methods just merges what the workdir holds.
  again = adversarial_training.main(args + ["--set", "methods="])
  assert again == results


def test_fgsm_rs_probe_every_skips_epochs_but_probes_the_last(tmp_path):
  args = ["--preset", "smoke", "--workdir", str(tmp_path), "--quiet",
          "--set", "fgsm_epochs=3", "--set", "probe_every=2",
          "--set", "n_train=200"]
  run, _ = common.setup("adversarial_training", adversarial_training.PRESETS, args)
  train_split, _ = classifier.load_dataset(run.config.dataset,
                                           n_train=run.config.n_train)
  module = models.SmallCNN(widths=run.config.widths, hidden=run.config.hidden)
  mesh = train.data_mesh()
  ev = adversarial_training.Evaluator(module, run.config, mesh)
  _, history, _ = adversarial_training.train_method(
      run, "fgsm_rs", train_split, mesh, module, ev=ev)
  probes = np.asarray(history["probe_accuracy"])
  assert probes.shape == (3,)
  assert np.isnan(probes[0]) and np.all((probes[1:] >= 0) & (probes[1:] <= 1))
  bad = ["--preset", "smoke", "--workdir", str(tmp_path / "bad"), "--quiet",
         "--set", "probe_every=0"]
  run, _ = common.setup("adversarial_training", adversarial_training.PRESETS, bad)
  with pytest.raises(ValueError, match="probe_every"):
    adversarial_training.train_method(run, "fgsm_rs", train_split, mesh, module,
                                      ev=ev)


def test_brightness_accuracies_dim_the_test_images(tmp_path):
  args = ["--preset", "smoke", "--workdir", str(tmp_path), "--quiet",
          "--set", "brightness_sweep=1.0,0.0", "--set", "night_brightness=1.0"]
  run, _ = common.setup("adversarial_training", adversarial_training.PRESETS, args)
  cfg = run.config
  _, test = classifier.load_dataset(cfg.dataset, n_train=cfg.n_train)
  module = models.SmallCNN(widths=cfg.widths, hidden=cfg.hidden)
  variables = module.init(jax.random.key(0), test.image[:1])
  ev = adversarial_training.Evaluator(module, cfg, train.data_mesh())
  out = adversarial_training.brightness_accuracies(ev, variables, test, cfg)
  x, y = test.image[: cfg.n_eval], test.label[: cfg.n_eval]
  clean = adversarial_training.metrics_clean(ev, variables, x, y)
  assert out["night_accuracy"] == out["brightness_1.0_accuracy"] == clean
  # A black image gets one prediction: the accuracy is that class's share.
  black = int(np.argmax(module.apply(variables, np.zeros_like(x[:1]))))
  assert out["brightness_0.0_accuracy"] == pytest.approx(np.mean(y == black))
  assert np.array_equal(adversarial_training.dimmed(x, 2.0), np.minimum(2 * x, 1))
