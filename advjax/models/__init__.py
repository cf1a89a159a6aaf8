"""Small reference networks (Flax Linen)."""
from advjax.models.classifiers import MadryCNN
from advjax.models.classifiers import max_pool_2x2
from advjax.models.classifiers import MLP
from advjax.models.classifiers import SmallCNN
from advjax.models.dann import DannModules
from advjax.models.dann import mnist_dann
from advjax.models.dann import MnistFeatures
from advjax.models.dann import shallow_dann
from advjax.models.dann import ShallowFeatures
from advjax.models.electra import Electra
from advjax.models.electra import encoder_params
from advjax.models.electra import GENERATOR_PARAMS
from advjax.models.electra import MaskedLM
from advjax.models.electra import MLMHead
from advjax.models.fast_conv import cpu_compiler_options
from advjax.models.fast_conv import cpu_conv
from advjax.models.fast_conv import patch_conv
from advjax.models.fast_conv import patch_conv_transpose
from advjax.models.fast_conv import patch_grad_conv
from advjax.models.gan import DCGANDiscriminator
from advjax.models.gan import DCGANGenerator
from advjax.models.gan import MLPDiscriminator
from advjax.models.gan import MLPGenerator
from advjax.models.pix2pix import patchgan_output_size
from advjax.models.pix2pix import patchgan_receptive_field
from advjax.models.pix2pix import PatchDiscriminator
from advjax.models.pix2pix import UNetGenerator
from advjax.models.transformer import embedding_lookup
from advjax.models.transformer import EncoderStack
from advjax.models.transformer import TransformerClassifier
from advjax.models.transformer import TransformerEncoder

__all__ = [
    "cpu_compiler_options",
    "cpu_conv",
    "DannModules",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "Electra",
    "embedding_lookup",
    "encoder_params",
    "EncoderStack",
    "GENERATOR_PARAMS",
    "MadryCNN",
    "MaskedLM",
    "max_pool_2x2",
    "MLP",
    "MLMHead",
    "MLPDiscriminator",
    "MLPGenerator",
    "mnist_dann",
    "PatchDiscriminator",
    "patchgan_output_size",
    "patchgan_receptive_field",
    "MnistFeatures",
    "shallow_dann",
    "patch_conv",
    "patch_conv_transpose",
    "patch_grad_conv",
    "ShallowFeatures",
    "SmallCNN",
    "TransformerClassifier",
    "TransformerEncoder",
    "UNetGenerator",
]
