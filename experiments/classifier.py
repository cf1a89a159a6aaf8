"""Training a classifier for the experiments: data loading, the model zoo,
and a resumable, sharded training loop shared by every experiment that needs
a trained network to attack."""
from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from advjax import data
from advjax import models
from advjax import train

MODELS = {"madry_cnn": models.MadryCNN, "small_cnn": models.SmallCNN,
          "mlp": models.MLP}


def load_dataset(name: str, *, n_train: int = 0, n_test: int = 0):
  """``(train, test)`` Splits: ``mnist_subset`` (offline) or a TFDS name."""
  if name == "mnist_subset":
    train_split, test_split = data.mnist_subset()
  elif name == "digits":
    train_split, test_split = data.digits()
  else:
    train_split = data.load_tfds(name, split="train")
    test_split = data.load_tfds(name, split="test")

  def head(split, n):
    return split if not n or n >= len(split) else data.Split(
        split.image[:n], split.label[:n])

  return head(train_split, n_train), head(test_split, n_test)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  model: str = "madry_cnn"
  epochs: int = 10
  batch_size: int = 64
  learning_rate: float = 1e-3
  seed: int = 0


def train_classifier(run, cfg: TrainConfig, train_split, *, stage="classifier",
                     mesh=None):
  """Trains ``cfg.model`` on ``train_split`` with checkpoints every epoch.

  Resumes from the latest checkpoint of ``stage`` in the run's workdir.
  Returns ``(apply_fn, state, seconds)``.
  """
  mesh = train.data_mesh() if mesh is None else mesh
  module = MODELS[cfg.model]()
  apply_fn = train.linen_apply(module)
  init_key, key = jax.random.split(jax.random.key(cfg.seed))
  steps_per_epoch = len(train_split) // cfg.batch_size
  tx = optax.adam(optax.cosine_decay_schedule(
      cfg.learning_rate, cfg.epochs * steps_per_epoch))
  variables = module.init(init_key, train_split.image[:1])
  params, model_state = train.split_variables(variables)
  state = train.TrainState.create(params, tx, model_state)
  ckpt = run.checkpointer(stage)
  state, epoch = ckpt.restore(state)
  state = train.replicate(state, mesh)
  step = jax.jit(run.checked_step(train.make_classifier_step(apply_fn, tx)),
                 donate_argnums=0)
  start = time.perf_counter()
  bar = run.progress(total=cfg.epochs, initial=epoch, desc=f"train {stage}")
  for epoch in range(epoch, cfg.epochs):
    epoch_key = jax.random.fold_in(key, epoch)
    for i, batch in enumerate(data.iterate_batches(epoch_key, train_split,
                                                   cfg.batch_size)):
      state, metrics = step(state, train.shard_batch(batch, mesh),
                            jax.random.fold_in(epoch_key, i))
      metrics = run.check_finite(metrics, step=epoch * steps_per_epoch + i)
    ckpt.save(epoch + 1, state)
    bar.update(1)
    bar.set_postfix(loss=f"{float(metrics['loss']):.3f}")
  bar.close()
  ckpt.close()
  return apply_fn, state, time.perf_counter() - start


def batched(fn, arrays, batch_size: int, mesh):
  """Applies ``fn(*batch_arrays)`` over fixed-size, sharded chunks and
  concatenates the results (the last chunk is padded, then trimmed)."""
  n = len(arrays[0])
  outs = []
  for start in range(0, n, batch_size):
    chunk = [a[start:start + batch_size] for a in arrays]
    pad = batch_size - len(chunk[0])
    if pad:
      chunk = [np.concatenate([c, np.repeat(c[-1:], pad, axis=0)]) for c in chunk]
    out = fn(*train.shard_batch(tuple(chunk), mesh))
    outs.append(jax.tree.map(lambda o: np.asarray(o)[: batch_size - pad], out))
  return jax.tree.map(lambda *o: np.concatenate(o), *outs)


def accuracy(logits_fn, images, labels, *, batch_size, mesh) -> float:
  preds = batched(jax.jit(lambda x: jnp.argmax(logits_fn(x), -1)), (images,),
                  batch_size, mesh)
  return float(np.mean(preds == labels))
