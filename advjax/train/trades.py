"""TRADES: clean cross-entropy plus β times the KL between the clean and the
adversarial predictions (Zhang et al. 2019)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from advjax import _checks
from advjax.losses import cross_entropy
from advjax.losses import kl_divergence
from advjax.train.adversarial import classification_metrics
from advjax.train.adversarial import make_perturbed_step
from advjax.train.adversarial import pgd_perturbation
from advjax.train.adversarial import Schedule
from advjax.train.classifier import ApplyFn


def make_trades_step(apply_fn: ApplyFn, tx: optax.GradientTransformation, *,
                     eps: Schedule, beta: float, n_steps: int,
                     step_size: Schedule = None, norm=jnp.inf,
                     bounds=(0.0, 1.0)):
  """One TRADES update.

  Inner maximisation (inference mode): PGD on
  ``KL(f(x) ‖ f(x'))`` over ``x'`` in the ``eps`` ball, from a uniform
  random start (the paper starts at ``x + 0.001·N(0, I)``; at ``x' = x`` the
  KL has a zero gradient either way). Outer minimisation (train mode):
  ``mean CE(f(x), y) + β · mean KL(f(x) ‖ f(x_adv))``, with ``x_adv``
  stopped and the gradient flowing through both predictions. With
  ``β = 0`` the update is exactly :func:`advjax.train.make_classifier_step`'s
  (for models without dropout: the dropout keys differ).

  Args:
    apply_fn: see :func:`advjax.train.linen_apply`.
    tx: the optax optimizer.
    eps: radius (number or schedule of ``state.step``).
    beta: ``β >= 0``, the robustness/accuracy trade-off (paper: 1 to 6).
    n_steps: PGD steps of the inner maximisation, >= 1.
    step_size: default ``2.5·eps/n_steps``.
    norm, bounds: as in :func:`advjax.attacks.pgd`.

  Returns:
    ``step(state, batch, key) -> (state, metrics)``; metrics ``loss``,
    ``clean_loss``/``clean_accuracy`` (train mode), ``adv_loss``/
    ``adv_accuracy`` (train mode at ``x_adv``) and ``kl``.

  References:
    Zhang et al., 2019. https://arxiv.org/abs/1901.08573
  """
  _checks.nonnegative(beta, name="beta")
  beta = float(beta)
  perturb = pgd_perturbation(eps=eps, n_steps=n_steps, step_size=step_size,
                             norm=norm, bounds=bounds)

  def craft(logits_fn, batch, key, count):
    x = batch["image"]
    reference = jax.lax.stop_gradient(logits_fn(x))
    return perturb(lambda xa: kl_divergence(reference, logits_fn(xa)), x, key,
                   count), {}

  def objective(params, model_state, batch, x_adv, key, count):
    del count
    k_clean, k_adv = jax.random.split(key)
    y = batch["label"]
    clean, model_state = apply_fn(params, model_state, batch["image"],
                                  train=True, key=k_clean)
    adv, model_state = apply_fn(params, model_state, x_adv, train=True, key=k_adv)
    kl = jnp.mean(kl_divergence(clean, adv))
    loss = jnp.mean(cross_entropy(clean, y))
    if beta > 0.0:  # β = 0: the clean objective, without even a zero term
      loss = loss + beta * kl
    metrics = {**classification_metrics("clean", clean, y),
               **classification_metrics("adv", adv, y), "kl": kl}
    return loss, (model_state, metrics)

  return make_perturbed_step(apply_fn, tx, craft=craft, objective=objective)
