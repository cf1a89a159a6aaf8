"""Every step factory of advjax.train, one step on a batch sharded over the
8-device ``data`` mesh == the same step on one device (params and metrics).

The Transformer and U-Net steps (ELECTRA, MLM, pix2pix) are the slowest to
compile; their own test files already run exactly this check, so they are
listed in ``COVERED_ELSEWHERE`` (and that those tests exist is checked) instead
of being compiled twice more here."""
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
# Tiny models and batches of the factories' own tests.
import test_dann
import test_electra
import test_pix2pix
from test_train_freelb import BATCH as TEXT_BATCH
from test_train_freelb import _BagClassifier

SGD = optax.sgd(0.1)  # not Adam: its sign-like first step amplifies rounding
MLP = models.MLP(features=(16,))
APPLY = train.linen_apply(MLP)
EPS = 0.1


def _digits(n=16):
  tr, _ = data.digits()
  return {"image": jnp.asarray(tr.image[:n]), "label": jnp.asarray(tr.label[:n])}


def _mlp_state(state_cls=train.TrainState, **kw):
  params = MLP.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]
  return state_cls.create(params, SGD, **kw)


def _other_mlp():
  params = MLP.init(jax.random.key(42), jnp.zeros((1, 8, 8, 1)))["params"]
  return lambda x: MLP.apply({"params": params}, x)


def _classifier(factory):
  return lambda: (factory(), _mlp_state(), _digits())


def _perturbed_step():
  def craft(logits_fn, batch, key, count):
    x = attacks.fgsm(attacks.untargeted(logits_fn, batch["label"]), batch["image"], eps=EPS)
    return x, {}

  def objective(params, model_state, batch, x_adv, key, count):
    del count
    logits, model_state = APPLY(params, model_state, x_adv, train=True, key=key)
    return jnp.mean(cross_entropy(logits, batch["label"])), (model_state, {})

  return train.make_perturbed_step(APPLY, SGD, craft=craft, objective=objective)


def _gan(**options):
  def case():
    spectral = options.pop("spectral_norm", False)
    gen = models.MLPGenerator(features=(8,), out_features=2)
    disc = models.MLPDiscriminator(features=(8,), spectral_norm=spectral)
    state = train.GANState.create(gen.init(jax.random.key(0), jnp.zeros((2, 3))),
                                  disc.init(jax.random.key(1), jnp.zeros((2, 2))), SGD, SGD)
    n = 16 * options.get("n_critic", 1)
    step = train.make_gan_step(train.linen_apply(gen), train.linen_apply(disc), SGD, SGD,
                               latent_dim=3, **options)
    return step, state, {"image": jax.random.normal(jax.random.key(3), (n, 2))}
  return case


def _dann():
  params, model_state = test_dann._params()
  step = train.make_dann_step(test_dann.NETWORKS, SGD,
                              lam=train.dann_lambda_schedule(total_steps=20))
  return step, train.TrainState.create(params, SGD, model_state), test_dann._batch(5, n=16)


def _text(factory):
  def case():
    module = _BagClassifier(dropout_rate=0.0)
    params = module.init(jax.random.key(0), TEXT_BATCH["tokens"])["params"]
    step = factory(train.linen_text_apply(module), SGD, max_norm=0.3, step_size=0.2, n_steps=2)
    return step, train.TrainState.create(params, SGD), TEXT_BATCH
  return case


# (factory name, variant) -> () -> (step, state, batch)
CASES = {
    ("make_classifier_step", ""): _classifier(lambda: train.make_classifier_step(APPLY, SGD)),
    ("make_adversarial_step", "pgd_clean"): _classifier(lambda: train.make_adversarial_step(
        APPLY, SGD, perturbation=train.pgd_perturbation(eps=EPS, n_steps=2), clean_weight=0.5)),
    ("make_pgd_at_step", ""): _classifier(lambda: train.make_pgd_at_step(APPLY, SGD, eps=EPS, n_steps=2)),
    ("make_fgsm_rs_step", ""): _classifier(lambda: train.make_fgsm_rs_step(APPLY, SGD, eps=EPS)),
    ("make_fgsm_rs_step", "grad_align"): _classifier(lambda: train.make_fgsm_rs_step(
        APPLY, SGD, eps=EPS, grad_align=1.0)),
    ("make_perturbed_step", "fgsm"): _classifier(_perturbed_step),
    ("make_ensemble_adversarial_step", ""): _classifier(lambda: train.make_ensemble_adversarial_step(
        APPLY, SGD, static_logits_fns=[_other_mlp()], perturbation=train.fgsm_rs_perturbation(eps=EPS))),
    ("make_free_at_step", ""): lambda: (
        train.make_free_at_step(APPLY, SGD, eps=EPS, n_replays=2),
        _mlp_state(train.FreeATState, batch_shape=(16, 8, 8, 1)), _digits()),
    ("make_fgsm_prior_step", ""): lambda: (
        train.make_fgsm_prior_step(APPLY, SGD, eps=EPS, noise_scale=0.5),
        _mlp_state(train.PriorState, example_shape=(8, 8, 1), n_examples=40),
        {**_digits(), "index": jnp.arange(16, dtype=jnp.int32) * 2}),
    ("make_trades_step", ""): _classifier(lambda: train.make_trades_step(
        APPLY, SGD, eps=EPS, beta=6.0, n_steps=2)),
    ("make_distillation_step", "student"): _classifier(lambda: train.make_distillation_step(
        APPLY, SGD, temperature=10.0, teacher_logits_fn=_other_mlp())),
    ("make_dann_step", ""): _dann,
    ("make_gan_step", "non_saturating_r1_ema"): _gan(loss="non_saturating", r1_weight=1.0,
                                                     ema_decay=0.9),
    ("make_gan_step", "wgan_gp_ncritic2"): _gan(loss="wasserstein", gp_weight=10.0, n_critic=2),
    ("make_gan_step", "hinge_sn_noise"): _gan(loss="hinge", spectral_norm=True,
                                              instance_noise=0.1, instance_noise_steps=10),
    ("make_freelb_step", ""): _text(train.make_freelb_step),
    ("make_embedding_pgd_step", ""): _text(train.make_embedding_pgd_step),
}


# factory -> (test module, test function) that checks sharded == unsharded.
COVERED_ELSEWHERE = {
    "make_electra_step": (test_electra, "test_steps_jit_and_shard"),
    "make_mlm_step": (test_electra, "test_steps_jit_and_shard"),
    "make_pix2pix_step": (test_pix2pix, "test_sharded_step_equals_unsharded"),
}


def test_every_exported_step_factory_is_covered():
  exported = {n for n in train.__all__ if n.startswith("make_") and n.endswith("_step")}
  covered = {name for name, _ in CASES} | set(COVERED_ELSEWHERE)
  assert exported == covered, exported ^ covered
  for module, test in COVERED_ELSEWHERE.values():
    source = getattr(module, test).__code__.co_names
    assert "shard_batch" in source and "data_mesh" in source, test


def _arrays(tree):
  return [np.asarray(x) for x in jax.tree.leaves(tree)
          if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)]


@pytest.mark.parametrize("case", sorted(CASES), ids=lambda c: "-".join(filter(None, c)))
def test_sharded_step_equals_single_device(case):
  step, state, batch = CASES[case]()
  step = jax.jit(step)
  key = jax.random.key(7)
  mesh = train.data_mesh()
  assert mesh.shape["data"] == 8
  ref_state, ref_metrics = step(state, batch, key)
  sh_batch = train.shard_batch(batch, mesh)
  assert len(jax.tree.leaves(sh_batch)[0].sharding.device_set) == 8
  sh_state, sh_metrics = step(train.replicate(state, mesh), sh_batch, key)
  assert set(ref_metrics) == set(sh_metrics) and ref_metrics
  ref, sh = _arrays((ref_state, ref_metrics)), _arrays((sh_state, sh_metrics))
  assert len(ref) == len(sh)
  for a, b in zip(ref, sh):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  # The step did something: some parameter moved.
  before = _arrays(state.params if hasattr(state, "params") else state.discriminator.params)
  after = _arrays(ref_state.params if hasattr(ref_state, "params")
                  else ref_state.discriminator.params)
  assert any(not np.allclose(a, b) for a, b in zip(before, after))
