"""Tokenizer, vocabulary, the synthetic sentiment grammar and SST-2 via TFDS."""
import numpy as np
import pytest
import tensorflow_datasets as tfds

from advjax import data
from advjax.data import text


def test_tokenizer_and_vocabulary_round_trip():
  assert text.tokenize("It's a GREAT film, isn't it?") == [
      "it's", "a", "great", "film", ",", "isn't", "it", "?"]
  assert text.tokenize(b"the plot .") == ["the", "plot", "."]
  vocab = data.Vocabulary.build(["a b b c", "b c c c", "d"], max_size=5)
  assert vocab.words == ["<pad>", "<unk>", "c", "b", "a"]
  assert len(vocab) == 5 and vocab.pad_id == 0 and vocab.unk_id == 1
  ids = vocab.encode(["c b zzz", "a a a a a a"], max_len=4)
  np.testing.assert_array_equal(ids, [[2, 3, 1, 0], [4, 4, 4, 4]])
  assert ids.dtype == np.int32
  assert vocab.decode(ids[0]) == "c b <unk>"
  with pytest.raises(ValueError, match="max_len"):
    vocab.encode(["a"], max_len=0)
  with pytest.raises(ValueError, match="duplicates"):
    data.Vocabulary(["a", "a"])


def test_polarity_rules():
  score = lambda s: data.polarity(s.split())  # noqa: E731
  assert score("the plot was good") == 1
  assert score("the plot was not good") == -1
  assert score("the plot was very good") == 2
  assert score("the plot was not very good") == -2
  assert score("the plot was hardly extremely dull") == 2
  assert score("good but not very bad") == 3
  assert score("bad but not very good") == -3
  assert score("the movie was not , the plot was fun") == 1  # negation scope: 2 words


def test_synthetic_sentiment_is_consistent_balanced_and_not_bag_of_words():
  train, test, vocab = data.synthetic_sentiment(n_train=1000, n_test=301, seed=1)
  assert train.tokens.shape == (1000, 20) and train.tokens.dtype == np.int32
  assert test.label.dtype == np.int32 and len(test) == 301
  assert train.label.sum() == 500 and test.label.sum() == 150
  for split in (train, test):
    for tokens, label in zip(split.tokens, split.label):
      words = vocab.decode(tokens).split()
      assert "<unk>" not in words
      score = data.polarity(words)
      assert score != 0 and int(score > 0) == label
  # Same seed, same data; the splits differ.
  again, _, _ = data.synthetic_sentiment(n_train=1000, n_test=1, seed=1)
  np.testing.assert_array_equal(again.tokens, train.tokens)
  assert not np.array_equal(train.tokens[:301], test.tokens)
  # A linear bag-of-words model cannot solve it (negation is an XOR, scope is
  # order), while the label is a deterministic function of the word sequence.
  from sklearn.linear_model import LogisticRegression  # pylint: disable=import-outside-toplevel

  def bag(split):
    counts = np.zeros((len(split), len(vocab)))
    rows = np.repeat(np.arange(len(split)), split.tokens.shape[1])
    np.add.at(counts, (rows, split.tokens.ravel()), 1)
    return counts[:, 1:]

  clf = LogisticRegression(max_iter=1000).fit(bag(train), train.label)
  assert clf.score(bag(test), test.label) < 0.7
  with pytest.raises(ValueError, match="max_len"):
    data.synthetic_sentiment(n_train=10, n_test=10, max_clauses=3, max_len=20)


def test_sst2_through_tfds_mock_data():
  with tfds.testing.mock_data(num_examples=24,
                              policy=tfds.testing.MockPolicy.USE_CODE):
    train, test, vocab = data.sst2(max_len=12, vocab_size=50)
  assert train.tokens.shape == (24, 12) and test.tokens.shape == (24, 12)
  assert train.tokens.dtype == np.int32 and train.label.dtype == np.int32
  assert set(np.unique(train.label)) <= {0, 1}
  assert 2 < len(vocab) <= 50
  assert train.tokens.max() < len(vocab)
  # Mock sentences are random words: most training tokens are in the vocabulary.
  real = train.tokens[train.tokens != vocab.pad_id]
  assert real.size > 0 and np.mean(real != vocab.unk_id) > 0.5
