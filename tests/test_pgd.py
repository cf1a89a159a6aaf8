"""PGD: ball and box, monotonicity, restarts, jit and sharding."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import attacks
from advjax import train

pytestmark = pytest.mark.strict_dtypes
CASES = [(jnp.inf, 0.1, 0.02), (2, 1.0, 0.2), (1, 5.0, 1.0)]


def _mlp_loss(b=16, d=30, seed=0):
  """A smooth non-convex per-example loss: a random 2-layer tanh network."""
  k1, k2, k3, k4 = jax.random.split(jax.random.key(seed), 4)
  w1 = jax.random.normal(k1, (d, 32), jnp.float32) / jnp.sqrt(float(d))
  w2 = jax.random.normal(k2, (32,), jnp.float32)
  labels = jax.random.bernoulli(k3, 0.5, (b,)).astype(jnp.float32) * 2 - 1
  x = jax.random.uniform(k4, (b, d), jnp.float32)
  return x, lambda z: -labels * (jnp.tanh(z @ w1) @ w2)


@pytest.mark.parametrize("norm,eps,step", CASES)
@pytest.mark.parametrize("random_start", [True, False])
def test_stays_in_ball_and_box(norm, eps, step, random_start):
  x, loss_fn = _mlp_loss()
  x_adv = attacks.pgd(loss_fn, x, key=jax.random.key(0), eps=eps, step_size=step,
                      n_steps=10, norm=norm, random_start=random_start, n_restarts=2)
  assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
  assert np.all(attacks.lp_norm(x_adv - x, norm) <= eps * (1 + 1e-5) + 1e-6)
  assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


@pytest.mark.parametrize("norm,eps,step", CASES)
def test_without_random_start_never_lowers_the_loss(norm, eps, step):
  x, loss_fn = _mlp_loss(seed=1)
  for n_steps in (0, 1, 7):
    x_adv = attacks.pgd(loss_fn, x, key=jax.random.key(0), eps=eps, step_size=step,
                        n_steps=n_steps, norm=norm, random_start=False)
    assert np.all(loss_fn(x_adv) >= loss_fn(x) - 1e-6)
  assert np.mean(loss_fn(x_adv) > loss_fn(x) + 1e-3) > 0.9  # and it does work


@pytest.mark.parametrize("norm,eps,step", CASES)
def test_restarts_are_never_worse_than_one_run(norm, eps, step):
  x, loss_fn = _mlp_loss(seed=2)
  kw = dict(key=jax.random.key(3), eps=eps, step_size=step, n_steps=5, norm=norm)
  one = loss_fn(attacks.pgd(loss_fn, x, **kw))
  many = loss_fn(attacks.pgd(loss_fn, x, n_restarts=4, **kw))
  assert np.all(many >= one - 1e-6)


def test_one_step_without_random_start_is_fgsm():
  x, loss_fn = _mlp_loss(seed=3)
  # Pick x away from the bounds so best-of-iterates cannot favour the start.
  x = 0.25 + 0.5 * x
  pgd = attacks.pgd(loss_fn, x, key=jax.random.key(0), eps=0.05, step_size=0.05,
                    n_steps=1, random_start=False)
  fgsm = attacks.fgsm(loss_fn, x, eps=0.05)
  better = loss_fn(fgsm) > loss_fn(x)
  np.testing.assert_allclose(np.asarray(pgd)[better], np.asarray(fgsm)[better])


@pytest.mark.parametrize("random_start", [True, False])
def test_last_iterate_is_plain_projected_ascent(random_start):
  x, loss_fn = _mlp_loss(b=64, seed=5)
  eps, step, n = 0.1, 0.1, 6  # steps as long as the ball: iterates overshoot
  kw = dict(key=jax.random.key(1), eps=eps, step_size=step, n_steps=n,
            random_start=random_start, best_iterate=False)
  ours = attacks.pgd(loss_fn, x, **kw)
  # The same steps by hand: the start of restart 0 is the best-iterate run's.
  start = attacks.pgd(loss_fn, x, key=kw["key"], eps=eps, step_size=step,
                      n_steps=0, random_start=random_start)
  z = start
  for _ in range(n):
    g = jax.grad(lambda v: jnp.sum(loss_fn(v)))(z)
    z = jnp.clip(x + jnp.clip(z + step * jnp.sign(g) - x, -eps, eps), 0.0, 1.0)
  np.testing.assert_allclose(ours, z, atol=1e-6)
  best = attacks.pgd(loss_fn, x, **{**kw, "best_iterate": True})
  assert np.all(loss_fn(best) >= loss_fn(ours) - 1e-6)
  if random_start:  # here some iterates overshoot: the two rules differ
    assert np.mean(loss_fn(best) > loss_fn(ours) + 1e-6) > 0
  # Restarts keep, per example, the restart whose last iterate is best.
  many = attacks.pgd(loss_fn, x, **{**kw, "n_restarts": 3})
  assert np.all(loss_fn(many) >= loss_fn(ours) - 1e-6)


def test_pgd_beats_fgsm_on_a_nonlinear_loss():
  x, loss_fn = _mlp_loss(seed=4)
  fgsm = loss_fn(attacks.fgsm(loss_fn, x, eps=0.1))
  pgd = loss_fn(attacks.pgd(loss_fn, x, key=jax.random.key(0), eps=0.1,
                            step_size=0.02, n_steps=20))
  assert float(jnp.mean(pgd)) > float(jnp.mean(fgsm))


def test_grad_fn_replaces_autodiff():
  x, loss_fn = _mlp_loss(seed=5)
  exact = jax.grad(lambda z: jnp.sum(loss_fn(z)))
  kw = dict(key=jax.random.key(0), eps=0.1, step_size=0.02, n_steps=5)
  a = attacks.pgd(loss_fn, x, **kw)
  b = attacks.pgd(loss_fn, x, grad_fn=lambda z, k: exact(z), **kw)
  np.testing.assert_allclose(a, b, atol=1e-6)
  # A useless estimator (zeros) leaves the random start as the answer.
  c = attacks.pgd(loss_fn, x, grad_fn=lambda z, k: jnp.zeros_like(z), **kw)
  assert np.all(loss_fn(c) <= loss_fn(a) + 1e-6)


def test_jit_and_sharded_match_eager():
  x, loss_fn = _mlp_loss(b=16)
  attack = functools.partial(attacks.pgd, loss_fn, key=jax.random.key(7), eps=0.1,
                             step_size=0.02, n_steps=5, n_restarts=2)
  eager = attack(x)
  jitted = jax.jit(attack)(x)
  mesh = train.data_mesh()
  assert mesh.size == 8
  x_sharded = train.shard_batch(x, mesh)
  sharded = jax.jit(attack)(x_sharded)
  np.testing.assert_allclose(jitted, eager, atol=1e-6)
  np.testing.assert_allclose(sharded, eager, atol=1e-6)
  assert sharded.sharding.spec[0] == "data" or len(sharded.sharding.device_set) == 8


def test_bad_arguments_are_named():
  x, loss_fn = _mlp_loss()
  kw = dict(key=jax.random.key(0), eps=0.1, step_size=0.01, n_steps=2)
  with pytest.raises(ValueError, match="n_restarts"):
    attacks.pgd(loss_fn, x, **{**kw, "n_restarts": 0})
  with pytest.raises(TypeError, match="n_steps"):
    attacks.pgd(loss_fn, x, **{**kw, "n_steps": 2.5})
  with pytest.raises(ValueError, match="step_size"):
    attacks.pgd(loss_fn, x, **{**kw, "step_size": -1.0})
  with pytest.raises(ValueError, match="eps"):
    attacks.pgd(loss_fn, x, **{**kw, "eps": float("nan")})
