"""Figures shared by the experiments (matplotlib, Agg backend)."""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _show(ax, img, title=None):
  img = np.asarray(img)
  if img.shape[-1] == 1:
    ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
  else:
    ax.imshow(np.clip(img, 0, 1))
  ax.set_xticks([])
  ax.set_yticks([])
  if title:
    ax.set_title(title, fontsize=8)


def adversarial_grid(x, adversarial: Mapping[str, np.ndarray],
                     predict: Callable, *, labels=None):
  """Rows: clean, then for each attack its perturbation and its adversarial
  image; titles show the model's predicted label (and the true one)."""
  n = len(x)
  rows = 1 + 2 * len(adversarial)
  fig, axes = plt.subplots(rows, n, figsize=(1.3 * n, 1.45 * rows), squeeze=False)
  clean_pred = np.asarray(predict(x))
  for j in range(n):
    truth = f" (y={labels[j]})" if labels is not None else ""
    _show(axes[0, j], x[j], f"pred {clean_pred[j]}{truth}")
  axes[0, 0].set_ylabel("clean", fontsize=8)
  for r, (name, x_adv) in enumerate(adversarial.items()):
    pred = np.asarray(predict(x_adv))
    delta = np.asarray(x_adv) - np.asarray(x)
    scale = max(float(np.abs(delta).max()), 1e-12)
    for j in range(n):
      _show(axes[1 + 2 * r, j], 0.5 + 0.5 * delta[j] / scale,
            f"|δ|∞={np.abs(delta[j]).max():.2f}")
      _show(axes[2 + 2 * r, j], x_adv[j], f"pred {pred[j]}")
    axes[1 + 2 * r, 0].set_ylabel(f"{name}\nperturbation", fontsize=8)
    axes[2 + 2 * r, 0].set_ylabel(f"{name}\nadversarial", fontsize=8)
  fig.tight_layout()
  return fig


def accuracy_vs_eps(eps: Sequence[float], curves: Mapping[str, Sequence[float]],
                    *, xlabel="ε (L∞)", title="Accuracy under attack"):
  fig, ax = plt.subplots(figsize=(4.5, 3.2))
  for name, acc in curves.items():
    ax.plot(eps, acc, marker="o", label=name)
  ax.set_xlabel(xlabel)
  ax.set_ylabel("accuracy")
  ax.set_ylim(-0.02, 1.02)
  ax.grid(alpha=0.3)
  ax.legend()
  ax.set_title(title)
  fig.tight_layout()
  return fig
