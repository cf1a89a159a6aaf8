"""Datasets: offline sources from packages, TFDS, synthetic generators."""
from advjax.data.domains import DomainShift
from advjax.data.domains import blend_digits
from advjax.data.domains import mnist_m_style
from advjax.data.domains import photo_patches
from advjax.data.domains import texture_patches
from advjax.data.domains import two_moons
from advjax.data.offline import digits
from advjax.data.offline import mnist_subset
from advjax.data.split import Split
from advjax.data.split import batch_indices
from advjax.data.split import iterate_batches
from advjax.data.split import stratified_split

__all__ = [
    "DomainShift",
    "Split",
    "batch_indices",
    "blend_digits",
    "digits",
    "iterate_batches",
    "mnist_m_style",
    "mnist_subset",
    "photo_patches",
    "stratified_split",
    "texture_patches",
    "two_moons",
]
