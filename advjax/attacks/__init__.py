"""Adversarial attacks. Every attack takes ``loss_fn(x) -> [B]``, a per-example
loss to increase, and returns ``x_adv`` inside the ball and ``bounds``."""
from advjax.attacks.apgd import apgd
from advjax.attacks.apgd import apgd_attack
from advjax.attacks.apgd import apgd_targeted
from advjax.attacks.apgd import checkpoint_schedule
from advjax.attacks.cw import carlini_wagner_l2
from advjax.attacks.fgsm import fgsm
from advjax.attacks.lp import lp_norm
from advjax.attacks.lp import project
from advjax.attacks.lp import sample_ball
from advjax.attacks.lp import steepest_ascent
from advjax.attacks.mifgsm import mifgsm
from advjax.attacks.objectives import targeted
from advjax.attacks.objectives import untargeted
from advjax.attacks.optimization import optimization_attack
from advjax.attacks.pgd import pgd
from advjax.attacks.text import embedding_ascent_step
from advjax.attacks.text import embedding_pgd
from advjax.attacks.text import hotflip
from advjax.attacks.text import hotflip_scores
from advjax.attacks.text import HotFlipResult
from advjax.attacks.text import init_embedding_delta

__all__ = [
    "apgd",
    "apgd_attack",
    "apgd_targeted",
    "carlini_wagner_l2",
    "checkpoint_schedule",
    "embedding_ascent_step",
    "embedding_pgd",
    "fgsm",
    "hotflip",
    "hotflip_scores",
    "HotFlipResult",
    "init_embedding_delta",
    "lp_norm",
    "mifgsm",
    "optimization_attack",
    "pgd",
    "project",
    "sample_ball",
    "steepest_ascent",
    "targeted",
    "untargeted",
]
