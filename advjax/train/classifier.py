"""Standard (non-adversarial) classifier training step."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from advjax.losses import cross_entropy
from advjax.train.state import TrainState

# apply_fn(params, model_state, x, *, train, key) -> (logits, new_model_state)
ApplyFn = Callable[..., tuple[jax.Array, dict]]


def linen_apply(module) -> ApplyFn:
  """Adapts a Linen module to the ``ApplyFn`` convention of the step factories.

  ``train=True`` runs with mutable batch statistics and dropout keyed by
  ``key``; ``train=False`` is inference mode and returns the state unchanged.
  """

  def apply_fn(params, model_state, x, *, train: bool, key=None):
    variables = {"params": params, **model_state}
    rngs = {"dropout": key} if (train and key is not None) else {}
    if train and model_state:
      logits, new_state = module.apply(variables, x, train=True, rngs=rngs,
                                       mutable=list(model_state))
      return logits, dict(new_state)
    return module.apply(variables, x, train=train, rngs=rngs), model_state

  return apply_fn


def make_classifier_step(apply_fn: ApplyFn, tx: optax.GradientTransformation):
  """Builds ``step(state, batch, key) -> (state, metrics)`` for plain training.

  Args:
    apply_fn: see :func:`linen_apply`.
    tx: the optax optimizer.

  Returns:
    A pure step; ``batch`` is ``{"image": [B, ...], "label": [B]}``. Metrics:
    ``loss`` and ``accuracy`` (batch means).
  """

  def step(state: TrainState, batch, key):
    def loss_fn(params):
      logits, model_state = apply_fn(params, state.model_state, batch["image"],
                                     train=True, key=key)
      loss = jnp.mean(cross_entropy(logits, batch["label"]))
      return loss, (logits, model_state)

    (loss, (logits, model_state)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads, tx, model_state)
    accuracy = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
    return state, {"loss": loss, "accuracy": accuracy}

  return step


def make_predict(apply_fn: ApplyFn):
  """``predict(state, x) -> logits`` in inference mode."""

  def predict(state: TrainState, x):
    return apply_fn(state.params, state.model_state, x, train=False)[0]

  return predict
