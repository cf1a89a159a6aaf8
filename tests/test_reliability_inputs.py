"""Reliability: a user's mistake gives a clear error naming the argument.

A table of bad-input cases (public callable, the bad argument, how it is made
bad); hypothesis draws the bad values. Each case must either work correctly
(finite output of the right shape and dtype, inside the box) or raise
``ValueError``/``TypeError`` whose message names the argument. The number of
cases is the "distinct bad inputs" figure of the README (one test each:
``pytest tests/test_reliability_inputs.py`` prints N passed).
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

from advjax import attacks
from advjax import losses
from advjax import models
from advjax import nn
from advjax import train

SETTINGS = settings(max_examples=2, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
W = jnp.asarray(np.random.default_rng(0).normal(size=(16, 3)), jnp.float32)
X = jnp.asarray(np.random.default_rng(1).uniform(0.1, 0.9, (2, 4, 4, 1)), jnp.float32)
Y = jnp.array([0, 2])
KEY = jax.random.key(0)


def logits_fn(x):
  return x.reshape(x.shape[0], -1).astype(jnp.float32) @ W


def loss_fn(x):
  return losses.cross_entropy(logits_fn(x), jnp.zeros((x.shape[0],), jnp.int32))


# Bad values.
NEG = st.floats(min_value=-1e6, max_value=-1e-6)
BAD_NUMBER = st.one_of(NEG, st.just(math.nan), st.just(math.inf), st.just(-math.inf))
KNOWN = {"inf", "linf", "l_inf", "2", "l2", "1", "l1"}
BAD_NORM = st.one_of(
    st.text(max_size=6).filter(lambda s: s.strip().lower() not in KNOWN),
    st.sampled_from([0, 3, -1, 0.5, math.nan, None]))
BAD_BOUNDS = st.one_of(
    st.tuples(st.floats(-10, 10), st.floats(0, 10)).map(lambda t: (t[0] + t[1], t[0])),
    st.sampled_from([(0.0, math.nan), (-math.inf, 1.0), (1.0,), "01"]))
BAD_INT_DTYPE = st.sampled_from([jnp.int8, jnp.uint8, jnp.int32, jnp.bool_])
BAD_COUNT = st.one_of(st.integers(-5, -1), st.sampled_from([0.5, 2.0, True, "3"]))
OUT_OF_BOX = st.one_of(st.floats(1.001, 10), st.floats(-10, -0.001))

ATTACKS_EPS = {
    "fgsm": lambda x, **k: attacks.fgsm(loss_fn, x, **{"eps": 0.1, **k}),
    "pgd": lambda x, **k: attacks.pgd(loss_fn, x, **{"key": KEY, "eps": 0.1,
                                                     "step_size": 0.05, "n_steps": 2, **k}),
    "mifgsm": lambda x, **k: attacks.mifgsm(loss_fn, x, **{"eps": 0.1, "step_size": 0.05,
                                                           "n_steps": 2, **k}),
    "apgd": lambda x, **k: attacks.apgd(loss_fn, x, **{"key": KEY, "eps": 0.1,
                                                       "n_steps": 3, **k}),
    "blackbox_pgd": lambda x, **k: attacks.blackbox_pgd(
        loss_fn, x, **{"key": KEY, "eps": 0.1, "step_size": 0.05, "n_steps": 2,
                       "n_samples": 4, **k}).x_adv,
    "square_attack": lambda x, **k: attacks.square_attack(
        loss_fn, x, **{"key": KEY, "eps": 0.1, "n_queries": 3, **k}).x_adv,
}
ATTACKS_BOX = {
    **ATTACKS_EPS,
    "carlini_wagner_l2": lambda x, **k: attacks.carlini_wagner_l2(
        logits_fn, x, k.pop("labels", Y[: x.shape[0]] if x.ndim else Y), **{"n_search_steps": 1,
                                                            "n_steps": 2, **k}),
    "optimization_attack": lambda x, **k: attacks.optimization_attack(
        logits_fn, x, k.pop("labels", Y[: x.shape[0]] if x.ndim else Y), **{"n_rounds": 1,
                                                            "n_steps": 2, **k}),
}
COUNTED = [("pgd", "n_steps"), ("pgd", "n_restarts"), ("mifgsm", "n_steps"),
           ("apgd", "n_steps"), ("blackbox_pgd", "n_steps"), ("blackbox_pgd", "n_samples"),
           ("square_attack", "n_queries"), ("carlini_wagner_l2", "n_steps"),
           ("optimization_attack", "n_steps")]


def _check_attack_output(x_adv, x):
  assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
  assert bool(jnp.all(jnp.isfinite(x_adv)))
  assert bool(jnp.all((x_adv >= 0) & (x_adv <= 1)))


def _expect(fn, name, check=None):
  """Works correctly (``check`` passes) or raises naming ``name``."""
  try:
    out = fn()
  except (ValueError, TypeError) as err:
    assert name in str(err), f"message does not name `{name}`: {err}"
    return
  if check is None:
    raise AssertionError(f"bad `{name}` was accepted silently")
  check(out)



CASES = []


def case(id_):
  def register(fn):
    CASES.append(pytest.param(fn, id=id_))
    return fn
  return register


for _attack in ATTACKS_EPS:
  case(f"{_attack}-eps-negative-nan-inf")(
      lambda a=_attack: given(BAD_NUMBER)(lambda v: _expect(
          lambda: ATTACKS_EPS[a](X, eps=v), "eps")))
  case(f"{_attack}-norm-unknown")(
      lambda a=_attack: given(BAD_NORM)(lambda v: _expect(
          lambda: ATTACKS_EPS[a](X, norm=v), "norm")))
for _attack in ATTACKS_BOX:
  case(f"{_attack}-bounds-lo-ge-hi")(
      lambda a=_attack: given(BAD_BOUNDS)(lambda v: _expect(
          lambda: ATTACKS_BOX[a](X, bounds=v), "bounds")))
  case(f"{_attack}-x-outside-bounds")(
      lambda a=_attack: given(OUT_OF_BOX)(lambda v: _expect(
          lambda: ATTACKS_BOX[a](X.at[0, 0, 0, 0].set(v)), "x")))
  case(f"{_attack}-x-integer-dtype")(
      lambda a=_attack: given(BAD_INT_DTYPE)(lambda v: _expect(
          lambda: ATTACKS_BOX[a](X.astype(v)), "x")))
  case(f"{_attack}-x-float64-or-float16")(
      lambda a=_attack: given(st.sampled_from([np.float64, jnp.float16, jnp.bfloat16]))(
          lambda v: _expect(lambda: ATTACKS_BOX[a](np.asarray(X).astype(v)
                                                   if v is np.float64 else X.astype(v)),
                            "x", lambda out: _check_attack_output(
                                out, jnp.asarray(np.asarray(X).astype(v))
                                if v is np.float64 else X.astype(v)))))
  case(f"{_attack}-x-rank0")(
      lambda a=_attack: given(st.floats(0, 1))(lambda v: _expect(
          lambda: ATTACKS_BOX[a](jnp.float32(v)), "x")))
  case(f"{_attack}-empty-batch")(
      lambda a=_attack: given(st.just(0))(lambda v: _expect(
          lambda: ATTACKS_BOX[a](X[:v]), "x", lambda out: _check_attack_output(out, X[:0]))))
for _attack, _arg in COUNTED:
  case(f"{_attack}-{_arg}-bad-count")(
      lambda a=_attack, n=_arg: given(BAD_COUNT)(lambda v: _expect(
          lambda: ATTACKS_BOX[a](X, **{n: v}), n)))
for _attack in ("fgsm", "pgd", "mifgsm", "blackbox_pgd"):
  # A zero budget is legal: x comes back unchanged.
  case(f"{_attack}-eps-zero")(
      lambda a=_attack: given(st.just(0.0))(lambda v: _expect(
          lambda: ATTACKS_EPS[a](X, eps=v), "eps",
          lambda out: np.testing.assert_array_equal(out, X))))
for _attack in ("pgd", "mifgsm", "blackbox_pgd"):
  case(f"{_attack}-n_steps-zero")(
      lambda a=_attack: given(st.just(0))(lambda v: _expect(
          lambda: ATTACKS_EPS[a](X, n_steps=v, **({"random_start": False}
                                                  if a == "pgd" else {})),
          "n_steps", lambda out: np.testing.assert_array_equal(out, X))))
for _attack in ("carlini_wagner_l2", "optimization_attack"):
  case(f"{_attack}-labels-out-of-range")(
      lambda a=_attack: given(st.one_of(st.integers(3, 100), st.integers(-100, -1)))(
          lambda v: _expect(lambda: ATTACKS_BOX[a](X, labels=jnp.array([0, v])), "labels")))
  case(f"{_attack}-labels-batch-mismatch")(
      lambda a=_attack: given(st.sampled_from([1, 3, 5]))(
          lambda v: _expect(lambda: ATTACKS_BOX[a](X, labels=jnp.zeros((v,), jnp.int32)),
                            "labels")))
  case(f"{_attack}-labels-float")(
      lambda a=_attack: given(st.just(0))(
          lambda v: _expect(lambda: ATTACKS_BOX[a](X, labels=Y.astype(jnp.float32)),
                            "labels")))


@case("pgd-step_size-bad")
def _():
  return given(BAD_NUMBER)(lambda v: _expect(lambda: ATTACKS_EPS["pgd"](X, step_size=v),
                                             "step_size"))


@case("pgd-loss_fn-reduces-batch")
def _():
  return given(st.just(0))(lambda v: _expect(
      lambda: attacks.pgd(lambda x: jnp.mean(loss_fn(x)), X, key=KEY, eps=0.1,
                          step_size=0.1, n_steps=1), "loss_fn"))


@case("mifgsm-decay-negative")
def _():
  return given(BAD_NUMBER)(lambda v: _expect(lambda: ATTACKS_EPS["mifgsm"](X, decay=v),
                                             "decay"))


@case("estimate_gradient-sigma-bad")
def _():
  return given(st.one_of(BAD_NUMBER, st.just(0.0)))(lambda v: _expect(
      lambda: attacks.estimate_gradient(loss_fn, X, key=KEY, n_samples=2, sigma=v),
      "sigma"))


@case("estimate_gradient-method-unknown")
def _():
  return given(st.text(max_size=5).filter(lambda s: s not in ("nes", "spsa", "zoo")))(
      lambda v: _expect(lambda: attacks.estimate_gradient(
          loss_fn, X, key=KEY, n_samples=2, method=v), "method"))


@case("estimate_gradient-n_samples-bad")
def _():
  return given(st.one_of(st.integers(-3, 0), st.just(1.5)))(lambda v: _expect(
      lambda: attacks.estimate_gradient(loss_fn, X, key=KEY, n_samples=v), "n_samples"))


@case("estimate_gradient-x-integer")
def _():
  return given(BAD_INT_DTYPE)(lambda v: _expect(
      lambda: attacks.estimate_gradient(loss_fn, X.astype(v), key=KEY, n_samples=2), "x"))


@case("make_grad_estimator-sigma-bad")
def _():
  return given(BAD_NUMBER)(lambda v: _expect(
      lambda: attacks.make_grad_estimator(loss_fn, n_samples=2, sigma=v), "sigma"))


@case("eot-n_samples-bad")
def _():
  return given(BAD_COUNT)(lambda v: _expect(
      lambda: attacks.eot(loss_fn, attacks.transforms.identity, n_samples=v), "n_samples"))


@case("eot-transform-not-callable")
def _():
  return given(st.sampled_from([None, 3, "affine"]))(lambda v: _expect(
      lambda: attacks.eot(loss_fn, v, n_samples=2), "transform"))


EMB = jnp.ones((2, 3, 4), jnp.float32) * 0.1
MASK = jnp.ones((2, 3), jnp.float32)


def _emb_loss(e, m):
  return jnp.sum(jnp.sin(e), axis=(1, 2))


@case("embedding_pgd-eps-bad")
def _():
  return given(BAD_NUMBER)(lambda v: _expect(lambda: attacks.embedding_pgd(
      _emb_loss, EMB, MASK, key=KEY, eps=v, step_size=0.1, n_steps=1), "eps"))


@case("embedding_pgd-norm-unknown")
def _():
  return given(st.one_of(BAD_NORM, st.just(1)))(lambda v: _expect(
      lambda: attacks.embedding_pgd(_emb_loss, EMB, MASK, key=KEY, eps=0.1,
                                    step_size=0.1, n_steps=1, norm=v), "norm"))


@case("embedding_pgd-embeddings-wrong-rank")
def _():
  return given(st.sampled_from([(2, 12), (2, 3, 4, 1), (24,)]))(lambda v: _expect(
      lambda: attacks.embedding_pgd(_emb_loss, EMB.reshape(v), MASK, key=KEY, eps=0.1,
                                    step_size=0.1, n_steps=1), "embeddings"))


@case("embedding_pgd-mask-mismatch")
def _():
  return given(st.sampled_from([(3, 3), (2, 4), (2,)]))(lambda v: _expect(
      lambda: attacks.embedding_pgd(_emb_loss, EMB, jnp.ones(v), key=KEY, eps=0.1,
                                    step_size=0.1, n_steps=1), "mask"))


VOCAB = jnp.asarray(np.random.default_rng(2).normal(size=(7, 4)), jnp.float32)
TOKENS = jnp.array([[1, 2, 3], [4, 5, 6]])


def _tok_loss(e, m):
  return jnp.sum(e, axis=(1, 2))


@case("hotflip-tokens-float")
def _():
  return given(st.sampled_from([jnp.float32, jnp.float16]))(lambda v: _expect(
      lambda: attacks.hotflip(_tok_loss, TOKENS.astype(v), VOCAB, n_flips=1), "tokens"))


@case("hotflip-tokens-wrong-rank")
def _():
  return given(st.sampled_from([(6,), (2, 3, 1)]))(lambda v: _expect(
      lambda: attacks.hotflip(_tok_loss, TOKENS.reshape(v), VOCAB, n_flips=1), "tokens"))


@case("hotflip-n_flips-bad")
def _():
  return given(BAD_COUNT)(lambda v: _expect(
      lambda: attacks.hotflip(_tok_loss, TOKENS, VOCAB, n_flips=v), "n_flips"))


@case("hotflip-flip_mask-mismatch")
def _():
  return given(st.sampled_from([(2, 2), (3, 3)]))(lambda v: _expect(
      lambda: attacks.hotflip(_tok_loss, TOKENS, VOCAB, n_flips=1,
                              flip_mask=jnp.ones(v, bool)), "flip_mask"))


@case("lp-project-eps-bad")
def _():
  return given(BAD_NUMBER)(lambda v: _expect(lambda: attacks.project(X, 2, v), "eps"))


@case("lp-sample_ball-norm-unknown")
def _():
  return given(BAD_NORM)(lambda v: _expect(
      lambda: attacks.sample_ball(KEY, (2, 3), v, 0.1), "norm"))


# Losses.
LOGITS = jnp.asarray(np.random.default_rng(3).normal(size=(4, 5)), jnp.float32)
LABELS = jnp.array([0, 1, 2, 4])
CLS = {"cross_entropy": losses.cross_entropy, "margin_loss": losses.margin_loss,
       "dlr_loss": losses.dlr_loss}


def _finite(out):
  assert all(bool(jnp.all(jnp.isfinite(l))) for l in jax.tree.leaves(out))


for _name, _fn in CLS.items():
  case(f"{_name}-labels-out-of-range")(
      lambda f=_fn: given(st.one_of(st.integers(5, 1000), st.integers(-1000, -1)))(
          lambda v: _expect(lambda: f(LOGITS, LABELS.at[1].set(v)), "labels")))
  case(f"{_name}-labels-batch-mismatch")(
      lambda f=_fn: given(st.sampled_from([0, 3, 5]))(
          lambda v: _expect(lambda: f(LOGITS, jnp.zeros((v,), jnp.int32)), "labels")))
  case(f"{_name}-labels-float")(
      lambda f=_fn: given(st.just(0))(
          lambda v: _expect(lambda: f(LOGITS, LABELS.astype(jnp.float32)), "labels")))
  case(f"{_name}-logits-wrong-rank")(
      lambda f=_fn: given(st.sampled_from([(20,), (4, 5, 1), (2, 2, 5)]))(
          lambda v: _expect(lambda: f(LOGITS.reshape(v), LABELS), "logits")))
  case(f"{_name}-huge-logits")(
      lambda f=_fn: given(st.floats(1e3, 1e30))(
          lambda v: _expect(lambda: jax.value_and_grad(
              lambda z: jnp.sum(f(z, LABELS)))(LOGITS * v), "logits", _finite)))


@case("kl_divergence-shape-mismatch")
def _():
  return given(st.sampled_from([(4, 4), (3, 5), (20,)]))(lambda v: _expect(
      lambda: losses.kl_divergence(LOGITS, jnp.zeros(v)), "q_logits"))


@case("distillation_loss-temperature-bad")
def _():
  return given(st.one_of(BAD_NUMBER, st.just(0.0)))(lambda v: _expect(
      lambda: losses.distillation_loss(LOGITS, LOGITS, temperature=v), "temperature"))


@case("gan_loss-name-unknown")
def _():
  return given(st.text(max_size=8))(lambda v: _expect(lambda: losses.gan_loss(v), "name"))


GAN = ("minimax", "non_saturating", "wasserstein", "hinge", "least_squares")
for _g in GAN:
  case(f"gan-{_g}-batch-mismatch")(
      lambda g=_g: given(st.sampled_from([1, 3, 7]))(lambda v: _expect(
          lambda: losses.gan_loss(g).discriminator(jnp.zeros(4), jnp.zeros(v)), "real")))
  case(f"gan-{_g}-wrong-rank")(
      lambda g=_g: given(st.sampled_from([(4, 2), (2, 2, 1), ()]))(lambda v: _expect(
          lambda: losses.gan_loss(g).generator(jnp.zeros(v)), "fake")))
  case(f"gan-{_g}-integer-logits")(
      lambda g=_g: given(BAD_INT_DTYPE)(lambda v: _expect(
          lambda: losses.gan_loss(g).discriminator(jnp.zeros(4, v), jnp.zeros(4)), "real")))
  case(f"gan-{_g}-saturated")(
      lambda g=_g: given(st.floats(1e3, 1e15))(lambda v: _expect(
          lambda: jax.grad(lambda r, f: jnp.sum(losses.gan_loss(g).discriminator(r, f))
                           + jnp.sum(losses.gan_loss(g).generator(f)), argnums=(0, 1))(
              jnp.array([v, -v]), jnp.array([-v, v])), "real", _finite)))


@case("gradient_penalty-shape-mismatch")
def _():
  return given(st.sampled_from([(3, 2), (4, 3)]))(lambda v: _expect(
      lambda: losses.gradient_penalty(lambda x: jnp.sum(x, -1), jnp.zeros((4, 2)),
                                      jnp.zeros(v), KEY), "fake"))


@case("add_instance_noise-sigma-bad")
def _():
  return given(BAD_NUMBER)(lambda v: _expect(
      lambda: losses.add_instance_noise(X, KEY, v), "sigma"))


@case("spectral_normalize-u-shape")
def _():
  return given(st.sampled_from([(3,), (4, 1), (5,)]))(lambda v: _expect(
      lambda: nn.spectral_normalize(jnp.ones((6, 4)), jnp.ones(v)), "u"))


@case("spectral_normalize-n_iters-bad")
def _():
  return given(BAD_COUNT)(lambda v: _expect(
      lambda: nn.spectral_normalize(jnp.ones((6, 4)), jnp.ones(4), n_iters=v), "n_iters"))


# Step factories.
MLP = models.MLP(features=(8,), num_classes=3)
APPLY = train.linen_apply(MLP)
TX = optax.sgd(0.1)
XS = jnp.full((4, 6), 0.5, jnp.float32)
_P, _MS = train.split_variables(MLP.init(KEY, XS[:1]))
STATE = train.TrainState.create(_P, TX, _MS)
BATCH = {"image": XS, "label": jnp.array([0, 1, 2, 0])}
FACTORIES = {
    "make_pgd_at_step": lambda **k: train.make_pgd_at_step(
        APPLY, TX, **{"eps": 0.1, "n_steps": 1, **k}),
    "make_fgsm_rs_step": lambda **k: train.make_fgsm_rs_step(APPLY, TX, **{"eps": 0.1, **k}),
    "make_trades_step": lambda **k: train.make_trades_step(
        APPLY, TX, **{"eps": 0.1, "beta": 1.0, "n_steps": 1, **k}),
    "make_free_at_step": lambda **k: train.make_free_at_step(
        APPLY, TX, **{"eps": 0.1, "n_replays": 2, **k}),
    "make_fgsm_prior_step": lambda **k: train.make_fgsm_prior_step(
        APPLY, TX, **{"eps": 0.1, **k}),
}


FREE_STATE = train.FreeATState.create(_P, TX, _MS, batch_shape=XS.shape)
PRIOR_STATE = train.PriorState.create(_P, TX, _MS, example_shape=XS.shape[1:],
                                      n_examples=6)
PRIOR_BATCH = {**BATCH, "index": jnp.array([5, 0, 2, 3])}


def _run_step(factory, **kw):
  step = factory(**kw)
  if factory is FACTORIES["make_fgsm_prior_step"]:
    return step(PRIOR_STATE, PRIOR_BATCH, KEY)
  return step(FREE_STATE if factory is FACTORIES["make_free_at_step"] else STATE,
              BATCH, KEY)


for _f in FACTORIES:
  case(f"{_f}-eps-bad")(lambda f=_f: given(BAD_NUMBER)(lambda v: _expect(
      lambda: _run_step(FACTORIES[f], eps=v), "eps")))
  case(f"{_f}-norm-unknown")(lambda f=_f: given(BAD_NORM)(lambda v: _expect(
      lambda: _run_step(FACTORIES[f], norm=v), "norm")))
  case(f"{_f}-bounds-bad")(lambda f=_f: given(BAD_BOUNDS)(lambda v: _expect(
      lambda: _run_step(FACTORIES[f], bounds=v), "bounds")))
for _f, _n in (("make_pgd_at_step", "n_steps"), ("make_trades_step", "n_steps"),
               ("make_free_at_step", "n_replays")):
  case(f"{_f}-{_n}-bad")(lambda f=_f, n=_n: given(st.one_of(BAD_COUNT, st.just(0)))(
      lambda v: _expect(lambda: _run_step(FACTORIES[f], **{n: v}), n)))


for _n in ("noise_scale", "restart_prob", "consistency"):
  case(f"make_fgsm_prior_step-{_n}-bad")(lambda n=_n: given(BAD_NUMBER)(
      lambda v: _expect(lambda: _run_step(FACTORIES["make_fgsm_prior_step"],
                                          **{n: v}), n)))


@case("make_trades_step-beta-bad")
def _():
  return given(BAD_NUMBER)(lambda v: _expect(
      lambda: _run_step(FACTORIES["make_trades_step"], beta=v), "beta"))


@case("make_classifier_step-labels-mismatch")
def _():
  step = jax.jit(train.make_classifier_step(APPLY, TX))
  return given(st.sampled_from([3, 5]))(lambda v: _expect(lambda: step(
      STATE, {"image": XS, "label": jnp.zeros((v,), jnp.int32)}, KEY), "labels"))


@case("make_gan_step-n_critic-bad")
def _():
  g, d = models.MLPGenerator(features=(4,), out_features=2), models.MLPDiscriminator(
      features=(4,))
  return given(st.one_of(BAD_COUNT, st.just(0)))(lambda v: _expect(
      lambda: train.make_gan_step(train.linen_apply(g), train.linen_apply(d), TX, TX,
                                  loss="hinge", latent_dim=2, n_critic=v), "n_critic"))


@case("make_gan_step-loss-unknown")
def _():
  g, d = models.MLPGenerator(features=(4,), out_features=2), models.MLPDiscriminator(
      features=(4,))
  return given(st.one_of(st.text(max_size=5), st.just(3)))(lambda v: _expect(
      lambda: train.make_gan_step(train.linen_apply(g), train.linen_apply(d), TX, TX,
                                  loss=v, latent_dim=2), "name" if isinstance(v, str)
      else "loss"))


@case("make_gan_step-ema_decay-bad")
def _():
  g, d = models.MLPGenerator(features=(4,), out_features=2), models.MLPDiscriminator(
      features=(4,))
  return given(st.one_of(st.floats(1.0, 5.0), NEG))(lambda v: _expect(
      lambda: train.make_gan_step(train.linen_apply(g), train.linen_apply(d), TX, TX,
                                  loss="hinge", latent_dim=2, ema_decay=v), "ema_decay"))


@case("make_dann_step-lam-negative")
def _():
  return given(BAD_NUMBER)(lambda v: _expect(
      lambda: train.make_dann_step(None, TX, lam=v), "lam"))


@case("make_dann_grads-form-unknown")
def _():
  return given(st.text(max_size=5))(lambda v: _expect(
      lambda: train.make_dann_grads(None, form=v), "form"))


@case("make_freelb_step-n_steps-bad")
def _():
  return given(st.one_of(BAD_COUNT, st.just(0)))(lambda v: _expect(
      lambda: train.make_freelb_step(None, TX, max_norm=0.1, step_size=0.1, n_steps=v),
      "n_steps"))


@case("make_mlm_step-mask_prob-bad")
def _():
  return given(st.one_of(st.floats(1.0, 3.0), st.floats(-3.0, 0.0)))(lambda v: _expect(
      lambda: train.make_mlm_step(None, TX, mask_prob=v, pad_id=0, mask_id=1), "mask_prob"))


@case("make_distillation_step-temperature-bad")
def _():
  return given(st.one_of(BAD_NUMBER, st.just(0.0)))(lambda v: _expect(
      lambda: train.make_distillation_step(APPLY, TX, teacher_logits_fn=logits_fn,
                                           temperature=v), "temperature"))


@pytest.mark.parametrize("make_case", CASES)
def test_bad_input_is_handled(make_case):
  SETTINGS(make_case())()


def test_case_table_covers_the_public_api():
  ids = [c.id for c in CASES]
  assert len(ids) == len(set(ids)) and len(ids) >= 150
  print(f"\n{len(ids)} distinct bad-input cases")
