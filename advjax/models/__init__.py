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
from advjax.models.fast_conv import patch_conv
from advjax.models.gan import DCGANDiscriminator
from advjax.models.gan import DCGANGenerator
from advjax.models.gan import MLPDiscriminator
from advjax.models.gan import MLPGenerator
from advjax.models.transformer import embedding_lookup
from advjax.models.transformer import TransformerClassifier
from advjax.models.transformer import TransformerEncoder

__all__ = [
    "DannModules",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "embedding_lookup",
    "MadryCNN",
    "max_pool_2x2",
    "MLP",
    "MLPDiscriminator",
    "MLPGenerator",
    "mnist_dann",
    "MnistFeatures",
    "shallow_dann",
    "patch_conv",
    "ShallowFeatures",
    "SmallCNN",
    "TransformerClassifier",
    "TransformerEncoder",
]
