"""The networks of the DANN paper (Flax Linen), as (features, label, domain).

Each factory returns three modules for :func:`advjax.train.init_dann` and
:func:`advjax.train.linen_dann`; the heads are :class:`MLP`\\ s on the features.

References:
  Ganin et al., 2016, Domain-Adversarial Training of Neural Networks.
  https://arxiv.org/abs/1505.07818
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import flax.linen as nn
import jax

from advjax.models.classifiers import MLP
from advjax.models.classifiers import max_pool_2x2


class DannModules(NamedTuple):
  """Feature extractor G_f, label head G_y and domain head G_d."""
  features: nn.Module
  label_head: nn.Module
  domain_head: nn.Module


class ShallowFeatures(nn.Module):
  """One dense hidden layer, ``activation(W x + b)``, on flattened inputs."""
  width: int = 15
  activation: Callable[[jax.Array], jax.Array] = nn.sigmoid

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    del train
    return self.activation(nn.Dense(self.width)(x.reshape(x.shape[0], -1)))


class MnistFeatures(nn.Module):
  """The paper's MNIST feature extractor: conv32 5×5 → pool → conv48 5×5 → pool.

  ReLU after each convolution, 2×2 max-pooling, VALID padding (as in the
  original Caffe model: 28 → 24 → 12 → 8 → 4), flattened to 768 features.
  ``dropout_rate > 0`` adds channel dropout after the second convolution when
  training (not in the paper; common in re-implementations).
  """
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    x = max_pool_2x2(nn.relu(nn.Conv(32, (5, 5), padding="VALID")(x)))
    x = nn.Conv(48, (5, 5), padding="VALID")(x)
    if self.dropout_rate:
      x = nn.Dropout(self.dropout_rate, broadcast_dims=(1, 2),
                     deterministic=not train)(x)
    x = max_pool_2x2(nn.relu(x))
    return x.reshape(x.shape[0], -1)


def shallow_dann(*, width: int = 15, num_classes: int = 2,
                 domain_hidden: tuple[int, ...] = (),
                 domain_activation: Callable[[jax.Array], jax.Array] = nn.tanh,
                 ) -> DannModules:
  """The paper's shallow network for the inter-twinning moons.

  A sigmoid hidden layer of ``width`` units feeds a linear (softmax) label head
  and a domain head: logistic regression on the hidden layer as in the paper
  (``domain_hidden=()``), or hidden layers of the given widths with
  ``domain_activation`` (tanh by default: unlike ReLU its units cannot die,
  which would silently switch the adversary off).
  """
  if domain_hidden:
    domain_head = nn.Sequential(  # a tuple keeps the module hashable
        tuple(ShallowFeatures(width=w, activation=domain_activation)
              for w in domain_hidden) + (MLP(features=(), num_classes=1),))
  else:
    domain_head = MLP(features=(), num_classes=1)
  return DannModules(ShallowFeatures(width=width),
                     MLP(features=(), num_classes=num_classes), domain_head)


def mnist_dann(*, num_classes: int = 10, dropout_rate: float = 0.0,
               domain_hidden: tuple[int, ...] = (100,)) -> DannModules:
  """The paper's MNIST → MNIST-M architecture.

  :class:`MnistFeatures` (with ``dropout_rate``); label head fc100 → fc100 →
  fc``num_classes``; domain head fc``domain_hidden`` → fc1 (ReLU between
  layers; the paper's MNIST head is fc100, its SVHN and GTSRB heads fc1024 →
  fc1024).
  """
  return DannModules(MnistFeatures(dropout_rate=dropout_rate),
                     MLP(features=(100, 100), num_classes=num_classes),
                     MLP(features=tuple(domain_hidden), num_classes=1))
