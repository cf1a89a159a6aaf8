"""Train-state type, jitted step factories and sharding helpers."""
from advjax.train.classifier import linen_apply
from advjax.train.classifier import make_classifier_step
from advjax.train.classifier import make_predict
from advjax.train.sharding import data_mesh
from advjax.train.sharding import replicate
from advjax.train.sharding import shard_batch
from advjax.train.state import TrainState
from advjax.train.state import split_variables
from advjax.train.freelb import TextModel
from advjax.train.freelb import linen_text_apply
from advjax.train.freelb import make_embedding_pgd_gradients
from advjax.train.freelb import make_embedding_pgd_step
from advjax.train.freelb import make_freelb_gradients
from advjax.train.freelb import make_freelb_step

__all__ = [
    "TextModel",
    "TrainState",
    "data_mesh",
    "linen_apply",
    "linen_text_apply",
    "make_classifier_step",
    "make_embedding_pgd_gradients",
    "make_embedding_pgd_step",
    "make_freelb_gradients",
    "make_freelb_step",
    "make_predict",
    "replicate",
    "shard_batch",
    "split_variables",
]
