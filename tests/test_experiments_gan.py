"""Smoke runs of the GAN experiments, in-process, on tiny presets."""
import json
import math

from experiments import dcgan_mnist
from experiments import gan_mixture
from experiments import optimal_discriminator


def _results(tmp_path, main):
  main(["--preset", "smoke", "--workdir", str(tmp_path), "--quiet"])
  assert list(tmp_path.glob("*.png"))
  return json.loads((tmp_path / "results.json").read_text())


def test_optimal_discriminator_smoke(tmp_path):
  res = _results(tmp_path, optimal_discriminator.main)
  for key in ("dstar_max_abs_error", "jsd_estimate", "jsd_true", "grad_perfect",
              "grad_lipschitz"):
    assert math.isfinite(res[key]), key
  assert 0 <= res["dstar_max_abs_error"] <= 1
  assert 0 < res["jsd_true"] < math.log(2)
  assert res["jsd_estimate"] <= math.log(2)


def test_gan_mixture_smoke(tmp_path):
  res = _results(tmp_path, gan_mixture.main)
  for loss in gan_mixture.PRESETS["smoke"].losses:
    assert 0 <= res[f"{loss}/ring_modes"] <= 8
    assert 0 <= res[f"{loss}/grid_modes"] <= 25
    for d in ("ring", "grid"):
      assert 0.0 <= res[f"{loss}/{d}_high_quality"] <= 1.0
      assert res[f"{loss}/{d}_reverse_kl"] >= -1e-6


def test_dcgan_mnist_smoke(tmp_path):
  res = _results(tmp_path, dcgan_mnist.main)
  assert 0.1 < res["classifier/test_accuracy"] <= 1.0
  for loss in dcgan_mnist.PRESETS["smoke"].losses:
    assert math.isfinite(res[f"{loss}/fid"]) and res[f"{loss}/fid"] >= 0
    assert 0.0 <= res[f"{loss}/class_coverage"] <= 1.0
    shares = [res[f"{loss}/class_share_{c}"] for c in range(10)]
    assert min(shares) >= 0 and abs(sum(shares) - 1) < 1e-6
    in_band = sum(0.05 <= s <= 0.15 for s in shares) / 10
    assert abs(in_band - res[f"{loss}/class_coverage"]) < 1e-6
  assert 0 <= res["real/fid"] < min(res[f"{l}/fid"] for l in
                                    dcgan_mnist.PRESETS["smoke"].losses)


def _judge_accuracy(tmp_path, augment: bool):
  """Test accuracy of the judge trained on scikit-learn's 8×8 digits."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from advjax import data
  from advjax import train
  from experiments import common
  from experiments._gan_common import train_judge_classifier

  train_split, test_split = data.digits()
  run = common.Run(name="judge", preset="test", config=None, workdir=tmp_path,
                   quiet=True)
  mesh = train.data_mesh()
  with jax.set_mesh(mesh):
    module, params = train_judge_classifier(
        run, train_split.image, train_split.label, seed=0, steps=150,
        chunk_steps=50, batch_size=64, mesh=mesh, augment=augment)
  logits = module.apply({"params": params}, jnp.asarray(test_split.image))
  return float(np.mean(np.argmax(logits, -1) == test_split.label))


def test_judge_classifier_trains_on_augmented_batches(tmp_path, monkeypatch):
  # The judge learns the digits; with an augmentation that blanks every
  # training batch it stays at chance, so `augment` reaches the batches.
  from experiments import _gan_common
  assert _judge_accuracy(tmp_path / "plain", False) > 0.85
  monkeypatch.setattr(_gan_common, "JUDGE_AUGMENTATION", lambda key, x: x * 0.0)
  assert _judge_accuracy(tmp_path / "blank", True) < 0.2
