"""Datasets: offline sources from packages, TFDS, synthetic generators."""
from advjax.data.offline import digits
from advjax.data.offline import mnist_subset
from advjax.data.split import Split
from advjax.data.split import batch_indices
from advjax.data.split import iterate_batches
from advjax.data.split import stratified_split
from advjax.data.text import TextSplit
from advjax.data.text import Vocabulary
from advjax.data.text import polarity
from advjax.data.text import sst2
from advjax.data.text import synthetic_sentiment
from advjax.data.text import tokenize

__all__ = [
    "Split",
    "TextSplit",
    "Vocabulary",
    "batch_indices",
    "digits",
    "iterate_batches",
    "mnist_subset",
    "polarity",
    "sst2",
    "stratified_split",
    "synthetic_sentiment",
    "tokenize",
]
