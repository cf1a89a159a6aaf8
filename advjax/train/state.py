"""The train state: a pytree of arrays only, so orbax can checkpoint it as is.

The model's ``apply`` and the optax transformation are static and go to the
step factories, not into the state.
"""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax


class TrainState(flax.struct.PyTreeNode):
  """Parameters, optimizer state and non-trainable model state.

  Attributes:
    step: scalar int32 count of parameter updates.
    params: the trainable parameters.
    opt_state: the optax state for ``params``.
    model_state: non-trainable collections (e.g. ``{"batch_stats": ...}``);
      ``{}`` when the model has none.
  """
  step: jax.Array
  params: Any
  opt_state: Any
  model_state: Any

  @classmethod
  def create(cls, params, tx: optax.GradientTransformation, model_state=None):
    return cls(step=jnp.zeros((), jnp.int32), params=params,
               opt_state=tx.init(params),
               model_state={} if model_state is None else model_state)

  def apply_gradients(self, grads, tx: optax.GradientTransformation,
                      model_state=None) -> "TrainState":
    updates, opt_state = tx.update(grads, self.opt_state, self.params)
    return self.replace(
        step=self.step + 1, params=optax.apply_updates(self.params, updates),
        opt_state=opt_state,
        model_state=self.model_state if model_state is None else model_state)


def split_variables(variables) -> tuple[Any, Any]:
  """Splits Linen ``variables`` into ``(params, other_collections)``."""
  variables = dict(variables)
  params = variables.pop("params")
  return params, variables
