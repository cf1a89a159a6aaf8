"""Small reference networks (Flax Linen)."""
from advjax.models.classifiers import MLP
from advjax.models.classifiers import MadryCNN
from advjax.models.classifiers import SmallCNN
from advjax.models.classifiers import max_pool_2x2
from advjax.models.dann import DannModules
from advjax.models.dann import MnistFeatures
from advjax.models.dann import ShallowFeatures
from advjax.models.dann import mnist_dann
from advjax.models.dann import shallow_dann

__all__ = [
    "DannModules",
    "MLP",
    "MadryCNN",
    "MnistFeatures",
    "ShallowFeatures",
    "SmallCNN",
    "max_pool_2x2",
    "mnist_dann",
    "shallow_dann",
]
