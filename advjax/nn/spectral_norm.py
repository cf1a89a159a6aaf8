"""Spectral normalization by power iteration: a pure function and Linen layers.

``W_SN = W / σ(W)`` divides a weight by an estimate of its largest singular
value, so a linear layer becomes 1-Lipschitz; with 1-Lipschitz activations
(ReLU, leaky ReLU) the whole network is then 1-Lipschitz (a composition of
Lipschitz maps). σ is estimated by power iteration from a vector ``u`` that is
carried across steps, so one iteration per step is enough.

The layers are a pure reparameterization: the stored parameter is the raw
``W``; ``W / σ`` is recomputed on every call and never written back (unlike
``flax.nnx.SpectralNorm``). ``u`` lives in its own collection
(``"spectral_stats"``), is warmed up by many iterations at ``init``, and is
updated only when ``update_stats=True`` (training); at evaluation the same
power iteration runs from the stored ``u`` without changing it.

References:
  Miyato et al., 2018. https://arxiv.org/abs/1802.05957
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from advjax import _checks

COLLECTION = "spectral_stats"


def _l2_normalize(x, eps):
  return x * jax.lax.rsqrt(jnp.sum(jnp.square(x)) + eps)


def spectral_normalize(w: jax.Array, u: jax.Array, *, n_iters: int = 1,
                       eps: float = 1e-12) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Divides ``w`` by its top singular value, estimated by power iteration.

  ``w`` is viewed as the matrix ``W = w.reshape(-1, w.shape[-1])`` (a Flax
  kernel: Dense ``(in, out)``, Conv ``(kh, kw, in, out)``). Each iteration is
  ``v = normalize(W u)``, ``u = normalize(Wᵀ v)``; then ``σ = vᵀ W u`` with
  ``u`` and ``v`` held constant, so the gradient through ``w / σ`` is that
  of Miyato et al. Computed in float32 and cast back to ``w``'s dtype.

  Args:
    w: a kernel with at least 2 axes, output features last.
    u: ``(w.shape[-1],)`` right-singular-vector estimate, carried across calls
      (start from a random normal vector).
    n_iters: power iterations (>= 1).
    eps: added to squared norms before normalizing.

  Returns:
    ``(w_sn, u_new, sigma)``: ``w / σ`` (``w``'s dtype), the updated ``u``
    (``u``'s dtype) and the scalar float32 estimate ``σ``.

  References:
    Miyato et al., 2018. https://arxiv.org/abs/1802.05957
  """
  _checks.floating_batch(w, name="w", min_ndim=2)
  if not hasattr(u, "shape") or tuple(u.shape) != (w.shape[-1],):
    raise ValueError(f"`u` must have shape ({w.shape[-1]},) (the output features "
                     f"of `w`); got {getattr(u, 'shape', type(u).__name__)}.")
  _checks.count(n_iters, name="n_iters", minimum=1)
  _checks.positive(eps, name="eps")
  mat = w.reshape(-1, w.shape[-1]).astype(jnp.float32)
  frozen = jax.lax.stop_gradient(mat)

  def iteration(_, carry):
    u_, _ = carry
    v_ = _l2_normalize(frozen @ u_, eps)
    return _l2_normalize(frozen.T @ v_, eps), v_

  u_new, v = jax.lax.fori_loop(
      0, n_iters, iteration,
      (jax.lax.stop_gradient(u).astype(jnp.float32),
       jnp.zeros(mat.shape[0], jnp.float32)))
  u_new, v = jax.lax.stop_gradient(u_new), jax.lax.stop_gradient(v)
  sigma = v @ mat @ u_new
  w_sn = w.astype(jnp.float32) / jnp.where(sigma > 0, sigma, 1.0)
  return w_sn.astype(w.dtype), u_new.astype(u.dtype), sigma


class SpectralNorm(nn.Module):
  """Spectrally normalizes every parameter of ``layer`` that has >= 2 axes.

  Usage inside a compact module: ``SpectralNorm(nn.Dense(64))(x,
  update_stats=train)``. Biases and other vectors are left alone. One ``u``
  per normalized parameter is kept in ``collection``; pass
  ``mutable=[collection]`` to ``apply`` when ``update_stats=True``.

  Attributes:
    layer: the wrapped module (any Linen module whose kernels have their
      output features on the last axis).
    n_iters: power iterations per call.
    warmup_iters: power iterations run on the initial weights at ``init``, so
      σ is accurate from the first step.
    eps: see :func:`spectral_normalize`.
    collection: the variable collection holding ``u``.
  """
  layer: nn.Module
  n_iters: int = 1
  warmup_iters: int = 50
  eps: float = 1e-12
  collection: str = COLLECTION

  @nn.compact
  def __call__(self, *args, update_stats: bool = False, **kwargs):
    _checks.count(self.n_iters, name="n_iters", minimum=1)
    _checks.count(self.warmup_iters, name="warmup_iters", minimum=1)

    def normalize(path, value):
      if value.ndim < 2:
        return value
      # path[0] is the collection ("params"); the rest names the parameter.
      name = "/".join(str(getattr(k, "key", k)) for k in path[1:])

      def warm_u():
        u0 = jax.random.normal(self.make_rng("params"), (value.shape[-1],),
                               jnp.float32)
        return spectral_normalize(value, u0, n_iters=self.warmup_iters,
                                  eps=self.eps)[1]

      u_var = self.variable(self.collection, name, warm_u)
      w_sn, u_new, _ = spectral_normalize(value, u_var.value,
                                          n_iters=self.n_iters, eps=self.eps)
      if update_stats:
        u_var.value = u_new
      return w_sn

    # At init, map_variables stores whatever the layer saw; hand it back the
    # raw parameters so that even the initial weights are never normalized.
    raw = {}

    def trans_in(variables):
      raw["params"] = variables
      return jax.tree_util.tree_map_with_path(normalize, variables)

    return nn.map_variables(
        lambda layer: layer(*args, **kwargs),
        mapped_collections="params",
        trans_in_fn=trans_in,
        trans_out_fn=lambda variables: raw.get("params", variables),
        init=self.is_initializing(),
    )(self.layer)


def _normalized(module, layer, x, update_stats):
  """Applies ``layer`` wrapped in :class:`SpectralNorm` inside ``module``."""
  return SpectralNorm(layer, n_iters=module.n_iters,
                      warmup_iters=module.warmup_iters, name="sn")(
                          x, update_stats=update_stats)


class SpectralDense(nn.Module):
  """A spectrally normalized ``nn.Dense`` (1-Lipschitz up to the power iteration).

  Parameters live under ``dense`` (raw kernel and bias), ``u`` under
  ``spectral_stats``.
  """
  features: int
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()
  n_iters: int = 1
  warmup_iters: int = 50

  @nn.compact
  def __call__(self, x, *, update_stats: bool = False):
    layer = nn.Dense(self.features, use_bias=self.use_bias,
                     kernel_init=self.kernel_init, name="dense")
    return _normalized(self, layer, x, update_stats)


class SpectralConv(nn.Module):
  """A spectrally normalized ``nn.Conv``.

  The kernel ``(kh, kw, in, out)`` is normalized as the matrix
  ``(kh·kw·in, out)`` (Miyato et al.), which bounds the convolution's
  Lipschitz constant by ``sqrt(kh·kw)`` in the worst case and by 1 for
  stride-≥-kernel convolutions. ``conv_general_dilated`` is passed to
  ``nn.Conv`` (e.g. :func:`advjax.models.fast_conv.conv_general_dilated`'s
  choice); the parameters do not depend on it.
  """
  features: int
  kernel_size: Sequence[int] = (3, 3)
  strides: int | Sequence[int] = 1
  padding: Any = "SAME"
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()
  n_iters: int = 1
  warmup_iters: int = 50
  conv_general_dilated: Any = jax.lax.conv_general_dilated

  @nn.compact
  def __call__(self, x, *, update_stats: bool = False):
    layer = nn.Conv(self.features, tuple(self.kernel_size), strides=self.strides,
                    padding=self.padding, use_bias=self.use_bias,
                    kernel_init=self.kernel_init,
                    conv_general_dilated=self.conv_general_dilated, name="conv")
    return _normalized(self, layer, x, update_stats)
