"""Expectation over transformation (EOT): attack the loss averaged over
random transforms, so the adversarial example survives them."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from advjax import _checks
from advjax.attacks._common import check_loss_shape
from advjax.attacks.transforms import Transform


def eot(loss_fn: Callable[[jax.Array], jax.Array], transform: Transform, *,
        n_samples: int):
  """``eot_loss(x, key) -> [B]``: ``loss_fn`` averaged over random transforms.

  ``eot_loss(x, key)_i = (1/n) Σ_j loss_fn(t_j(x))_i`` with ``t_j =
  transform(fold of key, ·)`` — ``n_samples`` transforms, each drawing its own
  parameters per example, evaluated under one ``vmap``. The key is an
  argument, so a caller chooses when to redraw the transforms: a fixed key
  gives a deterministic objective, a per-step key a fresh sample each step.
  With :func:`eot_grad_fn` PGD gets a new sample every step (PGD hands a
  per-step key to ``grad_fn``)::

    eot_loss = attacks.eot(loss_fn, t, n_samples=16)
    x_adv = attacks.pgd(lambda x: eot_loss(x, eval_key), x, key=key, eps=0.3,
                        step_size=0.01, n_steps=100,
                        grad_fn=attacks.eot_grad_fn(loss_fn, t, n_samples=16))

  Args:
    loss_fn: ``x -> [B]`` per-example loss.
    transform: ``(key, x) -> x'`` random transform, differentiable in ``x``
      (see ``advjax.attacks.transforms``).
    n_samples: static number of transforms averaged, >= 1.

  Returns:
    ``eot_loss(x, key) -> [B]`` float32.

  References:
    Athalye et al., 2018. https://arxiv.org/abs/1707.07397
  """
  n_samples = _checks.count(n_samples, name="n_samples", minimum=1)
  if not callable(transform):
    raise TypeError(f"`transform` must be callable; got {type(transform).__name__}.")

  def eot_loss(x, key):
    def one(k):
      values = loss_fn(transform(k, x))
      check_loss_shape(values, x)
      return values.astype(jnp.float32)

    keys = jax.random.split(key, n_samples)
    return jnp.mean(jax.vmap(one)(keys), axis=0)

  return eot_loss


def eot_grad_fn(loss_fn: Callable[[jax.Array], jax.Array], transform: Transform,
                *, n_samples: int):
  """``grad_fn(x, key)``: per-example gradient of :func:`eot`'s loss, for
  ``attacks.pgd(..., grad_fn=...)`` (a fresh transform sample per step)."""
  eot_loss = eot(loss_fn, transform, n_samples=n_samples)

  def grad_fn(x, key):
    return jax.grad(lambda z: jnp.sum(eot_loss(z, key)))(x)

  return grad_fn
