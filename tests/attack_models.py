"""A small classifier trained once per test process, for attack tests.

An MLP on scikit-learn's 8×8 digits, trained full-batch with Adam inside one
``lax.scan`` (about a second), shared by the attack tests through
``functools.cache``.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from advjax import data
from advjax import models
from advjax.losses import cross_entropy


@functools.cache
def trained_digits_mlp(n_train_steps: int = 300, n_eval: int = 64):
  """Returns ``(logits_fn, x, y)``: ``n_eval`` correctly classified test digits.

  ``logits_fn`` is jitted; ``x`` is ``[n_eval, 8, 8, 1]`` float32 in [0, 1].
  """
  train, test = data.digits()
  model = models.MLP(features=(64,))
  params = model.init(jax.random.key(0), train.image[:1])["params"]
  tx = optax.adam(1e-2)
  x_train, y_train = jnp.asarray(train.image), jnp.asarray(train.label)

  def step(carry, _):
    params, opt_state = carry
    grads = jax.grad(lambda p: jnp.mean(
        cross_entropy(model.apply({"params": p}, x_train), y_train)))(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  (params, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, length=n_train_steps))(
      (params, tx.init(params)))
  logits_fn = jax.jit(lambda x: model.apply({"params": params}, x))
  correct = np.asarray(jnp.argmax(logits_fn(test.image), -1)) == test.label
  assert correct.mean() > 0.9, correct.mean()
  idx = np.flatnonzero(correct)[:n_eval]
  return logits_fn, jnp.asarray(test.image[idx]), jnp.asarray(test.label[idx])
