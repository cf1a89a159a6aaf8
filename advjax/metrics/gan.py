"""Sample-quality metrics for generators.

* Mode coverage on Gaussian mixtures (VEEGAN / PacGAN protocol).
* Fréchet distance between Gaussians fitted to features (FID when the
  features come from a classifier), with the matrix square root taken by
  symmetric eigendecomposition rather than ``sqrtm``.
* Class coverage of generated samples, judged by a classifier.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from advjax import _checks


def _float(x):
  return jnp.asarray(x).astype(jnp.promote_types(jnp.asarray(x).dtype, jnp.float32))


def mode_coverage(samples: jax.Array, centers: jax.Array, *, std: float,
                  num_std: float = 3.0, min_count: int = 1) -> dict[str, jax.Array]:
  """How many mixture modes a set of samples covers, and how well.

  Each sample is assigned to its nearest center; it is *high quality* if it
  lies within ``num_std·std`` of it. A mode is *captured* when at least
  ``min_count`` high-quality samples are assigned to it.

  Args:
    samples: ``[N, D]`` generated samples.
    centers: ``[K, D]`` mode centers (equal weights).
    std: the modes' standard deviation.
    num_std: the high-quality radius in standard deviations.
    min_count: high-quality samples needed to capture a mode.

  Returns:
    ``{"modes": int32 count, "high_quality": fraction in [0, 1],
    "reverse_kl": KL(q || uniform) of the histogram q of nearest modes}``.

  References:
    Srivastava et al., 2017 (VEEGAN). https://arxiv.org/abs/1705.07761
    Lin et al., 2018 (PacGAN). https://arxiv.org/abs/1712.04086
  """
  _checks.floating_batch(samples, name="samples", min_ndim=2)
  _checks.positive(std, name="std")
  _checks.positive(num_std, name="num_std")
  _checks.count(min_count, name="min_count", minimum=1)
  samples, centers = _float(samples), _float(centers)
  if centers.ndim != 2 or centers.shape[1] != samples.shape[1]:
    raise ValueError(f"`centers` must have shape [K, {samples.shape[1]}]; got "
                     f"{centers.shape}.")
  num_modes = centers.shape[0]
  sq_dist = jnp.sum(jnp.square(samples[:, None, :] - centers[None]), axis=-1)
  nearest = jnp.argmin(sq_dist, axis=1)
  good = jnp.min(sq_dist, axis=1) <= (num_std * std) ** 2
  hq_counts = jnp.zeros(num_modes, jnp.int32).at[nearest].add(good.astype(jnp.int32))
  q = jnp.zeros(num_modes, jnp.float32).at[nearest].add(1.0) / samples.shape[0]
  reverse_kl = jnp.sum(jnp.where(q > 0, q * jnp.log(jnp.where(q > 0, q, 1.0) * num_modes),
                                 0.0))
  return {"modes": jnp.sum(hq_counts >= min_count).astype(jnp.int32),
          "high_quality": jnp.mean(good.astype(jnp.float32)),
          "reverse_kl": reverse_kl}


def feature_statistics(features: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Mean ``[D]`` and unbiased covariance ``[D, D]`` of ``features [N, D]``."""
  _checks.floating_batch(features, name="features", min_ndim=2)
  if features.ndim != 2 or features.shape[0] < 2:
    raise ValueError(f"`features` must have shape [N >= 2, D]; got {features.shape}.")
  features = _float(features)
  mu = jnp.mean(features, axis=0)
  centred = features - mu
  return mu, centred.T @ centred / (features.shape[0] - 1)


def _psd_sqrt(cov):
  eigval, eigvec = jnp.linalg.eigh(cov)
  return (eigvec * jnp.sqrt(jnp.clip(eigval, 0.0))) @ eigvec.T


def frechet_distance(mu1: jax.Array, cov1: jax.Array, mu2: jax.Array,
                     cov2: jax.Array) -> jax.Array:
  """Squared Fréchet (2-Wasserstein) distance between two Gaussians.

  ``||μ₁ − μ₂||² + tr(Σ₁ + Σ₂ − 2 (Σ₁^½ Σ₂ Σ₁^½)^½)``. The trace term is
  computed from the eigenvalues of the symmetric PSD matrix
  ``Σ₁^½ Σ₂ Σ₁^½`` (``eigh``, negatives from rounding clipped to 0), which
  is stable and differentiable where ``scipy.linalg.sqrtm`` can return
  complex values.

  References:
    Heusel et al., 2017. https://arxiv.org/abs/1706.08500
  """
  mu1, mu2, cov1, cov2 = map(_float, (mu1, mu2, cov1, cov2))
  d = mu1.shape[-1]
  for name, cov in (("cov1", cov1), ("cov2", cov2)):
    if cov.shape != (d, d):
      raise ValueError(f"`{name}` must have shape ({d}, {d}); got {cov.shape}.")
  if mu2.shape != mu1.shape:
    raise ValueError(f"`mu2` must have shape {mu1.shape}; got {mu2.shape}.")
  root1 = _psd_sqrt(cov1)
  middle = root1 @ cov2 @ root1
  eigval = jnp.linalg.eigvalsh(0.5 * (middle + middle.T))
  trace_sqrt = jnp.sum(jnp.sqrt(jnp.clip(eigval, 0.0)))
  return (jnp.sum(jnp.square(mu1 - mu2)) + jnp.trace(cov1) + jnp.trace(cov2)
          - 2.0 * trace_sqrt)


def frechet_distance_from_features(features1: jax.Array,
                                   features2: jax.Array) -> jax.Array:
  """:func:`frechet_distance` between Gaussians fitted to two feature sets."""
  return frechet_distance(*feature_statistics(features1),
                          *feature_statistics(features2))


def class_coverage(labels: jax.Array, *, num_classes: int, low: float = 0.05,
                   high: float = 0.15) -> jax.Array:
  """Fraction of classes whose share of ``labels`` lies in ``[low, high]``.

  With 10 balanced classes and the defaults, 1.0 means every class holds
  5–15% of the generated samples: no class missing, none dominating.

  Args:
    labels: ``[N]`` predicted classes of generated samples.
    num_classes: number of classes.
    low, high: the accepted share of each class.
  """
  _checks.labels(labels, num_classes, name="labels")
  _checks.nonnegative(low, name="low")
  if not low <= high <= 1:
    raise ValueError(f"`high` must lie in [low, 1] = [{low}, 1]; got {high!r}.")
  share = jnp.zeros(num_classes, jnp.float32).at[labels].add(1.0) / labels.shape[0]
  return jnp.mean(((share >= low) & (share <= high)).astype(jnp.float32))
