"""Finite-difference gradient estimators against jax.grad, on a function that
blocks autodiff; query counts; chunking; black-box PGD."""
import sys
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import attacks

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from attack_models import trained_digits_mlp  # noqa: E402

pytestmark = pytest.mark.strict_dtypes
B, D = 4, 12


def _smooth():
  """A smooth per-example loss, exposed only through a NumPy callback."""
  rng = np.random.default_rng(0)
  w1 = (rng.normal(size=(D, 16)) / np.sqrt(D)).astype(np.float32)
  w2 = rng.normal(size=(16,)).astype(np.float32)
  x = jnp.asarray(rng.uniform(size=(B, D)), jnp.float32)
  calls = []

  def host(z):
    z = np.asarray(z, np.float32)
    calls.append(int(np.prod(z.shape[:-1])))  # rows evaluated
    return (np.tanh(z @ w1) @ w2).astype(np.float32)

  def blackbox(z):
    return jax.pure_callback(host, jax.ShapeDtypeStruct(z.shape[:1], jnp.float32),
                             z, vmap_method="expand_dims")

  exact = jax.grad(lambda z: jnp.sum(jnp.tanh(z @ w1) @ w2))(x)
  return x, blackbox, np.asarray(exact), calls


def _cos(a, b):
  a, b = np.asarray(a).reshape(len(a), -1), np.asarray(b).reshape(len(b), -1)
  return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_the_oracle_blocks_autodiff():
  x, blackbox, _, _ = _smooth()
  with pytest.raises(Exception):
    jax.grad(lambda z: jnp.sum(blackbox(z)))(x)


def test_coordinate_with_all_coordinates_is_exact():
  x, blackbox, exact, calls = _smooth()
  g = jax.jit(lambda z, k: attacks.estimate_gradient(
      blackbox, z, key=k, method="coordinate", n_samples=10 * D, sigma=1e-2))(
          x, jax.random.key(0))
  assert g.shape == x.shape and g.dtype == x.dtype
  np.testing.assert_allclose(g, exact, rtol=2e-3, atol=2e-4)
  # Exactly 2·D queries per example, in one vectorized host call.
  assert calls == [B * attacks.estimator_queries("coordinate", n_samples=10 * D, dim=D)]


def test_coordinate_subset_is_exact_on_its_coordinates():
  x, blackbox, exact, _ = _smooth()
  g = np.asarray(attacks.estimate_gradient(blackbox, x, key=jax.random.key(1),
                                           method="coordinate", n_samples=3,
                                           sigma=1e-2))
  chosen = g != 0
  assert np.all(chosen.sum(1) == 3)
  np.testing.assert_allclose(g[chosen], exact[chosen], rtol=2e-3, atol=2e-4)
  other = attacks.estimate_gradient(blackbox, x, key=jax.random.key(2),
                                    method="coordinate", n_samples=3, sigma=1e-2)
  assert np.any((np.asarray(other) != 0) != chosen)  # the key picks coordinates


@pytest.mark.parametrize("method", ["nes", "spsa"])
def test_random_directions_match_the_gradient_and_its_scale(method):
  x, blackbox, exact, calls = _smooth()
  n = 2000
  g = attacks.estimate_gradient(blackbox, x, key=jax.random.key(0), method=method,
                                n_samples=n, sigma=1e-2, max_batch=2 * B * n)
  assert np.all(_cos(g, exact) > 0.95)
  ratio = np.linalg.norm(np.asarray(g), axis=1) / np.linalg.norm(exact, axis=1)
  np.testing.assert_allclose(ratio, 1.0, atol=0.08)  # unbiased scale
  assert calls == [B * 2 * n]  # 2n queries per example, one vectorized call
  few = attacks.estimate_gradient(blackbox, x, key=jax.random.key(0),
                                  method=method, n_samples=8, sigma=1e-2)
  assert np.mean(_cos(few, exact)) < np.mean(_cos(g, exact))


def test_chunking_does_not_change_the_estimate():
  x, blackbox, _, calls = _smooth()
  kw = dict(key=jax.random.key(3), method="nes", n_samples=37, sigma=1e-2)
  one = attacks.estimate_gradient(blackbox, x, max_batch=10_000, **kw)
  del calls[:]
  chunked = jax.jit(lambda z: attacks.estimate_gradient(
      blackbox, z, max_batch=40, **kw))(x)  # 7 chunks of 5 directions + 2
  np.testing.assert_allclose(one, chunked, rtol=1e-5, atol=1e-6)
  assert calls == [40] * 7 + [16]  # each call within max_batch, 2·37·B in all


def test_default_chunk_depends_on_the_backend():
  x, blackbox, _, calls = _smooth()
  assert jax.default_backend() == "cpu"  # the tests run on (fake) CPU devices
  assert attacks.estimators.default_max_batch() == attacks.estimators.CPU_MAX_BATCH
  n = 300  # 2·300·B queries: more than one CPU chunk
  chunk = attacks.estimators.CPU_MAX_BATCH // (2 * B)
  default = attacks.estimate_gradient(blackbox, x, key=jax.random.key(4),
                                      method="spsa", n_samples=n, sigma=1e-2)
  assert calls == [2 * B * chunk] * (n // chunk) + [2 * B * (n % chunk)]
  whole = attacks.estimate_gradient(blackbox, x, key=jax.random.key(4),
                                    method="spsa", n_samples=n, sigma=1e-2,
                                    max_batch=2 * B * n)
  np.testing.assert_allclose(default, whole, rtol=1e-5, atol=1e-6)


def test_bad_arguments():
  x, blackbox, _, _ = _smooth()
  with pytest.raises(ValueError, match="method"):
    attacks.estimate_gradient(blackbox, x, key=jax.random.key(0), method="zoo",
                              n_samples=4)
  with pytest.raises(ValueError, match="sigma"):
    attacks.estimate_gradient(blackbox, x, key=jax.random.key(0), n_samples=4,
                              sigma=0.0)
  with pytest.raises(TypeError, match="n_samples"):
    attacks.make_grad_estimator(blackbox, n_samples=4.0)
  with pytest.raises(ValueError, match="per-example"):
    attacks.estimate_gradient(lambda z: jnp.sum(z), x, key=jax.random.key(0),
                              n_samples=4)


def test_grad_fn_drives_pgd_like_the_true_gradient():
  x, blackbox, _, _ = _smooth()
  grad_fn = attacks.make_grad_estimator(blackbox, method="nes", n_samples=64,
                                        sigma=1e-2)
  kw = dict(key=jax.random.key(0), eps=0.1, step_size=0.02, n_steps=10,
            random_start=False)
  black = attacks.pgd(blackbox, x, grad_fn=grad_fn, **kw)
  assert np.all(attacks.lp_norm(black - x, jnp.inf) <= 0.1 + 1e-6)
  gain = np.asarray(blackbox(black) - blackbox(x))
  assert np.all(gain > 0.05)


@pytest.fixture(scope="module")
def digits():
  return trained_digits_mlp()


@pytest.mark.parametrize("method", ["nes", "spsa"])
def test_blackbox_pgd_breaks_a_trained_model(digits, method):
  logits_fn, x, y = digits
  x, y = x[:32], y[:32]
  loss_fn = attacks.untargeted(logits_fn, y, loss="margin")
  n_samples, n_steps = 10, 20
  res = jax.jit(lambda z, k: attacks.blackbox_pgd(
      loss_fn, z, key=k, eps=0.3, step_size=0.05, n_steps=n_steps,
      method=method, n_samples=n_samples, sigma=1e-3))(x, jax.random.key(0))
  assert res.x_adv.shape == x.shape and res.x_adv.dtype == x.dtype
  assert np.all(attacks.lp_norm(res.x_adv - x, jnp.inf) <= 0.3 + 1e-6)
  assert float(res.x_adv.min()) >= 0.0 and float(res.x_adv.max()) <= 1.0
  assert res.success.mean() >= 0.9
  np.testing.assert_array_equal(res.success, np.asarray(loss_fn(res.x_adv)) > 0)
  # 1 query at the start, then 2n + 1 per step, only while not yet adversarial.
  per_step = 2 * n_samples + 1
  q = np.asarray(res.n_queries)
  assert np.all((q - 1) % per_step == 0)
  budget = attacks.blackbox_pgd_queries(method=method, n_samples=n_samples,
                                        n_steps=n_steps, dim=64)
  assert budget == 1 + n_steps * per_step and q.max() <= budget
  assert np.all(q[~np.asarray(res.success)] == budget)
  assert np.median(q) < budget / 2  # early stop saves queries
