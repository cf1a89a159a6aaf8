"""ELECTRA vs masked-LM pretraining on a synthetic language, judged downstream.

The corpus (:func:`advjax.data.markov_corpus`) is written by several Zipfian
Markov chains over one vocabulary; a sentence's label is the chain that wrote
it, visible only in its transitions. Two models of the same size pretrain
on the unlabelled sentences with the same batches and number of steps:

* ELECTRA (Clark et al. 2020): a generator of ¼ the width, trained as a
  masked LM, proposes replacements for 15% of the tokens (Gumbel-max
  samples, no gradient through them); the discriminator learns to tell, at
  every position, original from replaced tokens; loss MLM + 50·RTD;
* a masked-LM baseline (BERT-style, every chosen token → [mask]).

At every pretraining checkpoint (step 0 included) the encoder (ELECTRA's
discriminator, the MLM's encoder) is fine-tuned as a classifier on a few
labelled sentences and its test accuracy recorded. ``steps_to_mlm_final`` is
the first checkpoint at which ELECTRA reaches the MLM's final accuracy.

Run: ``python -m experiments.electra [--preset smoke|default|full]``.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from advjax import data
from advjax import models
from advjax import train
from experiments import common
from experiments._gan_common import run_on_mesh
from experiments._gan_common import scan_chunk

MODELS = ("electra", "mlm")


@dataclasses.dataclass(frozen=True)
class Config:
  n_pretrain: int = 20000
  n_test: int = 1000
  n_labelled: int = 32  # labelled sentences for fine-tuning, all classes
  n_words: int = 64
  n_chains: int = 4
  branching: int = 4
  topic_exponent: float = 0.3  # naive Bayes: 0.82 from 32 labels, 0.92 from all
  min_len: int = 10
  max_len: int = 24
  d_model: int = 32
  num_heads: int = 2
  num_layers: int = 2
  mlp_dim: int = 64
  generator_d_model: int = 8  # ¼ of d_model
  dropout: float = 0.0
  rtd_weight: float = 50.0
  mask_prob: float = 0.15
  pretrain_steps: int = 1200
  chunk_steps: int = 150  # a downstream evaluation after every chunk
  batch_size: int = 64
  learning_rate: float = 3e-3
  warmup_steps: int = 50
  finetune_steps: int = 100
  finetune_batch: int = 32
  finetune_lr: float = 1e-3
  finetune_seeds: int = 2
  eval_batch: int = 500
  seed: int = 0


PRESETS = {
    "smoke": Config(n_pretrain=256, n_test=64, n_labelled=16, n_words=32,
                    branching=4, min_len=6, max_len=12, d_model=16, num_heads=2,
                    num_layers=1, mlp_dim=32, generator_d_model=8,
                    pretrain_steps=4, chunk_steps=2, batch_size=16,
                    warmup_steps=1, finetune_steps=4, finetune_batch=8,
                    finetune_seeds=1, eval_batch=32),
    "default": Config(),
    "full": Config(n_pretrain=200000, n_test=5000, n_labelled=256, n_words=2048,
                   n_chains=8, branching=16, min_len=16, max_len=64,
                   d_model=256, num_heads=4, num_layers=4, mlp_dim=1024,
                   generator_d_model=64, dropout=0.1, pretrain_steps=50000,
                   chunk_steps=5000, batch_size=128, learning_rate=5e-4,
                   warmup_steps=2000, finetune_steps=500, finetune_seeds=3,
                   eval_batch=1000),
}


def _modules(cfg, vocab):
  common_kw = dict(vocab_size=len(vocab), max_len=cfg.max_len, d_model=cfg.d_model,
                   num_heads=cfg.num_heads, num_layers=cfg.num_layers,
                   mlp_dim=cfg.mlp_dim, dropout_rate=cfg.dropout,
                   pad_id=vocab.pad_id)
  electra = models.Electra(generator_d_model=cfg.generator_d_model, **common_kw)
  mlm = models.MaskedLM(**common_kw)
  classifier = models.TransformerClassifier(num_classes=cfg.n_chains, **common_kw)
  return {"electra": electra, "mlm": mlm}, classifier


def _steps(cfg, vocab, modules, tx):
  special = dict(pad_id=vocab.pad_id, mask_id=vocab.index[data.text.MASK],
                 special_ids=(vocab.index[data.text.CLS], vocab.unk_id),
                 mask_prob=cfg.mask_prob)
  return {
      "electra": train.make_electra_step(train.linen_electra(modules["electra"]), tx,
                                         rtd_weight=cfg.rtd_weight, **special),
      "mlm": train.make_mlm_step(train.linen_mlm(modules["mlm"]), tx, **special),
  }, special


def _draw_tokens(key, batch_size, tokens):
  return tokens[jax.random.randint(key, (batch_size,), 0, tokens.shape[0])]


def _labelled_subset(split, n, n_classes, seed):
  """``n`` labelled sentences, as balanced over the classes as possible."""
  rng = np.random.default_rng(seed)
  per = [np.flatnonzero(split.label == c) for c in range(n_classes)]
  idx = np.concatenate([rng.permutation(p)[: n // n_classes + (c < n % n_classes)]
                        for c, p in enumerate(per)])
  return data.TextSplit(split.tokens[idx], split.label[idx])


def _make_finetune(cfg, classifier, labelled, test):
  """``accuracy(encoder_params, key) -> test accuracy`` after fine-tuning."""
  tx = optax.adam(cfg.finetune_lr)
  step = train.make_classifier_step(train.linen_apply(classifier), tx)
  head_init = jax.jit(lambda k: classifier.init(k, labelled.tokens[:2])["params"]["head"])
  tokens, labels = jnp.asarray(labelled.tokens), jnp.asarray(labelled.label)
  test_tokens, test_labels = jnp.asarray(test.tokens), jnp.asarray(test.label)

  @jax.jit
  def accuracy(encoder, key):
    k_head, key = jax.random.split(key)
    params = {**encoder, "head": head_init(k_head)}
    state = train.TrainState.create(params, tx)

    def one(state, t):
      k_idx, k_step = jax.random.split(jax.random.fold_in(key, t))
      idx = jax.random.randint(k_idx, (cfg.finetune_batch,), 0, tokens.shape[0])
      return step(state, {"image": tokens[idx], "label": labels[idx]}, k_step)[0], None

    state, _ = jax.lax.scan(one, state, jnp.arange(cfg.finetune_steps))
    logits = classifier.apply({"params": state.params}, test_tokens)
    return jnp.mean((jnp.argmax(logits, -1) == test_labels).astype(jnp.float32))

  return accuracy


def _downstream(finetune, params, cfg, key):
  encoder = models.encoder_params(params)
  accs = [finetune(encoder, jax.random.fold_in(key, s))
          for s in range(cfg.finetune_seeds)]
  return float(np.mean(jax.device_get(accs)))


def _pretrain(run, name, cfg, step, state, tokens, finetune):
  """Pretrains in chunks; fine-tunes after each. Returns ``(state, curve, log)``.

  The checkpoint holds the state and the downstream curve so far, so an
  interrupted run resumes where it stopped.
  """
  n_chunks = cfg.pretrain_steps // cfg.chunk_steps
  key = jax.random.fold_in(jax.random.key(cfg.seed), 1 + MODELS.index(name))
  ft_key = jax.random.fold_in(jax.random.key(cfg.seed), 100)  # same for both
  chunk = jax.jit(scan_chunk(step, _draw_tokens, chunk_steps=cfg.chunk_steps,
                             batch_size=cfg.batch_size))
  ckpt = run.checkpointer(name)
  template = {"state": jax.device_get(state),
              "downstream": np.full((n_chunks + 1,), np.nan, np.float32),
              "pretrain_accuracy": np.full((n_chunks + 1,), np.nan, np.float32)}
  saved, done = ckpt.restore(template)
  state = jax.tree.map(lambda t, r: jax.device_put(r, t.sharding), state,
                       saved["state"])
  curve, acc_log = np.array(saved["downstream"]), np.array(saved["pretrain_accuracy"])
  if done == 0:
    curve[0] = _downstream(finetune, state.params, cfg, ft_key)
  with run.progress(total=cfg.pretrain_steps, desc=name, initial=done) as bar:
    while done < cfg.pretrain_steps:
      state, metrics = chunk(state, jnp.asarray(done, jnp.int32), key, tokens)
      done += cfg.chunk_steps
      i = done // cfg.chunk_steps
      acc_log[i] = float(np.mean(metrics["mlm_accuracy"]))
      curve[i] = _downstream(finetune, state.params, cfg, ft_key)
      ckpt.save(done, {"state": jax.device_get(state), "downstream": curve,
                       "pretrain_accuracy": acc_log})
      bar.update(cfg.chunk_steps)
      bar.set_postfix({"downstream": f"{curve[i]:.3f}",
                       **{k: f"{float(np.mean(v)):.3f}" for k, v in metrics.items()}})
  ckpt.close()
  return state, curve, acc_log


def chain_bigrams(split, vocab_size, n_chains, pad_id):
  """``[chains, V, V]``: which word pairs each chain's sentences contain."""
  seen = np.zeros((n_chains, vocab_size, vocab_size), bool)
  left, right = split.tokens[:, :-1], split.tokens[:, 1:]
  chain = np.broadcast_to(split.label[:, None], left.shape)
  real = right != pad_id  # padding only ever follows words or padding
  seen[chain[real], left[real], right[real]] = True
  return seen


def plausibility(corrupted, labels, seen, pad_id):
  """Where each token of ``corrupted`` ``[B, T]`` could have come from.

  A token is plausible under a chain if the pairs it forms with both its
  neighbours (as the discriminator sees them; padding counts as any
  neighbour) occur in that chain's pretraining sentences. Returns ``[B, T]``
  ints: 0 plausible under the sentence's own chain, 1 under another chain
  only, 2 under none.
  """
  pair_ok = seen[:, corrupted[:, :-1], corrupted[:, 1:]]  # [chains, B, T - 1]
  ok = np.ones((seen.shape[0],) + corrupted.shape, bool)
  ok[:, :, 1:] &= pair_ok
  ok[:, :, :-1] &= pair_ok | (corrupted[:, 1:] == pad_id)
  own = ok[labels, np.arange(corrupted.shape[0])]
  return np.where(own, 0, np.where(ok.any(axis=0), 1, 2))


PLAUSIBILITY = ("own_chain", "other_chain_only", "no_chain")


def _rtd_evaluation(cfg, modules, params, test, special, seen):
  """RTD ROC-AUC and generator MLM accuracy on the test corpus (no dropout).

  Also splits the replaced tokens by :func:`plausibility`, with the share
  of each kind and its ROC-AUC against all original tokens: how much of
  the detection needs the sentence's chain.
  """
  from sklearn.metrics import roc_auc_score  # pylint: disable=import-outside-toplevel
  model = train.linen_electra(modules["electra"])

  @jax.jit
  def evaluate(tokens, key):
    _, aux = train.electra_loss(model, params, tokens, key, train=False,
                                rtd_weight=cfg.rtd_weight, **special)
    return aux

  logits, labels, masked, real, hits, kinds = [], [], [], [], [], []
  key = jax.random.key(cfg.seed + 7)
  for start in range(0, len(test) - cfg.eval_batch + 1, cfg.eval_batch):
    tokens = jnp.asarray(test.tokens[start:start + cfg.eval_batch])
    aux = jax.device_get(evaluate(tokens, jax.random.fold_in(key, start)))
    real.append(np.asarray(tokens) != special["pad_id"])
    logits.append(aux["rtd_logits"])
    labels.append(aux["replaced"])
    masked.append(aux["is_masked"])
    hits.append((aux["mlm_accuracy"], aux["is_masked"].sum()))
    kinds.append(plausibility(aux["corrupted"], test.label[start:start + cfg.eval_batch],
                              seen, special["pad_id"]))
  real, logits = np.concatenate(real), np.concatenate(logits)
  labels, masked = np.concatenate(labels), np.concatenate(masked)
  kinds = np.concatenate(kinds)
  auc = roc_auc_score(labels[real], logits[real])
  auc_masked = roc_auc_score(labels[masked], logits[masked])
  mlm_acc = sum(a * n for a, n in hits) / max(1, sum(n for _, n in hits))
  out = {"rtd_auc": auc, "rtd_auc_masked_positions": auc_masked,
         "generator_mlm_accuracy": mlm_acc,
         "replaced_fraction_of_masked": labels[masked].mean()}
  original = real & ~labels
  for kind, name in enumerate(PLAUSIBILITY):
    chosen = labels & (kinds == kind)
    out[f"replaced/{name}_share"] = chosen.sum() / max(1, labels.sum())
    both = original | chosen
    out[f"replaced/{name}_auc"] = (roc_auc_score(labels[both], logits[both])
                                   if chosen.any() else float("nan"))
  return out


def _mlm_accuracy(cfg, modules, params, test, special):
  mlm_fn = train.linen_mlm(modules["mlm"])

  @jax.jit
  def evaluate(tokens, key):
    return train.mlm_loss(mlm_fn, params, tokens, key, train=False, **special)[1]

  key = jax.random.key(cfg.seed + 7)
  accs = [float(evaluate(jnp.asarray(test.tokens[s:s + cfg.eval_batch]),
                         jax.random.fold_in(key, s))["mlm_accuracy"])
          for s in range(0, len(test) - cfg.eval_batch + 1, cfg.eval_batch)]
  return float(np.mean(accs))


def _flops(fn, *args):
  """XLA's FLOP count of ``fn(*args)`` (from the lowered program: no compile)."""
  try:
    cost = jax.jit(fn).lower(*args).cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost.get("flops", np.nan))
  except Exception:  # pylint: disable=broad-except
    return float("nan")


def main(argv=None):
  return run_on_mesh("electra", PRESETS, argv, _main)


def _main(run, mesh):
  cfg = run.config
  if cfg.pretrain_steps % cfg.chunk_steps:
    raise ValueError("pretrain_steps must be a multiple of chunk_steps")
  corpus, test, vocab = data.markov_corpus(
      n_train=cfg.n_pretrain, n_test=cfg.n_test, n_words=cfg.n_words,
      n_chains=cfg.n_chains, branching=cfg.branching,
      topic_exponent=cfg.topic_exponent, min_len=cfg.min_len,
      max_len=cfg.max_len, seed=cfg.seed)
  labelled = _labelled_subset(corpus, cfg.n_labelled, cfg.n_chains, cfg.seed)
  modules, classifier = _modules(cfg, vocab)
  tx = optax.adamw(optax.warmup_cosine_decay_schedule(
      0.0, cfg.learning_rate, cfg.warmup_steps, cfg.pretrain_steps), weight_decay=0.01)
  steps, special = _steps(cfg, vocab, modules, tx)
  finetune = _make_finetune(cfg, classifier, labelled, test)
  tokens = jnp.asarray(corpus.tokens)
  run.log(f"corpus: {len(corpus)} sentences, vocabulary {len(vocab)}, "
          f"{cfg.n_chains} chains; {len(labelled)} labelled for fine-tuning; "
          f"devices {len(mesh.devices.flat)}")

  results, curves, pretrain_acc, states = {}, {}, {}, {}
  for name in MODELS:
    params = jax.jit(modules[name].init)(jax.random.key(cfg.seed),
                                         corpus.tokens[:2])["params"]
    state = train.replicate(train.TrainState.create(params, tx), mesh)
    batch = tokens[: cfg.batch_size]
    results[f"{name}/gflops_per_step"] = _flops(
        steps[name], state, batch, jax.random.key(0)) / 1e9
    state, curves[name], pretrain_acc[name] = _pretrain(
        run, name, cfg, steps[name], state, tokens, finetune)
    states[name] = state
    results[f"{name}/downstream_accuracy"] = float(curves[name][-1])
    results[f"{name}/downstream_accuracy_step0"] = float(curves[name][0])
    run.write_results(results)

  seen = chain_bigrams(corpus, len(vocab), cfg.n_chains, vocab.pad_id)
  results.update(_rtd_evaluation(cfg, modules, states["electra"].params, test,
                                 special, seen))
  results["mlm/mlm_accuracy"] = _mlm_accuracy(cfg, modules, states["mlm"].params,
                                              test, special)
  checkpoints = np.arange(len(curves["electra"])) * cfg.chunk_steps
  target = curves["mlm"][-1]
  reached = np.flatnonzero(curves["electra"] >= target)
  steps_to = float(checkpoints[reached[0]]) if reached.size else float("nan")
  results["electra/steps_to_mlm_final"] = steps_to
  results["electra/steps_fraction_to_mlm_final"] = steps_to / cfg.pretrain_steps
  results["electra/flops_ratio_vs_mlm"] = (results["electra/gflops_per_step"]
                                           / results["mlm/gflops_per_step"])
  results["electra/compute_fraction_to_mlm_final"] = (
      results["electra/steps_fraction_to_mlm_final"]
      * results["electra/flops_ratio_vs_mlm"])
  for name in MODELS:
    for step, acc in zip(checkpoints, curves[name]):
      results[f"{name}/downstream_accuracy@{int(step)}"] = float(acc)
  run.write_results(results)
  _plot(run, checkpoints, curves, pretrain_acc)
  rows = [{"pretraining step": int(s), "ELECTRA": float(a), "MLM": float(b)}
          for s, a, b in zip(checkpoints, curves["electra"], curves["mlm"])]
  run.log(common.format_table(rows, ["pretraining step", "ELECTRA", "MLM"]))
  run.log(", ".join(f"{k} {v:.4f}" for k, v in results.items() if "@" not in k))
  return results


def _plot(run, checkpoints, curves, pretrain_acc):
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
  for name, label in (("electra", "ELECTRA (discriminator)"), ("mlm", "masked LM")):
    axes[0].plot(checkpoints, curves[name], marker="o", label=label)
    axes[1].plot(checkpoints[1:], pretrain_acc[name][1:], marker="o",
                 label="generator" if name == "electra" else "masked LM")
  axes[0].axhline(curves["mlm"][-1], color="grey", ls=":", lw=1)
  axes[0].set_xlabel("pretraining steps")
  axes[0].set_ylabel("downstream test accuracy (fine-tuned)")
  axes[0].legend()
  axes[1].set_xlabel("pretraining steps")
  axes[1].set_ylabel("masked-token accuracy (train batches)")
  axes[1].legend()
  run.save_figure(fig, "electra_downstream")


if __name__ == "__main__":
  main()
