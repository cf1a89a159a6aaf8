"""Datasets: offline sources from packages, TFDS, synthetic generators."""
from advjax.data.domains import blend_digits
from advjax.data.domains import DomainShift
from advjax.data.domains import mnist_m_pairs
from advjax.data.domains import mnist_m_style
from advjax.data.domains import PairedSplit
from advjax.data.domains import photo_patches
from advjax.data.domains import texture_patches
from advjax.data.domains import two_moons
from advjax.data.offline import digits
from advjax.data.offline import mnist_subset
from advjax.data.split import batch_indices
from advjax.data.split import iterate_batches
from advjax.data.split import Split
from advjax.data.split import stratified_split
from advjax.data.synthetic import GaussianMixture
from advjax.data.synthetic import grid_mixture
from advjax.data.synthetic import ring_mixture
from advjax.data.text import markov_corpus
from advjax.data.text import polarity
from advjax.data.text import sst2
from advjax.data.text import synthetic_sentiment
from advjax.data.text import TextSplit
from advjax.data.text import tokenize
from advjax.data.text import Vocabulary
from advjax.data.tfds import iterate_tfds_batches
from advjax.data.tfds import load_tfds
from advjax.data.tfds import tfds_source
from advjax.data.tfds import TfdsSource

__all__ = [
    "batch_indices",
    "blend_digits",
    "digits",
    "DomainShift",
    "GaussianMixture",
    "grid_mixture",
    "iterate_batches",
    "iterate_tfds_batches",
    "load_tfds",
    "markov_corpus",
    "mnist_m_pairs",
    "mnist_m_style",
    "mnist_subset",
    "PairedSplit",
    "photo_patches",
    "polarity",
    "ring_mixture",
    "Split",
    "sst2",
    "stratified_split",
    "synthetic_sentiment",
    "TextSplit",
    "texture_patches",
    "tfds_source",
    "TfdsSource",
    "tokenize",
    "two_moons",
    "Vocabulary",
]
