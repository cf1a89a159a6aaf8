"""What every experiment shares: flags and presets, the work directory,
progress bars, orbax checkpoints that resume, PNG figures and results.json.

An experiment module defines a frozen dataclass ``Config`` and a dict of
presets ``{"smoke": Config(...), "default": Config(...), "full": Config(...)}``
and calls ``run = common.setup("name", PRESETS, argv)``. Flags:

  --preset {smoke,default,full}   size preset (default: ``default``)
  --workdir DIR                   outputs and checkpoints (default runs/<name>)
  --set key=value                 override a config field (repeatable)
  --fresh                         ignore existing checkpoints
  --distributed                   call jax.distributed.initialize() first (multi-host:
                                  TPU pod slices auto-detect; elsewhere add
                                  --coordinator_address, --num_processes, --process_id)
  --nan_check                     stop at the first non-finite metric or state
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import shutil
import sys
from typing import Any, Iterable, Mapping

import numpy as np


def _parse_value(text: str, current: Any):
  if isinstance(current, bool):
    if text.lower() in ("1", "true", "yes"):
      return True
    if text.lower() in ("0", "false", "no"):
      return False
    raise ValueError(f"expected a boolean, got {text!r}")
  if isinstance(current, int):
    return int(text)
  if isinstance(current, float):
    return float(text)
  if isinstance(current, tuple):
    kind = type(current[0]) if current else str
    return tuple(kind(t) for t in text.split(",") if t)
  return text


@dataclasses.dataclass
class Run:
  """The handle an experiment gets from :func:`setup`."""
  name: str
  preset: str
  config: Any
  workdir: pathlib.Path
  fresh: bool = False
  quiet: bool = False
  nan_check: bool = False

  def checked_step(self, step):
    """``step`` itself, or with finiteness flags when ``--nan_check`` is on
    (see :func:`advjax.train.with_finite_check`); results are unchanged."""
    if not self.nan_check:
      return step
    from advjax import train  # pylint: disable=import-outside-toplevel
    return train.with_finite_check(step)

  def check_finite(self, metrics, *, step: int):
    """Raises ``FloatingPointError`` naming ``step`` and the quantity when a
    checked step produced a NaN/inf; returns the metrics without the flags."""
    from advjax import train  # pylint: disable=import-outside-toplevel
    return train.check_finite(metrics, step=step)

  def progress(self, iterable: Iterable | None = None, *, total: int | None = None,
               desc: str | None = None, initial: int = 0):
    """A tqdm progress bar (silent when ``quiet`` or ``TQDM_DISABLE`` is set)."""
    import tqdm  # pylint: disable=import-outside-toplevel
    return tqdm.tqdm(iterable, total=total, desc=desc, initial=initial,
                     disable=self.quiet or bool(os.environ.get("TQDM_DISABLE")),
                     dynamic_ncols=True, leave=False)

  def checkpointer(self, stage: str, **kwargs) -> "Checkpointer":
    """An orbax checkpointer for one training stage, under ``workdir/ckpt``."""
    path = self.workdir / "ckpt" / stage
    if self.fresh and path.exists() and not getattr(self, f"_cleared_{stage}", False):
      shutil.rmtree(path)
    setattr(self, f"_cleared_{stage}", True)
    return Checkpointer(path, **kwargs)

  def save_figure(self, fig, name: str) -> pathlib.Path:
    """Saves a matplotlib figure as ``workdir/<name>.png`` and closes it."""
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    path = self.workdir / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path

  def write_results(self, results: Mapping[str, Any]) -> pathlib.Path:
    """Writes flat ``{key: number}`` results to ``workdir/results.json``."""
    flat = {}
    for key, value in results.items():
      value = np.asarray(value).item() if not isinstance(value, (int, float)) else value
      if not isinstance(value, (int, float)):
        raise TypeError(f"result {key!r} is not a number: {value!r}")
      flat[key] = value if math.isfinite(value) else None
    path = self.workdir / "results.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(flat, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)  # atomic: a reader never sees half a file
    return path

  def log(self, text: str = "") -> None:
    if not self.quiet:
      print(text, flush=True)


class Checkpointer:
  """Orbax checkpoints of a pytree of arrays, keyed by step.

  Writes are atomic (orbax writes to a temporary directory and renames) and the
  last ``max_to_keep`` are kept. Keep PRNG keys out of the state: derive them
  from the seed and the step with ``jax.random.fold_in`` instead.
  """

  def __init__(self, path: pathlib.Path, *, max_to_keep: int = 3,
               save_interval_steps: int = 1):
    import orbax.checkpoint as ocp  # pylint: disable=import-outside-toplevel
    self._ocp = ocp
    path = pathlib.Path(path).absolute()
    path.mkdir(parents=True, exist_ok=True)
    self._manager = ocp.CheckpointManager(
        path, options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, save_interval_steps=save_interval_steps,
            enable_async_checkpointing=False))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def restore(self, template, step: int | None = None):
    """Restores ``step`` (default: latest) shaped like ``template``.

    Returns ``(state, step)``, or ``(template, 0)`` when there is nothing to
    restore. A checkpoint that fails to read is skipped for the one before it.
    """
    steps = sorted(self._manager.all_steps(), reverse=True)
    if step is not None:
      steps = [s for s in steps if s == step]
    for s in steps:
      try:
        state = self._manager.restore(
            s, args=self._ocp.args.StandardRestore(template))
        return state, s
      except Exception as err:  # pylint: disable=broad-except
        print(f"checkpoint at step {s} is unreadable ({err}); trying an older one",
              file=sys.stderr)
    return template, 0

  def save(self, step: int, state, *, force: bool = False) -> bool:
    return self._manager.save(step, args=self._ocp.args.StandardSave(state),
                              force=force)

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def setup(name: str, presets: Mapping[str, Any], argv: list[str] | None = None,
          *, extra_flags=None) -> tuple[Run, argparse.Namespace]:
  """Parses flags, builds the config and creates the work directory.

  Args:
    name: the experiment's name (default workdir ``runs/<name>``).
    presets: preset name -> config dataclass instance.
    argv: command-line arguments (default ``sys.argv[1:]``).
    extra_flags: optional ``fn(parser)`` adding experiment-specific flags.

  Returns:
    ``(run, args)``.
  """
  parser = argparse.ArgumentParser(prog=f"python -m experiments.{name}")
  parser.add_argument("--preset", choices=sorted(presets), default="default")
  parser.add_argument("--workdir", default=os.path.join("runs", name))
  parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override a config field")
  parser.add_argument("--fresh", action="store_true",
                      help="start over, ignoring existing checkpoints")
  parser.add_argument("--quiet", action="store_true")
  _add_distributed_flags(parser)
  parser.add_argument("--nan_check", action="store_true",
                      help="stop with the step and quantity of the first NaN/inf")
  if extra_flags is not None:
    extra_flags(parser)
  args = parser.parse_args(argv)
  _maybe_initialize_distributed(args)
  config = presets[args.preset]
  overrides = {}
  for item in args.set:
    key, sep, text = item.partition("=")
    if not sep or not hasattr(config, key):
      parser.error(f"--set {item!r}: unknown config field {key!r}; fields: "
                   f"{', '.join(f.name for f in dataclasses.fields(config))}")
    try:
      overrides[key] = _parse_value(text, getattr(config, key))
    except ValueError as err:
      parser.error(f"--set {item!r}: {err}")
  config = dataclasses.replace(config, **overrides)
  workdir = pathlib.Path(args.workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / "config.json").write_text(
      json.dumps({"preset": args.preset, **dataclasses.asdict(config)},
                 indent=2, default=str) + "\n")
  run = Run(name=name, preset=args.preset, config=config, workdir=workdir,
            fresh=args.fresh, quiet=args.quiet, nan_check=args.nan_check)
  return run, args


def _add_distributed_flags(parser: argparse.ArgumentParser) -> None:
  group = parser.add_argument_group("multi-host")
  group.add_argument("--distributed", action="store_true",
                     help="call jax.distributed.initialize() (run on every host)")
  group.add_argument("--coordinator_address", default=None, help="host:port of process 0")
  group.add_argument("--num_processes", type=int, default=None)
  group.add_argument("--process_id", type=int, default=None)


def _maybe_initialize_distributed(args: argparse.Namespace) -> None:
  """``jax.distributed.initialize`` before any JAX computation, when asked.

  On Cloud TPU pod slices (and SLURM / Open MPI clusters) the arguments are
  detected; otherwise pass all three of ``--coordinator_address``,
  ``--num_processes`` and ``--process_id``.
  """
  manual = (args.coordinator_address, args.num_processes, args.process_id)
  if not args.distributed:
    if any(v is not None for v in manual):
      raise ValueError("--coordinator_address/--num_processes/--process_id need --distributed")
    return
  import jax  # pylint: disable=import-outside-toplevel
  kwargs = {k: v for k, v in zip(("coordinator_address", "num_processes", "process_id"),
                                 manual) if v is not None}
  jax.distributed.initialize(**kwargs)


def format_table(rows: list[Mapping[str, Any]], columns: list[str]) -> str:
  """A Markdown table for stdout and the README."""
  def fmt(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)
  lines = ["| " + " | ".join(columns) + " |",
           "|" + "|".join("---" for _ in columns) + "|"]
  lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
  return "\n".join(lines)
