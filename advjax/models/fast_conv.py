"""Convolution as shifted slices and one matmul (im2col), for XLA's CPU backend.

On XLA's CPU backend the input gradient of a convolution — the heart of every
white-box attack step — is itself a convolution whose kernel has its feature
dimensions swapped (``01oi``); for strided convolutions it is also
input-dilated. Those forms miss the fast Eigen convolution path: inside a
``while`` loop (``lax.fori_loop``, as attacks run) the 4×4/2 convolutions of
:class:`~advjax.models.SmallCNN` ran ~6× slower than the forward pass would
suggest (see experiments/benchmark.py). Writing the convolution as
space-to-depth (a stride-s convolution is a stride-1 one over s×s blocks),
then ``concat(shifted slices) @ kernel.reshape(-1, out)`` gives the same
values (up to float summation order) with a gradient made only of pads, adds,
reshapes and matmuls, which XLA runs at matmul speed on any backend.

:func:`patch_conv` has the signature of ``lax.conv_general_dilated``, so it
plugs into ``flax.linen.Conv(conv_general_dilated=...)`` without changing the
parameters (names, shapes, semantics).

The im2col forward pass is slower than XLA's own forward convolution, which
stays fast inside loops (5× on the Madry CNN's 5×5 convolutions): forward-only
work — gradient-free attacks, evaluation — pays for the fast gradient.
:func:`patch_grad_conv` takes both: XLA's forward convolution and
:func:`patch_conv`'s derivatives (a ``custom_jvp``, so forward mode, reverse
mode and higher orders all work). :func:`conv_general_dilated` picks it on CPU
and ``lax.conv_general_dilated`` (cuDNN / TPU convolutions) elsewhere.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

CONV_IMPLS = ("auto", "patch_grad", "patches", "lax")


def _is_nhwc_hwio(dimension_numbers, ndim) -> bool:
  if ndim != 4:
    return False
  if dimension_numbers is None:  # lax's default is NCHW/OIHW
    return False
  if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
    return (tuple(dimension_numbers.lhs_spec) == (0, 3, 1, 2)
            and tuple(dimension_numbers.rhs_spec) == (3, 2, 0, 1)
            and tuple(dimension_numbers.out_spec) == (0, 3, 1, 2))
  return tuple(dimension_numbers) == ("NHWC", "HWIO", "NHWC")


def _patchable(lhs, dimension_numbers, lhs_dilation, rhs_dilation,
               feature_group_count, batch_group_count) -> bool:
  trivial = lambda d: d is None or all(int(v) == 1 for v in d)  # noqa: E731
  return (_is_nhwc_hwio(dimension_numbers, lhs.ndim) and trivial(lhs_dilation)
          and trivial(rhs_dilation) and feature_group_count == 1
          and batch_group_count == 1)


def patch_conv(lhs, rhs, window_strides, padding, lhs_dilation=None,
               rhs_dilation=None, dimension_numbers=None,
               feature_group_count=1, batch_group_count=1, precision=None,
               preferred_element_type=None):
  """``lax.conv_general_dilated`` as space-to-depth, shifted slices and a matmul.

  Handles NHWC inputs with HWIO kernels, any strides and explicit or named
  padding; anything else (dilation, feature groups, other layouts) is passed
  to ``lax.conv_general_dilated`` unchanged.

  Args:
    lhs: ``[B, H, W, C]`` inputs.
    rhs: ``[kh, kw, C, O]`` kernel.
    window_strides: ``(sh, sw)``.
    padding: ``"SAME"``, ``"VALID"`` or ``((lo, hi), (lo, hi))``.
    lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count,
      batch_group_count, precision, preferred_element_type: as in
      ``lax.conv_general_dilated``.

  Returns:
    ``[B, Ho, Wo, O]``, equal to ``lax.conv_general_dilated`` up to float
    rounding.
  """
  if not _patchable(lhs, dimension_numbers, lhs_dilation, rhs_dilation,
                    feature_group_count, batch_group_count):
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count,
        batch_group_count=batch_group_count, precision=precision,
        preferred_element_type=preferred_element_type)
  kh, kw, cin, cout = rhs.shape
  sh, sw = (int(s) for s in window_strides)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(lhs.shape[1:3], (kh, kw), (sh, sw), padding)
  (top, bottom), (left, right) = ((int(a), int(b)) for a, b in padding)
  ho = (lhs.shape[1] + top + bottom - kh) // sh + 1
  wo = (lhs.shape[2] + left + right - kw) // sw + 1
  # Space-to-depth: a stride-s convolution is a stride-1 convolution of the
  # s×s blocks of the input (s²·C channels) with the kernel zero-padded to a
  # multiple of s and regrouped the same way.
  kh_b, kw_b = -(-kh // sh), -(-kw // sw)  # kernel extent in blocks
  hn, wn = (ho - 1 + kh_b) * sh, (wo - 1 + kw_b) * sw  # input rows/cols used
  xp = lax.pad(lhs, jnp.zeros((), lhs.dtype),
               ((0, 0, 0), (top, hn - lhs.shape[1] - top, 0),
                (left, wn - lhs.shape[2] - left, 0), (0, 0, 0)))
  batch = xp.shape[0]
  blocks = xp.reshape(batch, hn // sh, sh, wn // sw, sw, cin)
  blocks = blocks.transpose(0, 1, 3, 2, 4, 5).reshape(batch, hn // sh, wn // sw,
                                                      sh * sw * cin)
  w = jnp.pad(rhs, ((0, kh_b * sh - kh), (0, kw_b * sw - kw), (0, 0), (0, 0)))
  w = w.reshape(kh_b, sh, kw_b, sw, cin, cout).transpose(0, 2, 1, 3, 4, 5)
  # Stride-1 im2col in two stages (kw_b + kh_b slices, not kw_b·kh_b):
  # columns (j, c), then rows (i, j, c) — the order of w's reshape.
  cols = jnp.concatenate([blocks[:, :, j:j + wo] for j in range(kw_b)], axis=-1)
  patches = jnp.concatenate([cols[:, i:i + ho] for i in range(kh_b)], axis=-1)
  return lax.dot_general(patches, w.reshape(-1, cout), (((3,), (0,)), ((), ())),
                         precision=precision,
                         preferred_element_type=preferred_element_type)


def patch_grad_conv(lhs, rhs, window_strides, padding, lhs_dilation=None,
                    rhs_dilation=None, dimension_numbers=None,
                    feature_group_count=1, batch_group_count=1, precision=None,
                    preferred_element_type=None):
  """XLA's convolution forward, :func:`patch_conv`'s derivatives.

  Same signature, layouts and fallback as :func:`patch_conv`. The convolution
  is bilinear, so its JVP is ``patch_conv(dlhs, rhs) + patch_conv(lhs, drhs)``;
  reverse mode transposes that into pads, adds and matmuls. A tangent that is
  known to be zero (the kernel's, in an attack) is skipped, so its im2col is
  never built.

  Returns:
    ``lax.conv_general_dilated(lhs, rhs, ...)``.
  """
  kwargs = dict(lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
                dimension_numbers=dimension_numbers,
                feature_group_count=feature_group_count,
                batch_group_count=batch_group_count, precision=precision,
                preferred_element_type=preferred_element_type)
  if not _patchable(lhs, dimension_numbers, lhs_dilation, rhs_dilation,
                    feature_group_count, batch_group_count):
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, **kwargs)

  def forward(a, b):
    return lax.conv_general_dilated(a, b, window_strides, padding, **kwargs)

  def tangent(a, b):  # patch_conv, so that its transpose is made of matmuls
    return patch_conv(a, b, window_strides, padding, **kwargs)

  def conv_jvp(primals, tangents):
    (a, b), (da, db) = primals, tangents
    out = conv(a, b)
    terms = [tangent(t, b) if i == 0 else tangent(a, t)
             for i, t in enumerate((da, db)) if not isinstance(t, SymbolicZero)]
    return out, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(out)

  conv = jax.custom_jvp(forward)
  conv.defjvp(conv_jvp, symbolic_zeros=True)
  return conv(lhs, rhs)


def conv_general_dilated(impl: str = "auto"):
  """The convolution function for ``nn.Conv(conv_general_dilated=...)``.

  Args:
    impl: ``"patch_grad"`` (:func:`patch_grad_conv`), ``"patches"``
      (:func:`patch_conv`), ``"lax"`` (``lax.conv_general_dilated``) or
      ``"auto"``: patch_grad on the CPU backend, lax elsewhere. All give the
      same values up to float rounding.

  Returns:
    A function with the signature of ``lax.conv_general_dilated``.
  """
  if impl not in CONV_IMPLS:
    raise ValueError(f"`conv_impl` must be one of {CONV_IMPLS}; got {impl!r}.")
  if impl == "auto":
    impl = "patch_grad" if jax.default_backend() == "cpu" else "lax"
  return {"patch_grad": patch_grad_conv, "patches": patch_conv,
          "lax": lax.conv_general_dilated}[impl]
