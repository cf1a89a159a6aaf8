"""DANN on the inter-twinning moons: source-only vs domain-adversarial.

The toy of Ganin et al. (2016, section 5.1.1): two labelled moons (the
source) and the same moons rotated by 35° without labels (the target). A
shallow network — one sigmoid hidden layer, a softmax label head and a
domain head on the hidden layer — is trained for every seed twice, with
λ = 0 (source-only) and with the DANN schedule; all seeds train at once
(``vmap`` over the seed axis, which is sharded over the devices).

  python -m experiments.dann_moons [--preset smoke|default|full] [--workdir DIR]

Outputs: ``moons_boundaries.png`` (both decision boundaries over source and
target points, the paper's figure), ``accuracy_per_seed.png``,
``results.json`` (target accuracies averaged over seeds).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from advjax.data import two_moons
from advjax.metrics import target_accuracy
from advjax.models import shallow_dann
from advjax.train import TrainState
from advjax.train import dann_lambda_schedule
from advjax.train import data_mesh
from advjax.train import init_dann
from advjax.train import linen_dann
from advjax.train import make_dann_predict
from advjax.train import make_dann_step
from advjax.train import replicate
from advjax.train import shard_batch
from experiments import common


@dataclasses.dataclass(frozen=True)
class Config:
  seeds: int = 8
  n_per_domain: int = 150
  n_test: int = 1000
  noise: float = 0.05
  angle: float = 35.0
  width: int = 64             # hidden sigmoid units of G_f
  domain_hidden: tuple = (64,)  # hidden tanh widths of G_d (() = the paper's logistic)
  steps: int = 10000          # full-batch steps per run
  chunk: int = 2500           # steps per compiled scan; a checkpoint after each
  learning_rate: float = 0.01  # AdamW, cosine-decayed to 0
  weight_decay: float = 0.2   # smooth boundaries carry over to the rotated moons
  lam: float = 1.0            # final λ of the paper's schedule
  gamma: float = 10.0


PRESETS = {
    "smoke": Config(n_test=200, steps=200, chunk=100),
    "default": Config(),
    "full": Config(seeds=64),
}
STAGES = {"source_only": 0.0, "dann": None}  # final λ; None: config.lam


def _stack_data(config: Config):
  """Per-seed datasets stacked on a leading seed axis."""
  shifts = [two_moons(n_per_domain=config.n_per_domain, n_test=config.n_test,
                      noise=config.noise, angle=config.angle, seed=s)
            for s in range(config.seeds)]
  stack = lambda f: np.stack([f(d) for d in shifts])  # noqa: E731
  return {
      "source": {"image": stack(lambda d: d.source_train.image),
                 "label": stack(lambda d: d.source_train.label)},
      "target": {"image": stack(lambda d: d.target_train.image),
                 "label": stack(lambda d: d.target_train.label)},
      "source_test": {"image": stack(lambda d: d.source_test.image),
                      "label": stack(lambda d: d.source_test.label)},
      "target_test": {"image": stack(lambda d: d.target_test.image),
                      "label": stack(lambda d: d.target_test.label)},
  }


class _Trainer:
  """Compiled once for both stages: the final λ is a traced argument."""

  def __init__(self, config: Config, grid: np.ndarray):
    self.config = config
    modules = shallow_dann(width=config.width, domain_hidden=config.domain_hidden)
    networks = linen_dann(*modules)
    tx = optax.adamw(optax.cosine_decay_schedule(config.learning_rate, config.steps),
                     weight_decay=config.weight_decay)
    predict = make_dann_predict(networks)

    def init(key, data):
      params, model_state = init_dann(*modules, key, data["source"]["image"][:2])
      return TrainState.create(params, tx, model_state)

    def train_chunk(state, key, data, start, lam_max):
      lam = dann_lambda_schedule(total_steps=config.steps, gamma=config.gamma,
                                 max_value=lam_max)
      step = make_dann_step(networks, tx, lam=lam)
      batch = {"source": data["source"], "target": data["target"]}

      def body(state, i):
        return step(state, batch, jax.random.fold_in(key, i))

      state, metrics = jax.lax.scan(body, state, start + jnp.arange(config.chunk))
      return state, jax.tree.map(lambda m: m[-1], metrics)

    def evaluate(state, data):
      """Per-seed test accuracies, and seed 0's P(class 1) on the plot grid."""
      accuracy = {
          split: jax.vmap(lambda s, x, y: target_accuracy(predict(s, x)[0], y))(
              state, data[split]["image"], data[split]["label"])
          for split in ("source_test", "target_test")}
      seed0 = jax.tree.map(lambda a: a[0], state)
      return accuracy, jax.nn.softmax(predict(seed0, grid)[0])[:, 1]

    self.init = jax.jit(jax.vmap(init))
    self.train_chunk = jax.jit(jax.vmap(train_chunk, in_axes=(0, 0, 0, None, None)))
    self.evaluate = jax.jit(evaluate)


def _place(tree, mesh):
  """Shards the seed axis over the devices when it divides evenly."""
  leaves = jax.tree.leaves(tree)
  if leaves and all(x.ndim and x.shape[0] % mesh.shape["data"] == 0 for x in leaves):
    return shard_batch(tree, mesh)
  return replicate(tree, mesh)


def _train(run, trainer, stage, lam_max, data, keys, mesh):
  config = run.config
  state = trainer.init(keys, data)
  checkpointer = run.checkpointer(stage)
  state, done = checkpointer.restore(state)
  state = _place(state, mesh)
  with run.progress(total=config.steps, initial=done, desc=stage) as bar:
    for start in range(done, config.steps, config.chunk):
      state, metrics = trainer.train_chunk(state, keys, data, start,
                                           jnp.float32(lam_max))
      checkpointer.save(start + config.chunk, state)
      bar.update(config.chunk)
      bar.set_postfix(domain_acc=f"{float(jnp.mean(metrics['domain_accuracy'])):.2f}")
  checkpointer.close()
  return state


def _grid(data):
  """A 250×200 grid around seed 0's training points, for the boundary plot."""
  span = np.concatenate([data["source"]["image"][0], data["target"]["image"][0]])
  lo, hi = span.min(0) - 0.5, span.max(0) + 0.5
  return np.meshgrid(np.linspace(lo[0], hi[0], 250), np.linspace(lo[1], hi[1], 200))


def _plot_boundaries(run, data, grid, probabilities, accuracy):
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  xs, ys = data["source"]["image"][0], data["source"]["label"][0]
  xt = data["target"]["image"][0]
  gx, gy = grid
  fig, axes = plt.subplots(1, len(probabilities), figsize=(6 * len(probabilities), 4.6))
  for ax, (stage, prob) in zip(np.atleast_1d(axes), probabilities.items()):
    prob = np.asarray(prob).reshape(gx.shape)
    ax.contourf(gx, gy, prob, levels=20, cmap="RdBu_r", alpha=0.35)
    ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=2)
    for label, colour in ((0, "tab:blue"), (1, "tab:red")):
      ax.scatter(*xs[ys == label].T, marker="+", c=colour, s=40,
                 label=f"source, class {label}")
    ax.scatter(*xt.T, c="0.35", s=12, alpha=0.7, label="target (unlabelled)")
    ax.set_title(f"{stage}: target accuracy {float(accuracy[stage][0]):.3f} (seed 0)")
    ax.set_aspect("equal")
  np.atleast_1d(axes)[0].legend(loc="lower left", fontsize=8)
  run.save_figure(fig, "moons_boundaries")


def _plot_per_seed(run, accuracy):
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig, ax = plt.subplots(figsize=(6, 3.5))
  seeds = np.arange(len(next(iter(accuracy.values()))))
  for i, (stage, acc) in enumerate(accuracy.items()):
    ax.bar(seeds + 0.4 * i - 0.2, acc, width=0.4, label=stage)
  ax.set(xlabel="seed", ylabel="target test accuracy", ylim=(0.5, 1.0))
  ax.legend()
  run.save_figure(fig, "accuracy_per_seed")


def main(argv=None):
  run, _ = common.setup("dann_moons", PRESETS, argv)
  config = run.config
  if config.steps % config.chunk:
    raise ValueError(f"steps ({config.steps}) must be a multiple of chunk "
                     f"({config.chunk}).")
  mesh = data_mesh()
  data = _stack_data(config)
  grid = _grid(data)
  trainer = _Trainer(config, np.stack([g.ravel() for g in grid], -1).astype(np.float32))
  data = _place(jax.tree.map(jnp.asarray, data), mesh)
  keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.key(0), s))(
      jnp.arange(config.seeds))
  probabilities, accuracy, results = {}, {}, {}
  for stage, lam_max in STAGES.items():
    lam_max = config.lam if lam_max is None else lam_max
    state = _train(run, trainer, stage, lam_max, data, keys, mesh)
    split_accuracy, probabilities[stage] = trainer.evaluate(state, data)
    accuracy[stage] = np.asarray(split_accuracy["target_test"])
    results[f"target_accuracy_{stage}"] = float(accuracy[stage].mean())
    results[f"target_accuracy_{stage}_std"] = float(accuracy[stage].std())
    results[f"target_accuracy_{stage}_min"] = float(accuracy[stage].min())
    results[f"source_accuracy_{stage}"] = float(split_accuracy["source_test"].mean())
  results["seeds"] = config.seeds
  _plot_boundaries(run, data, grid, probabilities, accuracy)
  _plot_per_seed(run, accuracy)
  run.write_results(results)
  rows = [{"model": stage,
           "target acc (mean)": results[f"target_accuracy_{stage}"],
           "target acc (std)": results[f"target_accuracy_{stage}_std"],
           "target acc (min)": results[f"target_accuracy_{stage}_min"],
           "source acc": results[f"source_accuracy_{stage}"]}
          for stage in STAGES]
  run.log(common.format_table(rows, list(rows[0])))
  return results


if __name__ == "__main__":
  main()
