"""A small Transformer encoder for text (Flax Linen, pre-LayerNorm).

The forward pass takes either token ids ``[B, T]`` (integers) or input
embeddings ``[B, T, D]`` (floats), so attacks and adversarial training
(embedding PGD, HotFlip, FreeLB) can act on the embeddings of the tokens.
``embed(tokens)`` gives those word embeddings; learned position embeddings
are added inside the forward pass, after any perturbation, as in BERT-style
FreeLB.

References:
  Vaswani et al., 2017. https://arxiv.org/abs/1706.03762
  Zhu et al., 2020 (FreeLB). https://arxiv.org/abs/1909.11764
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P


def embedding_lookup(table: jax.Array, ids: jax.Array) -> jax.Array:
  """Rows ``table[ids]``, shape ``ids.shape + table.shape[1:]``.

  Under an explicit-sharding mesh the output keeps the sharding of ``ids``
  (e.g. batch-sharded over ``data``), which a plain ``jnp.take`` cannot infer.
  """
  typeof = getattr(jax, "typeof", None)  # JAX >= 0.6
  sharding = typeof(ids).sharding if typeof is not None else None
  spec = getattr(sharding, "spec", None)
  if spec is None:
    return jnp.take(table, ids, axis=0)
  row = (None,) * (table.ndim - 1)
  return table.at[ids].get(out_sharding=sharding.update(spec=P(*spec, *row)))


class EncoderBlock(nn.Module):
  """Pre-LN block: ``x + attn(LN(x))`` then ``x + MLP(LN(x))``."""
  num_heads: int
  mlp_dim: int
  dropout_rate: float = 0.1

  @nn.compact
  def __call__(self, x, key_mask, *, train: bool = False):
    drop = nn.Dropout(self.dropout_rate, deterministic=not train)
    h = nn.MultiHeadDotProductAttention(
        num_heads=self.num_heads, dropout_rate=self.dropout_rate,
        deterministic=not train)(nn.LayerNorm()(x), mask=key_mask)
    x = x + drop(h)
    h = nn.Dense(self.mlp_dim)(nn.LayerNorm()(x))
    h = nn.Dense(x.shape[-1])(nn.gelu(h))
    return x + drop(h)


class EncoderStack(nn.Module):
  """``num_layers`` pre-LN :class:`EncoderBlock` s and a final LayerNorm, on
  embeddings ``[B, T, D]`` (any ``D`` divisible by ``num_heads``).

  The body of :class:`TransformerEncoder`, usable on its own where the
  embeddings come from elsewhere (e.g. ELECTRA's generator, which reads the
  discriminator's embeddings).
  """
  num_heads: int = 4
  num_layers: int = 2
  mlp_dim: int = 128
  dropout_rate: float = 0.1

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False):
    """Encodes ``x [B, T, D]``; ``mask [B, T]`` is True on real tokens."""
    if x.shape[-1] % self.num_heads:
      raise ValueError(f"`num_heads` ({self.num_heads}) must divide the width "
                       f"({x.shape[-1]}).")
    key_mask = mask[:, None, None, :]  # padding is never attended to
    for i in range(self.num_layers):
      x = EncoderBlock(self.num_heads, self.mlp_dim, self.dropout_rate,
                       name=f"blocks_{i}")(x, key_mask, train=train)
    return nn.LayerNorm(name="final_norm")(x)


class TransformerEncoder(nn.Module):
  """Token (or embedding) sequences to contextual features ``[B, T, D]``.

  Attributes:
    vocab_size: number of token ids.
    max_len: longest sequence (size of the position table).
    d_model: embedding and residual width ``D``.
    num_heads: attention heads (must divide ``d_model``).
    num_layers: encoder blocks.
    mlp_dim: hidden width of each block's MLP.
    dropout_rate: dropout on embeddings, attention weights and residual
      branches (active only with ``train=True``).
    pad_id: the padding id; with token inputs the mask is ``tokens != pad_id``.
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
    if self.d_model % self.num_heads:
      raise ValueError(f"`num_heads` ({self.num_heads}) must divide `d_model` "
                       f"({self.d_model}).")
    # Word and position embeddings start at the same scale (unit expected
    # norm per token), so word order is visible from the first step.
    init = nn.initializers.normal(self.d_model ** -0.5)
    self.token_embed = nn.Embed(self.vocab_size, self.d_model, embedding_init=init)
    self.pos_embed = self.param("pos_embed", init, (self.max_len, self.d_model))
    self.stack = EncoderStack(self.num_heads, self.num_layers, self.mlp_dim,
                              self.dropout_rate)
    self.dropout = nn.Dropout(self.dropout_rate)

  def embed(self, tokens: jax.Array) -> jax.Array:
    """Word embeddings ``[B, T, D]`` of integer ``tokens [B, T]``."""
    return embedding_lookup(self.token_embed.embedding, tokens)

  def add_positions(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """``dropout(x + position embeddings)`` for word embeddings ``x [B, T, D]``."""
    if x.shape[-1] != self.d_model:
      raise ValueError(f"embedding `inputs` must have {self.d_model} features; "
                       f"got shape {x.shape}.")
    if x.shape[1] > self.max_len:
      raise ValueError(f"`inputs` has {x.shape[1]} positions; the model's "
                       f"`max_len` is {self.max_len}.")
    return self.dropout(x + self.pos_embed[: x.shape[1]], deterministic=not train)

  def __call__(self, inputs: jax.Array, mask: jax.Array | None = None, *,
               train: bool = False) -> jax.Array:
    """Encodes ``inputs``.

    Args:
      inputs: token ids ``[B, T]`` (integer) or word embeddings ``[B, T, D]``
        (floating), e.g. ``embed(tokens) + delta``.
      mask: ``[B, T]`` bool, True on real tokens. Default: ``tokens != pad_id``
        for token inputs, all True for embeddings.
      train: enables dropout (needs a ``"dropout"`` rng).

    Returns:
      ``[B, T, D]`` features after the final LayerNorm.
    """
    mask = input_mask(inputs, mask, pad_id=self.pad_id)
    x = self.embed(inputs) if inputs.ndim == 2 else inputs
    return self.stack(self.add_positions(x, train=train), mask, train=train)


def input_mask(inputs: jax.Array, mask: jax.Array | None = None, *,
               pad_id: int = 0) -> jax.Array:
  """The ``[B, T]`` bool mask of real tokens for token ids or embeddings.

  Checks ``inputs`` (integer ``[B, T]`` or floating ``[B, T, D]``) and
  ``mask``. Default: ``tokens != pad_id`` for ids, all True for embeddings.
  """
  if jnp.issubdtype(inputs.dtype, jnp.integer):
    if inputs.ndim != 2:
      raise ValueError(f"token `inputs` must have shape [B, T]; got {inputs.shape}.")
    default = inputs != pad_id
  elif jnp.issubdtype(inputs.dtype, jnp.floating):
    if inputs.ndim != 3:
      raise ValueError(f"embedding `inputs` must have shape [B, T, D]; got "
                       f"{inputs.shape}.")
    default = jnp.ones(inputs.shape[:2], jnp.bool_)
  else:
    raise TypeError(f"`inputs` must be integer token ids or floating "
                    f"embeddings; got dtype {inputs.dtype}.")
  if mask is None:
    return default
  if mask.shape != inputs.shape[:2]:
    raise ValueError(f"`mask` must have shape {inputs.shape[:2]}; got {mask.shape}.")
  return mask.astype(jnp.bool_)


class TransformerClassifier(TransformerEncoder):
  """:class:`TransformerEncoder` → masked mean over tokens → linear head.

  Has the encoder's attributes plus ``num_classes``; ``embed(tokens)`` and
  ``__call__(inputs, mask=None, *, train=False)`` as for the encoder, the
  forward pass returning logits ``[B, num_classes]``.
  """
  num_classes: int = 2

  def setup(self):
    super().setup()
    self.head = nn.Dense(self.num_classes)

  def __call__(self, inputs: jax.Array, mask: jax.Array | None = None, *,
               train: bool = False) -> jax.Array:
    mask = input_mask(inputs, mask, pad_id=self.pad_id)
    h = super().__call__(inputs, mask, train=train)
    weights = mask.astype(h.dtype)[..., None]
    pooled = jnp.sum(h * weights, axis=1) / jnp.maximum(
        jnp.sum(weights, axis=1), 1.0)
    return self.head(pooled)
