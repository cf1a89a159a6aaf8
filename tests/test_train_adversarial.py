"""Adversarial train steps: they lower the robust loss, attack in inference
mode, carry Free-AT's δ, and TRADES with β = 0 is standard training."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from advjax import attacks
from advjax import data
from advjax import models
from advjax import train
from advjax.losses import cross_entropy

EPS = 0.1


@functools.cache
def _digits(n=128):
  tr, _ = data.digits()
  return {"image": jnp.asarray(tr.image[:n]), "label": jnp.asarray(tr.label[:n])}


def _init(module, batch, tx, state_cls=train.TrainState, **kw):
  params, model_state = train.split_variables(
      module.init(jax.random.key(0), batch["image"][:1]))
  return state_cls.create(params, tx, model_state, **kw)


@jax.jit
def _robust_loss_jit(params, image, label):
  f = lambda x: MODULE.apply({"params": params}, x)  # noqa: E731
  x_adv = attacks.pgd(attacks.untargeted(f, label), image, key=jax.random.key(7),
                      eps=EPS, step_size=EPS / 4, n_steps=10)
  return jnp.mean(cross_entropy(f(x_adv), label))


def _robust_loss(state, batch):
  """Mean CE under a fixed PGD-10 at EPS (inference mode)."""
  return float(_robust_loss_jit(state.params, batch["image"], batch["label"]))


def _train(step, state, batch, n):
  step = jax.jit(step)
  for i in range(n):
    state, metrics = step(state, batch, jax.random.key(i))
  return state, metrics


MODULE = models.MLP(features=(32,))
APPLY = train.linen_apply(MODULE)
TX = optax.adam(1e-2)


def _static_model():
  """A fixed model with other weights (the test needs a source that is not
  the trained model; the paper's are pre-trained)."""
  params = MODULE.init(jax.random.key(42), _digits()["image"][:1])["params"]
  return lambda x: MODULE.apply({"params": params}, x)


FACTORIES = {
    "pgd_at": lambda: train.make_pgd_at_step(APPLY, TX, eps=EPS, n_steps=3),
    "fgsm_rs": lambda: train.make_fgsm_rs_step(APPLY, TX, eps=EPS),
    "trades": lambda: train.make_trades_step(APPLY, TX, eps=EPS, beta=6.0,
                                             n_steps=3),
    "free_at": lambda: train.make_free_at_step(APPLY, TX, eps=EPS, n_replays=2),
    "fgsm_prior": lambda: train.make_fgsm_prior_step(APPLY, TX, eps=EPS),
    "ensemble": lambda: train.make_ensemble_adversarial_step(
        APPLY, TX, static_logits_fns=[_static_model()],
        perturbation=train.fgsm_rs_perturbation(eps=EPS)),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_each_step_lowers_the_robust_loss(name):
  batch = _digits()
  kw = {}
  cls = train.TrainState
  if name == "free_at":
    cls, kw = train.FreeATState, {"batch_shape": batch["image"].shape}
  if name == "fgsm_prior":
    cls, kw = train.PriorState, _prior_shape(batch)
    batch = {**batch, "index": jnp.arange(len(batch["label"]))}
  state = _init(MODULE, batch, TX, cls, **kw)
  before = _robust_loss(state, batch)
  state, metrics = _train(FACTORIES[name](), state, batch, 20)
  after = _robust_loss(state, batch)
  # Ensemble AT trains on clean and transferred examples half the time.
  assert after < (0.9 if name == "ensemble" else 0.7) * before, (before, after)
  for key in ("loss", "clean_loss", "clean_accuracy", "adv_loss", "adv_accuracy"):
    assert np.isfinite(float(metrics[key])), key
  assert float(metrics["adv_accuracy"]) <= float(metrics["clean_accuracy"]) + 0.1


class _CountingBN(nn.Module):
  """Dense → BatchNorm → Dense, plus a counter of train-mode passes kept in
  ``batch_stats`` (what an attack run in train mode would bump)."""

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    calls = self.variable("batch_stats", "calls", lambda: jnp.zeros((), jnp.int32))
    if train and not self.is_initializing():
      calls.value += 1
    x = nn.Dense(16)(x.reshape(x.shape[0], -1))
    x = nn.BatchNorm(use_running_average=not train, momentum=0.5)(x)
    return nn.Dense(10)(nn.relu(x))


@pytest.mark.parametrize("name,train_passes", [("pgd_at", 1), ("trades", 2)])
def test_attacks_inside_the_step_leave_batch_statistics_untouched(name, train_passes):
  batch = _digits(64)
  module = _CountingBN()
  log = []

  def apply_fn(params, model_state, x, *, train, key=None):
    log.append(train)  # at trace time: one entry per call site
    return train_lib_apply(params, model_state, x, train=train, key=key)

  train_lib_apply = train.linen_apply(module)
  make = {"pgd_at": lambda: train.make_pgd_at_step(apply_fn, TX, eps=EPS, n_steps=4),
          "fgsm_rs": lambda: train.make_fgsm_rs_step(apply_fn, TX, eps=EPS),
          "trades": lambda: train.make_trades_step(apply_fn, TX, eps=EPS, beta=1.0,
                                                   n_steps=4)}[name]
  state = _init(module, batch, TX)
  new_state, _ = jax.jit(make())(state, batch, jax.random.key(0))
  # Only the parameter step's forward passes run in train mode ...
  assert log.count(True) == train_passes
  assert log.count(False) >= 2  # the attack's passes (and the clean metrics)
  stats = new_state.model_state["batch_stats"]
  assert int(stats["calls"]) == train_passes
  # ... and the running mean moved exactly as many times as that.
  old = state.model_state["batch_stats"]["BatchNorm_0"]["mean"]
  assert not np.allclose(stats["BatchNorm_0"]["mean"], old)


def test_trades_with_beta_zero_is_standard_training():
  batch = _digits(128)
  state = _init(MODULE, batch, TX)
  a, ma = _train(train.make_classifier_step(APPLY, TX), state, batch, 3)
  b, mb = _train(train.make_trades_step(APPLY, TX, eps=EPS, beta=0.0, n_steps=2),
                 state, batch, 3)
  for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  assert float(ma["loss"]) == float(mb["loss"])


def test_free_at_carries_delta_across_minibatches():
  batch = _digits(64)
  state = _init(MODULE, batch, TX, train.FreeATState,
                batch_shape=batch["image"].shape)
  step = jax.jit(train.make_free_at_step(APPLY, TX, eps=EPS, n_replays=3))
  state, _ = step(state, batch, jax.random.key(0))
  assert int(state.step) == 3  # one optimizer update per replay
  delta = np.asarray(state.delta)
  assert np.abs(delta).max() <= EPS + 1e-6 and np.abs(delta).max() > 0.5 * EPS
  other = {"image": batch["image"][::-1], "label": batch["label"][::-1]}
  state2, _ = step(state, other, jax.random.key(1))
  # The next minibatch starts from the carried δ, not from zero.
  fresh = state.replace(delta=jnp.zeros_like(state.delta))
  state3, _ = step(fresh, other, jax.random.key(1))
  assert not np.allclose(np.asarray(state2.delta), np.asarray(state3.delta))
  with pytest.raises(ValueError, match="delta"):
    step(state, {"image": batch["image"][:32], "label": batch["label"][:32]},
         jax.random.key(2))


def _prior_shape(batch, n=None):
  return {"example_shape": batch["image"].shape[1:],
          "n_examples": n or len(batch["label"])}


def test_fgsm_prior_with_a_frozen_model_is_pgd_one_step_per_epoch():
  """Each visit of an example takes one more projected-ascent step from its
  stored δ: k visits with frozen parameters are PGD-k from x (no random
  start, last iterate). Rows of examples not in the batch stay untouched."""
  batch = _digits(64)
  frozen = optax.sgd(0.0)
  state = _init(MODULE, batch, frozen, train.PriorState, **_prior_shape(batch, 100))
  index = jnp.arange(64) + 20  # rows 20..83 of 100
  step = jax.jit(train.make_fgsm_prior_step(APPLY, frozen, eps=EPS,
                                            step_size=EPS / 4))
  for i in range(3):
    state, metrics = step(state, {**batch, "index": index}, jax.random.key(i))
  prior = np.asarray(state.prior)
  assert not prior[:20].any() and not prior[84:].any()
  logits_fn = lambda x: MODULE.apply({"params": state.params}, x)  # noqa: E731
  x_pgd = attacks.pgd(attacks.untargeted(logits_fn, batch["label"]),
                      batch["image"], key=jax.random.key(0), eps=EPS,
                      step_size=EPS / 4, n_steps=3, random_start=False,
                      best_iterate=False)
  np.testing.assert_allclose(prior[20:84], np.asarray(x_pgd - batch["image"]),
                             atol=1e-6)
  assert np.abs(prior).max() <= EPS + 1e-6 and np.abs(prior).max() > 0.7 * EPS
  assert float(metrics["adv_loss"]) > float(metrics["clean_loss"])
  # With noise the start leaves the stored δ but the result stays in the ball.
  noisy = jax.jit(train.make_fgsm_prior_step(APPLY, frozen, eps=EPS, noise_scale=1.0))
  state2, _ = noisy(state, {**batch, "index": index}, jax.random.key(9))
  assert np.abs(np.asarray(state2.prior)).max() <= EPS + 1e-6
  # restart_prob: each example starts from the prior or, with that
  # probability, afresh in the ball (seen with step size 0: nothing moves).
  b = {**batch, "index": index}
  for prob, kept in ((0.0, 64), (1.0, 0), (0.5, None)):
    s2, _ = jax.jit(train.make_fgsm_prior_step(
        APPLY, frozen, eps=EPS, step_size=0.0, restart_prob=prob))(
            state, b, jax.random.key(5))
    new, old = np.asarray(s2.prior)[20:84], prior[20:84]
    same = np.all(np.isclose(new, old, atol=1e-7), axis=(1, 2, 3))
    assert np.abs(new).max() <= EPS + 1e-6
    if kept is None:
      assert 16 < same.sum() < 48, same.sum()
    else:
      assert same.sum() == kept
  # Jia et al.'s regularizer compares the predictions at the start and at
  # the result: zero when the step does not move (step size 0), so the
  # update is plain training; positive and a different update otherwise.
  sgd = optax.sgd(0.5)
  fresh = _init(MODULE, batch, sgd, train.PriorState, **_prior_shape(batch, 100))
  fresh = fresh.replace(prior=state.prior)
  runs = {(lam, a): jax.jit(train.make_fgsm_prior_step(
      APPLY, sgd, eps=EPS, step_size=a, consistency=lam))(fresh, b, jax.random.key(1))
      for lam in (0.0, 10.0) for a in (0.0, EPS / 4)}
  assert float(runs[10.0, 0.0][1]["consistency"]) < 1e-12  # rounding of x + (x₀ − x)
  assert float(runs[10.0, EPS / 4][1]["consistency"]) > 1e-6
  assert "consistency" not in runs[0.0, 0.0][1]
  same = lambda s, t: all(np.allclose(u, v, atol=1e-7) for u, v in zip(  # noqa: E731
      jax.tree.leaves(s.params), jax.tree.leaves(t.params)))
  assert same(runs[10.0, 0.0][0], runs[0.0, 0.0][0])
  assert not same(runs[10.0, EPS / 4][0], runs[0.0, EPS / 4][0])
  with pytest.raises(ValueError, match="index"):
    step(state, batch, jax.random.key(0))
  with pytest.raises(ValueError, match="prior"):
    step(state.replace(prior=state.prior[:, :4]), {**batch, "index": index},
         jax.random.key(0))
  with pytest.raises(ValueError, match="n_examples"):
    train.PriorState.create({}, TX, example_shape=(8, 8, 1), n_examples=0)
  with pytest.raises(ValueError, match="noise_scale"):
    train.make_fgsm_prior_step(APPLY, TX, eps=EPS, noise_scale=-1.0)
  with pytest.raises(ValueError, match="restart_prob"):
    train.make_fgsm_prior_step(APPLY, TX, eps=EPS, restart_prob=1.5)
  with pytest.raises(ValueError, match="consistency"):
    train.make_fgsm_prior_step(APPLY, TX, eps=EPS, consistency=-1.0)


def test_ensemble_alternates_sources_and_distillation_trains_at_temperature():
  batch = _digits(128)
  step = jax.jit(FACTORIES["ensemble"]())
  state = _init(MODULE, batch, TX)
  sources = []
  for i in range(4):
    state, m = step(state, batch, jax.random.key(i))
    sources.append(int(m["source"]))
  assert sources == [0, 1, 0, 1]
  # Distillation: a teacher at T, then a student on its soft labels; at T = 1
  # the student's logits are far larger than a T = 1 model's.
  t, tx = 10.0, optax.adam(3e-2)
  teacher, _ = _train(train.make_distillation_step(APPLY, tx, temperature=t),
                      _init(MODULE, batch, tx), batch, 30)
  teacher_fn = lambda x: APPLY(teacher.params, {}, x, train=False)[0]  # noqa: E731
  student, m = _train(train.make_distillation_step(
      APPLY, tx, temperature=t, teacher_logits_fn=teacher_fn),
      _init(MODULE, batch, tx), batch, 30)
  assert float(m["clean_accuracy"]) > 0.8
  plain, _ = _train(train.make_classifier_step(APPLY, TX), _init(MODULE, batch, TX),
                    batch, 40)
  spread = lambda s: float(jnp.mean(jnp.std(  # noqa: E731
      APPLY(s.params, {}, batch["image"], train=False)[0], -1)))
  assert spread(student) > 3 * spread(plain)


def test_bad_arguments():
  with pytest.raises(ValueError, match="eps"):
    train.make_pgd_at_step(APPLY, TX, eps=-1.0, n_steps=3)
  with pytest.raises(ValueError, match="beta"):
    train.make_trades_step(APPLY, TX, eps=0.1, beta=-1.0, n_steps=3)
  with pytest.raises(ValueError, match="clean_weight"):
    train.make_adversarial_step(APPLY, TX, perturbation=train.pgd_perturbation(
        eps=0.1, n_steps=2), clean_weight=2.0)
  with pytest.raises(ValueError, match="static_logits_fns"):
    train.make_ensemble_adversarial_step(
        APPLY, TX, static_logits_fns=[],
        perturbation=train.fgsm_rs_perturbation(eps=0.1))
  with pytest.raises(ValueError, match="temperature"):
    train.make_distillation_step(APPLY, TX, temperature=0.0)
  with pytest.raises(ValueError, match="batch_shape"):
    train.FreeATState.create({}, TX)


def test_steps_are_sharding_agnostic():
  batch = _digits(128)
  mesh = train.data_mesh()
  assert mesh.devices.size == 8
  step = jax.jit(FACTORIES["pgd_at"]())
  state = _init(MODULE, batch, TX)
  a, ma = step(state, batch, jax.random.key(3))
  b, mb = step(train.replicate(state, mesh), train.shard_batch(batch, mesh),
               jax.random.key(3))
  for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(float(ma["adv_loss"]), float(mb["adv_loss"]), rtol=1e-5)


def test_fgsm_rs_noise_and_projection_options():
  """Defaults are RS-FGSM (inside the ε ball); N-FGSM's unprojected
  perturbation stays within noise_scale·ε + step and leaves the ball."""
  batch = _digits(64)
  state = _init(MODULE, batch, TX)
  loss_fn = lambda x: cross_entropy(  # noqa: E731
      MODULE.apply({"params": state.params}, x), batch["label"])
  x = batch["image"]
  rs = train.fgsm_rs_perturbation(eps=EPS)(loss_fn, x, jax.random.key(1))
  n = train.fgsm_rs_perturbation(eps=EPS, step_size=EPS, noise_scale=2.0,
                                 project=False)(loss_fn, x, jax.random.key(1))
  linf = lambda z: np.max(np.abs(np.asarray(z - x)))  # noqa: E731
  assert linf(rs) <= EPS + 1e-6
  assert EPS + 1e-3 < linf(n) <= 3 * EPS + 1e-6
  assert float(jnp.min(n)) >= 0.0 and float(jnp.max(n)) <= 1.0
  with pytest.raises(ValueError, match="noise_scale"):
    train.fgsm_rs_perturbation(eps=EPS, noise_scale=-1.0)
