"""Defensive distillation: teacher and student trained at temperature ``T``,
the student deployed at ``T = 1`` (Papernot et al. 2016)."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from advjax import _checks
from advjax.losses import cross_entropy
from advjax.losses import distillation_loss
from advjax.train.classifier import ApplyFn
from advjax.train.state import TrainState


def make_distillation_step(
    apply_fn: ApplyFn, tx: optax.GradientTransformation, *, temperature: float,
    teacher_logits_fn: Callable[[jax.Array], jax.Array] | None = None):
  """One update of defensive distillation at temperature ``T``.

  Without ``teacher_logits_fn`` this trains the *teacher*: cross-entropy of
  ``softmax(z/T)`` against the hard labels. With it, the *student*: the
  :func:`advjax.losses.distillation_loss` against the teacher's soft labels
  ``softmax(z_teacher/T)``. Both models output raw logits ``z``; the
  temperature exists only in training, so at test time (``T = 1``) the
  logits are ~``T`` times larger than a normally trained model's, the
  softmax saturates and cross-entropy gradients vanish. That defeats
  CE-based attacks but not margin (C&W) ones: the robustness is gradient
  masking (Carlini & Wagner 2016, https://arxiv.org/abs/1607.04311).

  Args:
    apply_fn: see :func:`advjax.train.linen_apply`.
    tx: the optax optimizer.
    temperature: ``T > 0`` (Papernot et al.: 100 on MNIST).
    teacher_logits_fn: the trained teacher, ``x -> logits`` (its raw,
      ``T = 1`` logits); ``None`` to train the teacher itself.

  Returns:
    ``step(state, batch, key) -> (state, metrics)``; metrics ``loss`` (at
    ``T``), ``clean_loss``/``clean_accuracy`` (at ``T = 1``).

  References:
    Papernot et al., 2016. https://arxiv.org/abs/1511.04508
  """
  _checks.positive(temperature, name="temperature")
  t = float(temperature)
  if teacher_logits_fn is not None and not callable(teacher_logits_fn):
    raise TypeError("`teacher_logits_fn` must be a callable x -> logits or None.")

  def step(state: TrainState, batch, key):
    x, y = batch["image"], batch["label"]
    soft = None if teacher_logits_fn is None else jax.lax.stop_gradient(
        teacher_logits_fn(x))

    def loss_fn(params):
      logits, model_state = apply_fn(params, state.model_state, x, train=True,
                                     key=key)
      per_example = (cross_entropy(logits / t, y) if soft is None else
                     distillation_loss(logits, soft, temperature=t))
      return jnp.mean(per_example), (logits, model_state)

    (loss, (logits, model_state)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads, tx, model_state)
    correct = (jnp.argmax(logits, -1) == y).astype(jnp.float32)
    return state, {"loss": loss, "clean_loss": jnp.mean(cross_entropy(logits, y)),
                   "clean_accuracy": jnp.mean(correct)}

  return step
