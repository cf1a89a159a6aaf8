"""advjax.nn."""
from advjax.nn.grad_reverse import grad_reverse
from advjax.nn.spectral_norm import spectral_normalize
from advjax.nn.spectral_norm import SpectralConv
from advjax.nn.spectral_norm import SpectralDense
from advjax.nn.spectral_norm import SpectralNorm

__all__ = [
    "grad_reverse",
    "spectral_normalize",
    "SpectralConv",
    "SpectralDense",
    "SpectralNorm",
]
