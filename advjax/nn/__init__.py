"""advjax.nn."""
