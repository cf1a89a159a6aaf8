"""advjax against torchattacks, Foolbox and a plain PyTorch loop, on the same
models with the same weights, in one run.

    python -m experiments.benchmark [--preset smoke|default|full] [--set threads=1]

Sections (a list of ``(name, fn)``; each ``fn() -> {key: number}``):

* ``machine``: load average, the measured float32 matmul peak.
* ``pool``: gradient of 2×2 max-pooling, ``nn.max_pool`` (reduce_window,
  select-and-scatter gradient) vs :func:`advjax.models.max_pool_2x2`.
* ``conv``: gradient of the reference CNNs with ``conv_impl="lax"`` vs
  ``"patches"`` (im2col) vs ``"patch_grad"`` (XLA's forward, fast-path
  derivatives) vs ``"auto"`` (the CPU default: im2col for layers with at
  most 3 input channels, patch_grad otherwise) inside a compiled loop.
  Everything is compiled with :func:`advjax.models.cpu_compiler_options`
  (convolutions on XLA's Eigen path, not YNNPACK); ``variants`` also times
  XLA's default options.
* ``attacks <model>``: FGSM, PGD-40 L∞, PGD-40 L2 and C&W-L2 (100 Adam
  steps, one constant) at batch 256, advjax vs torchattacks and Foolbox
  (:mod:`experiments.bench_attacks`); PGD also as a Python-driven step loop,
  and its FLOP rate.
* ``variants``: donated buffers, ``block_until_ready`` placement, batch size.
* ``pgd_at``: one PGD-7 adversarial-training epoch vs PyTorch + torchattacks;
  ``dcgan``: one DCGAN train step vs PyTorch (:mod:`experiments.bench_train`).

Timing: every JAX function is compiled ahead of time (compile seconds
reported separately); contenders alternate repetitions (median and spread
reported) so that ratios, advjax throughput over the peer's, are fair on a
loaded machine. Threads: PyTorch gets ``torch.set_num_threads(threads)``;
XLA uses its Eigen thread pool (all cores) unless ``threads=1``, which sets
``--xla_cpu_multi_thread_eigen=false`` before JAX starts.

Writes ``results.json`` and ``benchmark.md`` (tables for the README) to the
workdir; finished sections are kept in ``sections.json`` so an interrupted run
resumes with the next section (``--fresh`` measures everything again).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys

import jax
import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import optax

from advjax import models
from advjax import train
from experiments import bench_attacks
from experiments import bench_timing
from experiments import bench_train
from experiments import benchmark_estimators
from experiments import common


@dataclasses.dataclass(frozen=True)
class Config:
  batch: int = 256
  pgd_steps: int = 40
  cw_steps: int = 100
  repeats: int = 3
  models: tuple = ("mlp", "small_cnn", "madry_cnn")
  attacks: tuple = ("fgsm", "pgd", "pgd_l2", "cw")
  # Models too slow for every attack in a few minutes get only these.
  heavy_models: tuple = ("madry_cnn",)
  heavy_attacks: tuple = ("fgsm", "pgd")
  peers: tuple = ("torchattacks", "foolbox")
  heavy_peers: tuple = ("torchattacks",)
  threads: int = 2
  peak_n: int = 2048
  variant_model: str = "small_cnn"
  variant_steps: int = 10
  variant_batches: tuple = (64, 256, 1024)
  at_model: str = "small_cnn"
  at_images: int = 4000
  at_batch: int = 128
  at_steps: int = 7
  at_repeats: int = 2
  gan_batch: int = 64
  gan_features: int = 32
  gan_latent: int = 64
  gan_steps: int = 5
  # Gradient-estimator queries/s (NES vs ART) and Square queries/s.
  estimator_models: tuple = ("small_cnn", "mlp")
  estimator_batch: int = 32
  estimator_samples: int = 50
  square_queries: int = 200


PRESETS = {
    "smoke": Config(batch=8, pgd_steps=2, cw_steps=2, repeats=1,
                    models=("mlp", "small_cnn"), heavy_models=("small_cnn",),
                    heavy_attacks=("pgd",), peak_n=128, variant_model="mlp",
                    variant_steps=2, variant_batches=(4,), at_model="mlp",
                    at_images=32, at_batch=16, at_steps=1, at_repeats=1,
                    gan_batch=8, gan_features=4, gan_latent=8, gan_steps=1,
                    estimator_models=("mlp",), estimator_batch=2,
                    estimator_samples=4, square_queries=10),
    "default": Config(),
    "full": Config(repeats=7, heavy_models=(), at_repeats=5, gan_steps=10),
    # Every attack, peer and the loop strategies on one model: the quick check.
    "quick": Config(models=("small_cnn",), repeats=3, variant_batches=(256,),
                    at_images=1024, at_repeats=2, gan_steps=3),
}


def _attack_key(name: str, cfg: Config) -> str:
  return {"fgsm": "fgsm", "pgd": f"pgd{cfg.pgd_steps}",
          "pgd_l2": f"pgd{cfg.pgd_steps}_l2", "cw": f"cw{cfg.cw_steps}"}[name]


def bench_machine(cfg: Config) -> dict[str, float]:
  return {"matmul_peak_gflops_per_second": bench_timing.matmul_peak(
      n=cfg.peak_n, repeats=cfg.repeats) / 1e9}


def bench_pool(cfg: Config, key) -> dict[str, float]:
  """Gradient of 2×2 max-pooling: reduce_window vs reshape-and-max."""
  x = jax.random.normal(key, (cfg.batch, 28, 28, 32))

  def grad_of(pool):
    return jax.grad(lambda z: jnp.sum(jnp.sin(pool(z))))

  flax_pool, _ = bench_timing.compile_ahead(
      grad_of(lambda z: nn.max_pool(z, (2, 2), strides=(2, 2))), x)
  fast_pool, _ = bench_timing.compile_ahead(grad_of(models.max_pool_2x2), x)
  np.testing.assert_allclose(flax_pool(x), fast_pool(x), rtol=1e-6)
  s = bench_timing.interleaved({"reduce_window": lambda: flax_pool(x),
                                "reshape_max": lambda: fast_pool(x)},
                               repeats=cfg.repeats)
  return {"pool_grad_ms_reduce_window": 1e3 * s["reduce_window"]["median"],
          "pool_grad_ms_reshape_max": 1e3 * s["reshape_max"]["median"],
          "pool_grad_speedup": s["reduce_window"]["median"] / s["reshape_max"]["median"]}


CONV_IMPLS = ("lax", "patches", "patch_grad", "auto")
TRAIN_SCAN_STEPS = 2  # a step inside lax.scan, as GAN steps (critic updates) run


def bench_conv(cfg: Config, key) -> dict[str, float]:
  """Per ``conv_impl``: PGD-``variant_steps`` (compiled loop), and a training
  step (Adam on the cross-entropy: kernel gradients) at the top level and
  inside ``lax.scan``."""
  out = {}
  for name in ("small_cnn", "madry_cnn"):
    if name not in cfg.models:
      continue
    _, variables, x, y = bench_attacks.setup_model(name, cfg.batch, key)
    fns = {}
    for impl in CONV_IMPLS:
      module = bench_attacks.MODELS[name](conv_impl=impl)
      attack = bench_attacks.advjax_attacks(
          module, pgd_steps=cfg.variant_steps, cw_steps=1)[f"pgd{cfg.variant_steps}"]
      compiled, seconds = bench_timing.compile_ahead(attack, variables, x, y)
      out[f"conv_{name}_compile_seconds_{impl}"] = seconds
      fns[impl] = lambda c=compiled: c(variables, x, y)
    # Sign steps amplify rounding: a gradient coordinate within rounding of 0
    # may flip sign between formulations, moving one pixel by 2·step.
    reference = np.asarray(fns["lax"]())
    for impl in CONV_IMPLS[1:]:
      differ = np.abs(np.asarray(fns[impl]()) - reference) > 1e-5
      out[f"conv_{name}_pgd_fraction_of_pixels_differing_{impl}"] = float(differ.mean())
      if differ.mean() > 1e-2:
        raise AssertionError(f"conv_impl lax and {impl} disagree on {name}: "
                             f"{differ.mean():.2%} of the pixels differ")
    s = bench_timing.interleaved(fns, repeats=cfg.repeats)
    for impl in fns:
      out[f"conv_{name}_pgd_seconds_{impl}"] = s[impl]["median"]
    for impl in CONV_IMPLS[1:]:
      out[f"conv_{name}_{impl}_speedup"] = s["lax"]["median"] / s[impl]["median"]
    out.update(_bench_train_steps(name, variables, x, y, cfg.repeats))
  return out


def _bench_train_steps(name, variables, x, y, repeats) -> dict[str, float]:
  tx = optax.adam(1e-3)
  params, model_state = train.split_variables(variables)
  state = train.TrainState.create(params, tx, model_state)
  batch, key = {"image": x, "label": y}, jax.random.key(0)
  fns, grads = {}, {}
  for impl in CONV_IMPLS:
    apply_fn = train.linen_apply(bench_attacks.MODELS[name](conv_impl=impl))
    step = train.make_classifier_step(apply_fn, tx)
    scanned = lambda s, k, step=step: jax.lax.scan(  # noqa: E731
        lambda c, kk: (step(c, batch, kk)[0], None), s,
        jax.random.split(k, TRAIN_SCAN_STEPS))[0]
    top, _ = bench_timing.compile_ahead(step, state, batch, key)
    looped, _ = bench_timing.compile_ahead(scanned, state, key)
    fns[f"top_{impl}"] = lambda c=top: c(state, batch, key)
    fns[f"scan_{impl}"] = lambda c=looped: c(state, key)
    loss = lambda p, a=apply_fn: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(  # noqa: E731
        a(p, model_state, x, train=True)[0], y))
    grads[impl] = jax.jit(jax.grad(loss))(params)
  for impl in CONV_IMPLS[1:]:  # every formulation has lax's gradients
    for ours, ref in zip(jax.tree.leaves(grads[impl]), jax.tree.leaves(grads["lax"])):
      scale = float(jnp.max(jnp.abs(ref)))
      if not np.allclose(ours, ref, rtol=1e-3, atol=1e-4 * scale):
        raise AssertionError(f"conv_impl lax and {impl} disagree on {name}'s "
                             "parameter gradients")
  s = bench_timing.interleaved(fns, repeats=repeats)
  out = {}
  for impl in CONV_IMPLS:
    out[f"conv_{name}_train_step_ms_{impl}"] = 1e3 * s[f"top_{impl}"]["median"]
    out[f"conv_{name}_train_step_in_scan_ms_{impl}"] = (
        1e3 * s[f"scan_{impl}"]["median"] / TRAIN_SCAN_STEPS)
  return out


def sections(cfg: Config, key) -> list:
  """The benchmark as a list of ``(name, fn)``; ``fn() -> {key: number}``."""
  out = [("machine", functools.partial(bench_machine, cfg)),
         ("pool", functools.partial(bench_pool, cfg, key)),
         ("conv", functools.partial(bench_conv, cfg, key))]
  for m in cfg.models:
    heavy = m in cfg.heavy_models
    names = cfg.heavy_attacks if heavy else cfg.attacks
    out.append((f"attacks {m}", functools.partial(
        bench_attacks.bench_model, m, batch=cfg.batch, pgd_steps=cfg.pgd_steps,
        cw_steps=cfg.cw_steps, repeats=cfg.repeats, key=key,
        peers=cfg.heavy_peers if heavy else cfg.peers,
        attack_names=[_attack_key(a, cfg) for a in names])))
  out.append(("variants", functools.partial(
      bench_attacks.bench_variants, cfg.variant_model, batch=cfg.batch,
      batches=cfg.variant_batches, n_steps=cfg.variant_steps,
      repeats=cfg.repeats, key=key)))
  out.append(("pgd_at", functools.partial(
      bench_train.bench_pgd_at, model=cfg.at_model, images=cfg.at_images,
      batch=cfg.at_batch, n_steps=cfg.at_steps, repeats=cfg.at_repeats, key=key)))
  out.append(("dcgan", functools.partial(
      bench_train.bench_dcgan, batch=cfg.gan_batch, features=cfg.gan_features,
      latent_dim=cfg.gan_latent, steps=cfg.gan_steps, repeats=cfg.repeats,
      key=key)))
  for m in cfg.estimator_models:
    out.append((f"estimators {m}", functools.partial(
        _bench_estimators, m, cfg, key)))
  return out


def _bench_estimators(model: str, cfg: Config, key) -> dict[str, float]:
  results = benchmark_estimators.bench_estimators(
      batch=cfg.estimator_batch, n_samples=cfg.estimator_samples,
      repeats=cfg.repeats, key=key, model=model, square_queries=cfg.square_queries)
  return {f"{k}_{model}": v for k, v in results.items()}


def _set_threads(threads: int) -> dict[str, float]:
  import torch  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(threads)
  if threads == 1 and "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    if jax._src.xla_bridge.backends_are_initialized():  # pylint: disable=protected-access
      print("benchmark: JAX already started; XLA keeps its thread pool",
            file=sys.stderr)
    else:
      os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                 + " --xla_cpu_multi_thread_eigen=false").strip()
  eigen_off = "xla_cpu_multi_thread_eigen=false" in os.environ.get("XLA_FLAGS", "")
  return {"torch_threads": float(torch.get_num_threads()),
          "xla_eigen_threads": 1.0 if eigen_off else float(os.cpu_count() or 1)}


def _ratio_rows(results, cfg):
  rows = []
  for m in cfg.models:
    for a in cfg.attacks:
      k = _attack_key(a, cfg)
      ours = results.get(f"{k}_{m}_examples_per_second_advjax")
      if ours is None:
        continue
      row = {"attack": k, "model": m, "advjax ex/s": ours,
             "compile s": results[f"compile_seconds_{k}_{m}"]}
      for peer in cfg.peers:
        row[f"{peer} ex/s"] = results.get(f"{k}_{m}_examples_per_second_{peer}", "")
        row[f"× {peer}"] = results.get(f"{k}_ratio_vs_{peer}_{m}", "")
      loop = results.get(f"{k}_{m}_examples_per_second_advjax_step_loop")
      row["advjax step loop ex/s"] = "" if loop is None else loop
      rows.append(row)
  return rows


def _fmt(v):
  return f"{v:.3g}" if isinstance(v, float) else v


def markdown(results, cfg, machine: str) -> str:
  """The tables of ``benchmark.md`` (quoted by the README)."""
  cols = (["attack", "model", "advjax ex/s"]
          + [c for p in cfg.peers for c in (f"{p} ex/s", f"× {p}")]
          + ["advjax step loop ex/s", "compile s"])
  rows = [{k: _fmt(v) for k, v in r.items()} for r in _ratio_rows(results, cfg)]
  r = {k: _fmt(v) for k, v in results.items()}
  train_rows = [
      {"measure": f"PGD-{cfg.at_steps} AT epoch ({r['pgd_at_epoch_images']} images, "
                  f"{cfg.at_model}), s",
       "advjax": r["pgd_at_epoch_seconds_advjax"],
       "PyTorch": r["pgd_at_epoch_seconds_torch"],
       "× PyTorch": r["pgd_at_epoch_ratio_vs_torch"],
       "compile s": r["compile_seconds_pgd_at_step"]},
      {"measure": f"DCGAN step (batch {cfg.gan_batch}, {cfg.gan_features} "
                  "features), ms",
       "advjax": r["dcgan_step_ms_advjax"], "PyTorch": r["dcgan_step_ms_torch"],
       "× PyTorch": r["dcgan_step_ratio_vs_torch"],
       "compile s": r["compile_seconds_dcgan_step"]}]
  flop_rows = [{"model": m, "GFLOP per step": r[f"pgd_step_{m}_gflop"],
                "GFLOP/s achieved": r[f"pgd_step_{m}_gflops_per_second"],
                "fraction of matmul peak": _fmt(
                    results[f"pgd_step_{m}_gflops_per_second"]
                    / results["matmul_peak_gflops_per_second"])}
               for m in cfg.models if f"pgd_step_{m}_gflop" in results]
  rest = sorted(k for k in results
                if k.startswith(("pool_", "conv_", "variant_", "nes_", "square_")))
  return "\n\n".join([
      f"Machine: {machine}; load average {r['load_average_start']} at the start, "
      f"{r['load_average_end']} at the end; PyTorch threads "
      f"{r['torch_threads']}, XLA Eigen threads {r['xla_eigen_threads']}; JAX "
      f"compiler options {models.cpu_compiler_options() or 'XLA defaults'}; batch "
      f"{cfg.batch}, median of {cfg.repeats} interleaved repetitions.",
      common.format_table(rows, cols),
      common.format_table(train_rows, ["measure", "advjax", "PyTorch", "× PyTorch",
                                       "compile s"]),
      f"Matmul peak: {r['matmul_peak_gflops_per_second']} GFLOP/s (float32 "
      f"{cfg.peak_n}² matmul).\n\n"
      + common.format_table(flop_rows, ["model", "GFLOP per step",
                                        "GFLOP/s achieved", "fraction of matmul peak"]),
      common.format_table([{"measure": k, "value": _fmt(results[k])} for k in rest],
                          ["measure", "value"]),
  ]) + "\n"


def main(argv=None):
  run, _ = common.setup("benchmark", PRESETS, argv)
  cfg = run.config
  results = _set_threads(cfg.threads)
  results["load_average_start"] = bench_timing.load_average()
  key = jax.random.key(0)
  done_path = run.workdir / "sections.json"
  tag = json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str)
  done = {}
  if done_path.exists() and not run.fresh:
    saved = json.loads(done_path.read_text())
    done = saved["sections"] if saved.get("config") == tag else {}
  for name, fn in run.progress(sections(cfg, key), desc="benchmark"):
    if name not in done:
      done[name] = {k: float(v) for k, v in fn().items()}
      done_path.write_text(json.dumps({"config": tag, "sections": done}))
    results.update(done[name])
  pgd_compile = [v for k, v in results.items()
                 if k.startswith(f"compile_seconds_pgd{cfg.pgd_steps}_")
                 and not k.startswith(f"compile_seconds_pgd{cfg.pgd_steps}_l2")]
  if pgd_compile:  # the slowest model's PGD compile: the number the target is about
    results[f"compile_seconds_pgd{cfg.pgd_steps}"] = max(pgd_compile)
  results["load_average_end"] = bench_timing.load_average()
  machine = bench_timing.machine()
  table = markdown(results, cfg, machine)
  (run.workdir / "benchmark.md").write_text(table)
  run.write_results(results)
  run.log(table)
  return results


if __name__ == "__main__":
  main(sys.argv[1:])
