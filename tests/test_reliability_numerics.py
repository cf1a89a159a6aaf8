"""Reliability: finite losses, normalizations and attacks on extreme inputs,
and the NaN-check mode of training."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from advjax import attacks
from advjax import losses
from advjax import models
from advjax import nn
from advjax import train
from experiments import _gan_common
from experiments import common

GAN_NAMES = ("minimax", "non_saturating", "wasserstein", "hinge", "least_squares")
# Saturated discriminators: confident logits, and the float32 extremes.
EXTREME = np.array([1e4, -1e4, 3e38, -3e38, 0.0, 88.0, -88.0, 1e-30], np.float32)


@dataclasses.dataclass(frozen=True)
class _Cfg:
  seed: int = 0


def _all_finite(tree):
  return all(bool(jnp.all(jnp.isfinite(l))) for l in jax.tree.leaves(tree))


@pytest.mark.parametrize("name", GAN_NAMES)
def test_gan_losses_and_gradients_finite_when_saturated(name):
  pair = losses.gan_loss(name)
  real = jnp.asarray(EXTREME)
  fake = jnp.asarray(EXTREME[::-1].copy())
  if name in ("wasserstein", "least_squares"):
    # Linear/quadratic in the score: finite for any score whose square fits.
    real, fake = jnp.clip(real, -1e4, 1e4), jnp.clip(fake, -1e4, 1e4)
  # Per-example values (their sum may overflow at 3e38), per-example gradients.
  d_loss = pair.discriminator(real, fake)
  g_loss = pair.generator(fake)
  g_real, g_fake = jax.grad(lambda r, f: jnp.sum(pair.discriminator(r, f)),
                            argnums=(0, 1))(real, fake)
  g_gen = jax.grad(lambda f: jnp.sum(pair.generator(f)))(fake)
  assert _all_finite((d_loss, g_real, g_fake, g_loss, g_gen)), name
  # Confidently right discriminator: ~0 loss for the BCE forms, no overflow.
  if name in ("minimax", "non_saturating"):
    ok = pair.discriminator(jnp.array([1e4]), jnp.array([-1e4]))
    assert float(ok[0]) == 0.0


def test_classification_losses_finite_for_huge_logits():
  logits = jnp.array([[1e4, -1e4, 0.0, 5.0], [1e30, -1e30, 1.0, 2.0],
                      [0.0, 0.0, 0.0, 0.0]], jnp.float32)
  labels = jnp.array([1, 1, 2])
  for fn in (losses.cross_entropy, losses.margin_loss, losses.dlr_loss):
    value, grad = jax.value_and_grad(lambda z: jnp.sum(fn(z, labels)))(logits)
    assert _all_finite((value, grad)), fn.__name__
  kl = losses.kl_divergence(logits, logits[::-1])
  assert _all_finite(kl) and bool(jnp.all(kl >= -1e-6))


@pytest.mark.parametrize("weights", ["zero", "rank1", "huge"])
def test_spectral_normalize_finite(weights):
  w = {"zero": jnp.zeros((6, 4)),
       "rank1": jnp.outer(jnp.arange(6.0), jnp.ones(4)),
       "huge": jnp.full((6, 4), 1e18)}[weights]
  u = jnp.ones((4,)) / 2.0

  def f(w_):
    w_sn, _, _ = nn.spectral_normalize(w_, u, n_iters=3)
    return jnp.sum(w_sn)

  w_sn, u_new, sigma = nn.spectral_normalize(w, u, n_iters=3)
  assert _all_finite((w_sn, u_new, sigma, jax.grad(f)(w)))
  if weights == "zero":
    assert float(sigma) == 0.0 and float(jnp.max(jnp.abs(w_sn))) == 0.0
  else:  # rank one: σ is the exact top singular value, so ||W/σ||₂ = 1
    assert abs(float(jnp.linalg.norm(w_sn, 2)) - 1.0) < 1e-3
  # Zero start vector too.
  assert _all_finite(nn.spectral_normalize(w, jnp.zeros((4,)))[:2])


def _constant_logits(x):
  return jnp.zeros((x.shape[0], 3), jnp.float32) + 0.0 * jnp.sum(x)


@pytest.mark.parametrize("norm", [jnp.inf, 2, 1])
def test_attacks_finite_on_zero_gradient_and_constant_images(norm):
  """A model with zero input gradient on constant images: finite, in the ball."""
  x = jnp.full((2, 4, 4, 1), 0.5, jnp.float32)
  y = jnp.array([0, 1])
  loss_fn = attacks.untargeted(_constant_logits, y)
  key = jax.random.key(0)
  eps = {jnp.inf: 0.1, 2: 0.5, 1: 2.0}[norm]
  outs = {
      "fgsm": attacks.fgsm(loss_fn, x, eps=eps, norm=norm),
      "pgd": attacks.pgd(loss_fn, x, key=key, eps=eps, step_size=eps / 4,
                         n_steps=3, norm=norm),
      "blackbox_pgd": attacks.blackbox_pgd(
          loss_fn, x, key=key, eps=eps, step_size=eps / 4, n_steps=2,
          norm=norm, n_samples=4),
  }
  if norm != 1:
    outs["mifgsm"] = attacks.mifgsm(loss_fn, x, eps=eps, step_size=eps / 4,
                                    n_steps=3, norm=norm)
    outs["apgd"] = attacks.apgd(loss_fn, x, key=key, eps=eps, n_steps=4, norm=norm)
    outs["square"] = attacks.square_attack(loss_fn, x, key=key, eps=eps,
                                           n_queries=5, norm=norm)
  for name, x_adv in outs.items():
    x_adv = getattr(x_adv, "x_adv", x_adv)  # query attacks return a result
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype, name
    assert _all_finite(x_adv), name
    assert bool(jnp.all((x_adv >= 0) & (x_adv <= 1))), name
    assert bool(jnp.all(attacks.lp_norm(x_adv - x, norm) <= eps * (1 + 1e-5) + 1e-6)), name
  cw = attacks.carlini_wagner_l2(_constant_logits, x, y, n_search_steps=1, n_steps=3)
  assert _all_finite(cw) and bool(jnp.all((cw >= 0) & (cw <= 1)))
  g = attacks.estimate_gradient(loss_fn, x, key=key, n_samples=4, sigma=1e-3)
  assert _all_finite(g) and float(jnp.max(jnp.abs(g))) == 0.0


def test_lp_geometry_of_zero_vectors():
  z = jnp.zeros((2, 5))
  for p in (jnp.inf, 2, 1):
    assert float(jnp.max(jnp.abs(attacks.steepest_ascent(z, p)))) == 0.0
    assert _all_finite(attacks.project(z, p, 0.0))
    assert _all_finite(attacks.sample_ball(jax.random.key(0), (2, 5), p, 0.0))
  # Gradient of an L2 step at a zero gradient: no NaN from normalizing zero.
  g = jax.grad(lambda v: jnp.sum(attacks.steepest_ascent(v, 2)))(z)
  assert _all_finite(g)


# NaN-check mode.

def _nan_from(step_index):
  """A learning rate that turns NaN at update ``step_index`` (0-based)."""
  return lambda count: jnp.where(count >= step_index, jnp.nan, 0.1)


def _classifier_setup(lr):
  module = models.MLP(features=(8,), num_classes=3)
  tx = optax.sgd(lr)
  params, model_state = train.split_variables(
      module.init(jax.random.key(0), jnp.zeros((1, 4))))
  state = train.TrainState.create(params, tx, model_state)
  step = train.make_classifier_step(train.linen_apply(module), tx)
  batch = {"image": jnp.ones((4, 4)), "label": jnp.array([0, 1, 2, 0])}
  return state, step, batch


def test_finite_check_names_step_and_parameter():
  state, step, batch = _classifier_setup(_nan_from(3))
  checked = jax.jit(train.with_finite_check(step))
  plain = jax.jit(step)
  s_plain = state
  with pytest.raises(FloatingPointError) as err:
    for i in range(6):
      state, metrics = checked(state, batch, jax.random.key(i))
      s_plain, m_plain = plain(s_plain, batch, jax.random.key(i))
      metrics = train.check_finite(metrics, step=i)
      # The mode never changes results.
      assert set(metrics) == set(m_plain)
      assert all(bool(jnp.array_equal(a, b)) for a, b in zip(
          jax.tree.leaves(state), jax.tree.leaves(s_plain)))
  message = str(err.value)
  assert "at step 3:" in message and "params/" in message and "kernel" in message
  assert "metrics/loss" not in message  # the loss of step 3 is still finite


def test_finite_check_names_metric_and_scanned_step(tmp_path):
  """Diverging learning rate inside a scanned chunk of the GAN/common loop:
  the error names the exact step inside the chunk and the loss."""
  run, _ = common.setup("t", {"smoke": _Cfg()}, [
      "--preset", "smoke", "--workdir", str(tmp_path), "--nan_check", "--quiet"])
  assert run.nan_check
  state, step, _ = _classifier_setup(_nan_from(5))
  chunk = jax.jit(_gan_common.scan_chunk(
      step, _gan_common.draw_labelled, chunk_steps=4, batch_size=8,
      nan_check=run.nan_check))
  images = jnp.ones((8, 4))
  labels = jnp.zeros((8,), jnp.int32)
  mesh = train.data_mesh()
  state = train.replicate(state, mesh)
  with jax.set_mesh(mesh), pytest.raises(
      FloatingPointError, match=r"at step 5: params/"):
    _gan_common.train_in_chunks(
        run, "clf", state, lambda s, t: chunk(s, t, jax.random.key(1), images, labels),
        total_steps=12, chunk_steps=4)
  # The loss itself named: a NaN metric is reported before the state.
  flags = {"metrics/loss": jnp.array([True, False]), "params/w": jnp.array([True, False])}
  with pytest.raises(FloatingPointError, match=r"at step 11: metrics/loss"):
    train.check_finite({"loss": 0.0, "finite": flags}, step=10)
  # A clean metrics dict passes and loses its flags.
  assert train.check_finite({"loss": 1.0, "finite": {"metrics/loss": True}},
                            step=0) == {"loss": 1.0}

