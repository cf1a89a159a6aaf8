"""Train-state type, jitted step factories and sharding helpers."""
from advjax.train.classifier import linen_apply
from advjax.train.classifier import make_classifier_step
from advjax.train.classifier import make_predict
from advjax.train.sharding import data_mesh
from advjax.train.sharding import replicate
from advjax.train.sharding import shard_batch
from advjax.train.state import TrainState
from advjax.train.state import split_variables
from advjax.train.clipping import clip_params
from advjax.train.clipping import clip_weights
from advjax.train.gan import GANState
from advjax.train.gan import gan_optimizers
from advjax.train.gan import make_gan_step
from advjax.train.gan import make_sampler

__all__ = [
    "GANState",
    "TrainState",
    "clip_params",
    "clip_weights",
    "data_mesh",
    "gan_optimizers",
    "linen_apply",
    "make_classifier_step",
    "make_gan_step",
    "make_predict",
    "make_sampler",
    "replicate",
    "shard_batch",
    "split_variables",
]
