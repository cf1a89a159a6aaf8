"""Domain-adversarial training (DANN): a jitted step factory.

Three networks share one :class:`~advjax.train.TrainState`: a feature
extractor ``G_f``, a label head ``G_y`` and a domain head ``G_d``, stored as
``params = {"features": ..., "label_head": ..., "domain_head": ...}`` (and
``model_state`` keyed the same way). One step takes a labelled source batch
and an unlabelled target batch and moves towards the saddle point of

    E(θ_f, θ_y, θ_d) = L_y(θ_f, θ_y) − λ L_d(θ_f, θ_d),

``(θ_f, θ_y)`` descending on ``E`` and ``θ_d`` descending on ``L_d`` (i.e.
ascending on ``E``; the positive factor λ only rescales its step). Two
equivalent forms compute the gradients: ``"grl"`` backpropagates
``L_y + L_d`` once through a gradient reversal layer, ``"minmax"`` takes the
two players' gradients separately. With ``lam=0`` the step is source-only
training (the domain head still learns, as a probe, but cannot move the
features).
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from advjax import _checks
from advjax.losses import cross_entropy
from advjax.nn import grad_reverse
from advjax.train.classifier import ApplyFn
from advjax.train.classifier import linen_apply
from advjax.train.state import TrainState
from advjax.train.state import split_variables

PARTS = ("features", "label_head", "domain_head")
FORMS = ("grl", "minmax")


class DannNetworks(NamedTuple):
  """The three ``ApplyFn``\\ s (see :func:`advjax.train.linen_apply`)."""
  features: ApplyFn
  label_head: ApplyFn
  domain_head: ApplyFn


def linen_dann(features, label_head, domain_head) -> DannNetworks:
  """Adapts three Linen modules (each taking ``train=``) to DANN networks."""
  return DannNetworks(linen_apply(features), linen_apply(label_head),
                      linen_apply(domain_head))


def init_dann(features, label_head, domain_head, key: jax.Array,
              x: jax.Array) -> tuple[dict, dict]:
  """Initializes three Linen modules on an example batch ``x``.

  Compiled once per (modules, shapes): the modules are static arguments.

  Returns:
    ``(params, model_state)``, each a dict keyed by ``"features"``,
    ``"label_head"``, ``"domain_head"``; ready for ``TrainState.create``.
  """
  return _init_dann(features, label_head, domain_head, key, x)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _init_dann(features, label_head, domain_head, key, x):
  k_f, k_y, k_d = jax.random.split(key, 3)
  variables_f = features.init(k_f, x, train=False)
  h = features.apply(variables_f, x, train=False)
  variables = {"features": variables_f,
               "label_head": label_head.init(k_y, h, train=False),
               "domain_head": domain_head.init(k_d, h, train=False)}
  split = {part: split_variables(v) for part, v in variables.items()}
  return ({part: s[0] for part, s in split.items()},
          {part: s[1] for part, s in split.items()})


def _check_batch(batch):
  if not isinstance(batch, dict) or "source" not in batch or "target" not in batch:
    raise ValueError("`batch` must be {'source': {'image', 'label'}, "
                     "'target': {'image', ...}}.")
  source, target = batch["source"]["image"], batch["target"]["image"]
  _checks.floating_batch(source, name="batch['source']['image']")
  _checks.floating_batch(target, name="batch['target']['image']")
  if source.shape[1:] != target.shape[1:] or source.dtype != target.dtype:
    raise ValueError(
        "source and target images must share per-example shape and dtype; got "
        f"{source.shape}/{source.dtype} and {target.shape}/{target.dtype}.")


def _domain_logits(logits):
  if logits.ndim == 2 and logits.shape[-1] == 1:
    logits = logits[:, 0]
  if logits.ndim != 1:
    raise ValueError("the domain head must output one logit per example "
                     f"([B] or [B, 1]); got shape {logits.shape}.")
  return logits.astype(jnp.promote_types(logits.dtype, jnp.float32))


def _make_losses(networks: DannNetworks):
  """``losses(params, model_state, batch, key, lam) -> (L_y, L_d, aux)``.

  ``lam`` is applied by a gradient reversal layer between ``G_f`` and ``G_d``;
  ``None`` leaves it out.
  """

  def losses(params, model_state, batch, key, lam):
    source, target = batch["source"], batch["target"]
    n_source = source["image"].shape[0]
    x = jnp.concatenate([source["image"], target["image"]])
    keys = dict(zip(PARTS, jax.random.split(key, 3)))
    new_state = {}

    def run(part, p_params, inputs):
      out, new_state[part] = getattr(networks, part)(
          p_params, model_state[part], inputs, train=True, key=keys[part])
      return out

    h = run("features", params["features"], x)
    logits = run("label_head", params["label_head"], h[:n_source])
    h_domain = h if lam is None else grad_reverse(h, lam)
    domain_logits = _domain_logits(
        run("domain_head", params["domain_head"], h_domain))
    domain = jnp.concatenate([jnp.zeros(n_source, jnp.float32),
                              jnp.ones(x.shape[0] - n_source, jnp.float32)])
    label_loss = jnp.mean(cross_entropy(logits, source["label"]))
    domain_loss = jnp.mean(
        optax.sigmoid_binary_cross_entropy(domain_logits, domain))
    aux = {
        "model_state": new_state,
        "metrics": {
            "label_loss": label_loss,
            "domain_loss": domain_loss,
            "source_accuracy": jnp.mean(
                (jnp.argmax(logits, -1) == source["label"]).astype(jnp.float32)),
            "domain_accuracy": jnp.mean(
                ((domain_logits > 0) == (domain > 0.5)).astype(jnp.float32)),
        },
    }
    return label_loss, domain_loss, aux

  return losses


def make_dann_grads(networks: DannNetworks, *, form: str = "grl"):
  """Builds ``grads(params, model_state, batch, lam, key) -> (grads, aux)``.

  Args:
    networks: the three apply functions.
    form: ``"grl"`` (one backward pass of ``L_y + L_d`` through
      :func:`advjax.nn.grad_reverse`) or ``"minmax"`` (the gradient of
      ``E = L_y − λ L_d`` for ``(θ_f, θ_y)`` and of ``L_d`` for ``θ_d``, taken
      separately). Both give the same gradients.

  Returns:
    A pure function; ``aux`` holds ``"metrics"`` (``label_loss``,
    ``domain_loss``, ``source_accuracy``, ``domain_accuracy``) and the new
    ``"model_state"``.
  """
  if form not in FORMS:
    raise ValueError(f"`form` must be one of {FORMS}; got {form!r}.")
  losses = _make_losses(networks)

  def grl_grads(params, model_state, batch, lam, key):
    def total(params):
      label_loss, domain_loss, aux = losses(params, model_state, batch, key, lam)
      return label_loss + domain_loss, aux
    return jax.grad(total, has_aux=True)(params)

  def minmax_grads(params, model_state, batch, lam, key):
    def saddle_objective(params):  # E, minimized by (θ_f, θ_y)
      label_loss, domain_loss, aux = losses(params, model_state, batch, key, None)
      return label_loss - lam * domain_loss, aux

    def domain_objective(domain_params):  # L_d, minimized by θ_d
      return losses({**params, "domain_head": domain_params}, model_state,
                    batch, key, None)[1]

    grads, aux = jax.grad(saddle_objective, has_aux=True)(params)
    grads = {**grads, "domain_head": jax.grad(domain_objective)(
        params["domain_head"])}
    return grads, aux

  grads_fn = grl_grads if form == "grl" else minmax_grads

  def grads(params, model_state, batch, lam, key):
    _check_batch(batch)
    return grads_fn(params, model_state, batch, lam, key)

  return grads


def make_dann_step(networks: DannNetworks, tx: optax.GradientTransformation, *,
                   lam: float | Callable = 1.0, form: str = "grl"):
  """Builds ``step(state, batch, key) -> (state, metrics)`` for DANN.

  Args:
    networks: the three apply functions (e.g. from :func:`linen_dann`).
    tx: the optax optimizer for all three parameter sets (e.g. SGD with
      momentum and :func:`advjax.train.dann_learning_rate_schedule`).
    lam: the adaptation weight λ: a number, or an optax-style schedule of the
      step (e.g. :func:`advjax.train.dann_lambda_schedule`), evaluated on
      ``state.step`` inside ``jit``. ``0`` trains source-only.
    form: ``"grl"`` or ``"minmax"``, see :func:`make_dann_grads`.

  Returns:
    A pure, jittable step. ``batch`` is ``{"source": {"image": [B_s, ...],
    "label": [B_s]}, "target": {"image": [B_t, ...]}}`` (other keys ignored).
    Metrics: ``label_loss``, ``domain_loss``, ``source_accuracy``,
    ``domain_accuracy`` (batch means) and ``lambda``.

  References:
    Ganin & Lempitsky, 2015. https://arxiv.org/abs/1409.7495
    Ganin et al., 2016. https://arxiv.org/abs/1505.07818
  """
  if not callable(lam):
    _checks.nonnegative(lam, name="lam")
  grads_fn = make_dann_grads(networks, form=form)

  def step(state: TrainState, batch, key):
    lam_value = jnp.asarray(lam(state.step) if callable(lam) else lam,
                            jnp.float32)
    grads, aux = grads_fn(state.params, state.model_state, batch, lam_value, key)
    state = state.apply_gradients(grads, tx, aux["model_state"])
    return state, {**aux["metrics"], "lambda": lam_value}

  return step


def make_dann_predict(networks: DannNetworks):
  """``predict(state, x) -> (class_logits, features)`` in inference mode."""

  def predict(state: TrainState, x):
    h = networks.features(state.params["features"],
                          state.model_state["features"], x, train=False)[0]
    logits = networks.label_head(state.params["label_head"],
                                 state.model_state["label_head"], h,
                                 train=False)[0]
    return logits, h

  return predict
