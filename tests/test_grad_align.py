"""GradAlign: the penalty's closed forms, and the FGSM-RS step that uses it."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from advjax import train
from advjax.attacks import lp

pytestmark = pytest.mark.strict_dtypes

X = jax.random.uniform(jax.random.key(0), (6, 4, 4, 1), minval=0.2, maxval=0.8)


def test_linear_loss_has_aligned_gradients():
  w = jax.random.normal(jax.random.key(1), X.shape[1:])
  penalty = train.grad_align_penalty(lambda z: jnp.sum(z * w, (1, 2, 3)), X,
                                     key=jax.random.key(2), eps=0.1)
  np.testing.assert_allclose(penalty, 0.0, atol=1e-6)


def test_quadratic_loss_matches_closed_form():
  """ℓ(x) = ‖x‖²/2 has ∇ℓ = x: the penalty is mean 1 − cos(x, x + η)."""
  key, eps = jax.random.key(3), 0.15
  penalty = train.grad_align_penalty(lambda z: 0.5 * jnp.sum(z**2, (1, 2, 3)), X,
                                     key=key, eps=eps)
  near = jnp.clip(X + lp.sample_ball(key, X.shape, jnp.inf, jnp.full((6,), eps)), 0, 1)
  a, b = X.reshape(6, -1), near.reshape(6, -1)
  cos = jnp.sum(a * b, 1) / (jnp.linalg.norm(a, axis=1) * jnp.linalg.norm(b, axis=1))
  np.testing.assert_allclose(penalty, jnp.mean(1 - cos), rtol=1e-5)
  assert 0.0 < float(penalty) < 2.0


class _Net(nn.Module):
  @nn.compact
  def __call__(self, x, *, train: bool = False):
    del train
    return nn.Dense(10)(nn.tanh(nn.Dense(16)(x.reshape(x.shape[0], -1))))


def test_fgsm_rs_step_adds_the_weighted_penalty():
  module = _Net()
  apply_fn = train.linen_apply(module)
  params = module.init(jax.random.key(4), X)["params"]
  batch = {"image": X, "label": jnp.arange(6, dtype=jnp.int32) % 10}
  tx = optax.sgd(0.1)
  state = train.TrainState.create(params, tx, {})
  key = jax.random.key(5)
  plain = train.make_fgsm_rs_step(apply_fn, tx, eps=0.1)
  aligned = train.make_fgsm_rs_step(apply_fn, tx, eps=0.1, grad_align=2.0)
  _, m_plain = jax.jit(plain)(state, batch, key)
  new_state, m_aligned = jax.jit(aligned)(state, batch, key)
  assert "grad_align" not in m_plain
  penalty = float(m_aligned["grad_align"])
  assert 0.0 < penalty < 2.0  # a tanh network is not linear
  np.testing.assert_allclose(m_aligned["loss"], m_plain["loss"] + 2.0 * penalty,
                             rtol=1e-5)
  # The penalty is differentiated through the input gradients (double
  # backpropagation): the update differs from plain FGSM-RS's.
  plain_state, _ = jax.jit(plain)(state, batch, key)
  moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                       new_state.params, plain_state.params)
  assert max(jax.tree.leaves(moved)) > 1e-6


def test_grad_align_arguments_are_checked():
  apply_fn = train.linen_apply(_Net())
  with pytest.raises(ValueError, match="grad_align"):
    train.make_fgsm_rs_step(apply_fn, optax.sgd(0.1), eps=0.1, grad_align=-1.0)
  with pytest.raises(ValueError, match="grad_align"):
    train.make_fgsm_rs_step(apply_fn, optax.sgd(0.1), eps=0.1, norm=2, grad_align=1.0)
