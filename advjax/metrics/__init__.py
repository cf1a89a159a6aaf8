"""advjax.metrics."""
from advjax.metrics.domain import domain_classifier_error
from advjax.metrics.domain import proxy_a_distance
from advjax.metrics.domain import target_accuracy
from advjax.metrics.gan import class_coverage
from advjax.metrics.gan import feature_statistics
from advjax.metrics.gan import frechet_distance
from advjax.metrics.gan import frechet_distance_from_features
from advjax.metrics.gan import mode_coverage
from advjax.metrics.image import laplacian_variance
from advjax.metrics.image import sharpness_ratio

__all__ = [
    "class_coverage",
    "domain_classifier_error",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_features",
    "laplacian_variance",
    "mode_coverage",
    "proxy_a_distance",
    "sharpness_ratio",
    "target_accuracy",
]
