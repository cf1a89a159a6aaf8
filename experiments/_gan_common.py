"""Helpers shared by the GAN experiments: chunked, checkpointed training."""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from experiments import common


def train_in_chunks(run: common.Run, stage: str, state: Any,
                    chunk_fn: Callable[[Any, jax.Array], tuple[Any, Any]], *,
                    total_steps: int, chunk_steps: int,
                    on_chunk: Callable[[Any, int, Any], None] | None = None):
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
  state, done = ckpt.restore(state)
  metrics = None
  with run.progress(total=total_steps, desc=stage, initial=done) as bar:
    while done < total_steps:
      state, metrics = chunk_fn(state, jnp.asarray(done, jnp.int32))
      done += chunk_steps
      if on_chunk is not None:
        on_chunk(state, done, metrics)
      ckpt.save(done, state)
      bar.update(chunk_steps)
      bar.set_postfix({k: f"{float(np.mean(v)):.3f}" for k, v in
                       (metrics or {}).items()})
  ckpt.close()
  return state, metrics
