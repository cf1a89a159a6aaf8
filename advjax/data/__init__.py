"""Datasets: offline sources from packages, TFDS, synthetic generators."""
from advjax.data.offline import digits
from advjax.data.offline import mnist_subset
from advjax.data.split import Split
from advjax.data.split import batch_indices
from advjax.data.split import iterate_batches
from advjax.data.split import stratified_split

__all__ = [
    "Split",
    "batch_indices",
    "digits",
    "iterate_batches",
    "mnist_subset",
    "stratified_split",
]
