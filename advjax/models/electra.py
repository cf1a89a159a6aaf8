"""Masked language models and ELECTRA (Flax Linen), on
:class:`advjax.models.TransformerEncoder`.

Both keep the encoder as a submodule (``params["encoder"]`` of
:class:`MaskedLM`, ``params["discriminator"]`` of :class:`Electra`), so after
pretraining its parameters drop into a :class:`TransformerClassifier` of the
same size for fine-tuning (see :func:`encoder_params`).

References:
  Devlin et al., 2019 (BERT, masked LM). https://arxiv.org/abs/1810.04805
  Clark et al., 2020 (ELECTRA). https://arxiv.org/abs/2003.10555
"""
from __future__ import annotations

import flax.linen as nn
import jax

from advjax.models.transformer import EncoderStack
from advjax.models.transformer import TransformerEncoder
from advjax.models.transformer import input_mask


class MLMHead(nn.Module):
  """Dense → GELU → LayerNorm → logits over the vocabulary through the tied
  input embedding table (plus a per-word bias), as in BERT."""

  @nn.compact
  def __call__(self, h: jax.Array, table: jax.Array) -> jax.Array:
    h = nn.LayerNorm()(nn.gelu(nn.Dense(table.shape[-1])(h)))
    bias = self.param("bias", nn.initializers.zeros, (table.shape[0],))
    return h @ table.T.astype(h.dtype) + bias


class MaskedLM(nn.Module):
  """A :class:`TransformerEncoder` with a tied masked-LM head.

  Attributes are the encoder's. ``__call__(tokens, mask=None, *, train)``
  returns vocabulary logits ``[B, T, V]``.
  """
  vocab_size: int
  max_len: int = 64
  d_model: int = 64
  num_heads: int = 4
  num_layers: int = 2
  mlp_dim: int = 128
  dropout_rate: float = 0.1
  pad_id: int = 0

  def setup(self):
    self.encoder = TransformerEncoder(
        self.vocab_size, self.max_len, self.d_model, self.num_heads,
        self.num_layers, self.mlp_dim, self.dropout_rate, self.pad_id)
    self.head = MLMHead()

  def __call__(self, tokens: jax.Array, mask: jax.Array | None = None, *,
               train: bool = False) -> jax.Array:
    h = self.encoder(tokens, mask, train=train)
    return self.head(h, self.encoder.token_embed.embedding)


class Electra(nn.Module):
  """ELECTRA: a small masked-LM generator and a replaced-token discriminator
  that share token and position embeddings.

  The discriminator is a :class:`TransformerEncoder` (``d_model`` wide, its
  embeddings the shared ones) with a linear per-token head; the generator
  reads the same embeddings, projected to its own width
  ``generator_d_model`` (¼ of the discriminator's by default, the paper's
  best ratio), through an :class:`EncoderStack` and a tied :class:`MLMHead`.

  Methods (``mask``: ``[B, T]`` bool of real tokens, default ``tokens !=
  pad_id``):

  * ``generator_logits(tokens, mask=None, *, train)`` → ``[B, T, V]``;
  * ``discriminator_logits(tokens, mask=None, *, train)`` → ``[B, T]``, the
    logit that a token was replaced;
  * ``__call__`` → both (for ``init``).

  Parameters of the generator alone live under ``generator_in``,
  ``generator`` and ``generator_head`` (see :data:`GENERATOR_PARAMS`).

  References:
    Clark et al., 2020, sections 2 and 3.2. https://arxiv.org/abs/2003.10555
  """
  vocab_size: int
  max_len: int = 64
  d_model: int = 64
  num_heads: int = 4
  num_layers: int = 2
  mlp_dim: int = 128
  generator_d_model: int | None = None  # default d_model // 4
  generator_num_heads: int = 1
  generator_num_layers: int | None = None  # default num_layers
  generator_mlp_dim: int | None = None  # default 4 · generator_d_model
  dropout_rate: float = 0.1
  pad_id: int = 0

  def setup(self):
    g_width = self.generator_d_model or max(1, self.d_model // 4)
    self.discriminator = TransformerEncoder(
        self.vocab_size, self.max_len, self.d_model, self.num_heads,
        self.num_layers, self.mlp_dim, self.dropout_rate, self.pad_id)
    self.rtd_head = nn.Dense(1)
    self.generator_in = nn.Dense(g_width)
    self.generator = EncoderStack(
        self.generator_num_heads, self.generator_num_layers or self.num_layers,
        self.generator_mlp_dim or 4 * g_width, self.dropout_rate)
    self.generator_head = MLMHead()

  def generator_logits(self, tokens: jax.Array, mask: jax.Array | None = None, *,
                       train: bool = False) -> jax.Array:
    mask = input_mask(tokens, mask, pad_id=self.pad_id)
    d = self.discriminator
    x = self.generator_in(d.add_positions(d.embed(tokens), train=train))
    h = self.generator(x, mask, train=train)
    return self.generator_head(h, d.token_embed.embedding)

  def discriminator_logits(self, tokens: jax.Array, mask: jax.Array | None = None,
                           *, train: bool = False) -> jax.Array:
    h = self.discriminator(tokens, mask, train=train)
    return self.rtd_head(h)[..., 0]

  def __call__(self, tokens: jax.Array, mask: jax.Array | None = None, *,
               train: bool = False):
    return (self.generator_logits(tokens, mask, train=train),
            self.discriminator_logits(tokens, mask, train=train))


GENERATOR_PARAMS = ("generator_in", "generator", "generator_head")


def encoder_params(params) -> dict:
  """The :class:`TransformerEncoder` parameters of a pretrained
  :class:`MaskedLM` (``"encoder"``) or :class:`Electra` (``"discriminator"``):
  with a ``"head"`` added they are the parameters of a
  :class:`TransformerClassifier` of the same size."""
  for name in ("discriminator", "encoder"):
    if name in params:
      return dict(params[name])
  raise ValueError("`params` must be those of a MaskedLM ('encoder') or an "
                   f"Electra model ('discriminator'); got keys {sorted(params)}.")
