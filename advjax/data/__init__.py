"""Datasets: offline sources from packages, TFDS, synthetic generators."""
from advjax.data.offline import digits
from advjax.data.offline import mnist_subset
from advjax.data.split import Split
from advjax.data.split import batch_indices
from advjax.data.split import iterate_batches
from advjax.data.split import stratified_split
from advjax.data.synthetic import GaussianMixture
from advjax.data.synthetic import grid_mixture
from advjax.data.synthetic import ring_mixture

__all__ = [
    "GaussianMixture",
    "Split",
    "batch_indices",
    "digits",
    "grid_mixture",
    "iterate_batches",
    "mnist_subset",
    "ring_mixture",
    "stratified_split",
]
