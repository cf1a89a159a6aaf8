"""Timing helpers of the benchmark: interleaved repetitions, compile time,
machine description, load average and the matmul peak.

Repetitions of the contenders alternate (advjax, peer, advjax, peer, ...) so
that on a shared, noisy machine both see the same load, and ratios computed
in the same run stay fair. Every JAX function is compiled ahead of time
(``jit(...).lower(...).compile()``), so compile time is measured on its own
and never enters steady-state times.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable, Mapping

import jax
import jax.numpy as jnp

from advjax import models


def load_average() -> float:
  """The 1-minute load average (``uptime``), or -1 where unavailable."""
  try:
    return os.getloadavg()[0]
  except OSError:
    return -1.0


def machine() -> str:
  """CPU model, core count and the JAX / backend versions, in one line."""
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
    cpu = names[0] if names else cpu
  except OSError:
    pass
  return (f"{cpu}, {os.cpu_count()} cores, {jax.device_count()} "
          f"{jax.default_backend()} device(s), jax {jax.__version__}")


def compile_ahead(fn: Callable, *args, donate_argnums=(),
                  compiler_options=None) -> tuple[Callable, float]:
  """``(compiled, seconds)``: ``fn`` jitted, lowered and compiled for ``args``.

  ``compiler_options=None`` means advjax's recommendation for the backend,
  :func:`advjax.models.cpu_compiler_options`; ``{}``, XLA's defaults.
  """
  if compiler_options is None:
    compiler_options = models.cpu_compiler_options()
  start = time.perf_counter()
  compiled = jax.jit(fn, donate_argnums=donate_argnums,
                     compiler_options=compiler_options).lower(*args).compile()
  return compiled, time.perf_counter() - start


def interleaved(contenders: Mapping[str, Callable[[], object]], *,
                repeats: int) -> dict[str, dict[str, float]]:
  """Times zero-argument callables with alternating repetitions.

  Each callable is run once to warm up (JAX: transfers, first-run caches;
  PyTorch: allocator and kernels), then ``repeats`` rounds run every
  contender once in turn. Results are blocked on (``jax.block_until_ready``;
  PyTorch is synchronous on CPU).

  Returns:
    ``{name: {"median": s, "spread": max - min, "min": s, "warmup": s}}``.
  """
  times = {name: [] for name in contenders}
  warm = {}
  for name, fn in contenders.items():
    start = time.perf_counter()
    jax.block_until_ready(fn())
    warm[name] = time.perf_counter() - start
  for _ in range(repeats):
    for name, fn in contenders.items():
      start = time.perf_counter()
      jax.block_until_ready(fn())
      times[name].append(time.perf_counter() - start)
  return {name: {"median": statistics.median(t), "spread": max(t) - min(t),
                 "min": min(t), "warmup": warm[name]} for name, t in times.items()}


def matmul_peak(*, n: int = 2048, repeats: int = 5) -> float:
  """This machine's measured float32 matmul rate in FLOP/s (best of
  ``repeats`` ``n×n @ n×n`` products, ``2n³`` FLOPs each)."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  fn, _ = compile_ahead(jnp.dot, a, b)
  stats = interleaved({"matmul": lambda: fn(a, b)}, repeats=repeats)
  return 2.0 * n**3 / stats["matmul"]["min"]


def flops(compiled) -> float:
  """FLOPs of one call of a compiled function (XLA's HLO cost analysis)."""
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get("flops", 0.0)) if cost else 0.0
