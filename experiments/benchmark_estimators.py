"""Gradient-estimator and Square throughput: advjax (vectorized, jitted) vs
the Adversarial Robustness Toolbox's NES estimator, on the same model.

    python -m experiments.benchmark_estimators [--preset smoke|default|full]

* NES: ``attacks.estimate_gradient(method="nes")`` — all ``2·n·B`` queries of a
  batch in one compiled, vectorized call — against ART's
  ``QueryEfficientGradientEstimationClassifier`` (Ilyas et al.'s NES, a Python
  loop over examples, each querying ``2n`` perturbed copies) wrapping a
  ``BlackBoxClassifier`` whose ``predict_fn`` is the *same* jitted JAX model.
  Both estimate the gradient of the cross-entropy; the cosine of each with
  ``jax.grad`` is reported as a sanity check.
* Square: counted queries per second of ``attacks.square_attack`` at a radius
  too small to succeed, so the whole budget runs.

Measured on the SmallCNN and on an MLP (keys prefixed ``mlp_``): the gain of
vectorizing grows as the model gets cheaper, since ART's per-example loop and
per-row loss then dominate. Times are medians over ``repeats`` after a
warm-up call. Writes
``results.json`` to the workdir (default ``runs/benchmark_estimators``).
"""
from __future__ import annotations

import dataclasses
import functools
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from advjax import attacks
from advjax import models
from advjax.losses import cross_entropy
from experiments import common


@dataclasses.dataclass(frozen=True)
class Config:
  batch: int = 32
  n_samples: int = 50
  repeats: int = 3
  models: tuple = ("small_cnn", "mlp")
  seed: int = 0


PRESETS = {
    "smoke": Config(batch=4, n_samples=8, repeats=1, models=("mlp",)),
    "default": Config(),
    "full": Config(batch=128, n_samples=100, repeats=5),
}


def _median_seconds(fn, repeats):
  fn()  # warm-up (compilation)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def _cosine(a, b):
  a, b = np.asarray(a).reshape(len(a), -1), np.asarray(b).reshape(len(b), -1)
  return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) *
                                           np.linalg.norm(b, axis=1) + 1e-12)))


_MODELS = {"small_cnn": models.SmallCNN, "mlp": models.MLP}


def bench_estimators(*, batch: int = 32, n_samples: int = 50, repeats: int = 3,
                     key: jax.Array, model: str = "small_cnn", sigma: float = 1e-3,
                     square_queries: int = 200) -> dict:
  """Queries per second of NES (advjax vs ART) and of Square on one MNIST-sized
  model (``"small_cnn"`` or ``"mlp"``, randomly initialised).

  Returns flat numeric results: ``nes_queries_per_second_advjax``,
  ``nes_queries_per_second_art``, ``nes_speedup_vs_art``,
  ``nes_cosine_advjax``, ``nes_cosine_art``, ``square_queries_per_second``.
  """
  from art.estimators.classification import BlackBoxClassifier  # pylint: disable=import-outside-toplevel
  from art.estimators.classification import QueryEfficientGradientEstimationClassifier  # pylint: disable=import-outside-toplevel,line-too-long
  k_init, k_x, k_est, k_sq = jax.random.split(key, 4)
  if model not in _MODELS:
    raise ValueError(f"`model` must be one of {sorted(_MODELS)}; got {model!r}.")
  module = _MODELS[model]()
  x = jax.random.uniform(k_x, (batch, 28, 28, 1), jnp.float32)
  variables = module.init(k_init, x[:1])
  # Both contenders call the same model, compiled with fast CPU convolutions
  # (compiler options only go on top-level jits).
  jit = functools.partial(jax.jit, compiler_options=models.cpu_compiler_options())
  logits_fn = lambda z: module.apply(variables, z)  # noqa: E731
  y = jnp.argmax(logits_fn(x), -1)
  loss_fn = attacks.untargeted(logits_fn, y)  # cross-entropy, as ART's
  exact = jax.grad(lambda z: jnp.sum(cross_entropy(logits_fn(z), y)))(x)
  queries = batch * attacks.estimator_queries("nes", n_samples=n_samples, dim=784)

  nes = jit(lambda z, k: attacks.estimate_gradient(
      loss_fn, z, key=k, method="nes", n_samples=n_samples, sigma=sigma))
  g_advjax = nes(x, k_est)
  t_advjax = _median_seconds(lambda: nes(x, k_est).block_until_ready(), repeats)

  probs = jit(lambda z: jax.nn.softmax(logits_fn(z), -1))
  art_model = BlackBoxClassifier(lambda z: np.asarray(probs(jnp.asarray(z, jnp.float32))),
                                 input_shape=(28, 28, 1), nb_classes=10,
                                 clip_values=(0.0, 1.0))
  art_nes = QueryEfficientGradientEstimationClassifier(art_model, num_basis=n_samples,
                                                       sigma=sigma)
  x_np = np.asarray(x)
  y_onehot = np.eye(10, dtype=np.float32)[np.asarray(y)]
  np.random.seed(0)
  g_art = art_nes.loss_gradient(x_np, y_onehot)
  t_art = _median_seconds(lambda: art_nes.loss_gradient(x_np, y_onehot), repeats)

  sq = jit(lambda z, k: attacks.square_attack(
      attacks.untargeted(logits_fn, y, loss="margin"), z, key=k, eps=1e-4,
      n_queries=square_queries))
  counted = int(np.sum(sq(x, k_sq).n_queries))
  t_sq = _median_seconds(lambda: sq(x, k_sq).x_adv.block_until_ready(), repeats)
  return {
      "nes_queries_per_second_advjax": queries / t_advjax,
      "nes_queries_per_second_art": queries / t_art,
      "nes_speedup_vs_art": t_art / t_advjax,
      "nes_seconds_advjax": t_advjax,
      "nes_seconds_art": t_art,
      "nes_cosine_advjax": _cosine(g_advjax, exact),
      "nes_cosine_art": _cosine(g_art, exact),
      "square_queries_per_second": counted / t_sq,
      "square_counted_queries": counted,
  }


def main(argv=None):
  run, _ = common.setup("benchmark_estimators", PRESETS, argv)
  cfg = run.config
  results = {}
  for i, name in enumerate(cfg.models):  # the first model's keys are unprefixed
    out = bench_estimators(batch=cfg.batch, n_samples=cfg.n_samples,
                           repeats=cfg.repeats, key=jax.random.key(cfg.seed),
                           model=name)
    results.update({(k if i == 0 else f"{name}_{k}"): v for k, v in out.items()})
  results["batch"] = cfg.batch
  results["n_samples"] = cfg.n_samples
  run.write_results(results)
  rows = [{"measure": k, "value": v} for k, v in sorted(results.items())]
  run.log(common.format_table(rows, ["measure", "value"]))
  return results


if __name__ == "__main__":
  main(sys.argv[1:])
