"""Speed measurements on this machine's backend.

    python -m experiments.benchmark [--preset smoke|default|full]

Sections (each timed after a warm-up call, as the median of repetitions, with
compile time reported separately):

* ``pool``: gradient of 2×2 max-pooling as ``nn.max_pool`` (reduce_window,
  whose gradient is select-and-scatter) vs reshape-and-max (same values).
* ``pgd``: PGD-40 L∞ on each reference model at batch 256: compile seconds and
  steady-state examples per second, with the loop compiled (``fori_loop``)
  and with the same jitted step driven from Python.

Writes ``results.json`` and ``benchmark.md`` (a Markdown table) to the workdir.
"""
from __future__ import annotations

import dataclasses
import platform
import statistics
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from advjax import attacks
from advjax import models
from experiments import common


@dataclasses.dataclass(frozen=True)
class Config:
  batch: int = 256
  pgd_steps: int = 40
  repeats: int = 5
  models: tuple = ("mlp", "small_cnn", "madry_cnn")


PRESETS = {
    "smoke": Config(batch=16, pgd_steps=2, repeats=2, models=("mlp", "small_cnn")),
    "default": Config(),
    "full": Config(repeats=10),
}
_MODELS = {"mlp": models.MLP, "small_cnn": models.SmallCNN,
           "madry_cnn": models.MadryCNN}


def _time(fn, *args, repeats):
  """``(first_call_seconds, median_seconds, spread)`` of ``fn(*args)``."""
  start = time.perf_counter()
  jax.block_until_ready(fn(*args))
  first = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return first, statistics.median(times), (max(times) - min(times))


def bench_pool(cfg, key):
  x = jax.random.normal(key, (cfg.batch, 28, 28, 32))

  def grad_of(pool):
    return jax.jit(jax.grad(lambda z: jnp.sum(jnp.sin(pool(z)))))

  flax_pool = grad_of(lambda z: nn.max_pool(z, (2, 2), strides=(2, 2)))
  fast_pool = grad_of(models.max_pool_2x2)
  np.testing.assert_allclose(flax_pool(x), fast_pool(x), rtol=1e-6)
  _, t_flax, _ = _time(flax_pool, x, repeats=cfg.repeats)
  _, t_fast, _ = _time(fast_pool, x, repeats=cfg.repeats)
  return {"pool_grad_ms_reduce_window": 1e3 * t_flax,
          "pool_grad_ms_reshape_max": 1e3 * t_fast,
          "pool_grad_speedup": t_flax / t_fast}


def _pgd_python_loop(loss_fn, x, *, eps, step_size, n_steps):
  """The PGD-L∞ step (no random start) jitted once and driven from Python."""

  @jax.jit
  def step(xc, x0):
    g = jax.grad(lambda z: jnp.sum(loss_fn(z)))(xc)
    delta = jnp.clip(xc + step_size * jnp.sign(g) - x0, -eps, eps)
    return jnp.clip(x0 + delta, 0.0, 1.0)

  xc = x
  for _ in range(n_steps):
    xc = step(xc, x)
  return xc


def bench_pgd(cfg, key, name):
  module = _MODELS[name]()
  kx, kp, ka = jax.random.split(key, 3)
  x = jax.random.uniform(kx, (cfg.batch, 28, 28, 1))
  variables = module.init(kp, x[:1])
  labels = jnp.argmax(module.apply(variables, x), -1)
  loss_fn = attacks.untargeted(lambda z: module.apply(variables, z), labels)
  kw = dict(eps=0.3, step_size=0.01, n_steps=cfg.pgd_steps)
  compiled = jax.jit(lambda z: attacks.pgd(loss_fn, z, key=ka, random_start=False,
                                           **kw))
  first, t_loop, spread = _time(compiled, x, repeats=cfg.repeats)
  _, t_python, _ = _time(lambda z: _pgd_python_loop(loss_fn, z, **kw), x,
                         repeats=cfg.repeats)
  return {f"pgd{cfg.pgd_steps}_{name}_compile_seconds": first - t_loop,
          f"pgd{cfg.pgd_steps}_{name}_examples_per_second_fori": cfg.batch / t_loop,
          f"pgd{cfg.pgd_steps}_{name}_spread_seconds_fori": spread,
          f"pgd{cfg.pgd_steps}_{name}_examples_per_second_python_loop":
              cfg.batch / t_python}


def main(argv=None):
  run, _ = common.setup("benchmark", PRESETS, argv)
  cfg = run.config
  key = jax.random.key(0)
  results = {}
  sections = [("pool", lambda: bench_pool(cfg, key))]
  sections += [(f"pgd {m}", lambda m=m: bench_pgd(cfg, key, m)) for m in cfg.models]
  for name, fn in run.progress(sections, desc="benchmark"):
    results.update(fn())
  machine = (f"{platform.processor() or platform.machine()}, "
             f"{jax.device_count()} {jax.default_backend()} device(s), "
             f"jax {jax.__version__}")
  rows = [{"measure": k, "value": v} for k, v in sorted(results.items())]
  table = common.format_table(rows, ["measure", "value"])
  (run.workdir / "benchmark.md").write_text(f"Machine: {machine}\n\n{table}\n")
  run.write_results(results)
  run.log(f"Machine: {machine}\n{table}")
  return results


if __name__ == "__main__":
  main(sys.argv[1:])
