"""Models that are not JAX at all, as JAX functions: a NumPy/scikit-learn
scoring function reached through ``jax.pure_callback``."""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from advjax import _checks


def numpy_oracle(predict_fn: Callable[[np.ndarray], np.ndarray], *,
                 num_classes: int, log_probs: bool = True, flatten: bool = True,
                 min_prob: float = 1e-12):
  """Wraps a host scoring function as a jittable ``logits_fn(x) -> [B, K]``.

  ``predict_fn`` receives a NumPy ``float32`` array ``[N, d]`` (``flatten``)
  or ``[N, *example_shape]`` and returns ``[N, num_classes]`` scores, e.g.
  scikit-learn's ``clf.predict_proba``. The call goes through
  ``jax.pure_callback`` with ``vmap_method="expand_dims"``, so the function
  works under ``jit`` and a ``vmap`` over queries (the gradient estimators)
  turns into *one* host call on the whole stacked batch. The result has no
  gradient (the callback is not differentiable): only black-box attacks —
  :func:`~advjax.attacks.square_attack`,
  :func:`~advjax.attacks.estimate_gradient`,
  :func:`~advjax.attacks.blackbox_pgd` — can use it.

  Args:
    predict_fn: ``[N, ...] -> [N, num_classes]`` NumPy function.
    num_classes: number of scores per example, >= 1.
    log_probs: return ``log(max(p, min_prob))`` — probabilities become
      logits, so the margin and cross-entropy losses apply unchanged.
    flatten: pass each example flattened (the scikit-learn convention).
    min_prob: floor under the probabilities before the log.

  Returns:
    ``logits_fn(x [B, ...]) -> [B, num_classes]`` float32.
  """
  num_classes = _checks.count(num_classes, name="num_classes", minimum=1)
  _checks.positive(min_prob, name="min_prob")
  if not callable(predict_fn):
    raise TypeError(f"`predict_fn` must be callable; got {type(predict_fn).__name__}.")

  def logits_fn(x):
    _checks.floating_batch(x, name="x", min_ndim=1)
    example_shape = x.shape[1:]
    n_example = len(example_shape)

    def host(xs):
      xs = np.asarray(xs, np.float32)
      lead = xs.shape[: xs.ndim - n_example]
      rows = xs.reshape((math.prod(lead),) + (
          (math.prod(example_shape),) if flatten else example_shape))
      scores = np.asarray(predict_fn(rows), np.float64)
      if scores.shape != (rows.shape[0], num_classes):
        raise ValueError(f"`predict_fn` must return shape ({rows.shape[0]}, "
                         f"{num_classes}); got {scores.shape}.")
      if log_probs:
        scores = np.log(np.maximum(scores, min_prob))
      return scores.astype(np.float32).reshape(lead + (num_classes,))

    out = jax.ShapeDtypeStruct((x.shape[0], num_classes), jnp.float32)
    return jax.pure_callback(host, out, x, vmap_method="expand_dims")

  return logits_fn
