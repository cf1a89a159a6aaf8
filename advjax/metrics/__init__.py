"""advjax.metrics."""
from advjax.metrics.domain import domain_classifier_error
from advjax.metrics.domain import proxy_a_distance
from advjax.metrics.domain import target_accuracy

__all__ = [
    "domain_classifier_error",
    "proxy_a_distance",
    "target_accuracy",
]
