"""The DANN paper's schedules as optax-style ``schedule(step) -> value``.

Both are functions of the training progress ``p = step / total_steps``,
clipped to ``[0, 1]``, and accept a traced step (use them inside ``jit``).
"""
from __future__ import annotations

import jax.numpy as jnp
import optax

from advjax import _checks


def _progress(step, total_steps: int):
  return jnp.clip(jnp.asarray(step, jnp.float32) / total_steps, 0.0, 1.0)


def dann_lambda_schedule(*, total_steps: int, gamma: float = 10.0,
                         max_value: float = 1.0) -> optax.Schedule:
  """λ_p = max_value · (2 / (1 + exp(−γ p)) − 1): ramps the adaptation from 0.

  Suppresses the noisy domain signal early in training, when the features are
  still meaningless, and approaches ``max_value`` as ``p → 1``.

  Args:
    total_steps: the number of steps over which ``p`` goes from 0 to 1.
    gamma: the ramp's steepness γ (10 in the paper).
    max_value: the final value of λ.

  Returns:
    ``schedule(step) -> float32`` scalar.

  References:
    Ganin et al., 2016, Domain-Adversarial Training of Neural Networks,
    section 5.2.2. https://arxiv.org/abs/1505.07818
  """
  _checks.count(total_steps, name="total_steps", minimum=1)
  _checks.positive(gamma, name="gamma")
  _checks.nonnegative(max_value, name="max_value")

  def schedule(step):
    p = _progress(step, total_steps)
    return max_value * (2.0 / (1.0 + jnp.exp(-gamma * p)) - 1.0)

  return schedule


def dann_learning_rate_schedule(*, total_steps: int, init_value: float = 0.01,
                                alpha: float = 10.0,
                                beta: float = 0.75) -> optax.Schedule:
  """μ_p = μ₀ / (1 + α p)^β: the paper's annealed SGD learning rate.

  Args:
    total_steps: the number of steps over which ``p`` goes from 0 to 1.
    init_value: μ₀ (0.01 in the paper).
    alpha: α (10 in the paper).
    beta: β (0.75 in the paper).

  Returns:
    ``schedule(step) -> float32`` scalar, to pass as an optax learning rate.

  References:
    Ganin et al., 2016, Domain-Adversarial Training of Neural Networks,
    section 5.2.2. https://arxiv.org/abs/1505.07818
  """
  _checks.count(total_steps, name="total_steps", minimum=1)
  _checks.positive(init_value, name="init_value")
  _checks.nonnegative(alpha, name="alpha")
  _checks.nonnegative(beta, name="beta")

  def schedule(step):
    p = _progress(step, total_steps)
    return init_value / (1.0 + alpha * p) ** beta

  return schedule
