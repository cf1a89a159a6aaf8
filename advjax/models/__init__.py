"""Small reference networks (Flax Linen)."""
from advjax.models.classifiers import MLP
from advjax.models.classifiers import MadryCNN
from advjax.models.classifiers import SmallCNN
from advjax.models.classifiers import max_pool_2x2
from advjax.models.gan import DCGANDiscriminator
from advjax.models.gan import DCGANGenerator
from advjax.models.gan import MLPDiscriminator
from advjax.models.gan import MLPGenerator

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLP",
    "MLPDiscriminator",
    "MLPGenerator",
    "MadryCNN",
    "SmallCNN",
    "max_pool_2x2",
]
