"""advjax.nn."""
from advjax.nn.grad_reverse import grad_reverse

__all__ = [
    "grad_reverse",
]
