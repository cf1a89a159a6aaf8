"""Auto-PGD (Croce & Hein 2020): PGD with momentum and a step size that
halves itself at checkpoints, untargeted and targeted, with CE or DLR.

The budget is a static number of iterations; every piece of per-example
bookkeeping (step size, success, best point, the checkpoint conditions) is a
mask or a ``[B]`` array, never a shape change.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from advjax import _checks
from advjax.attacks import lp
from advjax.attacks._common import check_attack_args
from advjax.attacks._common import check_loss_shape
from advjax.attacks._common import per_example
from advjax.losses import cross_entropy
from advjax.losses import dlr_loss
from advjax.losses import targeted_dlr_loss

_LOSSES = ("ce", "dlr")


def checkpoint_schedule(n_steps: int) -> list[tuple[int, int]]:
  """The iterations (0-based) after which APGD checks its progress, with
  the length of the interval each check looks back over.

  The first interval is ``⌈0.22·N⌉`` long; each next one is ``0.03·N``
  shorter, down to ``0.06·N`` (the paper's ``p_{j+1} = p_j +
  max(p_j − p_{j−1} − 0.03, 0.06)``, as in the reference implementation).
  """
  first = max(int(0.22 * n_steps), 1)
  shortest = max(int(0.06 * n_steps), 1)
  decrease = max(int(0.03 * n_steps), 1)
  out, k, counter = [], first, 0
  for i in range(n_steps):
    counter += 1
    if counter == k:
      out.append((i, k))
      counter, k = 0, max(k - decrease, shortest)
  return out


def _apgd(objective, x, *, key, eps, n_steps, p, lo, hi, n_restarts, momentum,
          rho, random_start):
  """Core loop. ``objective(x) -> (loss [B], success [B] bool)``.

  Returns ``(x_out, best_loss, success)``: per example the first successful
  point found (over all restarts), else the highest-loss point.
  """
  x32 = x.astype(jnp.float32)
  b = x.shape[0]
  eps_b = jnp.broadcast_to(jnp.asarray(eps, jnp.float32), (b,))
  is_check = np.zeros((n_steps,), bool)
  height = np.ones((n_steps,), np.float32)
  for i, k in checkpoint_schedule(n_steps):
    is_check[i], height[i] = True, k
  is_check, height = jnp.asarray(is_check), jnp.asarray(height)

  def value_grad(xc):
    def total(z):
      values, success = objective(z.astype(x.dtype))
      check_loss_shape(values, z)
      return jnp.sum(values.astype(jnp.float32)), (values.astype(jnp.float32),
                                                   success)

    (_, (values, success)), g = jax.value_and_grad(total, has_aux=True)(xc)
    return values, success, g.astype(jnp.float32)

  def proj(z):
    return jnp.clip(x32 + lp.project(z - x32, p, eps_b), lo, hi)

  def step_dir(g):
    return lp.steepest_ascent(g, p)

  def one_restart(r, found):
    found_any, x_found, best_any, x_best_any = found
    if random_start:
      delta0 = lp.sample_ball(jax.random.fold_in(key, r), x.shape, p, eps_b)
      x0 = jnp.clip(x32 + delta0, lo, hi)
    else:
      x0 = x32
    loss0, succ0, g0 = value_grad(x0)
    eta = 2.0 * eps_b  # the paper's initial step, 2ε
    carry = dict(
        x=x0, x_prev=x0, g=g0, loss=loss0, eta=eta,
        x_best=x0, g_best=g0, loss_best=loss0,
        n_increase=jnp.zeros((b,), jnp.float32),
        loss_best_last=loss0, reduced_last=jnp.ones((b,), bool),
        found=succ0, x_found=x0)

    def body(i, c):
      a = jnp.where(i > 0, momentum, 1.0)
      eta_x = per_example(c["eta"], x32)
      z = proj(c["x"] + eta_x * step_dir(c["g"]))
      x_new = proj(c["x"] + a * (z - c["x"]) + (1.0 - a) * (c["x"] - c["x_prev"]))
      loss, succ, g = value_grad(x_new)
      new_success = succ & ~c["found"]
      x_found = jnp.where(per_example(new_success, x32), x_new, c["x_found"])
      found = c["found"] | succ
      better = loss > c["loss_best"]
      x_best = jnp.where(per_example(better, x32), x_new, c["x_best"])
      g_best = jnp.where(per_example(better, x32), g, c["g_best"])
      loss_best = jnp.where(better, loss, c["loss_best"])
      n_increase = c["n_increase"] + (loss > c["loss"]).astype(jnp.float32)

      # Checkpoint: halve the step and go back to the best point if fewer
      # than rho of the steps since the last check increased the loss, or if
      # the step was not halved last time and the best loss has not moved.
      check = is_check[i]
      oscillating = n_increase <= rho * height[i]
      stalled = ~c["reduced_last"] & (c["loss_best_last"] >= loss_best)
      reduce = check & (oscillating | stalled)
      eta = jnp.where(reduce, 0.5 * c["eta"], c["eta"])
      x_next = jnp.where(per_example(reduce, x32), x_best, x_new)
      g_next = jnp.where(per_example(reduce, x32), g_best, g)
      return dict(
          x=x_next, x_prev=c["x"],
          g=g_next, loss=jnp.where(reduce, loss_best, loss), eta=eta,
          x_best=x_best, g_best=g_best, loss_best=loss_best,
          n_increase=jnp.where(check, 0.0, n_increase),
          loss_best_last=jnp.where(check, loss_best, c["loss_best_last"]),
          reduced_last=jnp.where(check, reduce, c["reduced_last"]),
          found=found, x_found=x_found)

    c = jax.lax.fori_loop(0, n_steps, body, carry)
    newly = c["found"] & ~found_any
    x_found = jnp.where(per_example(newly, x32), c["x_found"], x_found)
    better = c["loss_best"] > best_any
    x_best_any = jnp.where(per_example(better, x32), c["x_best"], x_best_any)
    best_any = jnp.where(better, c["loss_best"], best_any)
    return found_any | c["found"], x_found, best_any, x_best_any

  init = (jnp.zeros((b,), bool), x32, jnp.full((b,), -jnp.inf, jnp.float32), x32)
  found, x_found, best, x_best = jax.lax.fori_loop(0, n_restarts, one_restart, init)
  x_out = jnp.where(per_example(found, x32), x_found, x_best)
  return x_out.astype(x.dtype), best, found


def _check(x, eps, norm, bounds, n_steps, n_restarts, momentum, rho):
  p, (lo, hi) = check_attack_args(x, eps=eps, norm=norm, bounds=bounds)
  if p == 1:
    raise ValueError(f"`norm` must be jnp.inf or 2 for APGD; got {norm!r}.")
  n_steps = _checks.count(n_steps, name="n_steps", minimum=1)
  n_restarts = _checks.count(n_restarts, name="n_restarts", minimum=1)
  if not 0.0 < float(momentum) <= 1.0:
    raise ValueError(f"`momentum` must be in (0, 1]; got {momentum!r}.")
  if not 0.0 < float(rho) < 1.0:
    raise ValueError(f"`rho` must be in (0, 1); got {rho!r}.")
  return p, lo, hi, n_steps, n_restarts


def apgd(loss_fn, x: jax.Array, *, key: jax.Array, eps, n_steps: int = 100,
         norm=jnp.inf, bounds=(0.0, 1.0), n_restarts: int = 1,
         momentum: float = 0.75, rho: float = 0.75,
         random_start: bool = True) -> jax.Array:
  """Auto-PGD on any per-example loss (Croce & Hein 2020, Algorithm 1).

  From a random point in the ball, step size ``η = 2ε`` per example;
  ``z = P(x_k + η·s(∇))`` with ``s`` the steepest-ascent direction of the
  norm, then the momentum step ``x_{k+1} = P(x_k + α(z − x_k) + (1 − α)(x_k
  − x_{k−1}))``, ``α = momentum`` (1 for the first step). At the
  checkpoints of :func:`checkpoint_schedule` an example halves its ``η`` and
  restarts from its best point if fewer than ``rho`` of the steps since the
  last checkpoint raised its loss, or if its ``η`` was not halved at the last
  checkpoint and its best loss has not improved since. Restarts draw new
  random starts; the highest-loss point over everything is returned.

  Args:
    loss_fn: ``x -> [B]`` per-example loss to increase.
    x: ``[B, ...]`` floating inputs inside ``bounds``.
    key: PRNG key (random starts).
    eps: radius (scalar or ``[B]``).
    n_steps: static iterations per restart (paper: 100).
    norm: ``jnp.inf`` or ``2``.
    bounds: box of valid inputs.
    n_restarts: static number of random restarts.
    momentum: ``α`` (paper: 0.75).
    rho: the checkpoint's fraction of successful steps (paper: 0.75).
    random_start: start each restart uniformly inside the ball.

  Returns:
    ``x_adv`` with ``x``'s shape and dtype.

  References:
    Croce & Hein, 2020. https://arxiv.org/abs/2003.01690
  """
  p, lo, hi, n_steps, n_restarts = _check(x, eps, norm, bounds, n_steps,
                                          n_restarts, momentum, rho)

  def objective(z):
    values = loss_fn(z)
    return values, jnp.zeros(values.shape, bool)

  return _apgd(objective, x, key=key, eps=eps, n_steps=n_steps, p=p, lo=lo,
               hi=hi, n_restarts=n_restarts, momentum=float(momentum),
               rho=float(rho), random_start=random_start)[0]


def apgd_attack(logits_fn: Callable[[jax.Array], jax.Array], x: jax.Array,
                labels: jax.Array, *, key: jax.Array, eps, loss: str = "ce",
                target: jax.Array | None = None, n_steps: int = 100,
                norm=jnp.inf, bounds=(0.0, 1.0), n_restarts: int = 1,
                momentum: float = 0.75, rho: float = 0.75) -> jax.Array:
  """APGD against a classifier: APGD-CE, APGD-DLR, or targeted.

  Untargeted (``target=None``): maximises ``cross_entropy`` (``"ce"``) or
  :func:`advjax.losses.dlr_loss` (``"dlr"``); success is a misclassified
  point. Targeted: maximises ``−CE(·, target)`` or
  :func:`advjax.losses.targeted_dlr_loss`; success is ``argmax = target``.
  Per example the first successful point found is returned (it stays
  adversarial), otherwise the highest-loss one.

  Args:
    logits_fn: ``x -> [B, K]`` logits.
    x: ``[B, ...]`` inputs inside ``bounds``.
    labels: ``[B]`` true labels.
    key: PRNG key.
    eps: radius.
    loss: ``"ce"`` or ``"dlr"``.
    target: optional ``[B]`` target classes.
    n_steps, norm, bounds, n_restarts, momentum, rho: as in :func:`apgd`.

  Returns:
    ``x_adv`` with ``x``'s shape and dtype.

  References:
    Croce & Hein, 2020. https://arxiv.org/abs/2003.01690
  """
  if loss not in _LOSSES:
    raise ValueError(f"`loss` must be one of {_LOSSES}; got {loss!r}.")
  p, lo, hi, n_steps, n_restarts = _check(x, eps, norm, bounds, n_steps,
                                          n_restarts, momentum, rho)

  def objective(z):
    logits = logits_fn(z)
    pred = jnp.argmax(logits, -1)
    if target is None:
      values = (cross_entropy(logits, labels) if loss == "ce"
                else dlr_loss(logits, labels))
      return values, pred != labels
    values = (-cross_entropy(logits, target) if loss == "ce"
              else targeted_dlr_loss(logits, labels, target))
    return values, pred == target

  return _apgd(objective, x, key=key, eps=eps, n_steps=n_steps, p=p, lo=lo,
               hi=hi, n_restarts=n_restarts, momentum=float(momentum),
               rho=float(rho), random_start=True)[0]


def apgd_targeted(logits_fn: Callable[[jax.Array], jax.Array], x: jax.Array,
                  labels: jax.Array, *, key: jax.Array, eps,
                  n_target_classes: int = 9, n_steps: int = 100,
                  norm=jnp.inf, bounds=(0.0, 1.0), momentum: float = 0.75,
                  rho: float = 0.75) -> jax.Array:
  """AutoAttack's APGD-T: targeted-DLR APGD towards each of the
  ``n_target_classes`` classes the clean point ranks highest after its top
  one, one run per target; an example counts as broken when *any* run
  misclassifies it (untargeted success).

  Args:
    logits_fn: ``x -> [B, K]`` logits (``K >= 4``).
    x, labels, key, eps, n_steps, norm, bounds, momentum, rho: as in
      :func:`apgd_attack`.
    n_target_classes: static, in ``[1, K − 1]`` (AutoAttack: 9).

  Returns:
    ``x_adv``: per example the first misclassified point found over the
    targets, else the last target's highest-loss point.

  References:
    Croce & Hein, 2020. https://arxiv.org/abs/2003.01690
  """
  p, lo, hi, n_steps, _ = _check(x, eps, norm, bounds, n_steps, 1, momentum, rho)
  n_classes = jax.eval_shape(logits_fn, x).shape[-1]
  n_target_classes = _checks.count(n_target_classes, name="n_target_classes",
                                   minimum=1)
  if n_target_classes > n_classes - 1:
    raise ValueError(f"`n_target_classes` must be <= {n_classes - 1} (the "
                     f"number of classes - 1); got {n_target_classes}.")
  ranking = jnp.argsort(-logits_fn(x), axis=-1)
  x32 = x.astype(jnp.float32)

  def one_target(t, carry):
    found, x_out = carry
    target = ranking[:, t + 1]

    def objective(z):
      logits = logits_fn(z)
      return (targeted_dlr_loss(logits, labels, target),
              jnp.argmax(logits, -1) != labels)

    x_t, _, succ = _apgd(objective, x, key=jax.random.fold_in(key, t), eps=eps,
                         n_steps=n_steps, p=p, lo=lo, hi=hi, n_restarts=1,
                         momentum=float(momentum), rho=float(rho),
                         random_start=True)
    keep = found  # earlier successes stay
    x_out = jnp.where(per_example(keep, x32), x_out, x_t.astype(jnp.float32))
    return found | succ, x_out

  _, x_out = jax.lax.fori_loop(0, n_target_classes, one_target,
                               (jnp.zeros((x.shape[0],), bool), x32))
  return x_out.astype(x.dtype)
