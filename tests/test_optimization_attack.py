"""The box-constrained optimization attack (search over c, dual ascent): the
exact minimum on a linear model, smaller perturbations than FGM on a trained
model, targeted, dtype, jit and sharding."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import attacks
from advjax import train
from advjax.losses import margin_loss
from attack_models import l2
from attack_models import linear_two_class
from attack_models import trained_digits_mlp

strict = pytest.mark.strict_dtypes  # the tests that train nothing

METHODS = [dict(method="search"), dict(method="search", loss="margin"),
           dict(method="dual")]


@strict
@pytest.mark.parametrize("kw", [METHODS[0], METHODS[2]])
def test_finds_the_exact_minimum_on_a_linear_model(kw):
  logits_fn, x, y, dist, w_norm = linear_two_class(seed=3)
  confidence = 0.5
  x_adv = attacks.optimization_attack(logits_fn, x, y, confidence=confidence, **kw)
  optimum = np.asarray(dist + confidence / w_norm)
  found = l2(x_adv, x)
  assert np.all(margin_loss(logits_fn(x_adv), y) > confidence)
  assert np.all(found >= optimum * (1 - 1e-4))  # nothing beats the optimum
  assert np.all(found <= optimum * 1.05)


@pytest.fixture(scope="module")
def trained():
  logits_fn, x, y = trained_digits_mlp()

  @jax.jit
  def fgm_fooled(eps):
    x_adv = attacks.fgsm(attacks.untargeted(logits_fn, y), x, eps=eps, norm=2)
    return jnp.argmax(logits_fn(x_adv), -1) != y

  # Per example, the smallest FGM-L2 radius on a fine grid that fools the model.
  radii = np.arange(0.02, 3.0, 0.02)
  needed = np.full(len(y), np.inf)
  for eps in radii[::-1]:
    needed[np.asarray(fgm_fooled(eps))] = eps
  return logits_fn, x, y, needed


# Median of (L2 found / FGM radius needed) must be below this. The digits MLP
# is nearly linear, where FGM is nearly optimal; cross-entropy heads towards
# all wrong classes at once rather than the nearest one, so it gains least.
@pytest.mark.parametrize("kw,max_ratio", list(zip(METHODS, [0.97, 0.9, 0.9])))
def test_smaller_perturbations_than_fgm_needs(trained, kw, max_ratio):
  logits_fn, x, y, fgm_needed = trained
  x_adv = attacks.optimization_attack(logits_fn, x, y, **kw)
  assert x_adv.dtype == x.dtype
  assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
  fooled = np.asarray(jnp.argmax(logits_fn(x_adv), -1) != y)
  assert fooled.mean() >= 0.95
  found = l2(x_adv, x)
  both = fooled & np.isfinite(fgm_needed)
  ratio = found[both] / fgm_needed[both]
  assert np.median(ratio) < max_ratio
  if kw.get("loss") == "margin" or kw["method"] == "dual":
    assert np.mean(ratio <= 1.0) >= 0.9


@pytest.mark.parametrize("method", ["search", "dual"])
def test_targeted_reaches_the_target(trained, method):
  logits_fn, x, y, _ = trained
  target = (y + 1 + jax.random.randint(jax.random.key(1), y.shape, 0, 9)) % 10
  x_adv = attacks.optimization_attack(logits_fn, x, y, target=target,
                                      method=method)
  assert np.mean(np.asarray(jnp.argmax(logits_fn(x_adv), -1) == target)) >= 0.95
  assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


@strict
def test_keeps_dtype_and_bounds():
  logits_fn, x, y, _, _ = linear_two_class(seed=4)
  dtype = jnp.bfloat16
  bounds = (0.25, 0.75)  # tight enough to bind for some coordinates
  x_adv = attacks.optimization_attack(logits_fn, x.astype(dtype), y, n_rounds=2,
                                      n_steps=20, bounds=bounds)
  assert x_adv.dtype == dtype and x_adv.shape == x.shape
  assert float(x_adv.min()) >= bounds[0] and float(x_adv.max()) <= bounds[1]


@strict
def test_sharded_matches_single_device():
  logits_fn, x, y, _, _ = linear_two_class(seed=5)
  attack = functools.partial(attacks.optimization_attack, logits_fn,
                             method="dual", n_rounds=3, n_steps=4)
  single = jax.jit(attack)(x, y)
  sharded = jax.jit(attack)(*train.shard_batch((x, y), train.data_mesh()))
  np.testing.assert_allclose(sharded, single, atol=1e-6)
  assert len(sharded.sharding.device_set) == 8


@strict
def test_bad_arguments_are_named():
  logits_fn, x, y, _, _ = linear_two_class()
  opt = functools.partial(attacks.optimization_attack, logits_fn)
  with pytest.raises(ValueError, match="method"):
    opt(x, y, method="lbfgs")
  with pytest.raises(ValueError, match="loss"):
    opt(x, y, loss="hinge")
  with pytest.raises(ValueError, match="initial_const"):
    opt(x, y, initial_const=-1.0)
  with pytest.raises(ValueError, match="initial_multiplier"):
    opt(x, y, method="dual", initial_multiplier=-1.0)
  with pytest.raises(ValueError, match="dual_step_size"):
    opt(x, y, method="dual", dual_step_size=float("inf"))
  with pytest.raises(ValueError, match="n_rounds"):
    opt(x, y, n_rounds=0)
  with pytest.raises(TypeError, match="n_steps"):
    opt(x, y, n_steps=1.5)
  with pytest.raises(ValueError, match="learning_rate"):
    opt(x, y, learning_rate=0.0)
  with pytest.raises(ValueError, match="bounds"):
    opt(x, y, bounds=(1.0,))
  with pytest.raises(ValueError, match="`x`"):
    opt(x - 1.0, y)
  with pytest.raises(ValueError, match="labels"):
    opt(x, jnp.full_like(y, 5))
  with pytest.raises(ValueError, match="target"):
    opt(x, y, target=y[:4])
