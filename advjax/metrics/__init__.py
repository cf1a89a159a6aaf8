"""advjax.metrics."""
from advjax.metrics.domain import domain_classifier_error
from advjax.metrics.domain import proxy_a_distance
from advjax.metrics.domain import target_accuracy
from advjax.metrics.gan import class_coverage
from advjax.metrics.gan import feature_statistics
from advjax.metrics.gan import frechet_distance
from advjax.metrics.gan import frechet_distance_from_features
from advjax.metrics.gan import mode_coverage

__all__ = [
    "class_coverage",
    "domain_classifier_error",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_features",
    "mode_coverage",
    "proxy_a_distance",
    "target_accuracy",
]
