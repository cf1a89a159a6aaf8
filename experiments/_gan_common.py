"""Helpers shared by the GAN experiments: recipes, compiled chunks of steps,
and checkpointed training."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from advjax import attacks
from advjax import models
from advjax import train
from advjax.train import gan as gan_train
from experiments import common


def run_on_mesh(name: str, presets, argv, body, *, recipes=None):
  """Sets up the run, checks ``config.losses`` against ``recipes``, and calls
  ``body(run, mesh)`` under ``jax.set_mesh`` (in-jit batches are split over
  the mesh's ``data`` axis)."""
  run, _ = common.setup(name, presets, argv)
  if recipes is not None:
    unknown = set(run.config.losses) - set(recipes)
    if unknown:
      raise ValueError(f"unknown losses {sorted(unknown)}; choose from {sorted(recipes)}")
  mesh = train.data_mesh()
  with jax.set_mesh(mesh):
    return body(run, mesh)


class Recipe(NamedTuple):
  """How one GAN configuration trains.

  Attributes:
    loss: a name for :func:`advjax.losses.gan_loss`.
    spectral_norm: spectrally normalize the discriminator.
    optimizer: a recipe of :func:`advjax.train.gan_optimizers`, or ``"adam"``
      for the experiment's own Adam settings.
    n_critic: discriminator updates per generator update.
    gp_weight: λ of the WGAN-GP gradient penalty.
    r1_weight: γ of the R1 penalty.
  """
  loss: str
  spectral_norm: bool = False
  optimizer: str = "dcgan"
  n_critic: int = 1
  gp_weight: float = 0.0
  r1_weight: float = 0.0


def build_gan(recipe: Recipe, gen, disc, g_tx, d_tx, *, latent_dim: int,
              ema_decay: float):
  """``(step, sample, init)`` for Linen ``gen``/``disc`` trained by ``recipe``.

  ``init(key, sample_shape)`` (jitted) returns a fresh :class:`GANState`.
  """
  g_apply, d_apply = train.linen_apply(gen), train.linen_apply(disc)
  step = gan_train.make_gan_step(
      g_apply, d_apply, g_tx, d_tx, loss=recipe.loss, latent_dim=latent_dim,
      n_critic=recipe.n_critic, gp_weight=recipe.gp_weight,
      r1_weight=recipe.r1_weight, ema_decay=ema_decay)
  sample = gan_train.make_sampler(g_apply, latent_dim=latent_dim)

  def init(key, sample_shape):
    k_g, k_d = jax.random.split(key)
    return gan_train.GANState.create(
        gen.init(k_g, jnp.zeros((2, latent_dim))),
        disc.init(k_d, jnp.zeros((2,) + tuple(sample_shape))), g_tx, d_tx)

  return step, sample, jax.jit(init, static_argnums=1)


def init_train_state(module, tx, seed: int, input_shape):
  """A :class:`TrainState` for a Linen ``module``, built in one compiled call."""

  @jax.jit
  def init():
    params, model_state = train.split_variables(
        module.init(jax.random.key(seed), jnp.zeros(input_shape)))
    return train.TrainState.create(params, tx, model_state)

  return init()


def scan_chunk(step, draw_batch: Callable[..., Any], *, chunk_steps: int,
               batch_size: int, nan_check: bool = False):
  """``chunk(state, first_step, key, *data) -> (state, metrics)``.

  Runs ``chunk_steps`` calls of ``step(state, batch, key) -> (state,
  metrics)`` in one ``lax.scan``; call ``t`` draws ``batch =
  draw_batch(key_t, batch_size, *data)`` (a pytree of arrays) and splits it
  over the mesh's ``data`` axis (run the chunk under ``jax.set_mesh``). Keys
  derive from ``key`` and the global step, so a resumed run continues the same
  stream. ``nan_check`` adds per-step finiteness flags to the metrics
  (:func:`advjax.train.with_finite_check`), which :func:`train_in_chunks`
  checks after every chunk.
  """
  if nan_check:
    step = train.with_finite_check(step)

  def chunk(state, start, key, *data):
    def one(state, t):
      k_data, k_step = jax.random.split(jax.random.fold_in(key, t))
      batch = jax.tree.map(
          lambda x: jax.lax.with_sharding_constraint(x, P("data")),
          draw_batch(k_data, batch_size, *data))
      return step(state, batch, k_step)

    return jax.lax.scan(one, state, start + jnp.arange(chunk_steps))

  return chunk


def train_in_chunks(run: common.Run, stage: str, state: Any,
                    chunk_fn: Callable[[Any, jax.Array], tuple[Any, Any]], *,
                    total_steps: int, chunk_steps: int):
  """Runs ``chunk_fn(state, first_step) -> (state, metrics)`` to ``total_steps``.

  ``chunk_fn`` advances ``chunk_steps`` steps (typically a jitted
  ``lax.scan``). The state is checkpointed after every chunk, so an
  interrupted run resumes from the last completed chunk.

  Returns:
    ``(state, metrics of the last chunk run, or None when fully restored)``.
  """
  if total_steps % chunk_steps:
    raise ValueError(f"total_steps={total_steps} must be a multiple of "
                     f"chunk_steps={chunk_steps}.")
  ckpt = run.checkpointer(stage)
  # Checkpoint host copies: orbax would otherwise compile a slicing program
  # per array shape to pick one replica of each replicated array.
  restored, done = ckpt.restore(jax.device_get(state))
  state = jax.tree.map(lambda t, r: jax.device_put(r, t.sharding), state, restored)
  metrics = None
  with run.progress(total=total_steps, desc=stage, initial=done) as bar:
    while done < total_steps:
      state, metrics = chunk_fn(state, jnp.asarray(done, jnp.int32))
      metrics = run.check_finite(metrics, step=done)
      done += chunk_steps
      ckpt.save(done, jax.device_get(state))
      bar.update(chunk_steps)
      bar.set_postfix({k: f"{float(np.mean(v)):.3f}" for k, v in
                       (metrics or {}).items()})
  ckpt.close()
  return state, metrics


def draw_labelled(key, batch_size: int, images, labels):
  """A batch ``{"image", "label"}`` drawn with replacement (for :func:`scan_chunk`)."""
  idx = jax.random.randint(key, (batch_size,), 0, images.shape[0])
  return {"image": images[idx], "label": labels[idx]}


# The judge's training augmentation (``augment=True``): per digit a rotation
# within ±10°, a shift within ±2 px and a scale in 0.9–1.1.
JUDGE_AUGMENTATION = attacks.transforms.random_affine(max_degrees=10.0, max_shift=2.0)


def train_judge_classifier(run: common.Run, images, labels, *, seed: int,
                           steps: int, chunk_steps: int, batch_size: int, mesh,
                           learning_rate: float = 3e-3, augment: bool = False):
  """Trains the ``SmallCNN`` that judges generated images (FID features, class
  coverage, accuracy of outputs), resumably, as stage ``classifier``.

  Adam with a 10% linear warm-up to ``learning_rate`` and cosine decay;
  ``augment`` passes each training batch through :data:`JUDGE_AUGMENTATION`.

  Returns ``(module, params)``.
  """
  module = models.SmallCNN()
  tx = optax.adam(optax.warmup_cosine_decay_schedule(
      0.0, learning_rate, max(steps // 10, 1), steps))
  state = train.replicate(
      init_train_state(module, tx, seed, (1,) + tuple(images.shape[1:])), mesh)
  chunk_steps = min(chunk_steps, steps)

  def draw(key, size, images, labels):
    k_draw, k_augment = jax.random.split(key)
    batch = draw_labelled(k_draw, size, images, labels)
    if augment:
      batch["image"] = JUDGE_AUGMENTATION(k_augment, batch["image"])
    return batch

  chunk = jax.jit(scan_chunk(
      train.make_classifier_step(train.linen_apply(module), tx), draw,
      chunk_steps=chunk_steps, batch_size=batch_size, nan_check=run.nan_check))
  images, labels = jnp.asarray(images), jnp.asarray(labels)
  key = jax.random.key(seed + 1)
  state, _ = train_in_chunks(
      run, "classifier", state, lambda s, t: chunk(s, t, key, images, labels),
      total_steps=steps, chunk_steps=chunk_steps)
  return module, state.params
