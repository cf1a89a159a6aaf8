"""Two-domain datasets for domain adaptation, built offline.

Each builder returns a :class:`DomainShift`: labelled source splits and target
splits whose labels are only for evaluation (and for the train-on-target
upper bound). Inputs are float32; labels int32.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from advjax import _checks
from advjax.data.offline import mnist_subset
from advjax.data.split import Split

# The centre of scikit-learn's noiseless moons: rotations turn about it.
_MOONS_CENTER = np.array([0.5, 0.25], np.float32)


class PairedSplit(NamedTuple):
  """Aligned image pairs: ``source [N, H, W, Cs]`` → ``target [N, H, W, Ct]``,
  float32 in ``[0, 1]``, and the digit ``label [N]`` int32."""
  source: np.ndarray
  target: np.ndarray
  label: np.ndarray

  def __len__(self) -> int:
    return len(self.label)


class DomainShift(NamedTuple):
  """Source and target train/test splits of one adaptation task."""
  source_train: Split
  source_test: Split
  target_train: Split
  target_test: Split


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
  theta = np.deg2rad(degrees)
  rotation = np.array([[np.cos(theta), -np.sin(theta)],
                       [np.sin(theta), np.cos(theta)]], np.float32)
  return points @ rotation.T


def two_moons(*, n_per_domain: int = 150, n_test: int = 1000,
              noise: float = 0.05, angle: float = 35.0,
              seed: int = 0) -> DomainShift:
  """The inter-twinning moons of the DANN paper: target rotated by ``angle``.

  Points are centred on the moons' centre; the target domain is the same
  distribution rotated counter-clockwise by ``angle`` degrees. ``image``
  holds the points, shape ``[N, 2]``.

  Args:
    n_per_domain: training points per domain (both classes together).
    n_test: fresh test points per domain.
    noise: standard deviation of the Gaussian noise of ``make_moons``.
    angle: the rotation of the target domain, in degrees.
    seed: draws all four samples.

  References:
    Ganin et al., 2016, section 5.1.1. https://arxiv.org/abs/1505.07818
  """
  from sklearn.datasets import make_moons  # pylint: disable=import-outside-toplevel
  _checks.count(n_per_domain, name="n_per_domain", minimum=2)
  _checks.count(n_test, name="n_test", minimum=2)
  _checks.nonnegative(noise, name="noise")
  seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=4)

  def sample(n, random_state, degrees):
    x, y = make_moons(n_samples=n, noise=noise, random_state=int(random_state))
    x = _rotate(x.astype(np.float32) - _MOONS_CENTER, degrees)
    return Split(x.astype(np.float32), y.astype(np.int32))

  return DomainShift(sample(n_per_domain, seeds[0], 0.0),
                     sample(n_test, seeds[1], 0.0),
                     sample(n_per_domain, seeds[2], angle),
                     sample(n_test, seeds[3], angle))


def _resize_nearest(image: np.ndarray, size: int) -> np.ndarray:
  rows = (np.arange(size) * image.shape[0] / size).astype(int)
  cols = (np.arange(size) * image.shape[1] / size).astype(int)
  return image[rows][:, cols]


def photo_patches(rng: np.random.Generator, n: int, *, size: int = 28,
                  max_crop: int = 84) -> np.ndarray:
  """Random ``size``×``size`` colour patches of scikit-learn's sample photos.

  Crops of a random side in ``[size, max_crop]`` (resized to ``size``) at a
  random place of ``china.jpg`` or ``flower.jpg``, randomly flipped, rotated
  by a multiple of 90° and with permuted colour channels.

  Returns:
    ``[n, size, size, 3]`` float32 in ``[0, 1]``.
  """
  from sklearn.datasets import load_sample_images  # pylint: disable=import-outside-toplevel
  photos = [np.asarray(p, np.float32) / 255.0 for p in load_sample_images().images]
  out = np.empty((n, size, size, 3), np.float32)
  for i in range(n):
    photo = photos[rng.integers(len(photos))]
    crop = int(rng.integers(size, max_crop + 1))
    top = rng.integers(photo.shape[0] - crop + 1)
    left = rng.integers(photo.shape[1] - crop + 1)
    patch = _resize_nearest(photo[top:top + crop, left:left + crop], size)
    if rng.random() < 0.5:
      patch = patch[:, ::-1]
    patch = np.rot90(patch, k=int(rng.integers(4)))
    out[i] = patch[..., rng.permutation(3)]
  return out


def texture_patches(rng: np.random.Generator, n: int, *,
                    size: int = 28) -> np.ndarray:
  """Procedural colour textures: a random blend of two random colours.

  The blend weight is, with equal chance, smooth value noise (a coarse random
  grid upsampled bilinearly), a sum of oriented sinusoidal gratings, or
  stripes/checks; a little pixel noise is added.

  Returns:
    ``[n, size, size, 3]`` float32 in ``[0, 1]``.
  """
  grid = np.linspace(0.0, 1.0, size, dtype=np.float32)
  yy, xx = np.meshgrid(grid, grid, indexing="ij")
  out = np.empty((n, size, size, 3), np.float32)
  for i in range(n):
    kind = rng.integers(3)
    if kind == 0:  # value noise
      cells = int(rng.integers(2, 8))
      coarse = rng.random((cells, cells)).astype(np.float32)
      pos = grid * (cells - 1)
      i0 = np.minimum(pos.astype(int), cells - 2)
      frac = pos - i0
      rows = coarse[i0] * (1 - frac)[:, None] + coarse[i0 + 1] * frac[:, None]
      weight = rows[:, i0] * (1 - frac) + rows[:, i0 + 1] * frac
    elif kind == 1:  # gratings
      weight = np.zeros((size, size), np.float32)
      for _ in range(int(rng.integers(1, 4))):
        angle = rng.uniform(0, np.pi)
        freq = rng.uniform(1.0, 8.0)
        phase = rng.uniform(0, 2 * np.pi)
        weight += np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy)
                         + phase)
      weight = 0.5 + 0.5 * weight / np.abs(weight).max()
    else:  # stripes or checks
      period = rng.uniform(0.1, 0.5)
      a = np.floor(xx / period)
      b = np.floor(yy / period) if rng.random() < 0.5 else 0.0
      weight = ((a + b) % 2).astype(np.float32)
    c0, c1 = rng.random(3), rng.random(3)
    texture = c0 + (c1 - c0) * weight[..., None]
    texture += rng.normal(0.0, 0.03, texture.shape)
    out[i] = np.clip(texture, 0.0, 1.0)
  return out


def blend_digits(digits: np.ndarray, patches: np.ndarray) -> np.ndarray:
  """MNIST-M's blend: ``|patch − binarized digit|`` per channel.

  Args:
    digits: ``[N, H, W, 1]`` grey digits in ``[0, 1]``; every pixel above 0
      counts as stroke (as in MNIST-M).
    patches: ``[N, H, W, 3]`` colour patches in ``[0, 1]``.

  Returns:
    ``[N, H, W, 3]`` float32 in ``[0, 1]``: the strokes invert the patch.
  """
  stroke = (digits > 0).astype(np.float32)
  return np.abs(patches - stroke).astype(np.float32)


def mnist_m_style(*, photo_fraction: float = 0.5, n_train: int = 2000,
                  n_test: int = 500, seed: int = 0) -> DomainShift:
  """MNIST (grey) → an MNIST-M-style target (digits blended into colour).

  The offline 5,000-image MNIST subset (4,000 train / 1,000 test) is split in
  two disjoint halves: the source keeps its grey digits (replicated to 3
  channels), the target's digits are blended as in MNIST-M into patches, a
  ``photo_fraction`` of them from scikit-learn's two sample photographs
  (:func:`photo_patches`) and the rest procedural textures
  (:func:`texture_patches`). Images are ``[N, 28, 28, 3]``.

  Args:
    photo_fraction: the share of target patches cut from the photographs.
    n_train: training images per domain, at most 2,000.
    n_test: test images per domain, at most 500.
    seed: the MNIST split and the patches.

  References:
    Ganin et al., 2016, section 5.2.2. https://arxiv.org/abs/1505.07818
  """
  _check_sizes(photo_fraction, n_train, n_test, max_train=2000, max_test=500,
               source="half of the MNIST subset's splits")
  train, test = mnist_subset(n_test=1000, seed=seed)
  rng = np.random.default_rng(seed)

  def halves(split, n):
    half = len(split) // 2
    return (Split(split.image[:n], split.label[:n]),
            Split(split.image[half:half + n], split.label[half:half + n]))

  def grey_to_rgb(split):
    return Split(np.repeat(split.image, 3, axis=-1), split.label)

  def colourize(split):
    patches = _mixed_patches(rng, len(split), photo_fraction)
    return Split(blend_digits(split.image, patches), split.label)

  (source_train, target_train) = halves(train, n_train)
  (source_test, target_test) = halves(test, n_test)
  return DomainShift(grey_to_rgb(source_train), grey_to_rgb(source_test),
                     colourize(target_train), colourize(target_test))


def _check_sizes(photo_fraction, n_train, n_test, *, max_train, max_test, source):
  if not 0.0 <= photo_fraction <= 1.0:
    raise ValueError(
        f"`photo_fraction` must lie in [0, 1]; got {photo_fraction!r}.")
  _checks.count(n_train, name="n_train", minimum=1)
  _checks.count(n_test, name="n_test", minimum=1)
  if n_train > max_train or n_test > max_test:
    raise ValueError(f"`n_train` must be <= {max_train} and `n_test` <= {max_test} "
                     f"({source}); got {n_train} and {n_test}.")


def _mixed_patches(rng, n: int, photo_fraction: float) -> np.ndarray:
  """``n`` colour patches, each from the photographs with probability
  ``photo_fraction`` and a procedural texture otherwise."""
  from_photo = rng.random(n) < photo_fraction
  patches = np.empty((n, 28, 28, 3), np.float32)
  patches[from_photo] = photo_patches(rng, int(from_photo.sum()))
  patches[~from_photo] = texture_patches(rng, int((~from_photo).sum()))
  return patches


def mnist_m_pairs(*, photo_fraction: float = 0.5, n_train: int = 4000,
                  n_test: int = 1000, seed: int = 0) -> tuple[PairedSplit, PairedSplit]:
  """Paired image translation: each grey MNIST digit → its MNIST-M-style colouring.

  The same blend as :func:`mnist_m_style` (:func:`blend_digits` into
  :func:`photo_patches` / :func:`texture_patches`), but source and target are
  the *same* digit, so the pairs are aligned pixel for pixel. The background
  is not determined by the input: the mapping is one-to-many, the setting in
  which an L1 loss alone averages the possible outputs into a blur.

  Args:
    photo_fraction: the share of patches cut from the photographs.
    n_train: training pairs, at most 4,000 (the MNIST subset's train split).
    n_test: test pairs, at most 1,000.
    seed: the MNIST split and the patches.

  Returns:
    ``(train, test)`` :class:`PairedSplit` with ``source [N, 28, 28, 1]`` and
    ``target [N, 28, 28, 3]``.

  References:
    Ganin et al., 2016, section 5.2.2. https://arxiv.org/abs/1505.07818
    Isola et al., 2017 (pix2pix). https://arxiv.org/abs/1611.07004
  """
  _check_sizes(photo_fraction, n_train, n_test, max_train=4000, max_test=1000,
               source="the MNIST subset's splits")
  train, test = mnist_subset(n_test=1000, seed=seed)
  rng = np.random.default_rng(seed)

  def pairs(split, n):
    digits = split.image[:n]
    patches = _mixed_patches(rng, n, photo_fraction)
    return PairedSplit(digits, blend_digits(digits, patches), split.label[:n])

  return pairs(train, n_train), pairs(test, n_test)
