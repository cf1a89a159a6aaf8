"""The gradient reversal layer (GRL) of domain-adversarial training.

Forward it is the identity; backward it multiplies the incoming gradient by
``-lam``. Placed between a feature extractor and a domain classifier, one
ordinary descent step on ``label_loss + domain_loss`` then *maximizes* the
domain loss with respect to the features while the domain classifier still
minimizes it: the saddle point of Ganin & Lempitsky's objective.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@jax.custom_vjp
def _reverse(tree, lam):
  return tree


def _reverse_fwd(tree, lam):
  return tree, lam


def _scale(cotangent, lam):
  # Integer inputs get float0 cotangents: nothing to scale.
  if cotangent.dtype == jax.dtypes.float0:
    return cotangent
  # Multiply in (at least) float32 so a bf16 cotangent is rounded once.
  dtype = cotangent.dtype
  wide = dtype if jnp.finfo(dtype).bits >= 32 else jnp.float32
  return (cotangent.astype(wide) * -jnp.asarray(lam, wide)).astype(dtype)


def _reverse_bwd(lam, cotangents):
  return (jax.tree.map(lambda g: _scale(g, lam), cotangents),
          jnp.zeros_like(lam))


_reverse.defvjp(_reverse_fwd, _reverse_bwd)


def grad_reverse(x: Any, lam: Any = 1.0) -> Any:
  """Identity on ``x``; scales gradients flowing back through it by ``-lam``.

  ``lam`` is an ordinary (differentiable-position) argument, not a static one,
  so it may be a traced value, e.g. a schedule evaluated at the step counter
  inside ``jit``, or a per-example value under ``vmap``; its own gradient is
  zero (the forward pass does not depend on it). Each cotangent keeps the dtype
  of its input (bf16 in, bf16 out).

  Args:
    x: an array or a pytree of arrays.
    lam: the reversal strength λ, a real scalar (the DANN paper ramps it from
      0 to 1, see :func:`advjax.train.dann_lambda_schedule`).

  Returns:
    ``x`` unchanged.

  Raises:
    TypeError: if ``lam`` is not a real number.
    ValueError: if ``lam`` is not a scalar or not finite.

  References:
    Ganin & Lempitsky, 2015, Unsupervised Domain Adaptation by
    Backpropagation. https://arxiv.org/abs/1409.7495
  """
  if not hasattr(lam, "dtype"):
    if isinstance(lam, bool) or not isinstance(lam, (int, float, np.number)):
      raise TypeError(f"`lam` must be a real scalar; got {lam!r}.")
    lam = float(lam)
  lam = jnp.asarray(lam)
  if lam.ndim != 0:
    raise ValueError(f"`lam` must be a scalar; got shape {lam.shape}.")
  if not (jnp.issubdtype(lam.dtype, jnp.floating)
          or jnp.issubdtype(lam.dtype, jnp.integer)):
    raise TypeError(f"`lam` must be a real scalar; got dtype {lam.dtype}.")
  if not isinstance(lam, jax.core.Tracer) and not np.isfinite(np.asarray(lam)):
    raise ValueError(f"`lam` must be finite; got {lam}.")
  if not jnp.issubdtype(lam.dtype, jnp.floating):
    lam = lam.astype(jnp.float32)
  return _reverse(x, lam)
