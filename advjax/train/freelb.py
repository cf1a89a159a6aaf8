"""FreeLB and PGD-on-embeddings adversarial training for text classifiers.

Text models are used through two functions (see :func:`linen_text_apply`):

* ``embed_fn(params, tokens [B, T]) -> [B, T, D]`` word embeddings;
* ``apply_fn(params, model_state, embeddings, mask, *, train, key) ->
  (logits, model_state)``.

Batches are ``{"tokens": [B, T] int, "label": [B] int}``; the padding mask is
``tokens != pad_id``. The perturbation ``δ`` lives on the word embeddings and
is zero on padding.

References:
  Zhu et al., 2020 (FreeLB). https://arxiv.org/abs/1909.11764
  Madry et al., 2018 (PGD adversarial training). https://arxiv.org/abs/1706.06083
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from advjax import _checks
from advjax.attacks import lp
from advjax.attacks.text import embedding_ascent_step
from advjax.attacks.text import init_embedding_delta
from advjax.losses import cross_entropy
from advjax.train.state import TrainState

EmbedFn = Callable[[object, jax.Array], jax.Array]
TextApplyFn = Callable[..., tuple[jax.Array, dict]]


class TextModel(NamedTuple):
  """The two functions through which text steps and attacks use a model."""
  embed_fn: EmbedFn
  apply_fn: TextApplyFn


def linen_text_apply(module) -> TextModel:
  """Adapts a Linen text model with ``embed(tokens)`` and
  ``__call__(embeddings, mask, *, train)`` (e.g.
  :class:`advjax.models.TransformerClassifier`).

  ``train=True`` runs dropout keyed by ``key`` (and mutable collections of
  ``model_state``, if any); ``train=False`` is inference mode.
  """

  def embed_fn(params, tokens):
    return module.apply({"params": params}, tokens, method="embed")

  def apply_fn(params, model_state, embeddings, mask, *, train: bool, key=None):
    variables = {"params": params, **model_state}
    rngs = {"dropout": key} if (train and key is not None) else {}
    if train and model_state:
      logits, new_state = module.apply(variables, embeddings, mask, train=True,
                                       rngs=rngs, mutable=list(model_state))
      return logits, dict(new_state)
    return module.apply(variables, embeddings, mask, train=train,
                        rngs=rngs), model_state

  return TextModel(embed_fn, apply_fn)


class _Hparams(NamedTuple):
  n_steps: int
  norm: float
  max_norm: object  # float or schedule
  step_size: object
  init_mag: object

  def at(self, count):
    """``(max_norm, step_size, init_mag)`` at update ``count``; constants
    stay Python floats (so ``max_norm = 0`` keeps meaning "no projection")."""
    value = lambda v: v(count) if callable(v) else v  # noqa: E731
    return value(self.max_norm), value(self.step_size), value(self.init_mag)


def _check_hparams(*, max_norm, step_size, n_steps, norm, init_mag) -> _Hparams:
  for name, v in (("max_norm", max_norm), ("step_size", step_size),
                  ("init_mag", init_mag)):
    if v is not None and not callable(v):
      _checks.nonnegative(v, name=name)
  n_steps = _checks.count(n_steps, name="n_steps", minimum=1)
  p = _checks.norm(norm)
  if p == 1:
    raise ValueError(f"`norm` must be 2 or jnp.inf; got {norm!r}.")
  return _Hparams(n_steps, p, max_norm, step_size,
                  max_norm if init_mag is None else init_mag)


def _perturbed_loss(model: TextModel):
  """``(params, δ, model_state, tokens, labels, mask, key) -> (loss, aux)``:
  the batch-mean cross-entropy at ``embed(tokens) + δ`` in train mode."""

  def loss_at(params, delta, model_state, tokens, labels, mask, key):
    embeddings = model.embed_fn(params, tokens)
    logits, model_state = model.apply_fn(
        params, model_state, embeddings + delta.astype(embeddings.dtype), mask,
        train=True, key=key)
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return jnp.mean(cross_entropy(logits, labels)), (model_state, jnp.mean(correct))

  return loss_at


class _Start(NamedTuple):
  tokens: jax.Array
  labels: jax.Array
  mask: jax.Array
  delta0: jax.Array
  dropout_key: jax.Array
  max_norm: object
  step_size: object


def _start(model: TextModel, hp: _Hparams, params, batch, key, count, pad_id):
  """A batch's tokens, labels, mask, ``δ₀``, dropout key and radii at ``count``."""
  max_norm, step_size, init_mag = hp.at(count)
  tokens, labels = batch["tokens"], batch["label"]
  mask = tokens != pad_id
  k_init, k_dropout = jax.random.split(key)
  embed_dim = jax.eval_shape(model.embed_fn, params, tokens).shape[-1]
  delta0 = init_embedding_delta(k_init, mask, embed_dim, radius=init_mag,
                                norm=hp.norm)
  return _Start(tokens, labels, mask, delta0, k_dropout, max_norm, step_size)


def make_freelb_gradients(model: TextModel, *, max_norm, step_size,
                          n_steps: int, norm=2, init_mag=None,
                          clean_pass: bool = False, pad_id: int = 0):
  """FreeLB's accumulated parameter gradients (Zhu et al. 2020, Algorithm 1).

  ``δ₀ ~ U(−init_mag, init_mag)/√N_δ`` on real tokens
  (:func:`advjax.attacks.text.init_embedding_delta`); then for
  ``t = 1..K``, one ``value_and_grad`` of the batch-mean loss at
  ``embed(tokens) + δ_{t−1}`` with respect to both the parameters and ``δ``,
  ``g_t = g_{t−1} + ∇_θ L / K`` and
  ``δ_t = Π_{‖δ‖_F ≤ ε}(δ_{t−1} + α·g_δ/‖g_δ‖_F)`` per example
  (:func:`advjax.attacks.text.embedding_ascent_step`). The K steps run in
  one ``lax.scan`` and share the dropout key, so every step sees the same
  network. The embedding lookup is inside the differentiated function, so
  the embedding table gets its gradient too.

  Args:
    model: the model's :class:`TextModel` functions.
    max_norm: ``ε``, the radius of the per-example ball; 0 means no
      projection (FreeLB's ``adv-max-norm 0``). May be an optax-style
      schedule ``count -> ε`` (e.g. a warm-up from 0); its values are always
      radii.
    step_size: the ascent step ``α`` (a number or a schedule).
    n_steps: ``K`` ascent steps, >= 1.
    norm: ``2`` (Frobenius ball, the paper) or ``jnp.inf`` (max-abs ball,
      start ``U(−init_mag, init_mag)``).
    init_mag: scale of ``δ₀`` (a number or a schedule; default: ``max_norm``).
    pad_id: padding id of ``tokens``.
    clean_pass: also take the gradient of the clean loss; the result is then
      ``(∇_θ L(X) + g_K) / 2``.

  Returns:
    ``grads_fn(params, model_state, batch, key, count=0) -> (grads,
    model_state, metrics)``, ``count`` the update number that schedules
    read; ``key`` is split into the key of ``δ₀`` and the dropout key that
    the K passes share; metrics: ``loss`` and ``accuracy`` averaged over the K perturbed
    passes and ``delta_norm``, the batch mean of ``‖δ_K‖``.

  References:
    Zhu et al., 2020. https://arxiv.org/abs/1909.11764
  """
  hp = _check_hparams(max_norm=max_norm, step_size=step_size, n_steps=n_steps,
                      norm=norm, init_mag=init_mag)
  grad_fn = jax.value_and_grad(_perturbed_loss(model), argnums=(0, 1),
                               has_aux=True)

  def grads_fn(params, model_state, batch, key, count=0):
    s = _start(model, hp, params, batch, key, count, pad_id)
    data = (s.tokens, s.labels, s.mask, s.dropout_key)
    # The per-example δ gradient of a batch mean is scaled by 1/B; normalizing
    # makes that irrelevant, but undo it so the zero-norm clamp acts per example.
    batch_size = s.tokens.shape[0]

    def ascent(carry, _):
      acc, delta, model_state = carry
      (loss, (model_state, acc_t)), (g_params, g_delta) = grad_fn(
          params, delta, model_state, *data)
      acc = jax.tree.map(lambda a, g: a + g / hp.n_steps, acc, g_params)
      delta = embedding_ascent_step(delta, g_delta * batch_size, s.mask,
                                    step_size=s.step_size, max_norm=s.max_norm,
                                    norm=hp.norm)
      return (acc, delta, model_state), (loss, acc_t)

    zeros = jax.tree.map(jnp.zeros_like, params)
    (grads, delta, model_state), (losses, accs) = jax.lax.scan(
        ascent, (zeros, s.delta0, model_state), None, length=hp.n_steps)
    if clean_pass:
      (_, (model_state, _)), (g_clean, _) = grad_fn(
          params, jnp.zeros_like(s.delta0), model_state, *data)
      grads = jax.tree.map(lambda a, c: 0.5 * (a + c), grads, g_clean)
    metrics = {"loss": jnp.mean(losses), "accuracy": jnp.mean(accs),
               "delta_norm": jnp.mean(lp.lp_norm(delta, hp.norm))}
    return grads, model_state, metrics

  return grads_fn


def make_embedding_pgd_gradients(model: TextModel, *, max_norm, step_size,
                                 n_steps: int, norm=2, init_mag=None,
                                 pad_id: int = 0):
  """Parameter gradients of PGD adversarial training on word embeddings.

  The baseline FreeLB is compared with: ``δ₀`` as in FreeLB, ``K`` ascent
  steps on ``δ`` alone (no parameter gradients), then one gradient of the
  batch-mean loss at ``embed(tokens) + δ_K`` with respect to the
  parameters. All ``K + 1`` passes share the dropout key.

  Args:
    model: the model's :class:`TextModel` functions.
    max_norm, step_size, n_steps, norm, init_mag, pad_id: as in
      :func:`make_freelb_gradients`.

  Returns:
    ``grads_fn(params, model_state, batch, key, count=0) -> (grads,
    model_state, metrics)``; metrics: ``loss`` and ``accuracy`` at ``δ_K``,
    ``delta_norm``.

  References:
    Madry et al., 2018. https://arxiv.org/abs/1706.06083
  """
  hp = _check_hparams(max_norm=max_norm, step_size=step_size, n_steps=n_steps,
                      norm=norm, init_mag=init_mag)
  loss_at = _perturbed_loss(model)
  delta_grad = jax.grad(loss_at, argnums=1, has_aux=True)
  param_grad = jax.value_and_grad(loss_at, argnums=0, has_aux=True)

  def grads_fn(params, model_state, batch, key, count=0):
    s = _start(model, hp, params, batch, key, count, pad_id)
    data = (s.tokens, s.labels, s.mask, s.dropout_key)
    batch_size = s.tokens.shape[0]

    def ascent(delta, _):
      g, _ = delta_grad(params, delta, model_state, *data)
      return embedding_ascent_step(delta, g * batch_size, s.mask,
                                   step_size=s.step_size, max_norm=s.max_norm,
                                   norm=hp.norm), None

    delta, _ = jax.lax.scan(ascent, s.delta0, None, length=hp.n_steps)
    delta = jax.lax.stop_gradient(delta)
    (loss, (model_state, accuracy)), grads = param_grad(
        params, delta, model_state, *data)
    metrics = {"loss": loss, "accuracy": accuracy,
               "delta_norm": jnp.mean(lp.lp_norm(delta, hp.norm))}
    return grads, model_state, metrics

  return grads_fn


def _step_from_grads(grads_fn, tx: optax.GradientTransformation):
  def step(state: TrainState, batch, key):
    grads, model_state, metrics = grads_fn(state.params, state.model_state,
                                           batch, key, state.step)
    return state.apply_gradients(grads, tx, model_state), metrics

  return step


def make_freelb_step(model: TextModel, tx: optax.GradientTransformation, **kwargs):
  """``step(state, batch, key) -> (state, metrics)``: one FreeLB update.

  ``θ ← optimizer(θ, g_K)`` with ``g_K`` from :func:`make_freelb_gradients`
  (keyword arguments are passed on; schedules read ``state.step``).
  ``K = 1``, ``max_norm = init_mag = 0`` is plain training.
  """
  return _step_from_grads(make_freelb_gradients(model, **kwargs), tx)


def make_embedding_pgd_step(model: TextModel, tx: optax.GradientTransformation,
                            **kwargs):
  """``step(state, batch, key) -> (state, metrics)``: one PGD-AT update on
  word embeddings (see :func:`make_embedding_pgd_gradients`)."""
  return _step_from_grads(make_embedding_pgd_gradients(model, **kwargs), tx)
