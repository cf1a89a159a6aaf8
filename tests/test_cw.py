"""Carlini–Wagner L2: the exact minimum on a linear model, success and smaller
perturbations than PGD-L2 on a trained model, targeted, jit and sharding."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from advjax import attacks
from advjax import train
from advjax.attacks import _min_norm
from advjax.losses import margin_loss
from attack_models import l2
from attack_models import linear_two_class
from attack_models import trained_digits_mlp

strict = pytest.mark.strict_dtypes  # the tests that train nothing


@strict
def test_finds_the_exact_minimum_on_a_linear_model():
  # min ||δ|| s.t. w·(x+δ) + b > κ is (κ − w·x − b)/||w||, along w.
  logits_fn, x, y, dist, w_norm = linear_two_class()
  attack = jax.jit(lambda kappa: attacks.carlini_wagner_l2(
      logits_fn, x, y, confidence=kappa, learning_rate=1e-2))
  for confidence in (0.0, 1.0):
    x_adv = attack(confidence)
    optimum = np.asarray(dist + confidence / w_norm)
    found = l2(x_adv, x)
    assert np.all(margin_loss(logits_fn(x_adv), y) > confidence)
    assert np.all(found >= optimum * (1 - 1e-4))  # nothing beats the optimum
    assert np.all(found <= optimum * 1.02)


@strict
def test_hand_written_adam_matches_optax():
  params = jax.random.normal(jax.random.key(0), (4, 5), jnp.float32)
  quadratic_grad = lambda p: 2.0 * p - 1.0  # noqa: E731
  with jax.numpy_dtype_promotion("standard"):  # optax is not strict-clean
    tx = optax.adam(0.05)
    ref, opt_state = params, tx.init(params)
    for _ in range(5):
      updates, opt_state = tx.update(quadratic_grad(ref), opt_state, ref)
      ref = optax.apply_updates(ref, updates)
  ours, state = params, _min_norm.adam_init(params)
  for _ in range(5):
    ours, state = _min_norm.adam_step(ours, quadratic_grad(ours), state, 0.05)
  np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def trained():
  return trained_digits_mlp()


def test_succeeds_with_smaller_perturbations_than_pgd_l2(trained):
  logits_fn, x, y = trained
  x_adv = jax.jit(lambda x, y: attacks.carlini_wagner_l2(logits_fn, x, y))(x, y)
  assert x_adv.dtype == x.dtype
  assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
  fooled = np.asarray(jnp.argmax(logits_fn(x_adv), -1) != y)
  success = fooled.mean()
  assert success >= 0.95
  cw_median = np.median(l2(x_adv, x)[fooled])

  @jax.jit
  def pgd_success(eps):
    x_pgd = attacks.pgd(attacks.untargeted(logits_fn, y), x, key=jax.random.key(0),
                        eps=eps, step_size=eps / 4, n_steps=20, norm=2)
    return jnp.mean(jnp.argmax(logits_fn(x_pgd), -1) != y)

  # The smallest PGD-L2 radius that matches C&W's success rate.
  radii = np.arange(0.25, 3.01, 0.25)
  pgd_eps = next(e for e in radii if float(pgd_success(e)) >= success)
  assert cw_median < 0.8 * pgd_eps, (cw_median, pgd_eps)


def test_targeted_reaches_the_target_with_confidence(trained):
  logits_fn, x, y = trained
  target = (y + 1 + jax.random.randint(jax.random.key(1), y.shape, 0, 9)) % 10
  x_adv = attacks.carlini_wagner_l2(logits_fn, x, y, target=target,
                                    confidence=0.5)
  logits = logits_fn(x_adv)
  hit = np.asarray(jnp.argmax(logits, -1) == target)
  assert hit.mean() >= 0.95
  # Where it succeeded, the target wins by more than the confidence.
  assert np.all(np.asarray(-margin_loss(logits, target))[hit] > 0.5)
  assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


def test_returns_x_unchanged_where_no_success_is_found(trained):
  logits_fn, x, y = trained
  # One step at a tiny constant never leaves the (correctly classified) start.
  x_adv = attacks.carlini_wagner_l2(logits_fn, x, y, n_search_steps=1, n_steps=1)
  np.testing.assert_array_equal(x_adv, x)


@strict
def test_keeps_dtype_and_bounds():
  logits_fn, x, y, _, _ = linear_two_class(seed=1)
  dtype = jnp.bfloat16
  bounds = (-1.0, 2.0)
  x_adv = attacks.carlini_wagner_l2(logits_fn, x.astype(dtype), y, n_steps=20,
                                    n_search_steps=2, bounds=bounds)
  assert x_adv.dtype == dtype and x_adv.shape == x.shape
  assert float(x_adv.min()) >= bounds[0] and float(x_adv.max()) <= bounds[1]
  assert np.mean(np.asarray(jnp.argmax(logits_fn(x_adv), -1) != y)) > 0.9


@strict
def test_sharded_matches_single_device():
  logits_fn, x, y, _, _ = linear_two_class(seed=2)
  attack = functools.partial(attacks.carlini_wagner_l2, logits_fn, n_steps=10,
                             n_search_steps=2)
  single = jax.jit(attack)(x, y)
  sharded = jax.jit(attack)(*train.shard_batch((x, y), train.data_mesh()))
  np.testing.assert_allclose(sharded, single, atol=1e-6)
  assert len(sharded.sharding.device_set) == 8


@strict
def test_bad_arguments_are_named():
  logits_fn, x, y, _, _ = linear_two_class()
  cw = functools.partial(attacks.carlini_wagner_l2, logits_fn)
  with pytest.raises(ValueError, match="confidence"):
    cw(x, y, confidence=-1.0)
  with pytest.raises(ValueError, match="initial_const"):
    cw(x, y, initial_const=0.0)
  with pytest.raises(ValueError, match="n_search_steps"):
    cw(x, y, n_search_steps=0)
  with pytest.raises(TypeError, match="n_steps"):
    cw(x, y, n_steps=10.0)
  with pytest.raises(ValueError, match="learning_rate"):
    cw(x, y, learning_rate=-0.1)
  with pytest.raises(ValueError, match="bounds"):
    cw(x, y, bounds=(0.5, 0.5))
  with pytest.raises(ValueError, match="`x`"):
    cw(x + 1.0, y)
  with pytest.raises(TypeError, match="`x`"):
    cw(jnp.ones((16, 20), jnp.int32), y)
  with pytest.raises(ValueError, match="labels"):
    cw(x, y[:3])
  with pytest.raises(TypeError, match="labels"):
    cw(x, y.astype(jnp.float32))
  with pytest.raises(ValueError, match="target"):
    cw(x, y, target=jnp.full_like(y, 2))
  with pytest.raises(ValueError, match="logits_fn"):
    attacks.carlini_wagner_l2(lambda z: z[:, 0], x, y)
