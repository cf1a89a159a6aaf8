"""Training sections of the benchmark: one PGD adversarial-training epoch and
a DCGAN step, advjax vs the same loop in PyTorch.

PGD-AT recipe (both frameworks): PGD-``at_steps`` L∞ with a random start,
ε = 0.3, step 0.1 (MNIST, Madry et al. 2018), returning the last iterate (as
Madry et al. and torchattacks do), then one Adam (1e-3) step on the
mean cross-entropy of the adversarial batch; ``at_images`` images of the
offline MNIST subset per epoch. The advjax epoch drives a ``step(state,
batch, key) -> (state, metrics)`` callable — :func:`make_pgd_at_step` by
default; any PGD-AT step factory with that signature can be passed instead.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from advjax import attacks
from advjax import data
from advjax import models
from advjax import train
from experiments import bench_attacks
from experiments import bench_timing

AT_EPS, AT_STEP, AT_LR = 0.3, 0.1, 1e-3


def make_pgd_at_step(apply_fn, tx, *, eps: float, step_size: float, n_steps: int):
  """``attacks.pgd`` (random start, last iterate) composed with
  ``train.make_classifier_step`` in one step (jit it)."""
  base = train.make_classifier_step(apply_fn, tx)

  def step(state, batch, key):
    k_attack, k_step = jax.random.split(key)
    logits_fn = lambda z: apply_fn(state.params, state.model_state, z,  # noqa: E731
                                   train=False)[0]
    x_adv = attacks.pgd(attacks.untargeted(logits_fn, batch["label"]),
                        batch["image"], key=k_attack, eps=eps,
                        step_size=step_size, n_steps=n_steps, best_iterate=False)
    return base(state, {**batch, "image": jax.lax.stop_gradient(x_adv)}, k_step)

  return step


def bench_pgd_at(*, model: str, images: int, batch: int, n_steps: int,
                 repeats: int, key, make_step: Callable = make_pgd_at_step
                 ) -> dict[str, float]:
  """Seconds per PGD-AT epoch, advjax (jitted ``step``) vs PyTorch + torchattacks."""
  import torch  # pylint: disable=import-outside-toplevel
  from experiments import bench_torch  # pylint: disable=import-outside-toplevel
  split, _ = data.mnist_subset()
  n_batches = min(images, len(split.label)) // batch
  xs = jnp.asarray(split.image[: n_batches * batch]).reshape(n_batches, batch, 28, 28, 1)
  ys = jnp.asarray(split.label[: n_batches * batch]).reshape(n_batches, batch)
  module = bench_attacks.MODELS[model]()
  tx = optax.adam(AT_LR)
  params, model_state = train.split_variables(module.init(key, xs[0, :1]))
  state0 = train.TrainState.create(params, tx, model_state)
  step = make_step(train.linen_apply(module), tx, eps=AT_EPS, step_size=AT_STEP,
                   n_steps=n_steps)
  batch0 = {"image": xs[0], "label": ys[0]}
  compiled, compile_seconds = bench_timing.compile_ahead(step, state0, batch0, key)

  def jax_epoch():
    state = state0
    for i in range(n_batches):
      state, metrics = compiled(state, {"image": xs[i], "label": ys[i]},
                                jax.random.fold_in(key, i))
    return state, metrics

  tmodel = bench_torch.load_flax_params(bench_torch.classifier(model), params, model)
  tstep = bench_torch.make_pgd_at_step(tmodel, eps=AT_EPS, step_size=AT_STEP,
                                       n_steps=n_steps, learning_rate=AT_LR)
  txs = [bench_torch.to_torch(xs[i]) for i in range(n_batches)]
  tys = [torch.from_numpy(np.array(ys[i])).long() for i in range(n_batches)]

  def torch_epoch():
    return [tstep(txs[i], tys[i]) for i in range(n_batches)][-1]

  stats = bench_timing.interleaved({"advjax": jax_epoch, "torch": torch_epoch},
                                   repeats=repeats)
  return {"compile_seconds_pgd_at_step": compile_seconds,
          "pgd_at_epoch_seconds_advjax": stats["advjax"]["median"],
          "pgd_at_epoch_seconds_torch": stats["torch"]["median"],
          "pgd_at_epoch_spread_seconds_advjax": stats["advjax"]["spread"],
          "pgd_at_epoch_spread_seconds_torch": stats["torch"]["spread"],
          "pgd_at_epoch_images": float(n_batches * batch),
          "pgd_at_epoch_ratio_vs_torch": (stats["torch"]["median"]
                                          / stats["advjax"]["median"])}


def bench_dcgan(*, batch: int, features: int, latent_dim: int, steps: int,
                repeats: int, key) -> dict[str, float]:
  """Milliseconds per DCGAN step (28×28, non-saturating loss, Adam 2e-4/0.5,
  one critic update, EMA), advjax ``make_gan_step`` vs the PyTorch twin."""
  from experiments import bench_torch  # pylint: disable=import-outside-toplevel
  split, _ = data.mnist_subset()
  real = jnp.asarray(split.image[:batch]) * 2.0 - 1.0
  gen = models.DCGANGenerator(image_size=28, features=features)
  disc = models.DCGANDiscriminator(image_size=28, features=features)
  kg, kd = jax.random.split(key)
  g_vars = gen.init(kg, jnp.zeros((2, latent_dim)))
  d_vars = disc.init(kd, real[:2])
  g_tx, d_tx = train.gan_optimizers("dcgan")
  state0 = train.GANState.create(g_vars, d_vars, g_tx, d_tx)
  step = train.make_gan_step(train.linen_apply(gen), train.linen_apply(disc),
                             g_tx, d_tx, loss="non_saturating",
                             latent_dim=latent_dim)
  compiled, compile_seconds = bench_timing.compile_ahead(step, state0, real, key)

  def jax_steps():
    state = state0
    for i in range(steps):
      state, metrics = compiled(state, real, jax.random.fold_in(key, i))
    return state, metrics

  tstep = bench_torch.make_gan_step(
      bench_torch.DCGANGenerator(latent_dim=latent_dim, features=features),
      bench_torch.DCGANDiscriminator(features=features), latent_dim=latent_dim)
  treal = bench_torch.to_torch(real)

  def torch_steps():
    return [tstep(treal) for _ in range(steps)][-1]

  stats = bench_timing.interleaved({"advjax": jax_steps, "torch": torch_steps},
                                   repeats=repeats)
  return {"compile_seconds_dcgan_step": compile_seconds,
          "dcgan_step_ms_advjax": 1e3 * stats["advjax"]["median"] / steps,
          "dcgan_step_ms_torch": 1e3 * stats["torch"]["median"] / steps,
          "dcgan_step_spread_ms_advjax": 1e3 * stats["advjax"]["spread"] / steps,
          "dcgan_step_spread_ms_torch": 1e3 * stats["torch"]["spread"] / steps,
          "dcgan_step_ratio_vs_torch": (stats["torch"]["median"]
                                        / stats["advjax"]["median"])}
