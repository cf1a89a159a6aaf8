"""Importing advjax (or an experiment) must not start JAX's backends.

Flags such as ``--xla_cpu_multi_thread_eigen`` and ``jax.distributed.initialize``
only take effect before the first computation; a module-level ``jnp`` array
would run one at import time.
"""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = ["advjax", "experiments.benchmark", "experiments.blackbox",
           "experiments.adversarial_training", "experiments.dann_digits",
           "experiments.dcgan_mnist", "experiments.electra", "experiments.pix2pix"]


def test_import_leaves_backends_uninitialized():
  code = ("import importlib, sys\n"
          "from jax._src import xla_bridge\n"
          f"for name in {MODULES!r}:\n"
          "  importlib.import_module(name)\n"
          "  if xla_bridge.backends_are_initialized():\n"
          "    sys.exit(f'importing {name} started a JAX backend')\n")
  result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
