"""The DANN step: GRL form = explicit min–max form, schedules inside jit,
sharded over 8 fake devices, and source-only training at λ = 0."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from advjax.losses import cross_entropy
from advjax.models import MLP
from advjax.models import mnist_dann
from advjax.models import shallow_dann
from advjax.train import TrainState
from advjax.train import dann_lambda_schedule
from advjax.train import data_mesh
from advjax.train import init_dann
from advjax.train import linen_dann
from advjax.train import make_dann_grads
from advjax.train import make_dann_predict
from advjax.train import make_dann_step
from advjax.train import replicate
from advjax.train import shard_batch

MODULES = shallow_dann(width=6, num_classes=3, domain_hidden=(5,))
NETWORKS = linen_dann(*MODULES)
# Compiled once for the module; λ is a traced argument.
GRL_GRADS = jax.jit(make_dann_grads(NETWORKS, form="grl"))
MINMAX_GRADS = jax.jit(make_dann_grads(NETWORKS, form="minmax"))


def _batch(seed, n=16):
  rng = np.random.default_rng(seed)
  return {"source": {"image": rng.normal(size=(n, 4)).astype(np.float32),
                     "label": rng.integers(0, 3, n).astype(np.int32)},
          "target": {"image": (1.5 + rng.normal(size=(n, 4))).astype(np.float32)}}


@functools.lru_cache(maxsize=None)
def _params():
  return init_dann(*MODULES, jax.random.key(0), jnp.ones((2, 4)))


@jax.jit
def _reference_grads(params, batch, lam):
  """Independent reference: ∂L_y − λ ∂L_d for G_f, ∂L_y for G_y, ∂L_d for G_d."""
  features, label_head, domain_head = MODULES
  x = jnp.concatenate([batch["source"]["image"], batch["target"]["image"]])
  n = batch["source"]["image"].shape[0]
  domain = jnp.concatenate([jnp.zeros(n), jnp.ones(x.shape[0] - n)])

  def label_loss(pf, py):
    h = features.apply({"params": pf}, x[:n])
    return jnp.mean(cross_entropy(label_head.apply({"params": py}, h),
                                  batch["source"]["label"]))

  def domain_loss(pf, pd):
    logits = domain_head.apply({"params": pd}, features.apply({"params": pf}, x))
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits[:, 0], domain))

  gy_f, gy_y = jax.grad(label_loss, (0, 1))(params["features"], params["label_head"])
  gd_f, gd_d = jax.grad(domain_loss, (0, 1))(params["features"], params["domain_head"])
  return {"features": jax.tree.map(lambda a, b: a - lam * b, gy_f, gd_f),
          "label_head": gy_y, "domain_head": gd_d}


def _assert_trees_close(a, b, **kw):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, **kw), a, b)


@pytest.mark.parametrize("lam", [0.0, 0.3, 2.0])
def test_grl_gradients_equal_explicit_minmax_gradients(lam):
  params, model_state = _params()
  batch = _batch(1)
  key = jax.random.key(2)
  grl, aux_grl = GRL_GRADS(params, model_state, batch, lam, key)
  minmax, aux_mm = MINMAX_GRADS(params, model_state, batch, lam, key)
  reference = _reference_grads(params, batch, lam)
  _assert_trees_close(grl, minmax, rtol=1e-5, atol=1e-6)
  _assert_trees_close(grl, reference, rtol=1e-5, atol=1e-6)
  _assert_trees_close(aux_grl["metrics"], aux_mm["metrics"], rtol=1e-6)
  # The reversal must actually matter: the feature gradient moves with λ.
  if lam:
    plain = _reference_grads(params, batch, 0.0)["features"]["Dense_0"]["kernel"]
    assert not np.allclose(grl["features"]["Dense_0"]["kernel"], plain)


def test_step_uses_the_lambda_schedule_on_the_state_step():
  params, model_state = _params()
  tx = optax.sgd(1.0)
  schedule = dann_lambda_schedule(total_steps=4)
  step = jax.jit(make_dann_step(NETWORKS, tx, lam=schedule))
  state = TrainState.create(params, tx, model_state)
  batch = _batch(3)
  for i in range(3):
    expected_grads = _reference_grads(state.params, batch, float(schedule(i)))
    new_state, metrics = step(state, batch, jax.random.key(4))
    np.testing.assert_allclose(metrics["lambda"], schedule(i), rtol=1e-6)
    # Plain SGD with lr 1: the update is exactly minus the gradient.
    delta = jax.tree.map(lambda new, old: old - new, new_state.params, state.params)
    _assert_trees_close(delta, expected_grads, rtol=1e-4, atol=1e-6)
    assert int(new_state.step) == i + 1
    state = new_state


def test_step_runs_sharded_over_eight_devices_and_matches_one_device():
  assert jax.device_count() == 8
  mesh = data_mesh()
  params, model_state = _params()
  tx = optax.adam(1e-2)
  step = jax.jit(make_dann_step(NETWORKS, tx, lam=dann_lambda_schedule(total_steps=20)))
  state = TrainState.create(params, tx, model_state)
  batch = _batch(5, n=16)
  sharded_state, metrics = step(replicate(state, mesh), shard_batch(batch, mesh),
                                jax.random.key(6))
  single_state, single_metrics = step(state, batch, jax.random.key(6))
  _assert_trees_close(sharded_state.params, single_state.params, rtol=1e-5, atol=1e-6)
  _assert_trees_close(metrics, single_metrics, rtol=1e-5, atol=1e-6)
  assert set(metrics) == {"label_loss", "domain_loss", "source_accuracy",
                          "domain_accuracy", "lambda"}
  for key in ("domain_accuracy", "source_accuracy"):
    assert 0.0 <= float(metrics[key]) <= 1.0


def test_domain_head_learns_and_lambda_zero_is_source_only():
  """λ = 0: the features get only the label gradient; the domain probe learns."""
  params, model_state = _params()
  tx = optax.adam(1e-1)
  step = jax.jit(make_dann_step(NETWORKS, tx, lam=0.0))
  state = TrainState.create(params, tx, model_state)
  batch = _batch(7, n=32)
  first = None
  for i in range(40):
    state, metrics = step(state, batch, jax.random.fold_in(jax.random.key(8), i))
    first = metrics if first is None else first
  assert metrics["domain_accuracy"] > 0.9  # the target is shifted by 1.5σ per axis
  assert metrics["domain_loss"] < first["domain_loss"]
  assert metrics["label_loss"] < first["label_loss"]
  grads, _ = GRL_GRADS(state.params, state.model_state, batch, 0.0, jax.random.key(9))
  label_only = _reference_grads(state.params, batch, 0.0)
  _assert_trees_close(grads["features"], label_only["features"], rtol=1e-5, atol=1e-7)


def test_predict_returns_logits_and_features():
  params, model_state = _params()
  state = TrainState.create(params, optax.sgd(0.1), model_state)
  logits, features = make_dann_predict(NETWORKS)(state, jnp.ones((5, 4)))
  assert logits.shape == (5, 3) and features.shape == (5, 6)


def test_mnist_dann_domain_head_widths():
  for hidden in ((100,), (32, 16)):
    params, _ = init_dann(*mnist_dann(domain_hidden=hidden), jax.random.key(0),
                          jnp.zeros((2, 28, 28, 3)))
    kernels = [v["kernel"].shape for v in params["domain_head"].values()]
    assert kernels == list(zip((768,) + hidden, hidden + (1,))), kernels


def test_bad_inputs_are_named():
  """Checked at trace time: ``jax.eval_shape`` traces without compiling."""
  params, model_state = _params()
  grads = make_dann_grads(NETWORKS)
  batch = _batch(10)
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="form"):
    make_dann_grads(NETWORKS, form="alternating")
  with pytest.raises(ValueError, match="lam"):
    make_dann_step(NETWORKS, optax.sgd(0.1), lam=-1.0)
  with pytest.raises(ValueError, match="batch"):
    jax.eval_shape(grads, params, model_state, {"source": batch["source"]}, 1.0, key)
  bad = {**batch, "target": {"image": np.ones((16, 5), np.float32)}}
  with pytest.raises(ValueError, match="target"):
    jax.eval_shape(grads, params, model_state, bad, 1.0, key)
  two_logits = MODULES._replace(domain_head=MLP(features=(), num_classes=2))
  params2, state2 = jax.eval_shape(
      lambda: init_dann(*two_logits, jax.random.key(0), jnp.ones((2, 4))))
  with pytest.raises(ValueError, match="domain head"):
    jax.eval_shape(make_dann_grads(linen_dann(*two_logits)), params2, state2,
                   batch, 1.0, key)
