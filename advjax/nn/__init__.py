"""advjax.nn."""
from advjax.nn.spectral_norm import SpectralConv
from advjax.nn.spectral_norm import SpectralDense
from advjax.nn.spectral_norm import SpectralNorm
from advjax.nn.spectral_norm import spectral_normalize

__all__ = [
    "SpectralConv",
    "SpectralDense",
    "SpectralNorm",
    "spectral_normalize",
]
