"""Tests for advjax.data.tfds: TFDS through `tfds.data_source`, no TensorFlow.

Two TF-free routes: `tfds.testing.mock_data` (its default policy, AUTO, falls
back to USE_CODE: fake examples from the real builders' feature specs), and a
tiny dataset really prepared in the ArrayRecord format in a temporary
directory, which exercises the on-disk path (PNG decoding with Pillow).
"""
import importlib.util
import time

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from advjax import data

pytestmark = pytest.mark.strict_dtypes

SHAPES = {
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
    "svhn_cropped": (32, 32, 3),
}
N_MOCK = 24


def test_tensorflow_is_not_installed():
  # Everything below must work without TensorFlow.
  assert importlib.util.find_spec("tensorflow") is None


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_load_tfds_mock_format(name):
  with tfds.testing.mock_data(num_examples=N_MOCK):
    split = data.load_tfds(name, split="test")
    source = data.tfds_source(name, split="test")
    raw = [source.records[i] for i in range(N_MOCK)]
    head = data.load_tfds(name, split="test", max_examples=5)
  assert isinstance(split, data.Split)
  assert split.image.shape == (N_MOCK, *SHAPES[name])
  assert split.image.dtype == np.float32 and split.label.dtype == np.int32
  assert split.label.shape == (N_MOCK,)
  assert 0.0 <= split.image.min() < 0.1 and 0.9 < split.image.max() <= 1.0
  assert split.label.min() >= 0 and split.label.max() < 10
  assert source.num_classes == 10 and source.image_shape == SHAPES[name]
  np.testing.assert_allclose(
      split.image, np.stack([r["image"] for r in raw]) / 255.0, rtol=1e-6)
  np.testing.assert_array_equal(split.label, [r["label"] for r in raw])
  assert len(head) == 5
  np.testing.assert_array_equal(head.image, split.image[:5])


def test_lazy_batches_match_in_memory_batches_and_key():
  batch = 8
  with tfds.testing.mock_data(num_examples=N_MOCK):
    source = data.tfds_source("cifar10")
    split = data.load_tfds("cifar10")
    lazy = list(data.iterate_tfds_batches(jax.random.key(3), source, batch))
    again = list(data.iterate_tfds_batches(jax.random.key(3), source, batch))
    other = list(data.iterate_tfds_batches(jax.random.key(4), source, batch))
  eager = list(data.iterate_batches(jax.random.key(3), split, batch))
  assert len(lazy) == N_MOCK // batch
  for a, b, c in zip(lazy, again, eager):
    assert a["image"].shape == (batch, 32, 32, 3)
    assert a["image"].dtype == np.float32 and a["label"].dtype == np.int32
    for k in ("image", "label"):
      np.testing.assert_array_equal(a[k], b[k])
      np.testing.assert_array_equal(a[k], c[k])
  # One epoch visits every example once, in a key-dependent order.
  order = data.batch_indices(jax.random.key(3), N_MOCK, batch).ravel()
  np.testing.assert_array_equal(np.sort(order), np.arange(N_MOCK))
  np.testing.assert_array_equal(
      np.concatenate([b["image"] for b in lazy]), split.image[order])
  assert not np.array_equal(np.concatenate([b["image"] for b in lazy]),
                            np.concatenate([b["image"] for b in other]))


# A tiny image classification dataset, unknown to the TFDS registry, prepared
# for real (ArrayRecord files + metadata) without TensorFlow: images are given
# as PIL images so TFDS stores Pillow's PNG encoding.
with tfds.core.registered.skip_registration():

  class TinyRgb(tfds.core.GeneratorBasedBuilder):
    """8 train / 6 test RGB 6×5 images, 4 classes; `index` names the image."""
    VERSION = tfds.core.Version("1.0.0")
    SIZES = {"train": 8, "test": 6}

    def _info(self):
      features = tfds.features.FeaturesDict({
          "image": tfds.features.Image(shape=(6, 5, 3)),
          "label": tfds.features.ClassLabel(num_classes=4),
          "index": tfds.features.Scalar(dtype=np.int64),
      })
      return tfds.core.DatasetInfo(builder=self, features=features)

    def _split_generators(self, dl_manager):
      del dl_manager
      return {s: self._generate_examples(s) for s in self.SIZES}

    def _generate_examples(self, split):
      images, labels = tiny_rgb_arrays(split)
      for i, (image, label) in enumerate(zip(images, labels)):
        yield i, {"image": Image.fromarray(image), "label": int(label),
                  "index": i}


def tiny_rgb_arrays(split):
  n = TinyRgb.SIZES[split]
  rng = np.random.default_rng(len(split))
  images = rng.integers(0, 256, (n, 6, 5, 3), dtype=np.uint8)
  images[0] = 255  # The maximum must map to exactly 1.
  return images, np.arange(n) % 4


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp("tfds")
  TinyRgb(data_dir=str(root), file_format="array_record").download_and_prepare()
  return root


@pytest.mark.parametrize("split_name", ["train", "test"])
def test_load_tfds_prepared_generic_dataset(tiny_dir, split_name):
  split = data.load_tfds("tiny_rgb", split=split_name, data_dir=tiny_dir)
  source = data.tfds_source("tiny_rgb", split=split_name, data_dir=tiny_dir)
  # TFDS shuffles examples when preparing; `index` says which image is which.
  index = np.array([source.records[i]["index"] for i in range(len(source))])
  images, labels = tiny_rgb_arrays(split_name)
  assert split.image.dtype == np.float32 and split.label.dtype == np.int32
  assert split.image.shape == (TinyRgb.SIZES[split_name], 6, 5, 3)
  np.testing.assert_allclose(split.image, images[index] / 255.0, rtol=1e-6)
  np.testing.assert_array_equal(split.label, labels[index])
  assert split.image.max() == 1.0 and split.image.min() >= 0.0
  assert source.num_classes == 4 and source.image_shape == (6, 5, 3)


def test_load_tfds_slicing_and_max_examples(tiny_dir):
  full = data.load_tfds("tiny_rgb", data_dir=tiny_dir)
  sliced = data.load_tfds("tiny_rgb", split="train[:3]", data_dir=tiny_dir)
  capped = data.load_tfds("tiny_rgb", data_dir=tiny_dir, max_examples=3)
  over = data.load_tfds("tiny_rgb", data_dir=tiny_dir, max_examples=100)
  for part in (sliced, capped):
    np.testing.assert_array_equal(part.image, full.image[:3])
    np.testing.assert_array_equal(part.label, full.label[:3])
  assert len(over) == len(full) == 8


def test_lazy_batches_from_disk_cover_epoch(tiny_dir):
  source = data.tfds_source("tiny_rgb", data_dir=tiny_dir)
  full = data.load_tfds("tiny_rgb", data_dir=tiny_dir)
  key = jax.random.key(0)
  batches = list(
      data.iterate_tfds_batches(key, source, 3, drop_remainder=False))
  idx = data.batch_indices(key, 8, 3, drop_remainder=False)
  assert len(batches) == 3
  for b, i in zip(batches, idx):
    np.testing.assert_array_equal(b["image"], full.image[i])
  np.testing.assert_array_equal(np.sort(idx.ravel()[:8]), np.arange(8))


def test_bad_arguments(tiny_dir):
  source = data.tfds_source("tiny_rgb", data_dir=tiny_dir)
  with pytest.raises(ValueError, match="image_key"):
    data.tfds_source("tiny_rgb", data_dir=tiny_dir, image_key="picture")
  with pytest.raises(ValueError, match="image_key"):
    data.tfds_source("tiny_rgb", data_dir=tiny_dir, image_key="index")
  with pytest.raises(ValueError, match="label_key"):
    data.tfds_source("tiny_rgb", data_dir=tiny_dir, label_key="target")
  with pytest.raises(ValueError, match="max_examples"):
    data.load_tfds("tiny_rgb", data_dir=tiny_dir, max_examples=0)
  with pytest.raises(IndexError, match="indices"):
    source.read(np.array([0, 8]))
  with pytest.raises(ValueError, match="indices"):
    source.read(np.zeros((2, 2), np.int32))
  with pytest.raises(ValueError, match="batch_size"):
    next(data.iterate_tfds_batches(jax.random.key(0), source, 9))


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_missing_dataset_fails_fast_without_download(name, tmp_path,
                                                      monkeypatch):
  downloads = []
  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare",
                      lambda *args, **kwargs: downloads.append(args))
  start = time.perf_counter()
  with pytest.raises(FileNotFoundError) as err:
    data.load_tfds(name, data_dir=tmp_path)
  assert time.perf_counter() - start < 5.0
  assert not downloads
  message = str(err.value)
  assert repr(name) in message and "mnist_subset()" in message
  assert str(tmp_path) in message and "download=True" in message


def test_unknown_dataset_names_argument_and_suggests(tmp_path):
  with pytest.raises(ValueError,
                     match=r"`name`.*'mnsit'.*Did you mean 'mnist'"):
    data.load_tfds("mnsit", data_dir=tmp_path)
