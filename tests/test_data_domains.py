"""Two-domain datasets: the rotated moons and the MNIST-M-style target."""
import numpy as np
import pytest

from advjax.data import blend_digits
from advjax.data import mnist_m_style
from advjax.data import mnist_subset
from advjax.data import photo_patches
from advjax.data import texture_patches
from advjax.data import two_moons


def _unrotate(points, degrees):
  theta = np.deg2rad(-degrees)
  rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
  return points @ rotation.T + np.array([0.5, 0.25])  # back to make_moons' frame


@pytest.mark.parametrize("angle", [0.0, 35.0, -60.0])
def test_noiseless_target_lies_on_the_rotated_moons(angle):
  shift = two_moons(n_per_domain=40, n_test=60, noise=0.0, angle=angle, seed=3)
  for split, degrees in ((shift.source_train, 0.0), (shift.target_train, angle),
                         (shift.target_test, angle)):
    x, y = _unrotate(split.image.astype(np.float64), degrees).T
    upper = np.hypot(x, y)                       # class 0: unit circle, y >= 0
    lower = np.hypot(x - 1.0, y - 0.5)           # class 1: shifted, y <= 0.5
    radius = np.where(split.label == 0, upper, lower)
    np.testing.assert_allclose(radius, 1.0, atol=1e-5)
    assert np.all(np.where(split.label == 0, y >= -1e-5, y <= 0.5 + 1e-5))
    assert split.image.dtype == np.float32 and split.label.dtype == np.int32
  assert len(shift.source_train) == 40 and len(shift.target_test) == 60


def test_moons_are_reproducible_and_seeded():
  a, b = two_moons(seed=1), two_moons(seed=1)
  np.testing.assert_array_equal(a.target_train.image, b.target_train.image)
  assert not np.array_equal(a.source_train.image, two_moons(seed=2).source_train.image)
  with pytest.raises(ValueError, match="noise"):
    two_moons(noise=-0.1)


def test_blend_is_mnist_m_abs_difference():
  rng = np.random.default_rng(0)
  digits = rng.random((3, 5, 5, 1)) * (rng.random((3, 5, 5, 1)) > 0.6)
  patches = rng.random((3, 5, 5, 3)).astype(np.float32)
  out = blend_digits(digits, patches)
  stroke = np.broadcast_to(digits > 0, patches.shape)
  np.testing.assert_allclose(out, np.where(stroke, 1.0 - patches, patches), atol=1e-7)


def test_patches_are_colour_images_in_range():
  rng = np.random.default_rng(1)
  for patches in (photo_patches(rng, 6), texture_patches(rng, 12)):
    assert patches.shape[1:] == (28, 28, 3) and patches.dtype == np.float32
    assert patches.min() >= 0.0 and patches.max() <= 1.0
    assert np.all(patches.std(axis=(1, 2, 3)) > 0.01)  # not flat


def test_mnist_m_style_target_is_built_from_disjoint_digits():
  shift = mnist_m_style(n_train=200, n_test=50, seed=0)
  train, test = mnist_subset(n_test=1000, seed=0)
  assert [len(s) for s in shift] == [200, 50, 200, 50]
  # The source comes from the first half of each split, grey, replicated to RGB ...
  np.testing.assert_array_equal(shift.source_train.image,
                                np.repeat(train.image[:200], 3, -1))
  np.testing.assert_array_equal(shift.source_test.label, test.label[:50])
  # ... the target from the other half's digits and labels.
  np.testing.assert_array_equal(shift.target_train.label, train.label[2000:2200])
  np.testing.assert_array_equal(shift.target_test.label, test.label[500:550])
  source_digits = {d.tobytes() for d in (train.image[:2000] > 0)}
  assert not source_digits & {d.tobytes() for d in (train.image[2000:] > 0)}
  assert shift.target_train.image.shape[1:] == (28, 28, 3)
  assert shift.target_train.image.std(axis=-1).mean() > 0.05  # coloured
  assert 0.0 <= shift.target_train.image.min() and shift.target_train.image.max() <= 1.0
  with pytest.raises(ValueError, match="photo_fraction"):
    mnist_m_style(photo_fraction=1.5)
  with pytest.raises(ValueError, match="n_train"):
    mnist_m_style(n_train=2001)
