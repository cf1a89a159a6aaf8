"""Train-state type, jitted step factories and sharding helpers."""
from advjax.train.adversarial import classification_metrics
from advjax.train.adversarial import fgsm_rs_perturbation
from advjax.train.adversarial import inference_logits
from advjax.train.adversarial import make_adversarial_step
from advjax.train.adversarial import make_ensemble_adversarial_step
from advjax.train.adversarial import make_fgsm_rs_step
from advjax.train.adversarial import make_perturbed_step
from advjax.train.adversarial import make_pgd_at_step
from advjax.train.adversarial import pgd_perturbation
from advjax.train.classifier import linen_apply
from advjax.train.classifier import make_classifier_step
from advjax.train.classifier import make_predict
from advjax.train.clipping import clip_params
from advjax.train.clipping import clip_weights
from advjax.train.dann import DannNetworks
from advjax.train.dann import init_dann
from advjax.train.dann import linen_dann
from advjax.train.dann import make_dann_grads
from advjax.train.dann import make_dann_predict
from advjax.train.dann import make_dann_step
from advjax.train.electra import electra_loss
from advjax.train.electra import ElectraModel
from advjax.train.electra import gumbel_max_sample
from advjax.train.electra import linen_electra
from advjax.train.electra import linen_mlm
from advjax.train.electra import make_electra_step
from advjax.train.electra import make_mlm_step
from advjax.train.electra import mask_tokens
from advjax.train.electra import mlm_loss
from advjax.train.distillation import make_distillation_step
from advjax.train.finite import check_finite
from advjax.train.finite import finite_flags
from advjax.train.finite import with_finite_check
from advjax.train.free import FreeATState
from advjax.train.free import make_free_at_step
from advjax.train.freelb import linen_text_apply
from advjax.train.freelb import make_embedding_pgd_gradients
from advjax.train.freelb import make_embedding_pgd_step
from advjax.train.freelb import make_freelb_gradients
from advjax.train.freelb import make_freelb_step
from advjax.train.freelb import TextModel
from advjax.train.gan import gan_optimizers
from advjax.train.gan import GANState
from advjax.train.gan import make_gan_step
from advjax.train.gan import make_sampler
from advjax.train.grad_align import grad_align_penalty
from advjax.train.pix2pix import make_pix2pix_step
from advjax.train.prior import make_fgsm_prior_step
from advjax.train.prior import PriorState
from advjax.train.schedules import dann_lambda_schedule
from advjax.train.schedules import dann_learning_rate_schedule
from advjax.train.sharding import data_mesh
from advjax.train.sharding import process_batch_slice
from advjax.train.sharding import replicate
from advjax.train.sharding import shard_batch
from advjax.train.sharding import shard_local_batch
from advjax.train.state import split_variables
from advjax.train.state import TrainState
from advjax.train.trades import make_trades_step

__all__ = [
    "check_finite",
    "classification_metrics",
    "clip_params",
    "clip_weights",
    "dann_lambda_schedule",
    "dann_learning_rate_schedule",
    "DannNetworks",
    "electra_loss",
    "ElectraModel",
    "data_mesh",
    "fgsm_rs_perturbation",
    "finite_flags",
    "FreeATState",
    "gan_optimizers",
    "GANState",
    "grad_align_penalty",
    "gumbel_max_sample",
    "inference_logits",
    "init_dann",
    "linen_apply",
    "linen_dann",
    "linen_electra",
    "linen_mlm",
    "linen_text_apply",
    "make_adversarial_step",
    "make_classifier_step",
    "make_dann_grads",
    "make_dann_predict",
    "make_dann_step",
    "make_electra_step",
    "make_distillation_step",
    "make_embedding_pgd_gradients",
    "make_embedding_pgd_step",
    "make_ensemble_adversarial_step",
    "make_fgsm_rs_step",
    "make_fgsm_prior_step",
    "make_free_at_step",
    "make_freelb_gradients",
    "make_freelb_step",
    "make_gan_step",
    "make_mlm_step",
    "make_pix2pix_step",
    "make_predict",
    "make_sampler",
    "mask_tokens",
    "mlm_loss",
    "make_perturbed_step",
    "make_pgd_at_step",
    "make_trades_step",
    "pgd_perturbation",
    "PriorState",
    "process_batch_slice",
    "replicate",
    "shard_batch",
    "shard_local_batch",
    "split_variables",
    "TextModel",
    "TrainState",
    "with_finite_check",
]
