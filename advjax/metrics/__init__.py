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
from advjax.metrics.robust import autoattack_attacks
from advjax.metrics.robust import cascade_evaluation
from advjax.metrics.robust import robust_accuracy
from advjax.metrics.robust import worst_case_correct

__all__ = [
    "autoattack_attacks",
    "cascade_evaluation",
    "class_coverage",
    "domain_classifier_error",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_features",
    "laplacian_variance",
    "mode_coverage",
    "proxy_a_distance",
    "sharpness_ratio",
    "robust_accuracy",
    "target_accuracy",
    "worst_case_correct",
]
