"""Small reference networks (Flax Linen)."""
from advjax.models.classifiers import MLP
from advjax.models.classifiers import MadryCNN
from advjax.models.classifiers import SmallCNN
from advjax.models.classifiers import max_pool_2x2
from advjax.models.transformer import TransformerClassifier
from advjax.models.transformer import TransformerEncoder
from advjax.models.transformer import embedding_lookup

__all__ = [
    "MLP",
    "MadryCNN",
    "SmallCNN",
    "TransformerClassifier",
    "TransformerEncoder",
    "embedding_lookup",
    "max_pool_2x2",
]
