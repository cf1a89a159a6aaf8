"""Weight clipping, the WGAN critic's crude Lipschitz constraint, for optax."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from advjax import _checks


def clip_params(params, limit: float):
  """Projects every parameter onto the box ``[-limit, limit]``."""
  _checks.positive(limit, name="limit")
  return jax.tree.map(lambda p: jnp.clip(p, -limit, limit), params)


def clip_weights(limit: float) -> optax.GradientTransformation:
  """An optax transformation whose update lands the parameters in ``[-limit, limit]``.

  Chain it *last*, after the optimizer has scaled the step:
  ``optax.chain(optax.rmsprop(5e-5), clip_weights(0.01))``. The update
  becomes ``clip(params + update) - params``, so ``optax.apply_updates``
  yields the clipped parameters (the projection of Arjovsky et al.).

  Args:
    limit: the clipping bound ``c`` (0.01 in the WGAN paper), > 0.

  Returns:
    A ``GradientTransformation`` that needs ``params`` in ``update``.

  References:
    Arjovsky et al., 2017. https://arxiv.org/abs/1701.07875
  """
  _checks.positive(limit, name="limit")

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("clip_weights needs `params`: call tx.update(grads, "
                       "state, params).")
    updates = jax.tree.map(
        lambda u, p: (jnp.clip(p + u, -limit, limit) - p).astype(u.dtype),
        updates, params)
    return updates, state

  return optax.GradientTransformation(init_fn, update_fn)
