"""Plain training vs PGD-on-embeddings training vs FreeLB-K on sentiment text.

A small Transformer classifier is trained three ways on the synthetic
polarity grammar (GLUE SST-2 through TFDS in ``full``): plain cross-entropy,
PGD adversarial training on word embeddings (K ascent steps on δ, then one
parameter update at δ_K) and FreeLB-K (Zhu et al. 2020, Algorithm 1: the
parameter gradients of all K ascent steps are averaged). Both adversarial
methods use the same ball (Frobenius radius ε per sentence), the same step
size and the same ε warm-up (ε = 0 for the first epoch, then a linear ramp),
without which adversarial training from scratch stays at chance.

Each model is evaluated on clean test sentences, under embedding PGD at two
radii (margin loss, random start, the best iterate kept), and under HotFlip
(Ebrahimi et al. 2018; beam search over up to 2 flips). On the synthetic task
HotFlip may only swap a word for another of its kind ("great" for "good",
"never" for "not", "film" for "movie"), so the grammar's label is unchanged by
construction (checked by re-scoring the adversarial text); on SST-2 any word
may be swapped. Training time is wall-clock time without
compilation, and the per-step cost of FreeLB vs PGD training is also timed
on one batch with the two steps interleaved (robust to a busy machine).

Run: ``python -m experiments.freelb_text [--preset smoke|default|full]``.
"""
from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from advjax import attacks
from advjax import data
from advjax import models
from advjax import train
from experiments import common

METHODS = ("plain", "pgd", "freelb")


@dataclasses.dataclass(frozen=True)
class Config:
  methods: tuple = METHODS
  dataset: str = "synthetic"  # or "sst2"
  n_train: int = 8000
  n_test: int = 1000
  max_clauses: int = 2
  max_len: int = 20
  vocab_size: int = 10000  # SST-2 only
  d_model: int = 64
  num_heads: int = 4
  num_layers: int = 2
  mlp_dim: int = 128
  dropout: float = 0.1
  batch_size: int = 32
  epochs: int = 8
  learning_rate: float = 3e-3
  weight_decay: float = 0.01
  n_ascent: int = 3  # K, for both PGD and FreeLB
  eps: float = 0.5  # Frobenius radius of δ per sentence (words start at norm ~1)
  step_size: float = 0.25
  eps_hold_epochs: float = 1.0  # ε = 0 this long, then a linear ramp
  eps_ramp_epochs: float = 2.0
  eval_eps: tuple = (0.5, 1.0)  # the training radius and twice it
  eval_steps: int = 20
  eval_batch: int = 200
  hotflip_examples: int = 1000
  hotflip_beam: int = 2
  n_flips: int = 2
  n_show: int = 6  # adversarial sentences printed per method
  timing_reps: int = 20
  seed: int = 0


PRESETS = {
    "smoke": Config(n_train=64, n_test=32, d_model=16, num_heads=2, mlp_dim=32,
                    num_layers=1, dropout=0.0, batch_size=16, epochs=1,
                    eps_hold_epochs=0.5, eps_ramp_epochs=0.5, eval_steps=3,
                    eval_batch=16, hotflip_examples=16, n_show=2, timing_reps=2),
    "default": Config(),
    "full": Config(dataset="sst2", max_len=48, d_model=128, mlp_dim=256,
                   num_layers=4, batch_size=64, epochs=4, eval_batch=216,
                   hotflip_examples=864, eps_hold_epochs=0.5,
                   eps_ramp_epochs=1.0, timing_reps=50),
}


def _load(cfg):
  if cfg.dataset == "synthetic":
    return data.synthetic_sentiment(n_train=cfg.n_train, n_test=cfg.n_test,
                                    max_clauses=cfg.max_clauses,
                                    max_len=cfg.max_len, seed=cfg.seed)
  if cfg.dataset == "sst2":
    return data.sst2(max_len=cfg.max_len, vocab_size=cfg.vocab_size)
  raise ValueError(f"unknown dataset {cfg.dataset!r}; use 'synthetic' or 'sst2'")


def _steps(cfg, text_model, module, tx, steps_per_epoch):
  """The three train steps, each ``step(state, batch, key)`` on token batches."""
  hold = int(cfg.eps_hold_epochs * steps_per_epoch)
  ramp = max(1, int(cfg.eps_ramp_epochs * steps_per_epoch))
  eps = optax.linear_schedule(0.0, cfg.eps, ramp, transition_begin=hold)
  adversarial = dict(max_norm=eps, step_size=cfg.step_size, n_steps=cfg.n_ascent)
  classifier_step = train.make_classifier_step(train.linen_apply(module), tx)

  def plain(state, batch, key):
    return classifier_step(state, {"image": batch["tokens"],
                                   "label": batch["label"]}, key)

  return {"plain": plain,
          "pgd": train.make_embedding_pgd_step(text_model, tx, **adversarial),
          "freelb": train.make_freelb_step(text_model, tx, **adversarial)}


def _train(run, method, step, state, train_split, mesh, cfg):
  """Trains with checkpoints per epoch; returns ``(state, history, seconds)``."""
  n_batches = len(train_split) // cfg.batch_size
  ckpt = run.checkpointer(method)
  template = {"state": state, "seconds": np.zeros((), np.float32),
              "loss": np.zeros((cfg.epochs,), np.float32),
              "accuracy": np.zeros((cfg.epochs,), np.float32)}
  saved, start_epoch = ckpt.restore(template)
  state = train.replicate(saved["state"], mesh)
  seconds = float(saved["seconds"])
  history = {k: np.array(saved[k]) for k in ("loss", "accuracy")}
  base_key = jax.random.fold_in(jax.random.key(cfg.seed), 1)

  def batch_at(idx):
    return train.shard_batch({"tokens": train_split.tokens[idx],
                              "label": train_split.label[idx]}, mesh)

  order = lambda epoch: data.batch_indices(  # noqa: E731
      jax.random.fold_in(jax.random.key(cfg.seed), epoch), len(train_split),
      cfg.batch_size)
  if start_epoch < cfg.epochs:  # compile outside the timing (result discarded)
    jax.block_until_ready(step(state, batch_at(order(0)[0]), base_key))
  bar = run.progress(total=cfg.epochs * n_batches, desc=method,
                     initial=start_epoch * n_batches)
  for epoch in range(start_epoch, cfg.epochs):
    sums = {"loss": 0.0, "accuracy": 0.0}
    tic = time.perf_counter()
    for i, idx in enumerate(order(epoch)):
      key = jax.random.fold_in(base_key, epoch * n_batches + i)
      state, metrics = step(state, batch_at(idx), key)
      sums = jax.tree.map(lambda s, m: s + m, sums, {k: metrics[k] for k in sums})
      bar.update()
    jax.block_until_ready(state)
    seconds += time.perf_counter() - tic
    for k in sums:
      history[k][epoch] = float(sums[k]) / n_batches
    ckpt.save(epoch + 1, {"state": state, "seconds": np.float32(seconds), **history})
  bar.close()
  ckpt.close()
  return state, history, seconds


def _pgd_key(i):
  """Result name of the embedding-PGD accuracy at ``eval_eps[i]``."""
  return "embedding_pgd_accuracy" + ("" if i == 0 else f"_{i + 1}")


def _attack_eval_fns(text_model, cfg, pad_id):
  """Jitted ``(params, tokens, labels, key) -> per-example correctness``."""

  def logits_fn_of(params, mask):
    return lambda e: text_model.apply_fn(params, {}, e, mask, train=False)[0]

  @jax.jit
  def embedding_eval(params, tokens, labels, key):
    mask = tokens != pad_id
    logits_fn = logits_fn_of(params, mask)
    emb = text_model.embed_fn(params, tokens)
    loss_fn = attacks.untargeted(logits_fn, labels, loss="margin")
    out = {"clean_accuracy": jnp.argmax(logits_fn(emb), -1) == labels}
    # One attack loop for all radii (vmapped), so it compiles once.
    adv = jax.vmap(lambda r: attacks.embedding_pgd(
        loss_fn, emb, mask, key=key, eps=r, step_size=r / 4,
        n_steps=cfg.eval_steps))(jnp.asarray(cfg.eval_eps, jnp.float32))
    for i in range(len(cfg.eval_eps)):
      out[_pgd_key(i)] = jnp.argmax(logits_fn(adv[i]), -1) == labels
    return out

  @jax.jit
  def hotflip_eval(params, tokens, labels, allowed, classes):
    mask = tokens != pad_id
    logits_fn = logits_fn_of(params, mask)
    table = text_model.embed_fn(params, jnp.arange(allowed.shape[0])[None])[0]
    return attacks.hotflip(
        attacks.untargeted(logits_fn, labels), tokens, table,
        n_flips=cfg.n_flips, beam_width=cfg.hotflip_beam, flip_mask=mask,
        allowed_tokens=allowed, token_classes=classes,
        success_fn=lambda e: jnp.argmax(logits_fn(e), -1) != labels)

  return embedding_eval, hotflip_eval


def _flip_constraints(cfg, vocab):
  """``(allowed, classes)`` of HotFlip's substitutions.

  On the grammar a word may only become another word of its own kind
  (neutral, positive, negative, negation, intensifier): "synonym" swaps that
  leave the label unchanged by construction. On SST-2, any word.
  """
  allowed = np.ones(len(vocab), bool)
  allowed[[vocab.pad_id, vocab.unk_id]] = False
  classes = np.zeros(len(vocab), np.int32)
  if cfg.dataset == "synthetic":
    kinds = (data.text.NEUTRAL, data.text.POSITIVE, data.text.NEGATIVE,
             data.text.NEGATIONS, data.text.INTENSIFIERS)
    for c, words in enumerate(kinds):
      classes[vocab.ids(words)] = c + 1
  return allowed, classes


def _evaluate(params, test, vocab, mesh, cfg, fns):
  embedding_eval, hotflip_eval = fns
  n = len(test) // cfg.eval_batch * cfg.eval_batch
  correct = {}
  for start in range(0, n, cfg.eval_batch):
    sl = slice(start, start + cfg.eval_batch)
    batch = train.shard_batch({"t": test.tokens[sl], "y": test.label[sl]}, mesh)
    out = embedding_eval(params, batch["t"], batch["y"],
                         jax.random.fold_in(jax.random.key(cfg.seed), start))
    for k, v in out.items():
      correct.setdefault(k, []).append(np.asarray(v))
  correct = {k: np.concatenate(v) for k, v in correct.items()}
  result = {k: v.mean() for k, v in correct.items()}

  m = min(cfg.hotflip_examples, n)
  m = m // cfg.eval_batch * cfg.eval_batch or m
  allowed, classes = _flip_constraints(cfg, vocab)
  flips = []
  for start in range(0, m, cfg.eval_batch):
    sl = slice(start, start + cfg.eval_batch)
    batch = train.shard_batch({"t": test.tokens[sl], "y": test.label[sl]}, mesh)
    flips.append(jax.tree.map(np.asarray, hotflip_eval(
        params, batch["t"], batch["y"], allowed, classes)))
  flips = attacks.HotFlipResult(*(np.concatenate(f) for f in zip(*flips)))
  was_correct = correct["clean_accuracy"][:m]
  fooled = flips.success & was_correct
  denom = max(1, was_correct.sum())
  result["hotflip_success_rate"] = fooled.sum() / denom
  result["hotflip_success_rate_1flip"] = (fooled & (flips.n_flips <= 1)).sum() / denom
  result["hotflip_mean_flips"] = (flips.n_flips[fooled].mean() if fooled.any() else 0.0)
  if cfg.dataset == "synthetic":
    labels = [int(data.polarity(vocab.decode(t).split()) > 0) for t in flips.tokens]
    result["hotflip_label_preserved"] = np.mean(np.asarray(labels) == test.label[:m])
  return result, flips, fooled


def _show(vocab, original, adversarial, fooled, labels, n):
  """Up to ``n`` successful flips as text, changed words in [brackets]."""
  lines = []
  for i in np.flatnonzero(fooled)[:n]:
    words = [f"[{vocab.words[a]}]" if a != o else vocab.words[a]
             for o, a in zip(original[i], adversarial[i]) if o != vocab.pad_id]
    lines.append(f"  label {labels[i]}: {vocab.decode(original[i])}\n"
                 f"       -> {' '.join(words)}")
  return lines


def _time_steps(steps, states, batch, cfg):
  """Median seconds per (jitted) step of each method, steps interleaved."""
  key = jax.random.key(cfg.seed)
  for m in steps:  # compile outside the timing
    jax.block_until_ready(steps[m](states[m], batch, key))
  times = {m: [] for m in steps}
  for rep in range(cfg.timing_reps):
    for m in steps:
      tic = time.perf_counter()
      jax.block_until_ready(steps[m](states[m], batch, jax.random.fold_in(key, rep)))
      times[m].append(time.perf_counter() - tic)
  return {m: float(np.median(t)) for m, t in times.items()}


def main(argv=None):
  run, _ = common.setup("freelb_text", PRESETS, argv)
  cfg = run.config
  mesh = train.data_mesh()
  train_split, test, vocab = _load(cfg)
  module = models.TransformerClassifier(
      vocab_size=len(vocab), max_len=cfg.max_len, d_model=cfg.d_model,
      num_heads=cfg.num_heads, num_layers=cfg.num_layers, mlp_dim=cfg.mlp_dim,
      dropout_rate=cfg.dropout, pad_id=vocab.pad_id)
  text_model = train.linen_text_apply(module)
  steps_per_epoch = len(train_split) // cfg.batch_size
  tx = optax.adamw(optax.cosine_decay_schedule(
      cfg.learning_rate, cfg.epochs * steps_per_epoch), weight_decay=cfg.weight_decay)
  steps = {m: jax.jit(s) for m, s in
           _steps(cfg, text_model, module, tx, steps_per_epoch).items()}
  params = jax.jit(module.init)(jax.random.key(cfg.seed),
                                train_split.tokens[:2])["params"]
  init_state = train.TrainState.create(params, tx)
  fns = _attack_eval_fns(text_model, cfg, vocab.pad_id)
  run.log(f"{cfg.dataset}: {len(train_split)} train / {len(test)} test sentences, "
          f"vocabulary {len(vocab)}, devices {len(mesh.devices.flat)}")

  results, rows, histories, states, examples = {}, [], {}, {}, []
  for method in cfg.methods:
    state, history, seconds = _train(run, method, steps[method], init_state,
                                     train_split, mesh, cfg)
    states[method], histories[method] = state, history
    res, flips, fooled = _evaluate(state.params, test, vocab, mesh, cfg, fns)
    res["train_time_s"] = seconds
    results.update({f"{method}/{k}": float(v) for k, v in res.items()})
    rows.append({"method": method, **{k: float(v) for k, v in res.items()}})
    examples.append(f"{method}: HotFlip successes "
                    f"({int(fooled.sum())} of {len(fooled)} sentences)")
    examples += _show(vocab, test.tokens, flips.tokens, fooled, test.label, cfg.n_show)
    run.write_results(results)  # partial results survive an interruption

  batch = train.shard_batch({"tokens": train_split.tokens[: cfg.batch_size],
                             "label": train_split.label[: cfg.batch_size]}, mesh)
  per_step = _time_steps({m: steps[m] for m in states}, states, batch, cfg)
  for m, seconds in per_step.items():
    results[f"{m}/step_time_ms"] = 1e3 * seconds
  results.update(_comparisons(results))
  run.write_results(results)

  (run.workdir / "adversarial_examples.txt").write_text("\n".join(examples) + "\n")
  _plot(run, cfg, rows, histories)
  columns = ["method", "clean_accuracy", "embedding_pgd_accuracy",
             "embedding_pgd_accuracy_2", "hotflip_success_rate_1flip",
             "hotflip_success_rate", "train_time_s"]
  run.log(f"embedding PGD at eps = {cfg.eval_eps}; HotFlip up to {cfg.n_flips} "
          f"flips, beam {cfg.hotflip_beam}")
  run.log(common.format_table(rows, columns))
  run.log("step time (ms): " + ", ".join(
      f"{m} {1e3 * t:.1f}" for m, t in per_step.items()))
  run.log(", ".join(f"{k} {v:.3f}" for k, v in _comparisons(results).items()))
  run.log("\n".join(examples))
  return results


def _comparisons(results):
  """FreeLB vs the others: the quantities of the targets (where trained)."""
  out = {}
  if "pgd/train_time_s" in results and "freelb/train_time_s" in results:
    out["freelb/step_time_ratio_vs_pgd"] = (results["freelb/step_time_ms"]
                                            / results["pgd/step_time_ms"])
    out["freelb/train_time_ratio_vs_pgd"] = (results["freelb/train_time_s"]
                                             / results["pgd/train_time_s"])
  if "plain/clean_accuracy" in results and "freelb/clean_accuracy" in results:
    out["freelb/embedding_pgd_gain_vs_plain"] = (
        results["freelb/embedding_pgd_accuracy"]
        - results["plain/embedding_pgd_accuracy"])
    out["freelb/clean_gap_vs_plain"] = (results["freelb/clean_accuracy"]
                                        - results["plain/clean_accuracy"])
  return out


def _plot(run, cfg, rows, histories):
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
  labels = (["clean"] + [f"PGD\nε={r}" for r in cfg.eval_eps]
            + [f"HotFlip ≤{cfg.n_flips}\n(1 − success)"])
  keys = ["clean_accuracy"] + [_pgd_key(i) for i in range(len(cfg.eval_eps))]
  width = 0.8 / len(rows)
  for i, row in enumerate(rows):
    values = [row[k] for k in keys] + [1.0 - row["hotflip_success_rate"]]
    axes[0].bar(np.arange(len(values)) + i * width, values, width,
                label=row["method"])
  axes[0].set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, fontsize=8)
  axes[0].set_ylim(0, 1.25)
  axes[0].set_yticks(np.linspace(0, 1, 6))
  axes[0].set_ylabel("accuracy")
  axes[0].legend(loc="upper center", ncol=len(rows), fontsize=8)
  for method, history in histories.items():
    axes[1].plot(np.arange(1, cfg.epochs + 1), history["loss"], marker="o",
                 label=method)
  axes[1].set_xlabel("epoch")
  axes[1].set_ylabel("training loss (at the method's inputs)")
  axes[1].legend()
  run.save_figure(fig, "freelb_text")


if __name__ == "__main__":
  main()
