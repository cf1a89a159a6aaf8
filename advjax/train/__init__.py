"""Train-state type, jitted step factories and sharding helpers."""
from advjax.train.classifier import linen_apply
from advjax.train.classifier import make_classifier_step
from advjax.train.classifier import make_predict
from advjax.train.dann import DannNetworks
from advjax.train.dann import init_dann
from advjax.train.dann import linen_dann
from advjax.train.dann import make_dann_grads
from advjax.train.dann import make_dann_predict
from advjax.train.dann import make_dann_step
from advjax.train.schedules import dann_lambda_schedule
from advjax.train.schedules import dann_learning_rate_schedule
from advjax.train.sharding import data_mesh
from advjax.train.sharding import replicate
from advjax.train.sharding import shard_batch
from advjax.train.state import TrainState
from advjax.train.state import split_variables

__all__ = [
    "DannNetworks",
    "TrainState",
    "dann_lambda_schedule",
    "dann_learning_rate_schedule",
    "data_mesh",
    "init_dann",
    "linen_apply",
    "linen_dann",
    "make_classifier_step",
    "make_dann_grads",
    "make_dann_predict",
    "make_dann_step",
    "make_predict",
    "replicate",
    "shard_batch",
    "split_variables",
]
