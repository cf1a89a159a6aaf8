"""Synthetic 2-D Gaussian mixtures: the ring of 8 and the grid of 25.

The standard mode-collapse benchmarks (Metz et al. 2017; Srivastava et al.
2017; Lin et al. 2018). Sampling is a pure function of a key, so it runs
inside a jitted training loop.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from advjax import _checks


class GaussianMixture(NamedTuple):
  """An equal-weight isotropic mixture: ``centers [K, D]``, common ``std``."""
  centers: np.ndarray
  std: float

  def sample(self, key: jax.Array, num: int) -> jax.Array:
    """``num`` samples, float32 ``[num, D]``."""
    k_mode, k_noise = jax.random.split(key)
    centers = jnp.asarray(self.centers, jnp.float32)
    mode = jax.random.randint(k_mode, (num,), 0, centers.shape[0])
    noise = jax.random.normal(k_noise, (num, centers.shape[1]), jnp.float32)
    return centers[mode] + self.std * noise


def ring_mixture(*, num_modes: int = 8, radius: float = 1.0,
                 std: float = 0.01) -> GaussianMixture:
  """``num_modes`` Gaussians at equally spaced angles on a circle."""
  _checks.count(num_modes, name="num_modes", minimum=1)
  _checks.positive(radius, name="radius")
  _checks.positive(std, name="std")
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  centers = radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
  return GaussianMixture(centers.astype(np.float32), float(std))


def grid_mixture(*, side: int = 5, spacing: float = 2.0,
                 std: float = 0.05) -> GaussianMixture:
  """``side²`` Gaussians on a centred square grid (default {-4, ..., 4}²)."""
  _checks.count(side, name="side", minimum=1)
  _checks.positive(spacing, name="spacing")
  _checks.positive(std, name="std")
  axis = spacing * (np.arange(side) - (side - 1) / 2)
  centers = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
  return GaussianMixture(centers.astype(np.float32), float(std))
