"""Domain-adaptation metrics: target accuracy and the proxy A-distance."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from advjax import _checks


def target_accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Top-1 accuracy of class ``logits [N, K]`` on target ``labels [N]``.

  The number domain adaptation is judged by: the labels of the target domain
  are never seen in training and are used here only.
  """
  if logits.ndim != 2:
    raise ValueError(f"`logits` must have shape [N, K]; got {logits.shape}.")
  _checks.labels(labels, logits.shape[-1], batch=logits.shape[0])
  return jnp.mean((jnp.argmax(logits, -1) == labels).astype(jnp.float32))


def _domain_split(source, target, key, n, n_held):
  """Balanced, shuffled train/held-out split: ``n`` per domain, ``n_held`` out."""
  key_s, key_t = jax.random.split(key)
  source = jax.random.permutation(key_s, source)[:n]
  target = jax.random.permutation(key_t, target)[:n]

  def pair(s, t):
    x = jnp.concatenate([s, t])
    y = jnp.concatenate([jnp.zeros(s.shape[0]), jnp.ones(t.shape[0])])
    return x, y

  return (pair(source[n_held:], target[n_held:]),
          pair(source[:n_held], target[:n_held]))


def domain_classifier_error(source_features: jax.Array,
                            target_features: jax.Array, *, key: jax.Array,
                            holdout_fraction: float = 0.5, steps: int = 500,
                            learning_rate: float = 0.05,
                            l2: float = 1e-3) -> jax.Array:
  """Held-out error of a logistic-regression source-vs-target classifier.

  Both sets are subsampled to the same size and split (shuffled by ``key``)
  into a training part and a held-out ``holdout_fraction``; features are
  standardized with the training part's statistics; the linear classifier is
  trained full-batch with Adam for ``steps`` steps on the L2-regularized
  logistic loss, inside one ``lax.fori_loop``.

  Args:
    source_features: ``[N_s, ...]`` features of source examples.
    target_features: ``[N_t, ...]`` features of target examples.
    key: shuffles the split.
    holdout_fraction: the share of each domain held out, in ``(0, 1)``.
    steps: optimization steps.
    learning_rate: Adam's step size.
    l2: weight of ``‖w‖²/2``.

  Returns:
    The held-out error ε, a float32 scalar (0.5 means indistinguishable).
  """
  for name, f in (("source_features", source_features),
                  ("target_features", target_features)):
    _checks.floating_batch(f, name=name)
  if source_features.shape[1:] != target_features.shape[1:]:
    raise ValueError(
        "`source_features` and `target_features` must share per-example shape; "
        f"got {source_features.shape} and {target_features.shape}.")
  if not 0.0 < holdout_fraction < 1.0:
    raise ValueError(
        f"`holdout_fraction` must lie in (0, 1); got {holdout_fraction!r}.")
  _checks.count(steps, name="steps", minimum=1)
  _checks.positive(learning_rate, name="learning_rate")
  _checks.nonnegative(l2, name="l2")
  n = min(source_features.shape[0], target_features.shape[0])
  n_held = int(round(n * holdout_fraction))
  if n_held < 1 or n_held >= n:
    raise ValueError(
        f"need at least one training and one held-out example per domain; got "
        f"{n} per domain with holdout_fraction={holdout_fraction}.")

  def flat(f):
    return f.reshape(f.shape[0], -1).astype(jnp.float32)

  (x, y), (x_held, y_held) = _domain_split(
      flat(source_features), flat(target_features), key, n, n_held)
  return _fit_and_score(x, y, x_held, y_held, jnp.float32(learning_rate),
                        jnp.float32(l2), steps=steps)


@functools.partial(jax.jit, static_argnames="steps")
def _fit_and_score(x, y, x_held, y_held, learning_rate, l2, *, steps):
  """Trains the standardized logistic regression; returns the held-out error."""
  mean, std = jnp.mean(x, 0), jnp.std(x, 0) + 1e-6
  x, x_held = (x - mean) / std, (x_held - mean) / std
  tx = optax.adam(learning_rate)

  def loss_fn(params):
    w, b = params
    logits = x @ w + b
    return (jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y))
            + 0.5 * l2 * jnp.sum(w * w))

  def body(_, carry):
    params, opt_state = carry
    updates, opt_state = tx.update(jax.grad(loss_fn)(params), opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  params = (jnp.zeros(x.shape[1], jnp.float32), jnp.zeros((), jnp.float32))
  w, b = jax.lax.fori_loop(0, steps, body, (params, tx.init(params)))[0]
  predicted = (x_held @ w + b) > 0
  return jnp.mean((predicted != (y_held > 0.5)).astype(jnp.float32))


def proxy_a_distance(source_features: jax.Array, target_features: jax.Array,
                     *, key: jax.Array, **classifier_kwargs) -> jax.Array:
  """Proxy A-distance ``2 (1 − 2ε)`` between two feature distributions.

  ``ε`` is the held-out error of a linear domain classifier (see
  :func:`domain_classifier_error`, which takes the keyword arguments); the
  result is clipped to ``[0, 2]``: 0 for indistinguishable domains, 2 for
  perfectly separable ones.

  Args:
    source_features: ``[N_s, ...]`` features of source examples.
    target_features: ``[N_t, ...]`` features of target examples.
    key: shuffles the train/held-out split.
    **classifier_kwargs: ``holdout_fraction``, ``steps``, ``learning_rate``,
      ``l2``.

  Returns:
    A float32 scalar in ``[0, 2]``.

  References:
    Ben-David et al., 2007, Analysis of Representations for Domain Adaptation.
    https://papers.nips.cc/paper/2983
    Ganin et al., 2016, section 5.1.3. https://arxiv.org/abs/1505.07818
  """
  error = domain_classifier_error(source_features, target_features, key=key,
                                  **classifier_kwargs)
  return jnp.clip(2.0 * (1.0 - 2.0 * error), 0.0, 2.0)
