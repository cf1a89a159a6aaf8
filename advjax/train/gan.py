"""A jitted GAN step for any loss: ``n_critic`` discriminator updates, then one
generator update, in one compiled function.

Model state (batch statistics of the generator, spectral-norm vectors of the
discriminator) is threaded explicitly through :class:`GANState`; the two
players have separate optimizers; an exponential moving average (EMA) of the
generator's parameters is kept for sampling. The step contains no collectives:
shard the batch over a ``data`` mesh and ``jit`` partitions it.
"""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from advjax import _checks
from advjax.losses import gan as gan_losses
from advjax.train.classifier import ApplyFn
from advjax.train.clipping import clip_weights
from advjax.train.state import TrainState
from advjax.train.state import split_variables


class GANState(flax.struct.PyTreeNode):
  """Both players' train states and the generator's EMA parameters.

  Attributes:
    generator: :class:`TrainState` of the generator (``step`` counts its
      updates, one per GAN step).
    discriminator: :class:`TrainState` of the discriminator (``n_critic``
      updates per GAN step).
    ema_params: exponential moving average of ``generator.params``.
  """
  generator: TrainState
  discriminator: TrainState
  ema_params: Any

  @classmethod
  def create(cls, g_variables, d_variables, g_tx: optax.GradientTransformation,
             d_tx: optax.GradientTransformation) -> "GANState":
    """Builds the state from Linen ``init`` outputs of both players."""
    g_params, g_state = split_variables(g_variables)
    d_params, d_state = split_variables(d_variables)
    return cls(generator=TrainState.create(g_params, g_tx, g_state),
               discriminator=TrainState.create(d_params, d_tx, d_state),
               ema_params=g_params)


def gan_optimizers(recipe: str) -> tuple[optax.GradientTransformation,
                                         optax.GradientTransformation]:
  """``(g_tx, d_tx)`` of the published recipes.

  Args:
    recipe: ``"dcgan"`` (Adam 2e-4, β1 = 0.5), ``"wgan"`` (RMSProp 5e-5, critic
      weights clipped to ±0.01), ``"wgan_gp"`` (Adam 1e-4, β = (0, 0.9)) or
      ``"sngan"`` (Adam 2e-4, β = (0, 0.9)). WGAN, WGAN-GP and SN-GAN pair
      theirs with 5 critic steps per generator step.

  References:
    Radford et al., 2015. https://arxiv.org/abs/1511.06434
    Arjovsky et al., 2017. https://arxiv.org/abs/1701.07875
    Gulrajani et al., 2017. https://arxiv.org/abs/1704.00028
    Miyato et al., 2018. https://arxiv.org/abs/1802.05957
  """
  if recipe == "dcgan":
    tx = optax.adam(2e-4, b1=0.5)
    return tx, tx
  if recipe == "wgan":
    return optax.rmsprop(5e-5), optax.chain(optax.rmsprop(5e-5), clip_weights(0.01))
  if recipe in ("wgan_gp", "sngan"):
    tx = optax.adam(1e-4 if recipe == "wgan_gp" else 2e-4, b1=0.0, b2=0.9)
    return tx, tx
  raise ValueError(
      f"`recipe` must be 'dcgan', 'wgan', 'wgan_gp' or 'sngan'; got {recipe!r}.")


def _real_samples(batch):
  real = batch["image"] if isinstance(batch, dict) else batch
  _checks.floating_batch(real, name="batch")
  return real


def make_gan_step(g_apply: ApplyFn, d_apply: ApplyFn,
                  g_tx: optax.GradientTransformation,
                  d_tx: optax.GradientTransformation, *,
                  loss: gan_losses.GanLoss | str, latent_dim: int,
                  n_critic: int = 1, gp_weight: float = 0.0,
                  r1_weight: float = 0.0, instance_noise: float = 0.0,
                  instance_noise_steps: int = 1, ema_decay: float = 0.999):
  """Builds ``step(state, batch, key) -> (state, metrics)`` for a GAN.

  One step makes ``n_critic`` discriminator updates (a ``lax.scan``), each on
  its own slice of real samples and fresh latents, then one generator update.
  The discriminator sees generated samples with ``stop_gradient``; during the
  generator update it runs in train mode (batch statistics, one power
  iteration) but its state is not updated.

  Args:
    g_apply: generator ``apply_fn(params, model_state, z, *, train, key)``
      (see :func:`advjax.train.linen_apply`).
    d_apply: discriminator ``apply_fn``, returning ``[B]`` logits/critic values.
    g_tx: the generator's optimizer.
    d_tx: the discriminator's optimizer (chain :func:`clip_weights` for WGAN).
    loss: a :class:`advjax.losses.GanLoss` or a name for
      :func:`advjax.losses.gan_loss`.
    latent_dim: size of the standard-normal latent ``z``.
    n_critic: discriminator updates per generator update.
    gp_weight: λ of the WGAN-GP gradient penalty (0: off).
    r1_weight: γ of the R1 penalty, applied as ``γ/2 · mean ||∇D(x)||²``.
    instance_noise: initial σ of Gaussian noise added to the discriminator's
      real and fake inputs (0: off), annealed linearly to 0 over
      ``instance_noise_steps`` generator steps.
    instance_noise_steps: length of the annealing.
    ema_decay: decay of the EMA of the generator's parameters.

  Returns:
    A pure step. ``batch`` is real samples ``[n_critic·B, ...]`` (or a dict
    holding them under ``"image"``); row ``b·n_critic + k`` goes to critic
    update ``k``, so a batch sharded on its first axis stays sharded along
    ``B``. Metrics (scalars): ``d_loss`` and ``g_loss`` (means over the
    batch; ``d_loss`` also over critic updates and including penalties),
    ``real_score``/``fake_score`` (mean discriminator outputs in the last
    critic update), ``penalty`` (weighted, 0 when off), ``noise_sigma``.

  References:
    Goodfellow et al., 2014. https://arxiv.org/abs/1406.2661
    Gulrajani et al., 2017 (n_critic, gradient penalty).
    https://arxiv.org/abs/1704.00028
  """
  pair = gan_losses.gan_loss(loss) if isinstance(loss, str) else loss
  if not isinstance(pair, gan_losses.GanLoss):
    raise TypeError(f"`loss` must be a GanLoss or a loss name; got {loss!r}.")
  latent_dim = _checks.count(latent_dim, name="latent_dim", minimum=1)
  n_critic = _checks.count(n_critic, name="n_critic", minimum=1)
  for name, value in (("gp_weight", gp_weight), ("r1_weight", r1_weight),
                      ("instance_noise", instance_noise)):
    _checks.nonnegative(value, name=name)
  _checks.count(instance_noise_steps, name="instance_noise_steps", minimum=1)
  if not 0.0 <= ema_decay < 1.0:
    raise ValueError(f"`ema_decay` must lie in [0, 1); got {ema_decay!r}.")

  def noisy(x, key, sigma):
    if not instance_noise:
      return x
    return gan_losses.add_instance_noise(x, key, sigma)

  def d_update(g: TrainState, sigma, batch_size, d: TrainState, inputs):
    real, key = inputs
    k_z, k_real, k_fake, k_gp = jax.random.split(key, 4)
    z = jax.random.normal(k_z, (batch_size, latent_dim), jnp.float32)
    fake, _ = g_apply(g.params, g.model_state, z, train=True)
    fake = noisy(jax.lax.stop_gradient(fake).astype(real.dtype), k_fake, sigma)
    real = noisy(real, k_real, sigma)

    def loss_fn(params):
      real_out, state = d_apply(params, d.model_state, real, train=True)
      fake_out, state = d_apply(params, state, fake, train=True)
      value = jnp.mean(pair.discriminator(real_out, fake_out))
      critic = lambda x: d_apply(params, state, x, train=False)[0]
      penalty = jnp.zeros((), jnp.float32)
      if gp_weight:
        penalty += gp_weight * jnp.mean(
            gan_losses.gradient_penalty(critic, real, fake, k_gp))
      if r1_weight:
        penalty += 0.5 * r1_weight * jnp.mean(gan_losses.r1_penalty(critic, real))
      return value + penalty, (state, real_out, fake_out, penalty)

    (value, (state, real_out, fake_out, penalty)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(d.params)
    d = d.apply_gradients(grads, d_tx, state)
    return d, {"d_loss": value, "real_score": jnp.mean(real_out),
               "fake_score": jnp.mean(fake_out), "penalty": penalty}

  def step(state: GANState, batch, key):
    real = _real_samples(batch)
    if real.shape[0] % n_critic:
      raise ValueError(f"`batch` must hold n_critic·B = {n_critic}·B samples; "
                       f"got {real.shape[0]}.")
    batch_size = real.shape[0] // n_critic
    # [B·n_critic, ...] -> [n_critic, B, ...]: slices keep the batch sharding.
    real = jnp.moveaxis(real.reshape((batch_size, n_critic) + real.shape[1:]), 1, 0)
    g = state.generator
    sigma = gan_losses.instance_noise_sigma(
        g.step, initial=instance_noise, anneal_steps=instance_noise_steps)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n_critic))
    d, d_metrics = jax.lax.scan(
        lambda d_, xs: d_update(g, sigma, batch_size, d_, xs),
        state.discriminator, (real, keys))
    d_metrics = {"d_loss": jnp.mean(d_metrics["d_loss"]),
                 **{k: v[-1] for k, v in d_metrics.items() if k != "d_loss"}}

    k_z, k_noise = jax.random.split(jax.random.fold_in(key, n_critic))
    z = jax.random.normal(k_z, (batch_size, latent_dim), jnp.float32)

    def g_loss_fn(params):
      fake, g_state = g_apply(params, g.model_state, z, train=True)
      fake = noisy(fake.astype(real.dtype), k_noise, sigma)
      fake_out, _ = d_apply(d.params, d.model_state, fake, train=True)
      return jnp.mean(pair.generator(fake_out)), g_state

    (g_loss, g_state), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(g.params)
    g = g.apply_gradients(grads, g_tx, g_state)
    ema = optax.incremental_update(g.params, state.ema_params, 1.0 - ema_decay)
    metrics = {**d_metrics, "g_loss": g_loss, "noise_sigma": sigma}
    return GANState(generator=g, discriminator=d, ema_params=ema), metrics

  return step


def make_sampler(g_apply: ApplyFn, *, latent_dim: int):
  """``sample(state, key, num, *, ema=True, batch_stats=False) -> [num, ...]``.

  Runs the generator on ``num`` standard-normal latents, with the EMA
  parameters by default. Batch norm uses the running statistics, or with
  ``batch_stats=True`` the statistics of the ``num`` samples themselves
  ("standing statistics": the running averages were tracked for the live
  parameters, not for their EMA).
  """
  latent_dim = _checks.count(latent_dim, name="latent_dim", minimum=1)

  def sample(state: GANState, key, num: int, *, ema: bool = True,
             batch_stats: bool = False):
    z = jax.random.normal(key, (num, latent_dim), jnp.float32)
    params = state.ema_params if ema else state.generator.params
    return g_apply(params, state.generator.model_state, z, train=batch_stats)[0]

  return sample
