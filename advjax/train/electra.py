"""ELECTRA pretraining (replaced-token detection) and the masked-LM baseline.

ELECTRA is *not* a GAN. A small generator is trained by maximum likelihood
as a masked language model; its samples, drawn with Gumbel-max under
``stop_gradient``, replace the masked tokens; the discriminator learns, at
*every* position, whether the token is the original (label 0, also where the
generator happened to sample the original) or a replacement (label 1). No
gradient flows through the sampling, so the discriminator's loss never
reaches the generator's own parameters (only the shared embeddings receive
both losses). Loss: ``MLM + λ·RTD`` with λ = 50.

Models are used through functions (see :func:`linen_electra`,
:func:`linen_mlm`): ``fn(params, tokens, mask, *, train, key) -> logits``.
The steps contain no collectives: shard the batch over a ``data`` mesh.

References:
  Clark et al., 2020. https://arxiv.org/abs/2003.10555
  Devlin et al., 2019 (BERT). https://arxiv.org/abs/1810.04805
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import optax

from advjax import _checks
from advjax.losses import cross_entropy
from advjax.train.state import TrainState

TokenFn = Callable[..., jax.Array]


class ElectraModel(NamedTuple):
  """``generator_fn -> [B, T, V]`` vocabulary logits and
  ``discriminator_fn -> [B, T]`` replaced-token logits, both
  ``fn(params, tokens, mask, *, train, key)``."""
  generator_fn: TokenFn
  discriminator_fn: TokenFn


def _linen_method(module, method):
  def fn(params, tokens, mask, *, train: bool, key=None):
    rngs = {"dropout": key} if (train and key is not None) else {}
    return module.apply({"params": params}, tokens, mask, train=train, rngs=rngs,
                        method=method)
  return fn


def linen_electra(module) -> ElectraModel:
  """Adapts :class:`advjax.models.Electra` (``train=True`` runs dropout keyed
  by ``key``)."""
  return ElectraModel(_linen_method(module, "generator_logits"),
                      _linen_method(module, "discriminator_logits"))


def linen_mlm(module) -> TokenFn:
  """Adapts :class:`advjax.models.MaskedLM` to ``fn(params, tokens, mask, *,
  train, key) -> [B, T, V]``."""
  return _linen_method(module, "__call__")


def mask_tokens(tokens: jax.Array, key: jax.Array, *, mask_id: int,
                special_ids: Sequence[int], mask_prob: float = 0.15):
  """Chooses positions to mask and replaces them by ``mask_id``.

  Each position whose token is not in ``special_ids`` (list padding and
  e.g. a [CLS] token there) is masked independently with probability
  ``mask_prob``: 15% of the maskable tokens on average, never a special one.

  Args:
    tokens: ``[B, T]`` integer ids.
    key: PRNG key.
    mask_id: the id of the [MASK] token.
    special_ids: ids that are never masked (padding included).
    mask_prob: the masking rate, in (0, 1).

  Returns:
    ``(masked_tokens, is_masked)``: ``[B, T]`` ids with ``mask_id`` at the
    masked positions, and the ``[B, T]`` bool mask of those positions.
  """
  _checks_tokens(tokens)
  if not 0.0 < mask_prob < 1.0:
    raise ValueError(f"`mask_prob` must lie in (0, 1); got {mask_prob!r}.")
  maskable = ~jnp.isin(tokens, jnp.asarray(tuple(special_ids), tokens.dtype))
  is_masked = maskable & (jax.random.uniform(key, tokens.shape) < mask_prob)
  return jnp.where(is_masked, jnp.asarray(mask_id, tokens.dtype), tokens), is_masked


def gumbel_max_sample(logits: jax.Array, key: jax.Array) -> jax.Array:
  """``argmax(logits + Gumbel noise)`` in float32 under ``stop_gradient``: an
  exact sample of ``softmax(logits)`` over the last axis, int32, with no
  gradient path back to ``logits``."""
  logits = jax.lax.stop_gradient(logits).astype(jnp.float32)
  gumbel = jax.random.gumbel(key, logits.shape, jnp.float32)
  return jnp.argmax(logits + gumbel, axis=-1).astype(jnp.int32)


def _checks_tokens(tokens):
  if not hasattr(tokens, "dtype") or not jnp.issubdtype(tokens.dtype, jnp.integer):
    raise TypeError(f"`tokens` must be an integer array of ids; got "
                    f"{getattr(tokens, 'dtype', type(tokens).__name__)}.")
  if tokens.ndim != 2:
    raise ValueError(f"`tokens` must have shape [B, T]; got {tokens.shape}.")


def _masked_mean(values, weights):
  weights = weights.astype(jnp.float32)
  return jnp.sum(values.astype(jnp.float32) * weights) / jnp.maximum(
      jnp.sum(weights), 1.0)


def _mlm_terms(logits, tokens, is_masked):
  """Mean cross-entropy and accuracy over the masked positions."""
  ce = cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1))
  flat_mask = is_masked.reshape(-1)
  hit = jnp.argmax(logits, -1).reshape(-1) == tokens.reshape(-1)
  return _masked_mean(ce, flat_mask), _masked_mean(hit, flat_mask)


def electra_loss(model: ElectraModel, params, tokens: jax.Array, key: jax.Array, *,
                 pad_id: int, mask_id: int, special_ids: Sequence[int],
                 mask_prob: float = 0.15, rtd_weight: float = 50.0,
                 train: bool = True):
  """``MLM + rtd_weight · RTD`` on one batch, and its parts.

  1. Mask ``mask_prob`` of the non-special tokens (:func:`mask_tokens`).
  2. Generator: MLM cross-entropy at the masked positions.
  3. Replace each masked token by a sample of the generator
     (:func:`gumbel_max_sample`, no gradient); ``replaced = sample != original``.
  4. Discriminator on the corrupted sequence: sigmoid cross-entropy of
     ``replaced`` at every non-padding position.

  Args:
    model: the two functions (see :func:`linen_electra`).
    params: the parameters of both (shared embeddings included).
    tokens: ``[B, T]`` original ids (padding ``pad_id``).
    key: PRNG key (masking, sampling, dropout).
    pad_id: the padding id (attention mask ``tokens != pad_id``).
    mask_id: the [MASK] id.
    special_ids: ids never masked; ``pad_id`` is always included.
    mask_prob: the masking rate (paper: 0.15).
    rtd_weight: λ of the RTD loss (paper: 50).
    train: dropout on.

  Returns:
    ``(loss, aux)``: the scalar loss and a dict with scalars ``mlm_loss``,
    ``rtd_loss``, ``mlm_accuracy``, ``rtd_accuracy``, ``masked_fraction``
    (of the maskable tokens), ``replaced_fraction`` (of the masked ones), and
    ``[B, T]`` arrays ``is_masked``, ``replaced`` (the RTD labels),
    ``corrupted`` (the discriminator's input) and ``rtd_logits``.

  References:
    Clark et al., 2020, equations (1)-(2). https://arxiv.org/abs/2003.10555
  """
  _checks_tokens(tokens)
  _checks.nonnegative(rtd_weight, name="rtd_weight")
  specials = tuple(sorted({int(pad_id), *map(int, special_ids)}))
  k_mask, k_sample, k_gen, k_disc = jax.random.split(key, 4)
  attention = tokens != pad_id
  masked, is_masked = mask_tokens(tokens, k_mask, mask_id=mask_id,
                                  special_ids=specials, mask_prob=mask_prob)
  gen_logits = model.generator_fn(params, masked, attention, train=train, key=k_gen)
  mlm_loss, mlm_accuracy = _mlm_terms(gen_logits, tokens, is_masked)
  sample = gumbel_max_sample(gen_logits, k_sample).astype(tokens.dtype)
  corrupted = jnp.where(is_masked, sample, tokens)
  replaced = corrupted != tokens  # a sampled original counts as original
  rtd_logits = model.discriminator_fn(params, corrupted, attention, train=train,
                                      key=k_disc).astype(jnp.float32)
  labels = replaced.astype(jnp.float32)
  bce = optax.sigmoid_binary_cross_entropy(rtd_logits, labels)
  rtd_loss = _masked_mean(bce, attention)
  rtd_accuracy = _masked_mean((rtd_logits > 0) == replaced, attention)
  maskable = ~jnp.isin(tokens, jnp.asarray(specials, tokens.dtype))
  aux = {"mlm_loss": mlm_loss, "rtd_loss": rtd_loss, "mlm_accuracy": mlm_accuracy,
         "rtd_accuracy": rtd_accuracy,
         "masked_fraction": _masked_mean(is_masked, maskable),
         "replaced_fraction": _masked_mean(replaced, is_masked),
         "is_masked": is_masked, "replaced": replaced, "corrupted": corrupted,
         "rtd_logits": rtd_logits}
  return mlm_loss + rtd_weight * rtd_loss, aux


def mlm_loss(mlm_fn: TokenFn, params, tokens: jax.Array, key: jax.Array, *,
             pad_id: int, mask_id: int, special_ids: Sequence[int],
             mask_prob: float = 0.15, train: bool = True):
  """The masked-LM baseline's loss (BERT without next-sentence prediction,
  every chosen position replaced by [MASK], as for ELECTRA's generator).

  Returns:
    ``(loss, aux)`` with scalars ``mlm_loss``, ``mlm_accuracy``,
    ``masked_fraction``.
  """
  _checks_tokens(tokens)
  specials = tuple(sorted({int(pad_id), *map(int, special_ids)}))
  k_mask, k_drop = jax.random.split(key)
  masked, is_masked = mask_tokens(tokens, k_mask, mask_id=mask_id,
                                  special_ids=specials, mask_prob=mask_prob)
  logits = mlm_fn(params, masked, tokens != pad_id, train=train, key=k_drop)
  loss, accuracy = _mlm_terms(logits, tokens, is_masked)
  maskable = ~jnp.isin(tokens, jnp.asarray(specials, tokens.dtype))
  return loss, {"mlm_loss": loss, "mlm_accuracy": accuracy,
                "masked_fraction": _masked_mean(is_masked, maskable)}


_SCALARS_ELECTRA = ("mlm_loss", "rtd_loss", "mlm_accuracy", "rtd_accuracy",
                    "masked_fraction", "replaced_fraction")


def _tokens_of(batch):
  return batch["tokens"] if isinstance(batch, dict) else batch


def make_electra_step(model: ElectraModel, tx: optax.GradientTransformation, *,
                      pad_id: int, mask_id: int, special_ids: Sequence[int] = (),
                      mask_prob: float = 0.15, rtd_weight: float = 50.0):
  """Builds ``step(state, batch, key) -> (state, metrics)`` for ELECTRA.

  One optimizer update of generator and discriminator together on
  :func:`electra_loss` (the paper trains them jointly). ``batch`` is
  ``[B, T]`` token ids or ``{"tokens": [B, T]}``; metrics: ``loss`` and the
  scalars of :func:`electra_loss`.

  References:
    Clark et al., 2020. https://arxiv.org/abs/2003.10555
  """
  _checks.nonnegative(rtd_weight, name="rtd_weight")
  if not 0.0 < mask_prob < 1.0:
    raise ValueError(f"`mask_prob` must lie in (0, 1); got {mask_prob!r}.")
  kwargs = dict(pad_id=pad_id, mask_id=mask_id, special_ids=tuple(special_ids),
                mask_prob=mask_prob, rtd_weight=rtd_weight)

  def step(state: TrainState, batch, key):
    tokens = _tokens_of(batch)
    (loss, aux), grads = jax.value_and_grad(
        lambda p: electra_loss(model, p, tokens, key, **kwargs),
        has_aux=True)(state.params)
    return state.apply_gradients(grads, tx), {
        "loss": loss, **{k: aux[k] for k in _SCALARS_ELECTRA}}

  return step


def make_mlm_step(mlm_fn: TokenFn, tx: optax.GradientTransformation, *,
                  pad_id: int, mask_id: int, special_ids: Sequence[int] = (),
                  mask_prob: float = 0.15):
  """Builds ``step(state, batch, key) -> (state, metrics)`` for the masked-LM
  baseline (:func:`mlm_loss`); metrics ``loss``, ``mlm_accuracy``,
  ``masked_fraction``."""
  if not 0.0 < mask_prob < 1.0:
    raise ValueError(f"`mask_prob` must lie in (0, 1); got {mask_prob!r}.")
  kwargs = dict(pad_id=pad_id, mask_id=mask_id, special_ids=tuple(special_ids),
                mask_prob=mask_prob)

  def step(state: TrainState, batch, key):
    tokens = _tokens_of(batch)
    (loss, aux), grads = jax.value_and_grad(
        lambda p: mlm_loss(mlm_fn, p, tokens, key, **kwargs),
        has_aux=True)(state.params)
    return state.apply_gradients(grads, tx), {
        "loss": loss, "mlm_accuracy": aux["mlm_accuracy"],
        "masked_fraction": aux["masked_fraction"]}

  return step
