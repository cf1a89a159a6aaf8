"""Builders of the usual attack objectives from a ``logits_fn`` and labels.

Each returns ``loss_fn(x) -> [B]``, a per-example loss to *increase*.
"""
from __future__ import annotations

from typing import Callable

import jax

from advjax.losses import cross_entropy
from advjax.losses import margin_loss

_LOSSES = ("ce", "margin")


def _check_loss(loss: str) -> str:
  if loss not in _LOSSES:
    raise ValueError(f"`loss` must be one of {_LOSSES}; got {loss!r}.")
  return loss


def untargeted(logits_fn: Callable[[jax.Array], jax.Array], labels: jax.Array,
               *, loss: str = "ce"):
  """Objective that pushes each example away from its true label.

  ``"ce"``: cross-entropy of the true label; ``"margin"``: the Carlini–Wagner
  margin ``max_{j≠y} z_j − z_y`` (positive iff misclassified).
  """
  kind = _check_loss(loss)

  def loss_fn(x):
    logits = logits_fn(x)
    if kind == "ce":
      return cross_entropy(logits, labels)
    return margin_loss(logits, labels)

  return loss_fn


def targeted(logits_fn: Callable[[jax.Array], jax.Array], target: jax.Array,
             *, loss: str = "ce"):
  """Objective that pulls each example towards ``target``.

  ``"ce"``: ``-cross_entropy(logits, target)``; ``"margin"``:
  ``z_t − max_{j≠t} z_j`` (positive iff classified as the target).
  """
  kind = _check_loss(loss)

  def loss_fn(x):
    logits = logits_fn(x)
    if kind == "ce":
      return -cross_entropy(logits, target)
    return -margin_loss(logits, target)

  return loss_fn
