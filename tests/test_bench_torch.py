"""PyTorch twins of the reference models: weights transfer exactly, logits
agree, and FGSM / PGD (L∞ and L2, no random start) agree with torchattacks."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torchattacks

from advjax import attacks
from advjax import models
from experiments import bench_attacks
from experiments import bench_torch

torch.set_num_threads(1)
_NAMES = ["mlp", "small_cnn", "madry_cnn"]


@pytest.fixture(scope="module", params=_NAMES)
def twins(request):
  name = request.param
  module, variables, _, _ = bench_attacks.setup_model(name, 1, jax.random.key(0))
  # Uniform inputs: no ties in max-pooling windows. (On MNIST's constant
  # background torch routes a tied max's gradient to the first element and
  # JAX splits it between the ties, so FGSM signs may differ there.)
  x = jax.random.uniform(jax.random.key(1), (4, 28, 28, 1))
  y = jnp.argmax(module.apply(variables, x), -1)
  tmodel = bench_torch.load_flax_params(bench_torch.classifier(name),
                                        variables["params"], name)
  xt, yt = bench_torch.to_torch(x), torch.from_numpy(np.array(y)).long()
  loss_fn = attacks.untargeted(lambda z: module.apply(variables, z), y)
  return module, variables, x, y, tmodel, xt, yt, loss_fn


def test_weights_transfer_and_logits_agree(twins):
  module, variables, x, _, tmodel, xt, *_ = twins
  n_params = sum(v.size for v in jax.tree.leaves(variables))
  assert n_params == sum(p.numel() for p in tmodel.parameters())
  theirs = tmodel(xt).detach().numpy()
  ours = np.asarray(module.apply(variables, x))
  assert np.abs(ours).max() > 1e-2  # not trivially zero
  np.testing.assert_allclose(ours, theirs, atol=2e-5, rtol=1e-4)


def test_flatten_order_matters():
  # Without the (h, w, c) -> (c, h, w) permutation the CNN logits disagree.
  module, variables, x, _ = bench_attacks.setup_model("small_cnn", 4, jax.random.key(0))
  tmodel = bench_torch.load_flax_params(bench_torch.classifier("small_cnn"),
                                        variables["params"], "small_cnn")
  k = np.asarray(variables["params"]["Dense_0"]["kernel"])
  with torch.no_grad():
    tmodel[5].weight.copy_(torch.from_numpy(k.T.copy()))
  theirs = tmodel(bench_torch.to_torch(x)).detach().numpy()
  assert np.abs(np.asarray(module.apply(variables, x)) - theirs).max() > 1e-3


def test_fgsm_agrees_with_torchattacks(twins):
  *_, x, _, tmodel, xt, yt, loss_fn = twins
  ours = attacks.fgsm(loss_fn, x, eps=0.1)
  theirs = bench_torch.to_nhwc(torchattacks.FGSM(tmodel, eps=0.1)(xt, yt))
  assert np.abs(np.asarray(ours) - np.asarray(x)).max() > 0.09
  np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_iterates_agree_with_torchattacks(twins, norm):
  *_, x, _, tmodel, xt, yt, loss_fn = twins
  n = 3
  if norm == "linf":
    eps, alpha = 0.1, 0.02
    make = lambda k: torchattacks.PGD(tmodel, eps=eps, alpha=alpha, steps=k,  # noqa: E731
                                      random_start=False)
  else:
    eps, alpha = 1.0, 0.3
    make = lambda k: torchattacks.PGDL2(tmodel, eps=eps, alpha=alpha, steps=k,  # noqa: E731
                                        random_start=False)
  iterates = [np.asarray(x)] + [bench_torch.to_nhwc(make(k)(xt, yt))
                                for k in range(1, n + 1)]
  # advjax returns the best iterate (highest loss); torchattacks the last.
  losses = np.stack([np.asarray(loss_fn(jnp.asarray(i))) for i in iterates])
  best = np.stack(iterates)[losses.argmax(0), np.arange(x.shape[0])]
  ours = attacks.pgd(loss_fn, x, key=jax.random.key(0), norm=norm, eps=eps,
                     step_size=alpha, n_steps=n, random_start=False)
  np.testing.assert_allclose(ours, best, atol=1e-5)
  last = attacks.pgd(loss_fn, x, key=jax.random.key(0), norm=norm, eps=eps,
                     step_size=alpha, n_steps=n, random_start=False,
                     best_iterate=False)
  np.testing.assert_allclose(last, iterates[-1], atol=1e-5)
  assert np.abs(iterates[-1] - np.asarray(x)).max() > 0.05  # the attack moved


def test_dcgan_twins_have_the_same_parameter_counts():
  for features in (4,):
    gen = models.DCGANGenerator(image_size=28, features=features)
    disc = models.DCGANDiscriminator(image_size=28, features=features)
    g = gen.init(jax.random.key(0), jnp.zeros((2, 8)))["params"]
    d = disc.init(jax.random.key(0), jnp.zeros((2, 28, 28, 1)))["params"]
    tg = bench_torch.DCGANGenerator(latent_dim=8, features=features)
    td = bench_torch.DCGANDiscriminator(features=features)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(tg) == sum(v.size for v in jax.tree.leaves(g))
    assert count(td) == sum(v.size for v in jax.tree.leaves(d))
    out = tg(torch.randn(3, 8))
    assert tuple(out.shape) == (3, 1, 28, 28)
    assert tuple(td(out).shape) == (3,)
