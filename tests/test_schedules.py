"""The DANN paper's λ_p and μ_p schedules against their formulas."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax.train import dann_lambda_schedule
from advjax.train import dann_learning_rate_schedule

pytestmark = pytest.mark.strict_dtypes

STEPS = np.array([0, 1, 7, 50, 99, 100, 250])


def test_lambda_matches_formula_and_clips_progress():
  schedule = dann_lambda_schedule(total_steps=100, gamma=10.0, max_value=2.0)
  p = np.minimum(STEPS / 100.0, 1.0)
  expected = 2.0 * (2.0 / (1.0 + np.exp(-10.0 * p)) - 1.0)
  got = np.array([float(schedule(s)) for s in STEPS])
  np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
  assert got[0] == 0.0 and np.all(np.diff(got) >= 0)
  np.testing.assert_allclose(got[-1], 2.0 * np.tanh(5.0), rtol=1e-6)  # 2/(1+e^-x)-1 = tanh(x/2)


def test_learning_rate_matches_formula():
  schedule = dann_learning_rate_schedule(total_steps=100)
  p = np.minimum(STEPS / 100.0, 1.0)
  expected = 0.01 / (1.0 + 10.0 * p) ** 0.75
  got = np.array([float(schedule(s)) for s in STEPS])
  np.testing.assert_allclose(got, expected, rtol=1e-6)
  np.testing.assert_allclose(got[-1], 0.01 / 11 ** 0.75, rtol=1e-6)


def test_schedules_trace_under_jit_with_an_int32_step():
  lam = dann_lambda_schedule(total_steps=40)
  lr = dann_learning_rate_schedule(total_steps=40, init_value=0.1, alpha=1.0, beta=1.0)
  values = jax.jit(jax.vmap(lambda s: jnp.stack([lam(s), lr(s)])))(
      jnp.arange(0, 41, 10, dtype=jnp.int32))
  assert values.dtype == jnp.float32
  p = np.arange(0, 41, 10) / 40.0
  np.testing.assert_allclose(values[:, 0], 2 / (1 + np.exp(-10 * p)) - 1, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(values[:, 1], 0.1 / (1 + p), rtol=1e-6)


def test_learning_rate_schedule_drives_optax():
  import optax  # pylint: disable=import-outside-toplevel
  tx = optax.sgd(dann_learning_rate_schedule(total_steps=10, init_value=0.5))
  params = jnp.zeros(())
  state = tx.init(params)
  for step in range(3):
    updates, state = tx.update(jnp.ones(()), state)
    np.testing.assert_allclose(updates, -0.5 / (1 + 10 * step / 10) ** 0.75, rtol=1e-6)


@pytest.mark.parametrize("factory, kwargs, name", [
    (dann_lambda_schedule, {"total_steps": 0}, "total_steps"),
    (dann_lambda_schedule, {"total_steps": 1.5}, "total_steps"),
    (dann_lambda_schedule, {"total_steps": 10, "gamma": 0.0}, "gamma"),
    (dann_lambda_schedule, {"total_steps": 10, "max_value": -1.0}, "max_value"),
    (dann_learning_rate_schedule, {"total_steps": 10, "init_value": 0.0}, "init_value"),
    (dann_learning_rate_schedule, {"total_steps": 10, "alpha": -1.0}, "alpha"),
    (dann_learning_rate_schedule, {"total_steps": 10, "beta": float("nan")}, "beta"),
])
def test_bad_arguments_name_themselves(factory, kwargs, name):
  with pytest.raises((TypeError, ValueError), match=name):
    factory(**kwargs)
