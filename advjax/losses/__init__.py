"""Per-example losses: classification and (see gan.py) adversarial games."""
from advjax.losses.classification import cross_entropy
from advjax.losses.classification import dlr_loss
from advjax.losses.classification import margin_loss
from advjax.losses.classification import targeted_dlr_loss

__all__ = [
    "cross_entropy",
    "dlr_loss",
    "margin_loss",
    "targeted_dlr_loss",
]
