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
from advjax.attacks.text import HotFlipResult
from advjax.attacks.text import embedding_ascent_step
from advjax.attacks.text import embedding_pgd
from advjax.attacks.text import hotflip
from advjax.attacks.text import hotflip_scores
from advjax.attacks.text import init_embedding_delta

__all__ = [
    "HotFlipResult",
    "embedding_ascent_step",
    "embedding_pgd",
    "fgsm",
    "hotflip",
    "hotflip_scores",
    "init_embedding_delta",
    "lp_norm",
    "pgd",
    "project",
    "sample_ball",
    "steepest_ascent",
    "targeted",
    "untargeted",
]
