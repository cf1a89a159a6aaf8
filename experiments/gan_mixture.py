"""Mode coverage of every GAN loss on the ring of 8 and the grid of 25 Gaussians.

For each loss (minimax, non-saturating, WGAN with weight clipping, WGAN-GP,
LSGAN, hinge with a spectrally normalized discriminator) an MLP generator and
discriminator are trained on fresh samples of the ring (unit circle, σ = 0.01)
and of the grid ({-4, ..., 4}², σ = 0.05); both datasets train together under
one ``vmap``, whole chunks of steps in one jitted ``lax.scan``. 2,500 samples of the
EMA generator are scored as in VEEGAN / PacGAN: modes captured (a mode holds
at least one sample within 3σ) and the fraction of high-quality samples
(within 3σ of their nearest mode), plus the reverse KL of the histogram of
nearest modes to uniform. Each mixture is trained at unit scale (divided by
its largest coordinate) and the samples are scaled back before scoring.

The losses use the recipes of their papers where they have one (WGAN:
RMSProp 5e-5, clipping 0.01; WGAN-GP: Adam 1e-4, β = (0, 0.9), λ = 0.1 as in
its toy experiments; hinge + SN: Adam 2e-4, β = (0, 0.9); all three with 5
critic steps); the others share Adam (1e-3, β = (0.5, 0.9), decayed linearly
over the second half).
``non_saturating_r1`` adds the R1 penalty (γ = 1) to the non-saturating GAN.

Run: ``python -m experiments.gan_mixture [--preset smoke|default|full]``.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from advjax import data
from advjax import metrics
from advjax import models
from advjax import train
from advjax.train import gan as gan_train
from experiments import common
from experiments._gan_common import Recipe
from experiments._gan_common import build_gan
from experiments._gan_common import run_on_mesh
from experiments._gan_common import scan_chunk
from experiments._gan_common import train_in_chunks

DATASETS = ("ring", "grid")

RECIPES = {
    "minimax": Recipe("minimax", optimizer="adam"),
    "non_saturating": Recipe("non_saturating", optimizer="adam"),
    "wgan_clip": Recipe("wasserstein", optimizer="wgan", n_critic=5),
    "wgan_gp": Recipe("wasserstein", optimizer="wgan_gp", n_critic=5, gp_weight=0.1),
    "lsgan": Recipe("least_squares", optimizer="adam"),
    "hinge_sn": Recipe("hinge", spectral_norm=True, optimizer="sngan", n_critic=5),
    "non_saturating_r1": Recipe("non_saturating", optimizer="adam", r1_weight=1.0),
}


@dataclasses.dataclass(frozen=True)
class Config:
  losses: tuple = tuple(RECIPES)
  latent_dim: int = 16
  g_features: tuple = (64, 64, 64)
  d_features: tuple = (64, 64, 64)
  steps: int = 20000
  chunk_steps: int = 1000
  batch_size: int = 256
  learning_rate: float = 1e-3
  beta1: float = 0.5
  beta2: float = 0.9
  decay_from: float = 0.5  # Adam's rate decays linearly to 2% after this fraction
  ema_decay: float = 0.999
  num_samples: int = 2500
  num_snapshots: int = 5
  seed: int = 0


PRESETS = {
    "smoke": Config(losses=("non_saturating_r1",), g_features=(8,),
                    d_features=(8,), steps=20, chunk_steps=20, batch_size=16,
                    num_samples=200, num_snapshots=1),
    "default": Config(),
    "full": Config(g_features=(256, 256, 256), d_features=(256, 256, 256),
                   steps=100000, chunk_steps=5000),
}


def _mixtures():
  ring, grid = data.ring_mixture(), data.grid_mixture()
  return {"ring": ring, "grid": grid}


def _optimizers(recipe, cfg):
  if recipe.optimizer == "adam":
    hold = int(cfg.steps * cfg.decay_from)
    schedule = optax.join_schedules(
        [optax.constant_schedule(cfg.learning_rate),
         optax.linear_schedule(cfg.learning_rate, 0.02 * cfg.learning_rate,
                               cfg.steps - hold)], [hold])
    tx = optax.adam(schedule, b1=cfg.beta1, b2=cfg.beta2)
    return tx, tx
  return gan_train.gan_optimizers(recipe.optimizer)


def _draw_mixture(key, num, centers, num_modes, std):
  """Samples of a mixture whose ``centers`` may be padded past ``num_modes``."""
  k_mode, k_noise = jax.random.split(key)
  mode = jax.random.randint(k_mode, (num,), 0, num_modes)
  return centers[mode] + std * jax.random.normal(k_noise, (num, centers.shape[1]))


def _train_loss(run, name, cfg, mesh, key):
  """Trains one recipe on both datasets at once (vmapped).

  Returns:
    ``(final samples [2, num_samples, 2], snapshots [2, num_snapshots, 500, 2])``.
  """
  recipe = RECIPES[name]
  gen = models.MLPGenerator(features=cfg.g_features, out_features=2)
  disc = models.MLPDiscriminator(features=cfg.d_features,
                                 spectral_norm=recipe.spectral_norm)
  g_tx, d_tx = _optimizers(recipe, cfg)
  step, sample, init = build_gan(recipe, gen, disc, g_tx, d_tx,
                                 latent_dim=cfg.latent_dim, ema_decay=cfg.ema_decay)
  mixtures = [_mixtures()[d] for d in DATASETS]
  # Train every mixture at unit scale, as images are scaled to [-1, 1].
  scales = np.array([np.abs(m.centers).max() for m in mixtures], np.float32)
  num_modes = jnp.array([len(m.centers) for m in mixtures])
  width = int(num_modes.max())
  centers = jnp.stack([jnp.resize(jnp.asarray(m.centers / s), (width, 2))
                       for m, s in zip(mixtures, scales)])
  stds = jnp.array([m.std / s for m, s in zip(mixtures, scales)], jnp.float32)
  keys = jax.random.split(key, len(DATASETS))
  states = jax.vmap(lambda k: init(k, (2,)))(keys)
  snapshots = jnp.zeros((len(DATASETS), cfg.num_snapshots, 500, 2), jnp.float32)
  carry = train.replicate({"gan": states, "snapshots": snapshots}, mesh)
  snapshot_every = cfg.steps // cfg.num_snapshots
  one_chunk = scan_chunk(step, _draw_mixture, chunk_steps=cfg.chunk_steps,
                         batch_size=recipe.n_critic * cfg.batch_size,
                         nan_check=run.nan_check)

  @jax.jit
  def chunk(carry, start):
    states, metrics_ = jax.vmap(one_chunk, in_axes=(0, None, 0, 0, 0, 0))(
        carry["gan"], start, keys, centers, num_modes, stds)
    end = start + cfg.chunk_steps
    samples = jax.vmap(lambda s: sample(s, jax.random.key(7), 500))(states)
    slot = jnp.clip(end // snapshot_every - 1, 0, cfg.num_snapshots - 1)
    snaps = jnp.where(end % snapshot_every == 0,
                      carry["snapshots"].at[:, slot].set(samples), carry["snapshots"])
    return {"gan": states, "snapshots": snaps}, jax.tree.map(jnp.mean, metrics_)

  carry, _ = train_in_chunks(run, name, carry, chunk, total_steps=cfg.steps,
                             chunk_steps=cfg.chunk_steps)
  final = jax.jit(jax.vmap(lambda s, k: sample(s, k, cfg.num_samples)))(
      carry["gan"], jax.random.split(jax.random.fold_in(key, 99), len(DATASETS)))
  scales = scales[:, None, None]
  return np.asarray(final) * scales, np.asarray(carry["snapshots"]) * scales[:, None]


def main(argv=None):
  return run_on_mesh("gan_mixture", PRESETS, argv, _main, recipes=RECIPES)


def _main(run, mesh):
  cfg = run.config
  if cfg.steps % cfg.num_snapshots or (cfg.steps // cfg.num_snapshots) % cfg.chunk_steps:
    raise ValueError("steps / num_snapshots must be a multiple of chunk_steps")
  mixtures = _mixtures()
  results, rows, samples, snapshots = {}, [], {}, {}
  coverage = jax.jit(metrics.mode_coverage, static_argnames="std")
  for index, name in enumerate(cfg.losses):
    final, snaps = _train_loss(run, name, cfg, mesh,
                               jax.random.fold_in(jax.random.key(cfg.seed), index))
    row = {"loss": name}
    for d, dataset in enumerate(DATASETS):
      mixture = mixtures[dataset]
      cov = coverage(jnp.asarray(final[d]), mixture.centers, std=mixture.std)
      results[f"{name}/{dataset}_modes"] = int(cov["modes"])
      results[f"{name}/{dataset}_high_quality"] = float(cov["high_quality"])
      results[f"{name}/{dataset}_reverse_kl"] = float(cov["reverse_kl"])
      row[f"{dataset} modes"] = f"{int(cov['modes'])}/{len(mixture.centers)}"
      row[f"{dataset} HQ"] = float(cov["high_quality"])
      row[f"{dataset} rKL"] = float(cov["reverse_kl"])
      samples[(name, dataset)] = final[d]
      snapshots[(name, dataset)] = snaps[d]
    rows.append(row)
    run.write_results(results)  # partial results survive an interruption
  _plot(run, cfg, mixtures, samples, snapshots)
  run.log(common.format_table(rows, ["loss"] + [
      f"{d} {m}" for d in DATASETS for m in ("modes", "HQ", "rKL")]))
  return results


def _plot(run, cfg, mixtures, samples, snapshots):
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  limits = {"ring": 1.5, "grid": 5.0}
  for dataset in DATASETS:
    centers = mixtures[dataset].centers
    cols = cfg.num_snapshots + 1
    fig, axes = plt.subplots(len(cfg.losses), cols, squeeze=False,
                             figsize=(2.2 * cols, 2.2 * len(cfg.losses)))
    for r, name in enumerate(cfg.losses):
      frames = list(snapshots[(name, dataset)]) + [samples[(name, dataset)]]
      for c, pts in enumerate(frames):
        ax = axes[r, c]
        ax.scatter(centers[:, 0], centers[:, 1], s=12, c="k", marker="x")
        ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.4)
        ax.set_xlim(-limits[dataset], limits[dataset])
        ax.set_ylim(-limits[dataset], limits[dataset])
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
          step = (c + 1) * cfg.steps // cfg.num_snapshots
          ax.set_title("final (2,500)" if c == cols - 1 else f"step {step}",
                       fontsize=8)
        if c == 0:
          ax.set_ylabel(name, fontsize=8)
    run.save_figure(fig, f"samples_{dataset}")


if __name__ == "__main__":
  main()
