"""Per-example classification losses from logits.

Each function maps ``logits [B, K]`` and integer ``labels [B]`` to a loss of
shape ``[B]``: never a batch mean, so attacks get unscaled per-example
gradients and train steps choose their own reduction.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from advjax import _checks


def _check(logits, labels):
  if logits.ndim != 2:
    raise ValueError(f"`logits` must have shape [B, K]; got {logits.shape}.")
  _checks.labels(labels, logits.shape[-1], batch=logits.shape[0])


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Softmax cross-entropy with integer labels, per example.

  Args:
    logits: ``[B, K]`` unnormalized scores.
    labels: ``[B]`` integer class indices in ``[0, K)``.

  Returns:
    ``[B]`` losses, in float32 or wider.
  """
  _check(logits, labels)
  return optax.softmax_cross_entropy_with_integer_labels(
      logits.astype(_checks.compute_dtype(logits.dtype)), labels)


def _true_and_best_other(logits, labels):
  logits = logits.astype(_checks.compute_dtype(logits.dtype))
  onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.bool_)
  true = jnp.sum(jnp.where(onehot, logits, 0), axis=-1)
  other = jnp.max(jnp.where(onehot, -jnp.inf, logits), axis=-1)
  return logits, onehot, true, other


def margin_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Carlini–Wagner margin ``max_{j != y} z_j - z_y``, per example.

  Positive exactly when the example is misclassified.

  References:
    Carlini & Wagner, 2017. https://arxiv.org/abs/1608.04644
  """
  _check(logits, labels)
  _, _, true, other = _true_and_best_other(logits, labels)
  return other - true


def dlr_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Difference-of-logits-ratio loss (untargeted), per example.

  ``-(z_y - max_{j != y} z_j) / (z_(1) - z_(3) + 1e-12)`` where ``z_(i)`` is
  the i-th largest logit. Invariant to shifting and scaling the logits, so it
  is not fooled by a defence that inflates them.

  References:
    Croce & Hein, 2020. https://arxiv.org/abs/2003.01690
  """
  _check(logits, labels)
  if logits.shape[-1] < 3:
    raise ValueError(f"dlr_loss needs at least 3 classes; got {logits.shape[-1]}.")
  logits, _, true, other = _true_and_best_other(logits, labels)
  top = jax.lax.top_k(logits, 3)[0]
  return -(true - other) / (top[:, 0] - top[:, 2] + 1e-12)


def targeted_dlr_loss(logits: jax.Array, labels: jax.Array,
                      target: jax.Array) -> jax.Array:
  """Targeted DLR, ``-(z_y - z_t) / (z_(1) - (z_(3) + z_(4)) / 2 + 1e-12)``.

  A loss to *increase*: it grows as the target logit overtakes the true one.

  References:
    Croce & Hein, 2020. https://arxiv.org/abs/2003.01690
  """
  _check(logits, labels)
  _checks.labels(target, logits.shape[-1], name="target", batch=logits.shape[0])
  if logits.shape[-1] < 4:
    raise ValueError(
        f"targeted_dlr_loss needs at least 4 classes; got {logits.shape[-1]}.")
  logits = logits.astype(_checks.compute_dtype(logits.dtype))
  z_y = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
  z_t = jnp.take_along_axis(logits, target[:, None], axis=-1)[:, 0]
  top = jax.lax.top_k(logits, 4)[0]
  return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def kl_divergence(p_logits: jax.Array, q_logits: jax.Array) -> jax.Array:
  """``KL(softmax(p_logits) ‖ softmax(q_logits))`` per example.

  TRADES's robustness term is ``kl_divergence(f(x), f(x'))``: the clean
  prediction is the reference distribution. Computed from log-softmaxes, so
  it is finite even when a probability underflows.

  Args:
    p_logits: ``[B, K]`` logits of the reference distribution.
    q_logits: ``[B, K]`` logits of the approximating distribution.

  Returns:
    ``[B]`` non-negative divergences, in float32 or wider.

  References:
    Zhang et al., 2019 (TRADES). https://arxiv.org/abs/1901.08573
  """
  if p_logits.ndim != 2 or p_logits.shape != q_logits.shape:
    raise ValueError("`p_logits` and `q_logits` must both have shape [B, K]; "
                     f"got {p_logits.shape} and {q_logits.shape}.")
  dtype = _checks.compute_dtype(p_logits.dtype)
  log_p = jax.nn.log_softmax(p_logits.astype(dtype), axis=-1)
  log_q = jax.nn.log_softmax(q_logits.astype(dtype), axis=-1)
  return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def distillation_loss(student_logits: jax.Array, teacher_logits: jax.Array, *,
                      temperature: float = 1.0) -> jax.Array:
  """Cross-entropy of the student at temperature ``T`` against the teacher's
  soft labels at ``T``, per example.

  ``-Σ_k softmax(z_teacher/T)_k · log softmax(z_student/T)_k``. Defensive
  distillation trains the student with this loss and deploys it at
  ``T = 1`` (no rescaling of the gradient by ``T²``, as in Papernot et al.).

  Args:
    student_logits: ``[B, K]``.
    teacher_logits: ``[B, K]``; no gradient flows into them.
    temperature: ``T > 0``.

  Returns:
    ``[B]`` losses, in float32 or wider.

  References:
    Papernot et al., 2016. https://arxiv.org/abs/1511.04508
    Hinton et al., 2015. https://arxiv.org/abs/1503.02531
  """
  _checks.positive(temperature, name="temperature")
  if student_logits.ndim != 2 or student_logits.shape != teacher_logits.shape:
    raise ValueError("`student_logits` and `teacher_logits` must both have shape "
                     f"[B, K]; got {student_logits.shape} and {teacher_logits.shape}.")
  dtype = _checks.compute_dtype(student_logits.dtype)
  soft = jax.nn.softmax(jax.lax.stop_gradient(teacher_logits).astype(dtype)
                        / temperature, axis=-1)
  log_q = jax.nn.log_softmax(student_logits.astype(dtype) / temperature, axis=-1)
  return -jnp.sum(soft * log_q, axis=-1)
