"""Models for the minimum-norm attack tests.

``linear_two_class``: a linear model whose distance to the decision boundary
is known in closed form. ``trained_digits_mlp``: an MLP on scikit-learn's 8×8
digits, trained full-batch with Adam inside one ``lax.scan`` (about a second)
and shared by the attack tests of one process through ``functools.cache``.
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


def linear_two_class(b=16, d=20, seed=0):
  """Logits ``[0, w·x + b]`` with every example at a known L2 distance from the
  decision boundary (``dist``), classified as 0; the box never binds."""
  k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
  w = jax.random.normal(k1, (d,), jnp.float32)
  x = jax.random.uniform(k2, (b, d), jnp.float32, 0.3, 0.7)
  dist = jax.random.uniform(k3, (b,), jnp.float32, 0.05, 0.2)
  bias = -(x @ w) - dist * jnp.linalg.norm(w)

  def logits_fn(z):
    score = z.astype(jnp.float32) @ w + bias
    return jnp.stack([jnp.zeros_like(score), score], -1)

  return logits_fn, x, jnp.zeros((b,), jnp.int32), dist, jnp.linalg.norm(w)


def l2(a, b):
  """Per-example L2 distances between two batches, as NumPy float32."""
  diff = np.asarray(a, np.float32) - np.asarray(b, np.float32)
  return np.sqrt(np.sum(diff.reshape(len(diff), -1) ** 2, axis=1))
