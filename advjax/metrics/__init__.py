"""advjax.metrics."""
from advjax.metrics.gan import class_coverage
from advjax.metrics.gan import feature_statistics
from advjax.metrics.gan import frechet_distance
from advjax.metrics.gan import frechet_distance_from_features
from advjax.metrics.gan import mode_coverage

__all__ = [
    "class_coverage",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_features",
    "mode_coverage",
]
