"""Adversarial attacks. Every attack takes ``loss_fn(x) -> [B]``, a per-example
loss to increase, and returns ``x_adv`` inside the ball and ``bounds``."""
from advjax.attacks import transforms
from advjax.attacks.blackbox import blackbox_pgd
from advjax.attacks.blackbox import blackbox_pgd_queries
from advjax.attacks.blackbox import BlackBoxResult
from advjax.attacks.apgd import apgd
from advjax.attacks.apgd import apgd_attack
from advjax.attacks.apgd import apgd_targeted
from advjax.attacks.apgd import checkpoint_schedule
from advjax.attacks.cw import carlini_wagner_l2
from advjax.attacks.eot import eot
from advjax.attacks.eot import eot_grad_fn
from advjax.attacks.estimators import estimate_gradient
from advjax.attacks.estimators import estimator_queries
from advjax.attacks.estimators import make_grad_estimator
from advjax.attacks.fgsm import fgsm
from advjax.attacks.lp import lp_norm
from advjax.attacks.lp import project
from advjax.attacks.lp import sample_ball
from advjax.attacks.lp import steepest_ascent
from advjax.attacks.mifgsm import mifgsm
from advjax.attacks.objectives import targeted
from advjax.attacks.objectives import untargeted
from advjax.attacks.optimization import optimization_attack
from advjax.attacks.oracles import numpy_oracle
from advjax.attacks.pgd import pgd
from advjax.attacks.square import square_attack
from advjax.attacks.square import square_p_schedule
from advjax.attacks.text import embedding_ascent_step
from advjax.attacks.text import embedding_pgd
from advjax.attacks.text import hotflip
from advjax.attacks.text import hotflip_scores
from advjax.attacks.text import HotFlipResult
from advjax.attacks.text import init_embedding_delta

__all__ = [
    "BlackBoxResult",
    "blackbox_pgd",
    "blackbox_pgd_queries",
    "apgd",
    "apgd_attack",
    "apgd_targeted",
    "carlini_wagner_l2",
    "checkpoint_schedule",
    "embedding_ascent_step",
    "embedding_pgd",
    "eot",
    "eot_grad_fn",
    "estimate_gradient",
    "estimator_queries",
    "fgsm",
    "hotflip",
    "hotflip_scores",
    "HotFlipResult",
    "init_embedding_delta",
    "lp_norm",
    "make_grad_estimator",
    "mifgsm",
    "numpy_oracle",
    "optimization_attack",
    "pgd",
    "project",
    "sample_ball",
    "square_attack",
    "square_p_schedule",
    "steepest_ascent",
    "targeted",
    "transforms",
    "untargeted",
]
