"""Adversarial attacks. Every attack takes ``loss_fn(x) -> [B]``, a per-example
loss to increase, and returns ``x_adv`` inside the ball and ``bounds``."""
from advjax.attacks.fgsm import fgsm
from advjax.attacks.lp import lp_norm
from advjax.attacks.lp import project
from advjax.attacks.lp import sample_ball
from advjax.attacks.lp import steepest_ascent
from advjax.attacks.objectives import targeted
from advjax.attacks.objectives import untargeted
from advjax.attacks.pgd import pgd

__all__ = [
    "fgsm",
    "lp_norm",
    "pgd",
    "project",
    "sample_ball",
    "steepest_ascent",
    "targeted",
    "untargeted",
]
