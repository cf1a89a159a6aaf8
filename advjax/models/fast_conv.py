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
:func:`patch_grad_conv` takes both: XLA's forward convolution, and
derivatives written so that their transposes are fast — the input gradient
as an ordinary forward convolution with a pre-swapped kernel, the kernel
gradient as an ordinary forward convolution of the input's blocks with the
output gradient (a ``custom_jvp``, so forward mode, reverse mode and higher
orders all work). On CPU :func:`conv_general_dilated` picks :func:`cpu_conv`
— :func:`patch_conv` forward and for the input gradient of inputs with at
most three channels (where the im2col matmul is fastest),
:func:`patch_grad_conv` otherwise, that kernel gradient for both — and ``lax.conv_general_dilated`` (cuDNN / TPU convolutions)
elsewhere. :func:`cpu_compiler_options` keeps XLA's convolutions on its Eigen
path rather than YNNPACK, for ``jax.jit(..., compiler_options=...)``.

Transposed convolutions (input-dilated: the same slow CPU form, worst for the
kernel gradient) are :func:`patch_conv_transpose`, the linear transpose of
:func:`patch_conv`, with ``lax.conv_transpose``'s signature;
:func:`conv_transpose` chooses like :func:`conv_general_dilated`, and
:class:`ConvTranspose` is ``nn.ConvTranspose`` with the same parameters and
a ``conv_impl``.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

CONV_IMPLS = ("auto", "patch_grad", "patches", "lax")

# jaxlib 0.10's CPU backend hands single dots and convolutions to YNNPACK.
# For the convolutions of the reference CNNs that was 1.7–2.6× slower than
# XLA's own Eigen path (2-core AMD EPYC, batch 256, forward: 16 → 32 channels
# 4×4/2 1.8 vs 0.7 ms, 32 → 64 5×5 52 vs 30 ms), while its dots are faster
# (MLP PGD-40: 3,790 ex/s with them, 3,020 without). The option lists the
# YNNPACK fusions to keep — dots only; it is per executable, so nothing
# global changes.
EIGEN_CONV_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type":
                      "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


@functools.cache
def _accepts_eigen_conv_options() -> bool:
  try:
    jax.jit(lambda x: x + 1, compiler_options=EIGEN_CONV_OPTIONS).lower(
        jnp.zeros((), jnp.float32)).compile()
  except Exception:  # pylint: disable=broad-except
    return False  # a jaxlib without the option (older, or one that dropped it)
  return True


def cpu_compiler_options() -> dict[str, str]:
  """``jax.jit(fn, compiler_options=cpu_compiler_options())`` for fast CPU
  convolutions.

  Returns:
    ``EIGEN_CONV_OPTIONS`` (a fresh dict) on the CPU backend when this jaxlib
    accepts it; ``{}`` on other backends or otherwise.
  """
  if jax.default_backend() != "cpu" or not _accepts_eigen_conv_options():
    return {}
  return dict(EIGEN_CONV_OPTIONS)


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
  padding, and input dilation with unit strides (a transposed convolution,
  computed as the adjoint of a strided one: see :func:`patch_conv_transpose`);
  anything else (kernel dilation, input dilation with strides or with
  ``preferred_element_type``, feature groups, other layouts) is passed to
  ``lax.conv_general_dilated`` unchanged.

  Args:
    lhs: ``[B, H, W, C]`` inputs.
    rhs: ``[kh, kw, C, O]`` kernel.
    window_strides: ``(sh, sw)``.
    padding: ``"SAME"``, ``"VALID"`` or ``((lo, hi), (lo, hi))``.
    lhs_dilation: ``(dh, dw)`` input dilation (``None``: no dilation).
    rhs_dilation, dimension_numbers, feature_group_count,
      batch_group_count, precision, preferred_element_type: as in
      ``lax.conv_general_dilated``.

  Returns:
    ``[B, Ho, Wo, O]``, equal to ``lax.conv_general_dilated`` up to float
    rounding.
  """
  trivial = lambda d: d is None or all(int(v) == 1 for v in d)  # noqa: E731
  supported = (_is_nhwc_hwio(dimension_numbers, lhs.ndim) and trivial(rhs_dilation)
               and feature_group_count == 1 and batch_group_count == 1)
  if (supported and not trivial(lhs_dilation) and trivial(window_strides)
      and preferred_element_type is None):
    return _dilated_conv(lhs, rhs, tuple(int(d) for d in lhs_dilation), padding,
                         precision=precision)
  if not (supported and trivial(lhs_dilation)):
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count,
        batch_group_count=batch_group_count, precision=precision,
        preferred_element_type=preferred_element_type)
  blocks, w, (ho, wo) = _space_to_depth(lhs, rhs, window_strides, padding)
  kh_b, kw_b, _, cout = w.shape
  # Stride-1 im2col in two stages (kw_b + kh_b slices, not kw_b·kh_b):
  # columns (j, c), then rows (i, j, c) — the order of w's reshape.
  cols = jnp.concatenate([blocks[:, :, j:j + wo] for j in range(kw_b)], axis=-1)
  patches = jnp.concatenate([cols[:, i:i + ho] for i in range(kh_b)], axis=-1)
  return lax.dot_general(patches, w.reshape(-1, cout), (((3,), (0,)), ((), ())),
                         precision=precision,
                         preferred_element_type=preferred_element_type)


def _space_to_depth(lhs, rhs, window_strides, padding):
  """A stride-s NHWC/HWIO convolution as a stride-1, unpadded one.

  Returns ``(blocks, kernel, (ho, wo))``: the padded input's s×s blocks
  ``[B, ho - 1 + kh_b, wo - 1 + kw_b, s²·C]``, the kernel zero-padded to a
  multiple of s and regrouped the same way ``[kh_b, kw_b, s²·C, O]``, and the
  output size; a "VALID" stride-1 convolution of the two is the original one.
  """
  kh, kw, cin, cout = rhs.shape
  sh, sw = (int(s) for s in window_strides)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(lhs.shape[1:3], (kh, kw), (sh, sw), padding)
  (top, bottom), (left, right) = ((int(a), int(b)) for a, b in padding)
  ho = (lhs.shape[1] + top + bottom - kh) // sh + 1
  wo = (lhs.shape[2] + left + right - kw) // sw + 1
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
  return blocks, w.reshape(kh_b, kw_b, sh * sw * cin, cout), (ho, wo)


# Below this many input channels the input tangent is im2col: XLA's
# convolution is slow to produce a few output channels.
_MIN_CONV_TANGENT_CHANNELS = 8


def _input_tangent(da, rhs, window_strides, padding, **kwargs):
  """``conv(da, rhs)`` written so that its *transpose* is a fast convolution.

  JAX transposes a convolution in its input into one whose kernel has the
  feature dimensions swapped (``01oi``), a form XLA's CPU backend runs slowly
  (and, for strides, an input-dilated one, slower still). Handing the kernel
  over already swapped — materialized as ``[kh, kw, O, C]`` with the
  ``HWOI`` layout — makes the transposed convolution an ordinary ``HWIO``
  one on that array, which takes XLA's fast forward path. Strided
  convolutions and few input channels keep :func:`patch_conv` (its transpose
  is matmuls and pads): written through space-to-depth as a stride-1 ``HWOI``
  convolution, a strided one's first-order gradient was 25% faster (small
  CNN) but its second-order one (gradient penalties, GradAlign) 3× slower,
  since the transposed convolution is differentiated by lax's own, slow,
  rules. ``kwargs`` are :func:`patch_conv`'s (NHWC/HWIO, no dilation).
  """
  if (any(int(s) != 1 for s in window_strides)
      or rhs.shape[2] < _MIN_CONV_TANGENT_CHANNELS
      or kwargs.get("preferred_element_type") is not None):
    return patch_conv(da, rhs, window_strides, padding, **kwargs)
  return lax.conv_general_dilated(da, rhs.swapaxes(2, 3), window_strides, padding,
                                  dimension_numbers=("NHWC", "HWOI", "NHWC"),
                                  precision=kwargs.get("precision"))


def _kernel_gradient(lhs, kernel_shape, cotangent, window_strides, padding,
                     precision=None):
  """The kernel gradient of a stride-s NHWC/HWIO convolution, as a plain one.

  Through space-to-depth the convolution is a stride-1, unpadded one over
  s×s blocks; its kernel gradient correlates the blocks with the output
  cotangent over batch and space. Written with the blocks' channels as the
  batch and the batch as the features (``[s²C, H, W, B]`` against the
  cotangent as a ``[Ho, Wo, B, O]`` kernel), that is an ordinary forward
  convolution (``b01f_01io->b01f``). lax's own kernel gradient is a
  convolution with batch and features swapped and a dilated kernel, which
  XLA's CPU backend runs as fast at the top level but 7–90× slower inside a
  ``scan`` or ``while`` loop (batch 128, 16 → 32 4×4/2: 15 vs 0.4 ms;
  32 → 64 5×5: 720 vs 8 ms).
  """
  zeros = jnp.zeros(kernel_shape, cotangent.dtype)
  blocks, _, _ = _space_to_depth(lhs.astype(cotangent.dtype), zeros,
                                 window_strides, padding)
  regroup = lambda w: _space_to_depth(lhs, w, window_strides, padding)[1]  # noqa: E731
  g = lax.conv_general_dilated(blocks.transpose(3, 1, 2, 0),
                               cotangent.transpose(1, 2, 0, 3), (1, 1), "VALID",
                               dimension_numbers=("NHWC", "HWIO", "NHWC"),
                               precision=precision)  # [s²C, kh_b, kw_b, O]
  _, to_kernel = jax.vjp(regroup, zeros)
  return to_kernel(g.transpose(1, 2, 0, 3))[0]


def _kernel_tangent(a, db, window_strides, padding, **kwargs):
  """``conv(a, db)`` written so that its transpose is :func:`_kernel_gradient`.

  It is the linear transpose of that function, so reverse mode, transposing
  it back, runs the plain convolution. ``kwargs`` are :func:`patch_conv`'s
  (NHWC/HWIO, no dilation); with ``preferred_element_type`` lax's
  convolution is used.
  """
  if kwargs.get("preferred_element_type") is not None:
    return lax.conv_general_dilated(a, db, window_strides, padding, **kwargs)
  out = jax.eval_shape(lambda x, w: lax.conv_general_dilated(
      x, w, window_strides, padding, **kwargs), a, db)
  gradient = lambda ct: _kernel_gradient(  # noqa: E731
      a, db.shape, ct, window_strides, padding, kwargs.get("precision"))
  return jax.linear_transpose(gradient, out)(db.astype(out.dtype))[0]


def patch_grad_conv(lhs, rhs, window_strides, padding, lhs_dilation=None,
                    rhs_dilation=None, dimension_numbers=None,
                    feature_group_count=1, batch_group_count=1, precision=None,
                    preferred_element_type=None):
  """XLA's convolution forward, derivatives that stay on XLA's fast paths.

  Same signature, layouts and fallback as :func:`patch_conv`. The convolution
  is bilinear, so its JVP is ``conv(dlhs, rhs) + conv(lhs, drhs)``; each term
  is written so that reverse mode transposes it into fast operations: the
  input's as a convolution with a pre-swapped kernel (see
  :func:`_input_tangent`; its transpose, the input gradient, is an ordinary
  forward convolution), the kernel's so that its transpose, the kernel
  gradient, is an ordinary forward convolution too (see
  :func:`_kernel_gradient`; 2.5–8× faster on CPU than the im2col matmul used
  until 2026-12-07, see :data:`PATCHES_MAX_IN_FEATURES`). A tangent that is
  known to be zero (the kernel's, in an attack) is skipped.

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
  lax_conv = lambda a, b: lax.conv_general_dilated(  # noqa: E731
      a, b, window_strides, padding, **kwargs)
  input_term = lambda da, b: _input_tangent(  # noqa: E731
      da, b, window_strides, padding, **kwargs)
  kernel_term = lambda a, db: _kernel_tangent(  # noqa: E731
      a, db, window_strides, padding, **kwargs)
  return _bilinear_conv(lax_conv, input_term, kernel_term)(lhs, rhs)


def _bilinear_conv(forward, input_term, kernel_term):
  """``forward(a, b)`` with the JVP ``input_term(da, b) + kernel_term(a, db)``.

  A convolution is bilinear, so any pair of formulations of its two partial
  maps gives the same derivatives; reverse mode transposes each term, so
  each is chosen for the speed of its transpose. A tangent known to be zero
  (the kernel's in an attack, the input's for a first layer) is skipped.
  The rule is differentiable again (forward mode, higher orders).
  """
  def conv_jvp(primals, tangents):
    (a, b), (da, db) = primals, tangents
    out = conv(a, b)
    terms = []
    if not isinstance(da, SymbolicZero):
      terms.append(input_term(da, b))
    if not isinstance(db, SymbolicZero):
      terms.append(kernel_term(a, db))
    return out, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(out)

  conv = jax.custom_jvp(forward)
  conv.defjvp(conv_jvp, symbolic_zeros=True)
  return conv


def _dilated_conv(lhs, rhs, lhs_dilation, padding, *, precision):
  """An input-dilated, stride-1 convolution as the adjoint of a strided one.

  ``conv(x, w, 1, (lo, hi), lhs_dilation=s)`` (a stride-``s`` transposed
  convolution) is the transpose, as a linear map of its input, of the
  stride-``s`` convolution ``z ↦ conv(z, flip(w)ᵀ, s, (k-1-lo, k-1-hi))``
  (spatially flipped kernel, input/output channels swapped). Transposing
  :func:`patch_conv` turns its slices into pads and adds and its
  space-to-depth into depth-to-space ("sub-pixel convolution"): one matmul
  ``x @ kernelᵀ`` with no multiply touching the zeros that dilation inserts,
  and gradients that are again shifted slices and matmuls.
  """
  kh, kw, _, cout = rhs.shape
  (sh, sw), (batch, n_h, n_w, _) = lhs_dilation, lhs.shape
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(((n_h - 1) * sh + 1, (n_w - 1) * sw + 1),
                                  (kh, kw), (1, 1), padding)
  (lo_h, hi_h), (lo_w, hi_w) = ((int(a), int(b)) for a, b in padding)
  out_h = (n_h - 1) * sh + 1 + lo_h + hi_h - kh + 1
  out_w = (n_w - 1) * sw + 1 + lo_w + hi_w - kw + 1
  adjoint_kernel = jnp.flip(rhs, (0, 1)).swapaxes(2, 3)
  forward = lambda z: patch_conv(  # noqa: E731
      z, adjoint_kernel, (sh, sw),
      ((kh - 1 - lo_h, kh - 1 - hi_h), (kw - 1 - lo_w, kw - 1 - hi_w)),
      dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=precision)
  out = jax.ShapeDtypeStruct((batch, out_h, out_w, cout),
                             jnp.result_type(lhs, rhs))
  return jax.linear_transpose(forward, out)(lhs.astype(out.dtype))[0]


# Up to this many input channels the im2col matmul is the faster CPU
# convolution forward and for the input gradient (measured, batch 256: 1 → 16
# channels 4×4/2, 1.0 ms against patch_grad_conv's 3–4 ms; 1 → 32 5×5: 15 ms
# against 30–41); with more, XLA's convolution wins. The *kernel* gradient is
# a convolution everywhere (_kernel_gradient): on a 2-core EPYC at batch 128,
# with cpu_compiler_options, a convolution against the im2col matmuls took
# 0.33 vs 0.82 ms (1 → 16, 4×4/2), 1.5 vs 3.7 (16 → 32, 4×4/2), 2.7 vs 9.0
# (1 → 32, 5×5), 16 vs 96 (32 → 64, 5×5), 11 vs 54 ms (64 → 128, 4×4/2);
# with XLA's default options 0.39 vs 0.80 ... 16 vs 50 ms.
PATCHES_MAX_IN_FEATURES = 3


def cpu_conv(lhs, rhs, window_strides, padding, lhs_dilation=None,
             rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
             batch_group_count=1, precision=None, preferred_element_type=None):
  """The CPU default: for inputs with few channels (an image's first layer)
  :func:`patch_conv` forward and for the input gradient, a convolution for
  the kernel gradient (:func:`_kernel_gradient`); :func:`patch_grad_conv`
  otherwise.

  Same signature and values as ``lax.conv_general_dilated``.
  """
  kwargs = dict(lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
                dimension_numbers=dimension_numbers,
                feature_group_count=feature_group_count,
                batch_group_count=batch_group_count, precision=precision,
                preferred_element_type=preferred_element_type)
  few_inputs = (_is_nhwc_hwio(dimension_numbers, lhs.ndim)
                and rhs.shape[2] <= PATCHES_MAX_IN_FEATURES)
  if not few_inputs:
    return patch_grad_conv(lhs, rhs, window_strides, padding, **kwargs)
  if not _patchable(lhs, dimension_numbers, lhs_dilation, rhs_dilation,
                    feature_group_count, batch_group_count):
    return patch_conv(lhs, rhs, window_strides, padding, **kwargs)
  im2col = lambda a, b: patch_conv(a, b, window_strides, padding, **kwargs)  # noqa: E731
  kernel_term = lambda a, db: _kernel_tangent(  # noqa: E731
      a, db, window_strides, padding, **kwargs)
  return _bilinear_conv(im2col, im2col, kernel_term)(lhs, rhs)


def conv_general_dilated(impl: str = "auto"):
  """The convolution function for ``nn.Conv(conv_general_dilated=...)``.

  Args:
    impl: ``"patch_grad"`` (:func:`patch_grad_conv`), ``"patches"``
      (:func:`patch_conv`), ``"lax"`` (``lax.conv_general_dilated``) or
      ``"auto"``: :func:`cpu_conv` (patches for inputs of at most
      ``PATCHES_MAX_IN_FEATURES`` channels, patch_grad otherwise) on the CPU
      backend, lax elsewhere. All give the same values up to float rounding.

  Returns:
    A function with the signature of ``lax.conv_general_dilated``.
  """
  if impl not in CONV_IMPLS:
    raise ValueError(f"`conv_impl` must be one of {CONV_IMPLS}; got {impl!r}.")
  if impl == "auto":
    if jax.default_backend() == "cpu":
      return cpu_conv
    impl = "lax"
  return {"patch_grad": patch_grad_conv, "patches": patch_conv,
          "lax": lax.conv_general_dilated}[impl]


def _transpose_pads(k: int, s: int, padding: str) -> tuple[int, int]:
  """``lax.conv_transpose``'s padding of the dilated input for "SAME"/"VALID"."""
  if padding == "SAME":
    pad_len = k + s - 2
    pad_a = k - 1 if s > k - 1 else -(-pad_len // 2)
  else:
    pad_len = k + s - 2 + max(k - s, 0)
    pad_a = k - 1
  return pad_a, pad_len - pad_a


def patch_conv_transpose(lhs, rhs, strides, padding, rhs_dilation=None,
                         dimension_numbers=None, transpose_kernel=False,
                         precision=None, preferred_element_type=None):
  """``lax.conv_transpose`` as a sub-pixel convolution of shifted slices.

  A stride-``s`` transposed convolution is a convolution of the ``s``-dilated
  input, i.e. the adjoint (input gradient) of a stride-``s`` convolution; it
  is computed as the transpose of :func:`patch_conv`: one matmul, then pads,
  adds and depth-to-space. Neither it nor its gradients multiply the
  dilation's zeros or use XLA's (slow on CPU) dilated convolutions. Same
  signature and conventions as
  ``lax.conv_transpose`` (``"SAME"``/``"VALID"`` are the padding of the
  forward convolution; explicit pairs pad the dilated input, as ``flax.linen.
  ConvTranspose`` passes them). Layouts other than NHWC/HWIO and kernel
  dilation go to ``lax.conv_transpose`` unchanged.

  Args:
    lhs: ``[B, H, W, C]`` inputs.
    rhs: ``[kh, kw, C, O]`` kernel (``[kh, kw, O, C]`` with
      ``transpose_kernel=True``).
    strides: ``(sh, sw)``.
    padding: ``"SAME"``, ``"VALID"`` or ``((lo, hi), (lo, hi))``.
    rhs_dilation, dimension_numbers, transpose_kernel, precision,
      preferred_element_type: as in ``lax.conv_transpose``.

  Returns:
    ``[B, Ho, Wo, O]``, equal to ``lax.conv_transpose`` up to float rounding.
  """
  kwargs = dict(rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
                transpose_kernel=transpose_kernel, precision=precision,
                preferred_element_type=preferred_element_type)
  dn = ("NHWC", "HWIO", "NHWC") if dimension_numbers is None else dimension_numbers
  if not (_is_nhwc_hwio(dn, lhs.ndim) and rhs.ndim == 4
          and (rhs_dilation is None or all(int(v) == 1 for v in rhs_dilation))):
    return lax.conv_transpose(lhs, rhs, strides, padding, **kwargs)
  strides = tuple(int(s) for s in strides)
  if transpose_kernel:
    rhs = jnp.flip(rhs, (0, 1)).swapaxes(2, 3)
  if isinstance(padding, str):
    if padding not in ("SAME", "VALID"):
      raise ValueError(f"`padding` must be 'SAME', 'VALID' or (lo, hi) pairs; "
                       f"got {padding!r}.")
    padding = tuple(_transpose_pads(k, s, padding)
                    for k, s in zip(rhs.shape[:2], strides))
  return patch_conv(lhs, rhs, (1, 1), padding, lhs_dilation=strides,
                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                    precision=precision,
                    preferred_element_type=preferred_element_type)


def conv_transpose(impl: str = "auto"):
  """The transposed-convolution function (``lax.conv_transpose``'s signature).

  Args:
    impl: ``"patches"`` or ``"patch_grad"`` (both
      :func:`patch_conv_transpose`), ``"lax"`` (``lax.conv_transpose``) or
      ``"auto"``: patches on the CPU backend, lax elsewhere. All give the same
      values up to float rounding.

  Returns:
    A function with the signature of ``lax.conv_transpose``.
  """
  conv = conv_general_dilated(impl)
  return lax.conv_transpose if conv is lax.conv_general_dilated else patch_conv_transpose


class ConvTranspose(nn.Module):
  """``flax.linen.ConvTranspose`` (``transpose_kernel=False``) with a choosable
  implementation: the same parameters (``kernel [kh, kw, in, out]``,
  ``bias [out]``) and, as its class name is the same, the same auto-names
  (``ConvTranspose_0``, ...), so checkpoints and weight transfers carry over.

  Attributes:
    features: output channels.
    kernel_size: ``(kh, kw)``.
    strides: ``(sh, sw)`` or an int.
    padding: ``"SAME"``, ``"VALID"``, an int or ``(lo, hi)`` pairs, as in
      ``nn.ConvTranspose`` (``"CIRCULAR"`` is not supported).
    use_bias: add a bias.
    kernel_init, bias_init: initializers.
    precision: as in ``lax.conv_transpose``.
    conv_impl: one of ``CONV_IMPLS`` (see :func:`conv_transpose`).
  """
  features: int
  kernel_size: Sequence[int]
  strides: int | Sequence[int] = 1
  padding: Any = "SAME"
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()
  precision: Any = None
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x):
    conv = conv_transpose(self.conv_impl)
    if x.ndim != 4 or len(self.kernel_size) != 2:
      raise ValueError(f"`x` must be [B, H, W, C] and `kernel_size` 2-D; got "
                       f"x.shape={x.shape}, kernel_size={self.kernel_size}.")
    strides = ((self.strides,) * 2 if isinstance(self.strides, int)
               else tuple(self.strides))
    padding = nn.linear.canonicalize_padding(self.padding, 2)
    if padding == "CIRCULAR":
      raise ValueError("`padding` 'CIRCULAR' is not supported; use "
                       "nn.ConvTranspose.")
    kernel = self.param("kernel", self.kernel_init,
                        tuple(self.kernel_size) + (x.shape[-1], self.features))
    bias = (self.param("bias", self.bias_init, (self.features,))
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias)
    y = conv(x, kernel, strides, padding, precision=self.precision)
    return y if bias is None else y + bias
