"""pix2pix: a conditional GAN with an L1 term, as one jitted step.

The discriminator is a learned loss for image-to-image translation: it sees
``concat(input, image)`` and tells real pairs from generated ones patch by
patch, so the generator is pushed towards outputs that are *locally*
indistinguishable from real ones (sharp), while the L1 term keeps them close
to the target at low frequencies.

State is :class:`advjax.train.GANState` (both players and an EMA of the
generator's parameters). The step contains no collectives: shard the batch
over a ``data`` mesh and ``jit`` partitions it.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from advjax import _checks
from advjax.losses import gan as gan_losses
from advjax.train.classifier import ApplyFn
from advjax.train.gan import GANState
from advjax.train.state import TrainState


def _flat_logits(out):
  """``[B, H', W']`` patch logits (or ``[B]``) → ``[B·H'·W']`` per-patch scores,
  the batch axis first (a batch-sharded array stays sharded)."""
  return out.reshape(-1)


def make_pix2pix_step(g_apply: ApplyFn, d_apply: ApplyFn,
                      g_tx: optax.GradientTransformation,
                      d_tx: optax.GradientTransformation, *,
                      loss: gan_losses.GanLoss | str = "non_saturating",
                      l1_weight: float = 100.0, gan_weight: float = 1.0,
                      d_loss_scale: float = 0.5, ema_decay: float = 0.999):
  """Builds ``step(state, batch, key) -> (state, metrics)`` for pix2pix.

  One step updates the discriminator once on real pairs ``(x, y)`` and
  generated pairs ``(x, stop_gradient(G(x)))``, with its loss multiplied by
  ``d_loss_scale`` (½ in the paper: D learns slower than G), then the
  generator once on::

      gan_weight · mean_patches loss.generator(D(x, G(x))) + l1_weight · mean |y − G(x)|

  The patch logits of a PatchGAN are flattened into the batch axis, so any
  :class:`advjax.losses.GanLoss` applies per patch. ``gan_weight = 0`` is the
  L1-only baseline (the discriminator is then not trained at all);
  ``l1_weight = 0`` a plain conditional GAN.

  Args:
    g_apply: generator ``apply_fn(params, model_state, x, *, train, key)`` (see
      :func:`advjax.train.linen_apply`); ``key`` drives dropout, if any.
    d_apply: discriminator ``apply_fn`` on ``concat([x, image], -1)``,
      returning ``[B]`` or ``[B, H', W']`` logits.
    g_tx: the generator's optimizer (paper: Adam 2e-4, β1 = 0.5).
    d_tx: the discriminator's optimizer (same).
    loss: a :class:`advjax.losses.GanLoss` or a name for
      :func:`advjax.losses.gan_loss` (paper: ``"non_saturating"``).
    l1_weight: λ of the L1 term (paper: 100).
    gan_weight: weight of the adversarial term of the generator.
    d_loss_scale: factor on the discriminator's loss.
    ema_decay: decay of the EMA of the generator's parameters.

  Returns:
    A pure step; ``batch`` is ``{"input": [B, H, W, Cx], "target": [B, H, W,
    Cy]}`` floats (the generator's output range, e.g. [-1, 1]). Metrics
    (batch means): ``d_loss`` (scaled), ``g_loss`` (total), ``g_gan``,
    ``l1``, ``real_score``/``fake_score`` (mean patch logits).

  References:
    Isola et al., 2017, equations (1)-(4) and section 3.3.
    https://arxiv.org/abs/1611.07004
  """
  pair = gan_losses.gan_loss(loss) if isinstance(loss, str) else loss
  if not isinstance(pair, gan_losses.GanLoss):
    raise TypeError(f"`loss` must be a GanLoss or a loss name; got {loss!r}.")
  for name, value in (("l1_weight", l1_weight), ("gan_weight", gan_weight),
                      ("d_loss_scale", d_loss_scale)):
    _checks.nonnegative(value, name=name)
  if not l1_weight and not gan_weight:
    raise ValueError("`l1_weight` and `gan_weight` cannot both be 0.")
  if not 0.0 <= ema_decay < 1.0:
    raise ValueError(f"`ema_decay` must lie in [0, 1); got {ema_decay!r}.")
  adversarial = bool(gan_weight)

  def d_update(d: TrainState, x, y, fake):
    real_pair = jnp.concatenate([x, y], axis=-1)
    fake_pair = jnp.concatenate([x, fake], axis=-1)

    def loss_fn(params):
      real_out, state = d_apply(params, d.model_state, real_pair, train=True)
      fake_out, state = d_apply(params, state, fake_pair, train=True)
      value = d_loss_scale * jnp.mean(
          pair.discriminator(_flat_logits(real_out), _flat_logits(fake_out)))
      return value, (state, real_out, fake_out)

    (value, (state, real_out, fake_out)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(d.params)
    return d.apply_gradients(grads, d_tx, state), {
        "d_loss": value, "real_score": jnp.mean(real_out),
        "fake_score": jnp.mean(fake_out)}

  def step(state: GANState, batch, key):
    if not isinstance(batch, dict) or not {"input", "target"} <= set(batch):
      raise ValueError("`batch` must be a dict with 'input' and 'target' images.")
    x, y = batch["input"], batch["target"]
    _checks.floating_batch(x, name="batch['input']", min_ndim=2)
    _checks.floating_batch(y, name="batch['target']", min_ndim=2)
    if x.shape[:-1] != y.shape[:-1]:
      raise ValueError("`batch['input']` and `batch['target']` must agree on all "
                       f"but the channel axis; got {x.shape} and {y.shape}.")
    g, d = state.generator, state.discriminator
    k_g = jax.random.fold_in(key, 0)
    metrics = {}
    if adversarial:
      fake, _ = g_apply(g.params, g.model_state, x, train=True, key=k_g)
      d, metrics = d_update(d, x, y, jax.lax.stop_gradient(fake).astype(y.dtype))

    def g_loss_fn(params):
      fake, g_state = g_apply(params, g.model_state, x, train=True, key=k_g)
      fake = fake.astype(y.dtype)
      l1 = jnp.mean(jnp.abs(fake - y).astype(jnp.float32))
      total = l1_weight * l1
      g_gan = jnp.zeros((), jnp.float32)
      if adversarial:
        fake_out, _ = d_apply(d.params, d.model_state,
                              jnp.concatenate([x, fake], axis=-1), train=True)
        g_gan = jnp.mean(pair.generator(_flat_logits(fake_out)))
        total = total + gan_weight * g_gan
      return total, (g_state, l1, g_gan)

    (g_loss, (g_state, l1, g_gan)), grads = jax.value_and_grad(
        g_loss_fn, has_aux=True)(g.params)
    g = g.apply_gradients(grads, g_tx, g_state)
    ema = optax.incremental_update(g.params, state.ema_params, 1.0 - ema_decay)
    zero = jnp.zeros((), jnp.float32)
    metrics = {"d_loss": zero, "real_score": zero, "fake_score": zero, **metrics,
               "g_loss": g_loss, "g_gan": g_gan, "l1": l1}
    return GANState(generator=g, discriminator=d, ema_params=ema), metrics

  return step
