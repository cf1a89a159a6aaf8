"""Text classification data: a word-level vocabulary, an offline synthetic
sentiment grammar and GLUE SST-2 through ``tfds.data_source``.

Every source returns ``(train, test, vocab)`` with :class:`TextSplit` splits of
padded ``int32`` token ids (``vocab.pad_id`` is 0) and ``int32`` labels.
"""
from __future__ import annotations

import collections
import re
from typing import Iterable, NamedTuple, Sequence

import numpy as np

PAD = "<pad>"
UNK = "<unk>"

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|'[a-z]+|[^\sa-z0-9]")


def tokenize(text: str | bytes) -> list[str]:
  """Lower-cased words, contractions (``'s``) and punctuation marks."""
  if isinstance(text, bytes):
    text = text.decode("utf-8")
  return _TOKEN.findall(text.lower())


class Vocabulary:
  """A word ↔ id map with ``<pad>`` = 0 and ``<unk>`` = 1.

  Args:
    words: the vocabulary words, most important first (no duplicates).
  """

  def __init__(self, words: Iterable[str]):
    self.words: list[str] = [PAD, UNK]
    for w in words:
      if w not in (PAD, UNK):
        self.words.append(w)
    self.index = {w: i for i, w in enumerate(self.words)}
    if len(self.index) != len(self.words):
      raise ValueError("`words` must not contain duplicates.")

  pad_id = 0
  unk_id = 1

  @classmethod
  def build(cls, texts: Iterable[str | bytes], *, max_size: int | None = None,
            min_count: int = 1) -> "Vocabulary":
    """The ``max_size`` most frequent words of ``texts`` (ties: first seen)."""
    counts = collections.Counter(w for t in texts for w in tokenize(t))
    words = [w for w, c in counts.most_common() if c >= min_count]
    if max_size is not None:
      words = words[: max(0, max_size - 2)]
    return cls(words)

  def __len__(self) -> int:
    return len(self.words)

  def ids(self, words: Sequence[str]) -> np.ndarray:
    """The ids of ``words`` (unknown words map to ``unk_id``)."""
    return np.asarray([self.index.get(w, self.unk_id) for w in words], np.int32)

  def encode(self, texts: Sequence[str | bytes], max_len: int) -> np.ndarray:
    """``[N, max_len]`` ids of ``texts``, truncated and right-padded with 0."""
    if max_len < 1:
      raise ValueError(f"`max_len` must be >= 1; got {max_len}.")
    out = np.zeros((len(texts), max_len), np.int32)
    for row, text in enumerate(texts):
      ids = self.ids(tokenize(text))[:max_len]
      out[row, : len(ids)] = ids
    return out

  def decode(self, ids: Sequence[int]) -> str:
    """The words of ``ids`` joined by spaces, padding dropped."""
    return " ".join(self.words[int(i)] for i in np.asarray(ids) if i != self.pad_id)


class TextSplit(NamedTuple):
  """An in-memory split: ``tokens [N, T]`` int32 (0-padded), ``label [N]`` int32."""
  tokens: np.ndarray
  label: np.ndarray

  def __len__(self) -> int:
    return len(self.label)

  def as_dict(self) -> dict:
    return {"tokens": self.tokens, "label": self.label}


# The synthetic grammar's lexicon. The label depends only on polar words,
# negations and intensifiers; neutral words never change it.
POSITIVE = ("good", "great", "excellent", "wonderful", "superb", "delightful",
            "brilliant", "charming", "enjoyable", "moving", "fun", "beautiful",
            "clever", "gripping", "funny", "fresh")
NEGATIVE = ("bad", "awful", "terrible", "boring", "dull", "poor", "weak",
            "tedious", "bland", "clumsy", "mediocre", "ugly", "predictable",
            "lifeless", "silly", "stale")
NEGATIONS = ("not", "never", "hardly")
INTENSIFIERS = ("very", "really", "extremely", "truly")
NEUTRAL = ("the", "a", "this", "movie", "film", "plot", "acting", "story",
           "cast", "script", "ending", "music", "dialogue", "director",
           "scenes", "camera", "was", "is", "felt", "seemed", "looked",
           "overall", "and", "but", "also", "yet", "honestly", "frankly",
           "today", "again", "of", "course", ",", ".")
_SUBJECTS = ("movie", "film", "plot", "acting", "story", "cast", "script",
             "ending", "music", "dialogue", "director", "scenes", "camera")
_VERBS = ("was", "is", "felt", "seemed", "looked")
_DETERMINERS = ("the", "this", "the", "a")
_ADVERBS = ("overall", "honestly", "frankly", "today", "again", "also",
            "of course")
_JOINERS = ("and", "but", ",", "yet", "and also", ", but")


def polarity(words: Sequence[str]) -> int:
  """The grammar's net polarity of a word sequence.

  Each polar word counts ±1, doubled by an intensifier and negated by a
  negation among the (at most two) words right before it: "not very good"
  scores −2, "very good" +2, "not bad" +1. The label is ``polarity > 0``.
  """
  total = 0
  for i, w in enumerate(words):
    sign = 1 if w in POSITIVE else -1 if w in NEGATIVE else 0
    if not sign:
      continue
    before = words[max(0, i - 2): i]
    if before and before[-1] in INTENSIFIERS:
      sign *= 2
    if any(b in NEGATIONS for b in before):
      sign = -sign
    total += sign
  return total


def _pick(rng: np.random.Generator, words: Sequence[str]) -> str:
  return words[int(rng.integers(len(words)))]


def _clause(rng: np.random.Generator) -> list[str]:
  words = [_pick(rng, _DETERMINERS), _pick(rng, _SUBJECTS), _pick(rng, _VERBS)]
  if rng.random() < 0.4:
    words.append(_pick(rng, NEGATIONS))
  if rng.random() < 0.35:
    words.append(_pick(rng, INTENSIFIERS))
  words.append(_pick(rng, POSITIVE if rng.random() < 0.5 else NEGATIVE))
  return words


def _sentence(rng: np.random.Generator, max_clauses: int) -> list[str]:
  n = int(rng.integers(1, max_clauses + 1))
  words = _clause(rng)
  for _ in range(n - 1):
    words += _pick(rng, _JOINERS).split() + _clause(rng)
  if rng.random() < 0.3:
    adverb = _pick(rng, _ADVERBS).split()
    words = adverb + words if rng.random() < 0.5 else words + adverb
  return words + ["."]


def synthetic_sentiment(*, n_train: int = 4000, n_test: int = 1000,
                        max_clauses: int = 2, max_len: int = 20,
                        seed: int = 0) -> tuple[TextSplit, TextSplit, Vocabulary]:
  """An offline sentiment task from a small polarity grammar.

  A sentence is 1..``max_clauses`` clauses such as "the plot was not very
  dull", joined by neutral words, with optional neutral adverbs. Each clause
  ends in a positive or negative word, optionally preceded by a negation
  (flips its sign) and an intensifier (doubles it); the label is 1 when the
  net :func:`polarity` is positive, 0 when negative (ties are redrawn). A
  bag-of-words model cannot solve it: "not bad" and "not good" hold the same
  function words, and which polar word a negation or an intensifier attaches
  to is a matter of order ("good but not very bad" vs "bad but not very good").

  Args:
    n_train: training sentences.
    n_test: test sentences (drawn from the same grammar, disjoint rng stream).
    max_clauses: the most clauses per sentence, >= 1.
    max_len: padded length; must hold the longest possible sentence.
    seed: the generator's seed.

  Returns:
    ``(train, test, vocab)``; classes are balanced by rejection.
  """
  if max_clauses < 1:
    raise ValueError(f"`max_clauses` must be >= 1; got {max_clauses}.")
  longest = 6 * max_clauses + 2 * (max_clauses - 1) + 3
  if max_len < longest:
    raise ValueError(f"`max_len` must be >= {longest} for {max_clauses} "
                     f"clauses; got {max_len}.")
  vocab = Vocabulary(NEUTRAL + NEGATIONS + INTENSIFIERS + POSITIVE + NEGATIVE)
  rng = np.random.default_rng(seed)

  def draw(n):
    sentences, labels, per_class = [], [], [0, 0]
    while len(sentences) < n:
      words = _sentence(rng, max_clauses)
      score = polarity(words)
      label = int(score > 0)
      if score == 0 or per_class[label] >= (n + 1 - label) // 2:
        continue
      per_class[label] += 1
      sentences.append(" ".join(words))
      labels.append(label)
    return TextSplit(vocab.encode(sentences, max_len), np.asarray(labels, np.int32))

  return draw(n_train), draw(n_test), vocab


def sst2(*, max_len: int = 48, vocab_size: int = 10000, data_dir: str | None = None,
         n_train: int | None = None) -> tuple[TextSplit, TextSplit, Vocabulary]:
  """GLUE SST-2 (movie-review sentences, binary sentiment) via TFDS.

  Uses ``tfds.data_source`` (random access, no TensorFlow needed): the
  ``train`` split for training and the labelled ``validation`` split as the
  test set. The vocabulary is the ``vocab_size`` most frequent training words.

  Args:
    max_len: padded length (longer sentences are truncated).
    vocab_size: vocabulary size including ``<pad>`` and ``<unk>``.
    data_dir: TFDS data directory (default: TFDS's).
    n_train: optionally keep only the first ``n_train`` training sentences.

  Returns:
    ``(train, test, vocab)``.

  References:
    Socher et al., 2013. https://aclanthology.org/D13-1170/
    Wang et al., 2019 (GLUE). https://arxiv.org/abs/1804.07461
  """
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  # Registers the GLUE builder, which a TensorFlow-free install does not import.
  import tensorflow_datasets.text.glue  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

  def read(split, limit):
    source = tfds.data_source("glue/sst2", split=split, data_dir=data_dir)
    n = len(source) if limit is None else min(limit, len(source))
    records = [source[i] for i in range(n)]
    return ([r["sentence"] for r in records],
            np.asarray([int(r["label"]) for r in records], np.int32))

  train_text, train_label = read("train", n_train)
  test_text, test_label = read("validation", None)
  vocab = Vocabulary.build(train_text, max_size=vocab_size)
  return (TextSplit(vocab.encode(train_text, max_len), train_label),
          TextSplit(vocab.encode(test_text, max_len), test_label), vocab)


MASK = "[mask]"
CLS = "[cls]"


def markov_corpus(*, n_train: int = 20000, n_test: int = 1000, n_words: int = 256,
                  n_chains: int = 4, branching: int = 8, zipf_exponent: float = 1.0,
                  topic_exponent: float = 1.0, min_len: int = 12, max_len: int = 32,
                  seed: int = 0) -> tuple[TextSplit, TextSplit, Vocabulary]:
  """A synthetic language of ``n_chains`` Zipfian Markov chains over one vocabulary.

  Chain ``k`` ranks the words in its own random order. It starts from a
  word drawn Zipfian (``∝ 1/rank^s``) in that order, and gives each word
  ``branching`` successors, drawn without replacement with probabilities
  ``∝ 1/rank^topic_exponent`` in that order and then followed with Zipfian
  probabilities ``∝ 1/i^s``, ``i = 1 … branching``. A sentence is ``[cls]``
  followed by a walk of ``min_len − 1 … max_len − 1`` words of one chain;
  its label is the chain. All chains share all words: a chain shows in
  which words co-occur (its "topic") and in its transitions, both learnable
  from unlabelled text. A masked language model has to infer the latent
  chain to predict masked words well, which is what makes pretraining on
  the unlabelled corpus useful for classifying the chain from a few
  labelled sentences, where rare words are seen too seldom to be learnt.

  Args:
    n_train: training sentences (labels included; pretraining ignores them).
    n_test: test sentences (same chains, a disjoint random stream).
    n_words: words of the language (plus ``<pad>``, ``<unk>``, ``[mask]``,
      ``[cls]``).
    n_chains: chains, i.e. classes.
    branching: successors per word per chain.
    zipf_exponent: ``s`` of the successor and start distributions.
    topic_exponent: how strongly a chain prefers its own frequent words when
      choosing successors (0: successors uniform over all words, so chains
      differ only in their transitions).
    min_len: shortest sentence, ``[cls]`` included (>= 2).
    max_len: padded length and longest sentence.
    seed: the chains and the sentences.

  Returns:
    ``(train, test, vocab)``: :class:`TextSplit` s of ``[N, max_len]`` ids
    (``[cls]`` first, 0-padded) and the chain labels; ``vocab`` holds the
    special words ``<pad>`` (0), ``<unk>`` (1), ``[mask]`` (2), ``[cls]`` (3).
  """
  for name, value, low in (("n_words", n_words, 2), ("n_chains", n_chains, 2),
                           ("branching", branching, 1), ("min_len", min_len, 2),
                           ("n_train", n_train, 1), ("n_test", n_test, 1)):
    if int(value) != value or value < low:
      raise ValueError(f"`{name}` must be an integer >= {low}; got {value!r}.")
  if branching > n_words:
    raise ValueError(f"`branching` must be <= n_words = {n_words}; got {branching}.")
  if max_len < min_len:
    raise ValueError(f"`max_len` must be >= min_len = {min_len}; got {max_len}.")
  for name, value in (("zipf_exponent", zipf_exponent),
                      ("topic_exponent", topic_exponent)):
    if value < 0:
      raise ValueError(f"`{name}` must be >= 0; got {value!r}.")
  vocab = Vocabulary([MASK, CLS] + [f"w{i}" for i in range(n_words)])
  first = vocab.index["w0"]
  rng = np.random.default_rng(seed)
  zipf = 1.0 / np.arange(1, n_words + 1) ** zipf_exponent
  succ_p = zipf[:branching] / zipf[:branching].sum()
  start_p = zipf / zipf.sum()
  topic_p = 1.0 / np.arange(1, n_words + 1) ** topic_exponent
  topic_p /= topic_p.sum()
  # Chain k ranks the words in its own random order; the start word and
  # every word's successors are drawn Zipfian in that order, so each chain
  # also has its own "topic" of frequent words.
  order = np.stack([rng.permutation(n_words) for _ in range(n_chains)])
  successors = np.stack([  # [chains, words, branching]
      np.stack([order[k][rng.choice(n_words, branching, replace=False, p=topic_p)]
                for _ in range(n_words)])
      for k in range(n_chains)])
  start_order = order

  def draw(n, stream):
    r = np.random.default_rng([seed, stream])
    labels = r.integers(n_chains, size=n).astype(np.int32)
    lengths = r.integers(min_len, max_len + 1, size=n)
    out = np.zeros((n, max_len), np.int32)
    out[:, 0] = vocab.index[CLS]
    word = start_order[labels, r.choice(n_words, size=n, p=start_p)]
    for t in range(1, max_len):
      out[:, t] = np.where(t < lengths, first + word, vocab.pad_id)
      word = successors[labels, word, r.choice(branching, size=n, p=succ_p)]
    return TextSplit(out, labels)

  return draw(n_train, 1), draw(n_test, 2), vocab
