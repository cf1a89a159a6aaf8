"""Writes the notebooks of this folder from the cell sources below.

    python notebooks/_build.py          # rewrites notebooks/*.ipynb (no outputs)

Every notebook starts with the same three cells (the Colab badge, an install
cell that runs only in Colab, and a device cell that builds the data mesh),
then its own cells. Edit the sources here, not the .ipynb files.
"""
from __future__ import annotations

import pathlib
import sys

import nbformat

# The canonical repository; change it for a fork (badges and install cell).
REPO = "https://github.com/advjax/advjax"
BRANCH = "main"
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _cells  # noqa: E402  (the notebooks' own cells)


def _badge(filename: str) -> str:
  path = REPO.removeprefix("https://github.com/")
  url = f"https://colab.research.google.com/github/{path}/blob/{BRANCH}/notebooks/{filename}"
  return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


INSTALL = f'''\
# Colab: install advjax from the repository (CI and local runs use the checkout).
import os, subprocess, sys
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
  subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                  "advjax[examples] @ git+{REPO}@{BRANCH}"], check=True)
# SMOKE=1 (as CI sets it) shrinks every size so the notebook runs in seconds on CPU.
SMOKE = bool(os.environ.get("SMOKE"))
print("Colab:", IN_COLAB, "| smoke mode:", SMOKE)'''

DEVICES = '''\
import jax
import jax.numpy as jnp
import numpy as np
import optax
import matplotlib.pyplot as plt
from advjax import attacks, data, losses, metrics, models, train

# CPU, GPU or TPU: the same code. A TPU v2/v3-8 runtime shows 8 cores.
print("backend:", jax.default_backend(), "| devices:", jax.devices())
# A 1-D data-parallel mesh over every device (jax.make_mesh, axis "data"):
# batches are split along it, parameters replicated, XLA inserts the all-reduce.
mesh = train.data_mesh()
N_DEV = mesh.shape["data"]
print(mesh)'''


def build(name: str, title: str, intro: str, cells: list[tuple[str, str]]):
  nb = nbformat.v4.new_notebook()
  nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"},
                 "language_info": {"name": "python"},
                 "accelerator": "TPU", "colab": {"provenance": []}}
  filename = f"{name}.ipynb"
  md = nbformat.v4.new_markdown_cell
  code = nbformat.v4.new_code_cell
  nb.cells = [md(f"# {title}\n\n{_badge(filename)}\n\n{intro.strip()}"),
              code(INSTALL), code(DEVICES)]
  for kind, source in cells:
    source = source.strip("\n")
    nb.cells.append(md(source) if kind == "md" else code(source))
  for i, cell in enumerate(nb.cells):
    cell["id"] = f"{name[:2]}-{i:02d}"  # stable ids: rebuilding changes nothing
  nbformat.validate(nb)
  nbformat.write(nb, HERE / filename)
  return HERE / filename


def main():
  for spec in _cells.NOTEBOOKS:
    print("wrote", build(**spec))


if __name__ == "__main__":
  main()
