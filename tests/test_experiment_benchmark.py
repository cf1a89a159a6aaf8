"""The benchmark in its smoke preset (no timing assertions) and its speed
paths: every path gives the same adversarial examples as the library's."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import attacks
from advjax import models
from experiments import bench_attacks
from experiments import benchmark


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("benchmark")
  results = benchmark.main(["--preset", "smoke", "--workdir", str(workdir), "--quiet"])
  return results, workdir


def test_benchmark_smoke_results_are_positive_and_finite(smoke):
  results, workdir = smoke
  for key, value in results.items():
    assert math.isfinite(value), key
    if "cosine" not in key:
      assert value >= 0, key
  for name in ("mlp", "small_cnn"):
    assert results[f"pgd2_ratio_vs_torchattacks_{name}"] > 0
    for who in ("advjax", "advjax_step_loop", "torchattacks"):
      assert results[f"pgd2_{name}_examples_per_second_{who}"] > 0
    assert results[f"pgd_step_{name}_gflop"] > 0
  for attack in ("fgsm", "pgd2_l2", "cw2"):  # every attack and both peers on the MLP
    assert results[f"{attack}_ratio_vs_torchattacks_mlp"] > 0
    assert results[f"{attack}_ratio_vs_foolbox_mlp"] > 0
  assert results["compile_seconds_pgd2_mlp"] > 0
  assert results["matmul_peak_gflops_per_second"] > 0
  for key in ("pgd_at_epoch_ratio_vs_torch", "dcgan_step_ratio_vs_torch",
              "conv_small_cnn_patches_speedup", "conv_small_cnn_patch_grad_speedup",
              "conv_small_cnn_train_step_ms_auto", "conv_small_cnn_train_step_ms_lax",
              "conv_small_cnn_train_step_in_scan_ms_auto",
              "pool_grad_speedup",
              "variant_mlp_seconds_step_loop_donated"):
    assert results[key] > 0
  assert results["pgd_at_epoch_images"] == 32
  for key in ("nes_queries_per_second_advjax", "nes_queries_per_second_art",
              "nes_speedup_vs_art", "square_queries_per_second"):
    assert results[f"{key}_mlp"] > 0, key
  assert results["square_counted_queries_mlp"] == 2 * 10  # the whole budget runs
  assert -1.0 <= results["nes_cosine_art_mlp"] <= 1.0
  assert results["compile_seconds_pgd2"] == max(results["compile_seconds_pgd2_mlp"],
                                                results["compile_seconds_pgd2_small_cnn"])
  table = (workdir / "benchmark.md").read_text()
  assert "× torchattacks" in table and "DCGAN step" in table and "Machine:" in table


def test_benchmark_resumes_finished_sections(smoke):
  _, workdir = smoke
  saved = (workdir / "sections.json").read_text()
  # Every section is recorded, so a rerun measures nothing and reproduces them.
  cfg = benchmark.PRESETS["smoke"]
  sections = [name for name, _ in benchmark.sections(cfg, jax.random.key(0))]
  for name in sections:
    assert f'"{name}"' in saved


@pytest.mark.parametrize("name", ["mlp", "small_cnn"])
def test_python_step_loop_equals_the_library_pgd(name):
  module, variables, x, y = bench_attacks.setup_model(name, 8, jax.random.key(0))
  n = 3
  step = jax.jit(bench_attacks.pgd_step(module))
  ours = bench_attacks.python_loop(step, variables, x, y, n)
  loss_fn = attacks.untargeted(lambda z: module.apply(variables, z), y)
  # The library returns the best iterate; the step loop the last one. Compare
  # the library with the best of the loop's iterates.
  iterates = [x]
  for _ in range(n):
    iterates.append(step(variables, iterates[-1], x, y))
  np.testing.assert_allclose(iterates[-1], ours)
  losses = jnp.stack([loss_fn(i) for i in iterates])
  best = jnp.stack(iterates)[jnp.argmax(losses, 0), jnp.arange(x.shape[0])]
  ref = attacks.pgd(loss_fn, x, key=jax.random.key(0), eps=bench_attacks.EPS_LINF,
                    step_size=bench_attacks.STEP_LINF, n_steps=n, random_start=False)
  np.testing.assert_allclose(ref, best, atol=1e-6)


def test_conv_impls_give_the_same_adversarial_examples():
  x = jax.random.uniform(jax.random.key(0), (6, 28, 28, 1))
  for cls in (models.SmallCNN, models.MadryCNN):
    variables = cls().init(jax.random.key(1), x[:1])
    outs = []
    for impl in ("lax", "patches", "patch_grad"):  # "auto": patch_grad on CPU
      module = cls(conv_impl=impl)
      loss_fn = attacks.untargeted(lambda z, m=module: m.apply(variables, z),
                                   jnp.arange(6) % 10)
      outs.append(attacks.pgd(loss_fn, x, key=jax.random.key(2), eps=0.3,
                              step_size=0.05, n_steps=3))
    assert np.abs(np.asarray(outs[0]) - np.asarray(x)).max() > 0.1
    for out in outs[1:]:
      np.testing.assert_allclose(out, outs[0], atol=1e-6)
