"""advjax: adversarial machine learning in JAX/Flax, compiled end to end."""
from advjax import attacks
from advjax import data
from advjax import losses
from advjax import metrics
from advjax import models
from advjax import nn
from advjax import train

__version__ = "0.1.0"
