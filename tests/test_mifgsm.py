"""MI-FGSM: ball and box, closed form on a linear loss, the paper's recursion,
jit and sharding, and momentum against plain I-FGSM on a trained model."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import attacks
from advjax import train
from attack_models import trained_digits_mlp

strict = pytest.mark.strict_dtypes


def _tanh_net_loss(b=16, d=30, seed=0, with_grad=False):
  """A smooth non-convex per-example loss: a random 2-layer tanh network
  (and, if asked, its input gradient in NumPy float64)."""
  k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
  w1 = jax.random.normal(k1, (d, 32), jnp.float32) / jnp.sqrt(float(d))
  w2 = jax.random.normal(k2, (32,), jnp.float32)
  x = jax.random.uniform(k3, (b, d), jnp.float32)
  loss_fn = lambda z: jnp.tanh(z.astype(jnp.float32) @ w1) @ w2  # noqa: E731
  if not with_grad:
    return x, loss_fn
  w1_, w2_ = np.asarray(w1, np.float64), np.asarray(w2, np.float64)
  grad = lambda z: ((1 - np.tanh(z @ w1_) ** 2) * w2_) @ w1_.T  # noqa: E731
  return x, loss_fn, grad


@strict
@pytest.mark.parametrize("norm,eps,dtype", [(jnp.inf, 0.1, jnp.float32),
                                            (2, 0.8, jnp.bfloat16)])
def test_stays_in_ball_and_box_and_keeps_dtype(norm, eps, dtype):
  x, loss_fn = _tanh_net_loss()
  x = x.astype(dtype)
  x_adv = attacks.mifgsm(loss_fn, x, eps=eps, step_size=eps / 4, n_steps=8,
                         norm=norm)
  assert x_adv.shape == x.shape and x_adv.dtype == dtype
  tol = 1e-5 if dtype == jnp.float32 else 1e-2  # bf16 rounding of x and x_adv
  dist = attacks.lp_norm(x_adv.astype(jnp.float32) - x.astype(jnp.float32), norm)
  assert np.all(dist <= eps * (1 + tol) + tol)
  assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
  assert np.mean(loss_fn(x_adv) > loss_fn(x)) > 0.9


@strict
@pytest.mark.parametrize("norm", [jnp.inf, 2])
def test_linear_loss_reaches_the_fgm_optimum(norm):
  # With a constant gradient w the momentum keeps w's direction, so T steps of
  # eps/T land on x + eps·d(w), the exact maximiser of <w, δ> over the ball.
  x, _ = _tanh_net_loss(seed=1)
  x = 0.3 + 0.4 * x  # away from the box, which then never binds
  w = jax.random.normal(jax.random.key(2), x.shape[1:], jnp.float32)
  loss_fn = lambda z: z @ w  # noqa: E731
  eps = 0.2 if norm == 2 else 0.05
  x_adv = attacks.mifgsm(loss_fn, x, eps=eps, step_size=eps / 5, n_steps=5,
                         norm=norm)
  expected = attacks.fgsm(loss_fn, x, eps=eps, norm=norm)
  np.testing.assert_allclose(x_adv, expected, atol=1e-5)


@strict
def test_matches_the_papers_recursion():
  x, loss_fn, grad = _tanh_net_loss(b=4, d=12, seed=3, with_grad=True)
  eps, alpha, steps = 0.1, 0.03, 6
  attack = jax.jit(lambda decay: attacks.mifgsm(
      loss_fn, x, eps=eps, step_size=alpha, n_steps=steps, decay=decay))
  for decay in (0.0, 0.5, 1.0):
    xs = x0 = np.asarray(x, np.float64)
    g = np.zeros(x.shape)
    for _ in range(steps):  # Dong et al. 2018, Algorithm 1 (plus the box)
      gt = grad(xs)
      g = decay * g + gt / np.abs(gt).sum(axis=1, keepdims=True)
      xs = np.clip(np.clip(xs + alpha * np.sign(g), x0 - eps, x0 + eps), 0.0, 1.0)
    np.testing.assert_allclose(attack(decay), xs, atol=1e-5)


def test_sharded_matches_single_device():
  x, loss_fn = _tanh_net_loss(b=16)
  attack = functools.partial(attacks.mifgsm, loss_fn, eps=0.5, step_size=0.1,
                             n_steps=5, norm=2)
  single = jax.jit(attack)(x)
  sharded = jax.jit(attack)(train.shard_batch(x, train.data_mesh()))
  np.testing.assert_allclose(sharded, single, atol=1e-6)
  assert len(sharded.sharding.device_set) == 8


def test_momentum_is_not_worse_than_ifgsm_on_a_trained_model():
  logits_fn, x, y = trained_digits_mlp()
  loss_fn = attacks.untargeted(logits_fn, y)

  @jax.jit
  def success(decay, eps):
    x_adv = attacks.mifgsm(loss_fn, x, eps=eps, step_size=eps / 10, n_steps=10,
                           decay=decay)
    assert x_adv.dtype == x.dtype
    return jnp.mean(jnp.argmax(logits_fn(x_adv), -1) != y)

  # On a smooth white-box model momentum mostly matches I-FGSM (its gain is
  # in transfer); it must not be worse by more than 3 of the 64 examples.
  for eps in (0.1, 0.15):
    momentum, plain = float(success(1.0, eps)), float(success(0.0, eps))
    assert 0.5 < momentum  # the budget is a real test, neither trivial nor hopeless
    assert momentum >= plain - 0.05, (eps, momentum, plain)


@strict
def test_bad_arguments_are_named():
  x, loss_fn = _tanh_net_loss()
  kw = dict(eps=0.1, step_size=0.01, n_steps=2)
  with pytest.raises(ValueError, match="norm"):
    attacks.mifgsm(loss_fn, x, **kw, norm=1)
  with pytest.raises(ValueError, match="eps"):
    attacks.mifgsm(loss_fn, x, **{**kw, "eps": -0.1})
  with pytest.raises(ValueError, match="step_size"):
    attacks.mifgsm(loss_fn, x, **{**kw, "step_size": -1.0})
  with pytest.raises(TypeError, match="n_steps"):
    attacks.mifgsm(loss_fn, x, **{**kw, "n_steps": 2.5})
  with pytest.raises(ValueError, match="decay"):
    attacks.mifgsm(loss_fn, x, **kw, decay=-1.0)
  with pytest.raises(ValueError, match="bounds"):
    attacks.mifgsm(loss_fn, x, **kw, bounds=(1.0, 0.0))
  with pytest.raises(ValueError, match="loss_fn"):
    attacks.mifgsm(lambda z: jnp.sum(loss_fn(z)), x, **kw)
