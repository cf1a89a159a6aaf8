"""The optimal discriminator, the Jensen–Shannon view and vanishing gradients.

Real data N(0, 1) against fixed generators, in 1-D.

1. Against an overlapping generator N(near_mean, near_std²), a flexible MLP
   discriminator trained to convergence on fresh samples with the binary
   cross-entropy matches the analytic ``D*(x) = p(x) / (p(x) + p_G(x))``
   (``dstar_max_abs_error`` on the region where the mixture density is at
   least ``density_floor``), and the value of the game
   ``V(D) = E_p log D + E_pG log(1 - D)`` (by quadrature) gives
   ``jsd_estimate = (V + log 4) / 2`` against the exact ``jsd_true``.
2. Against a distant generator N(far_mean, far_std²), the generator's
   gradient through the saturating loss ``log(1 - D(x))`` at the fake
   samples: tiny for the near-perfect discriminator, which is flat there
   (``grad_perfect``; ``grad_dstar`` for the analytic D*), and much larger
   for a spectrally normalized, 1-Lipschitz one trained with the same loss
   (``grad_lipschitz``) — Figures 1 and 2 of the CS182 discussion.

Run: ``python -m experiments.optimal_discriminator [--preset smoke|default|full]``.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from advjax import losses
from advjax import models
from advjax import train
from experiments import common
from experiments._gan_common import init_train_state
from experiments._gan_common import run_on_mesh
from experiments._gan_common import scan_chunk
from experiments._gan_common import train_in_chunks


@dataclasses.dataclass(frozen=True)
class Config:
  near_mean: float = 2.0
  near_std: float = 0.5
  far_mean: float = 5.0
  far_std: float = 0.5
  features: tuple = (64, 64, 64)
  steps: int = 3000
  chunk_steps: int = 500
  batch_size: int = 4096
  learning_rate: float = 3e-3
  density_floor: float = 0.01
  seed: int = 0


PRESETS = {
    "smoke": Config(features=(8,), steps=20, chunk_steps=20, batch_size=64),
    "default": Config(),
    "full": Config(steps=20000, chunk_steps=2000, batch_size=16384),
}


def _normal_pdf(x, mean, std):
  return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def _draw(key, batch_size, gen_mean, gen_std):
  k_real, k_fake = jax.random.split(key)
  return {"real": jax.random.normal(k_real, (batch_size, 1)),
          "fake": gen_mean + gen_std * jax.random.normal(k_fake, (batch_size, 1))}


@functools.cache
def _trainer(module, cfg, nan_check=False):
  """``(tx, chunk, evaluate)`` for ``module``, compiled once per architecture."""
  apply_fn = train.linen_apply(module)
  tx = optax.adam(optax.cosine_decay_schedule(cfg.learning_rate, cfg.steps))

  def step(state, batch, key):
    del key
    def loss_fn(params):
      real_logits, ms = apply_fn(params, state.model_state, batch["real"], train=True)
      fake_logits, ms = apply_fn(params, ms, batch["fake"], train=True)
      return jnp.mean(losses.minimax_discriminator_loss(real_logits, fake_logits)), ms

    (loss, ms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    return state.apply_gradients(grads, tx, ms), {"loss": loss}

  chunk = jax.jit(scan_chunk(step, _draw, chunk_steps=cfg.chunk_steps,
                             batch_size=cfg.batch_size, nan_check=nan_check))

  @jax.jit
  def evaluate(state, grid, fakes):
    """Logits on ``grid``; mean |d/dx log(1 - D(x))| at ``fakes`` (the
    saturating generator's signal)."""
    logits = lambda x: apply_fn(state.params, state.model_state, x, train=False)[0]
    g = jax.vmap(jax.grad(lambda xi: -jax.nn.softplus(logits(xi[None])[0])))(fakes)
    return logits(grid), jnp.mean(jnp.abs(g))

  return tx, chunk, evaluate


def _train_discriminator(run, stage, module, cfg, mesh, key, gen_mean, gen_std):
  """Trains ``module`` by binary cross-entropy; returns ``(grid, fakes) ->
  (logits, generator gradient)``."""
  tx, chunk, evaluate = _trainer(module, cfg, run.nan_check)
  state = train.replicate(init_train_state(module, tx, cfg.seed, (2, 1)), mesh)
  state, _ = train_in_chunks(
      run, stage, state, lambda s, t: chunk(s, t, key, gen_mean, gen_std),
      total_steps=cfg.steps, chunk_steps=cfg.chunk_steps)
  return lambda grid, fakes: evaluate(state, grid, fakes)


def _dstar_generator_gradient(x, mean, std):
  """Mean |d/dx log(1 - D*(x))| for the analytic D*: logit = log p - log p_G."""
  x = np.asarray(x, np.float64)
  logit = np.log(_normal_pdf(x, 0, 1)) - np.log(_normal_pdf(x, mean, std))
  slope = -x + (x - mean) / std**2
  return float(np.mean(np.abs(slope) / (1 + np.exp(-logit))))


def main(argv=None):
  return run_on_mesh("optimal_discriminator", PRESETS, argv, _main)


def _main(run, mesh):
  cfg = run.config
  key = jax.random.key(cfg.seed)
  flexible = lambda: models.MLPDiscriminator(features=cfg.features)
  near = _train_discriminator(run, "flexible_near", flexible(), cfg, mesh,
                              jax.random.fold_in(key, 1), cfg.near_mean, cfg.near_std)
  perfect = _train_discriminator(run, "flexible_far", flexible(), cfg, mesh,
                                 jax.random.fold_in(key, 2), cfg.far_mean, cfg.far_std)
  lipschitz = _train_discriminator(
      run, "spectral_norm_far",
      models.MLPDiscriminator(features=cfg.features, spectral_norm=True), cfg, mesh,
      jax.random.fold_in(key, 3), cfg.far_mean, cfg.far_std)

  # Part 2's fakes: far-off generated samples.
  fakes = cfg.far_mean + cfg.far_std * jax.random.normal(
      jax.random.fold_in(key, 4), (4096, 1))
  # Part 1 by quadrature on a grid wide enough for both densities.
  xs = np.linspace(-8.0, max(cfg.near_mean, cfg.far_mean) + 8 * max(
      cfg.near_std, cfg.far_std), 6001)
  dx = xs[1] - xs[0]
  p, p_g = _normal_pdf(xs, 0.0, 1.0), _normal_pdf(xs, cfg.near_mean, cfg.near_std)
  d_star = p / (p + p_g)
  grid = jnp.asarray(xs[:, None], jnp.float32)
  logits = np.asarray(near(grid, fakes)[0], np.float64)
  d_learned = 1 / (1 + np.exp(-logits))
  region = 0.5 * (p + p_g) >= cfg.density_floor
  error = float(np.max(np.abs(d_learned - d_star)[region]))
  m = 0.5 * (p + p_g)
  with np.errstate(divide="ignore", invalid="ignore"):
    kl = lambda a: np.sum(np.where(a > 0, a * np.log(a / m), 0.0)) * dx
  jsd_true = 0.5 * kl(p) + 0.5 * kl(p_g)
  value = np.sum(-p * np.logaddexp(0.0, -logits) - p_g * np.logaddexp(0.0, logits)) * dx
  jsd_estimate = 0.5 * (value + math.log(4.0))

  # Part 2: the generator's signal at the distant fakes.
  perfect_logits, grad_perfect = perfect(grid, fakes)
  lipschitz_logits, grad_lipschitz = lipschitz(grid, fakes)
  results = {
      "dstar_max_abs_error": error,
      "jsd_estimate": float(jsd_estimate),
      "jsd_true": float(jsd_true),
      "game_value": float(value),
      "grad_perfect": float(grad_perfect),
      "grad_lipschitz": float(grad_lipschitz),
      "grad_dstar": _dstar_generator_gradient(fakes[:, 0], cfg.far_mean, cfg.far_std),
  }
  results["grad_ratio"] = results["grad_lipschitz"] / max(results["grad_perfect"], 1e-30)
  run.write_results(results)
  p_far = _normal_pdf(xs, cfg.far_mean, cfg.far_std)
  _plot(run, xs, (p, p_g, d_star, d_learned, region),
        (p, p_far, jax.nn.sigmoid(perfect_logits), jax.nn.sigmoid(lipschitz_logits)))
  run.log(common.format_table([{"metric": k, "value": v} for k, v in results.items()],
                              ["metric", "value"]))
  return results


def _plot(run, xs, near, far):
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  keep = (xs > -4) & (xs < xs.max() - 3)
  fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
  for ax, (p, p_g) in zip(axes, (near[:2], far[:2])):
    ax.fill_between(xs[keep], p[keep], alpha=0.3, color="tab:blue", label="p (real)")
    ax.fill_between(xs[keep], p_g[keep], alpha=0.3, color="tab:orange",
                    label="p_G (fake)")
  _, _, d_star, d_learned, region = near
  axes[0].plot(xs[keep], d_star[keep], "k--", label="D* = p / (p + p_G)")
  axes[0].plot(xs[keep], d_learned[keep], "r", label="trained D")
  axes[0].fill_between(xs[keep], 0, 1, where=region[keep], color="gray", alpha=0.08,
                       label="scored region")
  axes[0].set_title("The optimal discriminator")
  d_perfect, d_lip = np.asarray(far[2]), np.asarray(far[3])
  axes[1].plot(xs[keep], d_perfect[keep], "r", label="near-perfect D: flat on fakes")
  axes[1].plot(xs[keep], d_lip[keep], "g", label="spectrally normalized D: a slope")
  axes[1].set_title("Generator signal: perfect vs Lipschitz")
  for ax in axes:
    ax.set_xlabel("x")
    ax.legend(fontsize=7)
  run.save_figure(fig, "discriminators")


if __name__ == "__main__":
  main()
