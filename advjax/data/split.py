"""In-memory splits and keyed batching."""
from __future__ import annotations

from typing import Iterator, NamedTuple

import jax
import numpy as np


class Split(NamedTuple):
  """An in-memory split: ``image [N, H, W, C]`` float32, ``label [N]`` int32."""
  image: np.ndarray
  label: np.ndarray

  def __len__(self) -> int:
    return len(self.label)

  def as_dict(self) -> dict:
    return {"image": self.image, "label": self.label}


def stratified_split(images, labels, *, n_test: int, seed: int) -> tuple[Split, Split]:
  """Shuffles with ``seed`` and holds out ``n_test`` examples, stratified by class."""
  rng = np.random.default_rng(seed)
  classes = np.unique(labels)
  per_class = n_test // len(classes)
  test_idx, train_idx = [], []
  for c in classes:
    idx = rng.permutation(np.flatnonzero(labels == c))
    test_idx.append(idx[:per_class])
    train_idx.append(idx[per_class:])
  test_idx = rng.permutation(np.concatenate(test_idx))
  train_idx = rng.permutation(np.concatenate(train_idx))
  return (Split(images[train_idx], labels[train_idx]),
          Split(images[test_idx], labels[test_idx]))


def batch_indices(key: jax.Array, n: int, batch_size: int, *,
                  drop_remainder: bool = True) -> np.ndarray:
  """One epoch of shuffled indices, shape ``[n_batches, batch_size]``."""
  if batch_size <= 0 or batch_size > n:
    raise ValueError(f"`batch_size` must be in [1, {n}]; got {batch_size}.")
  perm = np.asarray(jax.random.permutation(key, n))
  n_batches = n // batch_size if drop_remainder else -(-n // batch_size)
  if not drop_remainder and n % batch_size:
    perm = np.concatenate([perm, perm[: n_batches * batch_size - n]])
  return perm[: n_batches * batch_size].reshape(n_batches, batch_size)


def iterate_batches(key: jax.Array, split: Split, batch_size: int, *,
                    with_index: bool = False) -> Iterator[dict]:
  """Yields shuffled ``{"image", "label"}`` NumPy batches for one epoch, and
  each example's row in ``split`` as ``"index"`` if ``with_index``."""
  for idx in batch_indices(key, len(split), batch_size):
    batch = {"image": split.image[idx], "label": split.label[idx]}
    yield {**batch, "index": idx.astype(np.int32)} if with_index else batch
