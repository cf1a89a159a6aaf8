"""TFDS datasets through ``tfds.data_source``: random access, no TensorFlow.

``tfds.data_source`` reads a dataset prepared in the ArrayRecord format and
decodes examples with NumPy and Pillow, so reading needs no TensorFlow.
Preparing a dataset (``download=True``, or ``tfds build NAME
--file_format=array_record``) fetches it from the network and, for image
datasets, encodes PNGs with TensorFlow: do it once where both are available,
then point ``data_dir`` at the result. Nothing here downloads unless asked.

Images come out as the offline sources give them (float32 in [0, 1], NHWC),
labels as int32, so ``mnist``, ``fashion_mnist``, ``cifar10``,
``svhn_cropped`` and any fixed-size image classification dataset slot in where
:func:`advjax.data.mnist_subset` is used.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
from typing import Any, Iterator, Sequence

import jax
import numpy as np

from advjax import _checks
from advjax.data.split import Split
from advjax.data.split import batch_indices

OFFLINE_ALTERNATIVE = "advjax.data.mnist_subset()"
_FILE_FORMAT = "array_record"  # A random-access format `data_source` reads.


@dataclasses.dataclass(frozen=True)
class TfdsSource:
  """Lazy random access to one TFDS split, decoded like the offline sources.

  Attributes:
    name: The TFDS name it was opened with.
    split: The split (TFDS split syntax, e.g. ``"train[:10%]"``).
    records: The ``tfds.data_source`` sequence of example dicts.
    image_key: Feature holding the images.
    label_key: Feature holding the integer labels.
    image_shape: ``(H, W, C)`` of every image.
    num_classes: Number of classes of a ``ClassLabel`` label, else None.
  """
  name: str
  split: str
  records: Sequence[dict]
  image_key: str
  label_key: str
  image_shape: tuple[int, int, int]
  num_classes: int | None

  def __len__(self) -> int:
    return len(self.records)

  def read(self, indices: Any) -> Split:
    """Decodes the examples at ``indices`` (1-D integers) into a Split."""
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
      raise ValueError(
          f"`indices` must be a 1-D integer array; got shape {idx.shape}, "
          f"dtype {idx.dtype}.")
    if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
      raise IndexError(
          f"`indices` must lie in [0, {len(self)}) for {self.name!r} "
          f"split {self.split!r}; got values in [{idx.min()}, {idx.max()}].")
    # One record at a time: decoding dominates, so batched reads gain nothing,
    # and the tfds 4.9.10 mock's `__getitems__` is broken.
    examples = [self.records[int(i)] for i in idx]
    images = np.zeros((0, *self.image_shape), np.uint8)
    if examples:
      images = np.stack([np.asarray(e[self.image_key]) for e in examples])
    labels = np.asarray([e[self.label_key] for e in examples], np.int32)
    return Split(_unit_float(images), labels)


def tfds_source(name: str, *, split: str = "train",
                data_dir: str | os.PathLike | None = None,
                download: bool = False, image_key: str = "image",
                label_key: str = "label") -> TfdsSource:
  """Opens a prepared TFDS split for lazy random access.

  Args:
    name: TFDS name, e.g. ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``,
      ``"svhn_cropped"``, ``"emnist/digits"``, or a dataset prepared in
      ``data_dir`` that TFDS does not register.
    split: TFDS split, slicing allowed (``"train[:1000]"``).
    data_dir: Where the prepared dataset lives; TFDS's default
      (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``) when None.
    download: Download and prepare the dataset (ArrayRecord format) when it is
      missing. Needs the network and, for image datasets, TensorFlow.
    image_key: Feature holding fixed-size images.
    label_key: Feature holding integer labels.

  Returns:
    A :class:`TfdsSource`; nothing is decoded until :meth:`TfdsSource.read`.

  Raises:
    FileNotFoundError: The dataset is not prepared in ``data_dir`` and
      ``download`` is False (the message names the offline alternative).
    ValueError: Unknown dataset, or features unsuitable for classification.
  """
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  try:
    records = tfds.data_source(
        name, split=split, data_dir=data_dir, download=download,
        builder_kwargs={"file_format": _FILE_FORMAT})
  except tfds.core.registered.DatasetNotFoundError:
    # Community datasets are skipped: listing them goes to the network.
    known = tfds.list_builders(with_community_datasets=False)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"`name`: TFDS has no dataset {name!r}, neither registered nor "
        f"prepared in data_dir={data_dir!r}.{hint}") from None
  except Exception as err:  # pylint: disable=broad-except
    if download or tfds.builder(name, data_dir=data_dir).is_prepared():
      raise
    raise FileNotFoundError(_missing_message(name, data_dir)) from err
  return _wrap(records, name=name, split=split, image_key=image_key,
               label_key=label_key)


def load_tfds(name: str, *, split: str = "train",
              data_dir: str | os.PathLike | None = None,
              max_examples: int | None = None, download: bool = False,
              image_key: str = "image", label_key: str = "label") -> Split:
  """Loads a TFDS split into memory, formatted like the offline sources.

  Args:
    name: TFDS name (see :func:`tfds_source`).
    split: TFDS split, slicing allowed.
    data_dir: Where the prepared dataset lives (TFDS default when None).
    max_examples: Keep only the first this many examples (TFDS stores splits
      already shuffled); all when None.
    download: Download and prepare the dataset if missing (see
      :func:`tfds_source`).
    image_key: Feature holding fixed-size images.
    label_key: Feature holding integer labels.

  Returns:
    A :class:`Split` with ``image [N, H, W, C]`` float32 in [0, 1] and
    ``label [N]`` int32.
  """
  if max_examples is not None:
    _checks.count(max_examples, name="max_examples", minimum=1)
  source = tfds_source(name, split=split, data_dir=data_dir, download=download,
                       image_key=image_key, label_key=label_key)
  n = len(source) if max_examples is None else min(len(source), max_examples)
  return source.read(np.arange(n))


def iterate_tfds_batches(key: jax.Array, source: TfdsSource, batch_size: int,
                         *, drop_remainder: bool = True) -> Iterator[dict]:
  """Yields one epoch of shuffled ``{"image", "label"}`` batches, lazily.

  The order is :func:`advjax.data.batch_indices` of ``key``: the same batches
  :func:`advjax.data.iterate_batches` gives on the loaded split.
  """
  for idx in batch_indices(key, len(source), batch_size,
                           drop_remainder=drop_remainder):
    yield source.read(idx).as_dict()


def _wrap(records, *, name: str, split: str, image_key: str,
          label_key: str) -> TfdsSource:
  """Checks the features of a data source and wraps it."""
  features = records.dataset_info.features
  for arg, key in (("image_key", image_key), ("label_key", label_key)):
    if key not in features:
      raise ValueError(
          f"`{arg}`: {name!r} has no feature {key!r}; it has "
          f"{sorted(features.keys())}.")
  shape = tuple(features[image_key].shape)
  if len(shape) != 3 or any(d is None for d in shape):
    raise ValueError(
        f"`image_key`: {name!r} feature {image_key!r} must hold fixed-size "
        f"[H, W, C] images; its shape is {shape}.")
  return TfdsSource(name=name, split=split, records=records,
                    image_key=image_key, label_key=label_key,
                    image_shape=shape,
                    num_classes=getattr(features[label_key], "num_classes",
                                        None))


def _unit_float(images: np.ndarray) -> np.ndarray:
  """Integer images scaled by their dtype's maximum; float images kept."""
  if images.dtype.kind in "iu":
    return images.astype(np.float32) / np.float32(np.iinfo(images.dtype).max)
  return images.astype(np.float32)


def _missing_message(name: str, data_dir) -> str:
  where = ("TFDS's default data_dir ($TFDS_DATA_DIR or ~/tensorflow_datasets)"
           if data_dir is None else f"data_dir={os.fspath(data_dir)!r}")
  return (
      f"TFDS dataset {name!r} is not prepared in {where}, and advjax does not "
      "download unless asked. Offline, use "
      f"{OFFLINE_ALTERNATIVE} instead. To get {name!r}: pass download=True "
      "(needs the network and TensorFlow), or run `tfds build "
      f"{name} --file_format=array_record` where those are available and "
      "copy the result into data_dir.")
