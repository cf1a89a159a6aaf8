"""Mode coverage of every GAN loss on the ring of 8 and the grid of 25 Gaussians.

For each loss (minimax, non-saturating, WGAN with weight clipping, WGAN-GP,
LSGAN, hinge with a spectrally normalized discriminator) an MLP generator and
discriminator are trained on fresh samples of the ring (unit circle, σ = 0.01)
and of the grid ({-4, ..., 4}², σ = 0.05); both datasets train together under
one ``vmap``, whole chunks of steps in one jitted ``lax.scan``. 2,500 samples of the
EMA generator are scored as in VEEGAN / PacGAN: modes captured (a mode holds
at least one sample within 3σ) and the fraction of high-quality samples
(within 3σ of their nearest mode), plus the reverse KL of the histogram of
nearest modes to uniform.

Run: ``python -m experiments.gan_mixture [--preset smoke|default|full]``.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from advjax import data
from advjax import metrics
from advjax import models
from advjax import train
from advjax.train import gan as gan_train
from experiments import common
from experiments._gan_common import train_in_chunks

DATASETS = ("ring", "grid")

# name -> (loss, discriminator spectral norm, optimizer recipe, n_critic, λ_GP)
LOSSES = {
    "minimax": ("minimax", False, "adam", 1, 0.0),
    "non_saturating": ("non_saturating", False, "adam", 1, 0.0),
    "wgan_clip": ("wasserstein", False, "wgan", 5, 0.0),
    "wgan_gp": ("wasserstein", False, "wgan_gp", 5, 0.1),
    "lsgan": ("least_squares", False, "adam", 1, 0.0),
    "hinge_sn": ("hinge", True, "adam", 1, 0.0),
}


@dataclasses.dataclass(frozen=True)
class Config:
  losses: tuple = tuple(LOSSES)
  latent_dim: int = 16
  g_features: tuple = (128, 128, 128)
  d_features: tuple = (128, 128, 128)
  steps: int = 10000
  chunk_steps: int = 1000
  batch_size: int = 256
  learning_rate: float = 2e-4
  beta1: float = 0.5
  beta2: float = 0.999
  r1_weight: float = 0.0
  ema_decay: float = 0.999
  num_samples: int = 2500
  num_snapshots: int = 5
  seed: int = 0


PRESETS = {
    "smoke": Config(losses=("non_saturating", "hinge_sn"), g_features=(16,),
                    d_features=(16,), steps=40, chunk_steps=20, batch_size=32,
                    num_samples=400, num_snapshots=2),
    "default": Config(),
    "full": Config(g_features=(400, 400, 400, 400), d_features=(200, 200, 200),
                   steps=100000, chunk_steps=5000),
}


def _mixtures():
  ring, grid = data.ring_mixture(), data.grid_mixture()
  return {"ring": ring, "grid": grid}


def _optimizers(recipe, cfg):
  if recipe == "adam":
    tx = optax.adam(cfg.learning_rate, b1=cfg.beta1, b2=cfg.beta2)
    return tx, tx
  return gan_train.gan_optimizers(recipe)


def _train_loss(run, name, cfg, mesh, key):
  """Trains one loss on both datasets at once; returns the final GANState."""
  loss, spectral_norm, recipe, n_critic, gp_weight = LOSSES[name]
  gen = models.MLPGenerator(features=cfg.g_features, out_features=2)
  disc = models.MLPDiscriminator(features=cfg.d_features,
                                 spectral_norm=spectral_norm)
  g_tx, d_tx = _optimizers(recipe, cfg)
  g_apply, d_apply = train.linen_apply(gen), train.linen_apply(disc)
  step = gan_train.make_gan_step(
      g_apply, d_apply, g_tx, d_tx, loss=loss, latent_dim=cfg.latent_dim,
      n_critic=n_critic, gp_weight=gp_weight, r1_weight=cfg.r1_weight,
      ema_decay=cfg.ema_decay)
  sample = gan_train.make_sampler(g_apply, latent_dim=cfg.latent_dim)
  mixtures = [_mixtures()[d] for d in DATASETS]


  def init(key):
    k_g, k_d = jax.random.split(key)
    return gan_train.GANState.create(
        gen.init(k_g, jnp.zeros((1, cfg.latent_dim))),
        disc.init(k_d, jnp.zeros((1, 2))), g_tx, d_tx)

  keys = jax.random.split(key, len(DATASETS))
  states = jax.jit(jax.vmap(init))(keys)
  snapshots = jnp.zeros((len(DATASETS), cfg.num_snapshots, 500, 2), jnp.float32)
  carry = train.replicate({"gan": states, "snapshots": snapshots}, mesh)
  snapshot_every = cfg.steps // cfg.num_snapshots
  batch_sharding = NamedSharding(mesh, P(None, "data"))

  # Both mixtures as arrays (the ring's centers padded), so one vmap samples both.
  num_modes = jnp.array([len(m.centers) for m in mixtures])
  centers = jnp.stack([jnp.resize(jnp.asarray(m.centers), (25, 2)) for m in mixtures])
  stds = jnp.array([m.std for m in mixtures], jnp.float32)

  def sample_real(key, centers_, num_modes_, std):
    k_mode, k_noise = jax.random.split(key)
    mode = jax.random.randint(k_mode, (n_critic * cfg.batch_size,), 0, num_modes_)
    return centers_[mode] + std * jax.random.normal(k_noise, (mode.shape[0], 2))

  def one_step(states, t):
    k_data, k_step = jax.vmap(
        lambda k: jax.random.split(jax.random.fold_in(k, t)), out_axes=1)(keys)
    real = jax.vmap(sample_real)(k_data, centers, num_modes, stds)
    real = jax.sharding.reshard(real, batch_sharding)
    return jax.vmap(step)(states, real, k_step)

  @jax.jit
  def chunk(carry, start):
    states, metrics_ = jax.lax.scan(one_step, carry["gan"],
                                    start + jnp.arange(cfg.chunk_steps))
    end = start + cfg.chunk_steps
    samples = jax.vmap(lambda s: sample(s, jax.random.key(7), 500))(states)
    slot = jnp.clip(end // snapshot_every - 1, 0, cfg.num_snapshots - 1)
    take = (end % snapshot_every) == 0
    snaps = jnp.where(take, carry["snapshots"].at[:, slot].set(samples),
                      carry["snapshots"])
    return {"gan": states, "snapshots": snaps}, jax.tree.map(
        lambda m: jnp.mean(m, axis=0), metrics_)

  carry, _ = train_in_chunks(run, name, carry, chunk, total_steps=cfg.steps,
                             chunk_steps=cfg.chunk_steps)
  final = jax.jit(jax.vmap(lambda s, k: sample(s, k, cfg.num_samples)))(
      carry["gan"], jax.random.split(jax.random.fold_in(key, 99), len(DATASETS)))
  return np.asarray(final), np.asarray(carry["snapshots"])


def main(argv=None):
  run, _ = common.setup("gan_mixture", PRESETS, argv)
  cfg = run.config
  unknown = set(cfg.losses) - set(LOSSES)
  if unknown:
    raise ValueError(f"unknown losses {sorted(unknown)}; choose from {sorted(LOSSES)}")
  if cfg.steps % cfg.num_snapshots or (cfg.steps // cfg.num_snapshots) % cfg.chunk_steps:
    raise ValueError("steps / num_snapshots must be a multiple of chunk_steps")
  mesh = train.data_mesh()
  mixtures = _mixtures()
  results, rows, samples, snapshots = {}, [], {}, {}
  for index, name in enumerate(cfg.losses):
    final, snaps = _train_loss(run, name, cfg, mesh,
                               jax.random.fold_in(jax.random.key(cfg.seed), index))
    row = {"loss": name}
    for d, dataset in enumerate(DATASETS):
      mixture = mixtures[dataset]
      cov = metrics.mode_coverage(jnp.asarray(final[d]), mixture.centers,
                                  std=mixture.std)
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
