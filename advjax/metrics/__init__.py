"""advjax.metrics."""
