"""Per-example losses: classification and (see gan.py) adversarial games."""
from advjax.losses.classification import cross_entropy
from advjax.losses.classification import distillation_loss
from advjax.losses.classification import dlr_loss
from advjax.losses.classification import kl_divergence
from advjax.losses.classification import margin_loss
from advjax.losses.classification import targeted_dlr_loss
from advjax.losses.gan import GanLoss
from advjax.losses.gan import add_instance_noise
from advjax.losses.gan import gan_loss
from advjax.losses.gan import gradient_penalty
from advjax.losses.gan import hinge_discriminator_loss
from advjax.losses.gan import instance_noise_sigma
from advjax.losses.gan import least_squares_discriminator_loss
from advjax.losses.gan import least_squares_generator_loss
from advjax.losses.gan import minimax_discriminator_loss
from advjax.losses.gan import minimax_generator_loss
from advjax.losses.gan import non_saturating_generator_loss
from advjax.losses.gan import r1_penalty
from advjax.losses.gan import wasserstein_discriminator_loss
from advjax.losses.gan import wasserstein_generator_loss

__all__ = [
    "GanLoss",
    "add_instance_noise",
    "cross_entropy",
    "distillation_loss",
    "dlr_loss",
    "gan_loss",
    "gradient_penalty",
    "hinge_discriminator_loss",
    "instance_noise_sigma",
    "kl_divergence",
    "least_squares_discriminator_loss",
    "least_squares_generator_loss",
    "margin_loss",
    "minimax_discriminator_loss",
    "minimax_generator_loss",
    "non_saturating_generator_loss",
    "r1_penalty",
    "targeted_dlr_loss",
    "wasserstein_discriminator_loss",
    "wasserstein_generator_loss",
]
