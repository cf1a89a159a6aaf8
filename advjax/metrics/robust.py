"""Robust accuracy: the per-example worst case over a list of attacks, and an
AutoAttack-style cascade that attacks only what survived the previous attack.

An *attack* here is a callable ``attack(x, y, key) -> x_adv`` (bound to its
model, e.g. ``lambda x, y, k: apgd_attack(logits_fn, x, y, key=k, eps=0.3)``).
An example counts as robust only if it is classified correctly clean *and*
after every attack: the worst case is taken per example, never as the minimum
of per-attack accuracies (which over-estimates robustness).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from advjax.attacks.apgd import apgd_attack
from advjax.attacks.apgd import apgd_targeted

Attack = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


def worst_case_correct(predict_fn: Callable[[jax.Array], jax.Array], x, y, *,
                       attacks: Sequence[Attack], key: jax.Array):
  """Per-example correctness under the worst of ``attacks`` (jittable).

  Args:
    predict_fn: ``x -> [B]`` predicted labels (e.g. ``argmax`` of logits).
    x: ``[B, ...]`` inputs.
    y: ``[B]`` labels.
    attacks: callables ``(x, y, key) -> x_adv``; attack ``i`` gets
      ``fold_in(key, i)``.
    key: PRNG key.

  Returns:
    ``(robust [B] bool, per_attack [n_attacks, B] bool)``: ``robust`` is clean
    correctness AND correctness after every attack; ``per_attack[i]`` the
    correctness after attack ``i`` alone (AND clean).
  """
  if not attacks:
    raise ValueError("`attacks` must be a non-empty sequence of callables.")
  clean = predict_fn(x) == y
  per_attack = jnp.stack([
      clean & (predict_fn(attack(x, y, jax.random.fold_in(key, i))) == y)
      for i, attack in enumerate(attacks)])
  return jnp.all(per_attack, axis=0), per_attack


def robust_accuracy(predict_fn, x, y, *, attacks: Sequence[Attack],
                    key: jax.Array) -> jax.Array:
  """Mean of :func:`worst_case_correct`'s per-example worst case."""
  return jnp.mean(worst_case_correct(predict_fn, x, y, attacks=attacks,
                                     key=key)[0].astype(jnp.float32))


def cascade_evaluation(predict_fn, x, y, *, attacks: Mapping[str, Attack],
                       key: jax.Array, batch_size: int):
  """Runs ``attacks`` in order, each only on the examples still robust.

  Host-side loop over fixed-size chunks (the last one padded by repetition,
  so every attack compiles once). The result is the same per-example worst
  case as :func:`worst_case_correct` for deterministic attacks, at the cost
  of attacking only the survivors (AutoAttack's protocol).

  Args:
    predict_fn: ``x -> [B]`` predicted labels, called on chunks.
    x: ``[N, ...]`` NumPy inputs.
    y: ``[N]`` NumPy labels.
    attacks: ``name -> attack(x, y, key)``, called on chunks of
      ``batch_size``; ordered.
    key: PRNG key; attack ``i`` chunk ``j`` gets ``fold_in(fold_in(key, i), j)``.
    batch_size: chunk size.

  Returns:
    ``(robust [N] bool, accuracy)``: ``accuracy`` maps ``"clean"`` and, for
    each attack, the robust accuracy *after* it (cumulative worst case) to a
    float.
  """
  x, y = np.asarray(x), np.asarray(y)
  n = len(x)

  def chunks(idx):
    for start in range(0, len(idx), batch_size):
      part = idx[start:start + batch_size]
      pad = batch_size - len(part)
      yield part, (np.concatenate([part, np.repeat(part[-1:], pad)]) if pad
                   else part)

  robust = np.zeros(n, bool)
  for part, padded in chunks(np.arange(n)):
    robust[part] = np.asarray(predict_fn(x[padded]))[: len(part)] == y[part]
  accuracy = {"clean": float(robust.mean())}
  for i, (name, attack) in enumerate(attacks.items()):
    k_attack = jax.random.fold_in(key, i)
    for j, (part, padded) in enumerate(chunks(np.flatnonzero(robust))):
      x_adv = attack(x[padded], y[padded], jax.random.fold_in(k_attack, j))
      still = np.asarray(predict_fn(x_adv))[: len(part)] == y[part]
      robust[part] = still
    accuracy[name] = float(robust.mean())
  return robust, accuracy


def autoattack_attacks(logits_fn, *, eps, norm=jnp.inf, n_steps: int = 100,
                       n_target_classes: int = 9, bounds=(0.0, 1.0),
                       extra: Mapping[str, Attack] | None = None
                       ) -> dict[str, Attack]:
  """The white-box half of AutoAttack's standard list, in its order.

  ``apgd_ce`` (untargeted APGD on cross-entropy), then ``apgd_t`` (APGD-T:
  targeted DLR towards each of the ``n_target_classes`` runner-up classes),
  then the entries of ``extra`` (e.g. the black-box Square attack; AutoAttack
  also runs FAB-T, not included here). Feed the result to
  :func:`cascade_evaluation`. This is *AutoAttack-style*, not AutoAttack:
  the iteration counts and the attack list are the caller's, and without a
  black-box attack in ``extra`` it cannot catch pure gradient masking.

  Args:
    logits_fn: ``x -> [B, K]`` logits.
    eps: radius.
    norm: ``jnp.inf`` or ``2``.
    n_steps: APGD iterations (AutoAttack: 100).
    n_target_classes: APGD-T targets (AutoAttack: 9).
    bounds: box of valid inputs.
    extra: further attacks to append, in order.

  Returns:
    An ordered ``name -> attack(x, y, key)`` dict.

  References:
    Croce & Hein, 2020. https://arxiv.org/abs/2003.01690
  """
  out = {
      "apgd_ce": lambda x, y, k: apgd_attack(logits_fn, x, y, key=k, eps=eps,
                                             loss="ce", n_steps=n_steps,
                                             norm=norm, bounds=bounds),
      "apgd_t": lambda x, y, k: apgd_targeted(
          logits_fn, x, y, key=k, eps=eps, n_target_classes=n_target_classes,
          n_steps=n_steps, norm=norm, bounds=bounds),
  }
  out.update(extra or {})
  return out
