"""GAN losses from discriminator logits / critic values, per example.

Conventions:

* Inputs are the discriminator's raw outputs: logits for the classifier
  losses (``D(x) = sigmoid(logit)``), unbounded critic values for WGAN, hinge
  and least squares. Shapes ``[B]`` or ``[B, 1]``; floats are promoted to at
  least float32.
* Every loss is to be **minimized** and returns one value per example, shape
  ``[B]``, never a batch mean. A discriminator loss takes ``real`` and
  ``fake`` of the same shape and returns ``term(real_i) + term(fake_i)``: its
  batch mean is the usual ``E_real[.] + E_fake[.]``. A generator loss takes
  ``fake`` only.
* ``log D = -softplus(-logit)`` and ``log(1 - D) = -softplus(logit)``: the
  stable forms, never ``log(sigmoid(.))``.
* Penalties (gradient penalty, R1) are returned unweighted, per example;
  multiply by λ (γ/2 for R1) in the step.

References:
  Goodfellow et al., 2014 (minimax, non-saturating). https://arxiv.org/abs/1406.2661
  Arjovsky et al., 2017 (WGAN). https://arxiv.org/abs/1701.07875
  Gulrajani et al., 2017 (WGAN-GP). https://arxiv.org/abs/1704.00028
  Mao et al., 2017 (LSGAN). https://arxiv.org/abs/1611.04076
  Lim & Ye, 2017; Miyato et al., 2018 (hinge). https://arxiv.org/abs/1802.05957
  Mescheder et al., 2018 (R1). https://arxiv.org/abs/1801.04406
  Sønderby et al., 2017 (instance noise). https://arxiv.org/abs/1610.04490
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from advjax import _checks

CriticFn = Callable[[jax.Array], jax.Array]


def _scores(values, name):
  if not hasattr(values, "dtype") or not jnp.issubdtype(values.dtype, jnp.floating):
    raise TypeError(f"`{name}` must be a floating array of logits; got "
                    f"{getattr(values, 'dtype', type(values).__name__)}.")
  if values.ndim == 2 and values.shape[-1] == 1:
    values = values[:, 0]
  if values.ndim != 1:
    raise ValueError(f"`{name}` must have shape [B] or [B, 1]; got {values.shape}.")
  return values.astype(jnp.promote_types(values.dtype, jnp.float32))


def _pair(real, fake):
  real, fake = _scores(real, "real"), _scores(fake, "fake")
  if real.shape != fake.shape:
    raise ValueError("`real` and `fake` must have the same batch size; got "
                     f"{real.shape} and {fake.shape}.")
  return real, fake


# Discriminator sides.

def minimax_discriminator_loss(real: jax.Array, fake: jax.Array) -> jax.Array:
  """Binary cross-entropy ``-log D(x) - log(1 - D(G(z)))`` from logits.

  Shared by the minimax and non-saturating GANs. Its minimizer over all
  functions is ``D*(x) = p(x) / (p(x) + p_G(x))``.
  """
  real, fake = _pair(real, fake)
  return jax.nn.softplus(-real) + jax.nn.softplus(fake)


def wasserstein_discriminator_loss(real: jax.Array, fake: jax.Array) -> jax.Array:
  """WGAN critic loss ``f(G(z)) - f(x)`` (the critic raises real scores)."""
  real, fake = _pair(real, fake)
  return fake - real


def hinge_discriminator_loss(real: jax.Array, fake: jax.Array) -> jax.Array:
  """Hinge loss ``relu(1 - f(x)) + relu(1 + f(G(z)))``."""
  real, fake = _pair(real, fake)
  return jax.nn.relu(1.0 - real) + jax.nn.relu(1.0 + fake)


def least_squares_discriminator_loss(real: jax.Array, fake: jax.Array, *,
                                     a: float = 0.0, b: float = 1.0) -> jax.Array:
  """LSGAN ``½(D(x) - b)² + ½(D(G(z)) - a)²``: fake target ``a``, real ``b``.

  With ``b - c = 1`` and ``b - a = 2`` (e.g. a = -1, b = 1, c = 0) the game
  minimizes the Pearson χ² divergence between ``p + p_G`` and ``2 p_G``.
  """
  real, fake = _pair(real, fake)
  return 0.5 * jnp.square(real - b) + 0.5 * jnp.square(fake - a)


# Generator sides.

def minimax_generator_loss(fake: jax.Array) -> jax.Array:
  """The original (saturating) ``log(1 - D(G(z))) = -softplus(logit)``.

  Its gradient vanishes where the discriminator confidently rejects fakes.
  """
  return -jax.nn.softplus(_scores(fake, "fake"))


def non_saturating_generator_loss(fake: jax.Array) -> jax.Array:
  """``-log D(G(z)) = softplus(-logit)``: strong gradient on rejected fakes."""
  return jax.nn.softplus(-_scores(fake, "fake"))


def wasserstein_generator_loss(fake: jax.Array) -> jax.Array:
  """``-f(G(z))``, the generator side of WGAN and of the hinge GAN."""
  return -_scores(fake, "fake")


def least_squares_generator_loss(fake: jax.Array, *, c: float = 1.0) -> jax.Array:
  """LSGAN ``½(D(G(z)) - c)²``: the value the generator wants D to believe."""
  return 0.5 * jnp.square(_scores(fake, "fake") - c)


class GanLoss(NamedTuple):
  """A discriminator loss ``(real, fake) -> [B]`` and a generator loss ``fake -> [B]``."""
  discriminator: Callable[[jax.Array, jax.Array], jax.Array]
  generator: Callable[[jax.Array], jax.Array]


def _least_squares(*, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> GanLoss:
  return GanLoss(
      lambda real, fake: least_squares_discriminator_loss(real, fake, a=a, b=b),
      lambda fake: least_squares_generator_loss(fake, c=c))


_LOSSES = {
    "minimax": lambda: GanLoss(minimax_discriminator_loss, minimax_generator_loss),
    "non_saturating": lambda: GanLoss(minimax_discriminator_loss,
                                      non_saturating_generator_loss),
    "wasserstein": lambda: GanLoss(wasserstein_discriminator_loss,
                                   wasserstein_generator_loss),
    "hinge": lambda: GanLoss(hinge_discriminator_loss, wasserstein_generator_loss),
    "least_squares": _least_squares,
}


def gan_loss(name: str, **hyperparameters) -> GanLoss:
  """The pair of losses of a GAN by name.

  Args:
    name: ``"minimax"``, ``"non_saturating"``, ``"wasserstein"``, ``"hinge"``
      or ``"least_squares"``.
    **hyperparameters: ``a``, ``b``, ``c`` for ``"least_squares"``.

  Returns:
    A :class:`GanLoss`.
  """
  if name not in _LOSSES:
    raise ValueError(f"`name` must be one of {sorted(_LOSSES)}; got {name!r}.")
  if hyperparameters and name != "least_squares":
    raise TypeError(f"`{name}` takes no hyperparameters; got {sorted(hyperparameters)}.")
  return _LOSSES[name](**hyperparameters)


# Penalties on the critic's input gradient.

def _input_gradient_sq_norm(critic_fn: CriticFn, x: jax.Array) -> jax.Array:
  """Per-example ``||∇_x f(x)_i||²`` in float32 (sum of outputs: no 1/B)."""
  def total(x_):
    values = _scores(critic_fn(x_), "critic_fn(x)")
    if values.shape != (x_.shape[0],):
      raise ValueError(f"`critic_fn(x)` must return shape ({x_.shape[0]},); got "
                       f"{values.shape}.")
    return jnp.sum(values)

  g = jax.grad(total)(x).astype(jnp.float32)
  return jnp.sum(jnp.square(g).reshape(g.shape[0], -1), axis=-1)


def _safe_sqrt(sq):
  # sqrt has an infinite derivative at 0: route zeros through a dummy branch.
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def gradient_penalty(critic_fn: CriticFn, real: jax.Array, fake: jax.Array,
                     key: jax.Array, *, target: float = 1.0) -> jax.Array:
  """WGAN-GP penalty ``(||∇f(x̂)||₂ - target)²`` on random interpolates.

  ``x̂ = t·x + (1 - t)·x̃`` with one ``t ~ U[0, 1]`` per example. Gradients are
  per example (the critic must treat examples independently: no batch norm).

  Args:
    critic_fn: ``x -> [B]`` critic values.
    real: ``[B, ...]`` real samples.
    fake: ``[B, ...]`` generated samples, same shape.
    key: PRNG key for the interpolation weights.
    target: the desired gradient norm (1 for a 1-Lipschitz critic).

  Returns:
    ``[B]`` unweighted penalties (multiply by λ, 10 in the paper).

  References:
    Gulrajani et al., 2017. https://arxiv.org/abs/1704.00028
  """
  _checks.floating_batch(real, name="real")
  _checks.floating_batch(fake, name="fake")
  if real.shape != fake.shape:
    raise ValueError(f"`real` and `fake` must have the same shape; got "
                     f"{real.shape} and {fake.shape}.")
  _checks.nonnegative(target, name="target")
  t = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1),
                         dtype=real.dtype)
  x_hat = t * real + (1 - t) * jax.lax.stop_gradient(fake).astype(real.dtype)
  norm = _safe_sqrt(_input_gradient_sq_norm(critic_fn, x_hat))
  return jnp.square(norm - target)


def r1_penalty(critic_fn: CriticFn, real: jax.Array) -> jax.Array:
  """R1 penalty ``||∇_x f(x)||²`` on real samples, per example.

  Args:
    critic_fn: ``x -> [B]`` discriminator logits.
    real: ``[B, ...]`` real samples.

  Returns:
    ``[B]`` squared gradient norms; the regularizer is ``γ/2`` times their mean.

  References:
    Mescheder et al., 2018. https://arxiv.org/abs/1801.04406
  """
  _checks.floating_batch(real, name="real")
  return _input_gradient_sq_norm(critic_fn, real)


# Instance noise.

def instance_noise_sigma(step: jax.Array, *, initial: float,
                         anneal_steps: int) -> jax.Array:
  """Linearly annealed noise level: ``initial`` at step 0, 0 after ``anneal_steps``."""
  _checks.nonnegative(initial, name="initial")
  _checks.count(anneal_steps, name="anneal_steps", minimum=1)
  frac = jnp.clip(1.0 - jnp.asarray(step, jnp.float32) / anneal_steps, 0.0, 1.0)
  return initial * frac


def add_instance_noise(x: jax.Array, key: jax.Array, sigma) -> jax.Array:
  """``x + sigma·ε``, ``ε ~ N(0, I)``, in ``x``'s dtype.

  Apply it to *both* real and generated inputs of the discriminator, so their
  distributions overlap and the optimal discriminator stays smooth.

  References:
    Sønderby et al., 2017. https://arxiv.org/abs/1610.04490
  """
  _checks.floating_batch(x, name="x")
  _checks.nonnegative(sigma, name="sigma")
  noise = jax.random.normal(key, x.shape, jnp.float32)
  return (x.astype(jnp.float32) + jnp.asarray(sigma, jnp.float32) * noise).astype(x.dtype)
