"""PyTorch twins of advjax's reference models, with weights transferred.

Layer for layer the same networks as ``advjax.models.MLP``, ``SmallCNN``,
``MadryCNN``, ``DCGANGenerator`` and ``DCGANDiscriminator`` (28×28×1), so the
benchmark compares frameworks on the same computation and the attacks can be
checked to agree. :func:`load_flax_params` copies Flax parameters into a twin:

* conv kernels: Flax ``(kh, kw, in, out)`` → torch ``(out, in, kh, kw)``;
* dense kernels: Flax ``(in, out)`` → torch ``(out, in)``;
* the first dense layer after a flatten: Flax flattens NHWC activations in
  ``(h, w, c)`` order, torch NCHW ones in ``(c, h, w)`` order, so its input
  rows are permuted accordingly.

Inputs go through :func:`to_torch` (NHWC → NCHW). Only imported by the
benchmark and its tests (``pip install -e ".[bench]"``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

# (channels, height, width) of the activation flattened before the first
# dense layer of each classifier.
_FLATTEN_CHW = {"mlp": (1, 28, 28), "small_cnn": (32, 7, 7), "madry_cnn": (64, 7, 7)}


def classifier(name: str, *, mlp_features=(256, 256), num_classes: int = 10) -> nn.Module:
  """The torch twin of ``advjax.models`` classifier ``name`` (eval mode)."""
  if name == "mlp":
    layers, width = [nn.Flatten()], 28 * 28
    for f in mlp_features:
      layers += [nn.Linear(width, f), nn.ReLU()]
      width = f
    layers.append(nn.Linear(width, num_classes))
  elif name == "small_cnn":
    layers = [nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.ReLU(),
              nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.ReLU(),
              nn.Flatten(), nn.Linear(32 * 7 * 7, 100), nn.ReLU(),
              nn.Linear(100, num_classes)]
  elif name == "madry_cnn":
    layers = [nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
              nn.Flatten(), nn.Linear(64 * 7 * 7, 1024), nn.ReLU(),
              nn.Linear(1024, num_classes)]
  else:
    raise ValueError(f"`name` must be one of {sorted(_FLATTEN_CHW)}; got {name!r}.")
  return nn.Sequential(*layers).eval()


def _dense_weight(kernel, chw=None):
  kernel = np.asarray(kernel)
  if chw is not None:  # rows (h, w, c) -> (c, h, w)
    c, h, w = chw
    kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1)
  return kernel.T


def load_flax_params(model: nn.Module, params, name: str) -> nn.Module:
  """Copies Flax ``params`` of classifier ``name`` into its torch twin, in place.

  Args:
    model: from :func:`classifier`.
    params: the ``"params"`` collection of the Flax model.
    name: ``"mlp"``, ``"small_cnn"`` or ``"madry_cnn"``.

  Returns:
    ``model``.
  """
  convs = [m for m in model if isinstance(m, nn.Conv2d)]
  denses = [m for m in model if isinstance(m, nn.Linear)]
  weights = []
  for i, conv in enumerate(convs):
    p = params[f"Conv_{i}"]
    weights.append((conv, np.asarray(p["kernel"]).transpose(3, 2, 0, 1), p["bias"]))
  for i, dense in enumerate(denses):
    p = params[f"Dense_{i}"]
    weights.append((dense, _dense_weight(p["kernel"], _FLATTEN_CHW[name] if i == 0
                                         else None), p["bias"]))
  with torch.no_grad():
    for module, w, b in weights:
      if tuple(module.weight.shape) != w.shape:
        raise ValueError(f"shape mismatch: torch {tuple(module.weight.shape)} "
                         f"vs flax {w.shape}")
      module.weight.copy_(torch.from_numpy(np.ascontiguousarray(w, np.float32)))
      module.bias.copy_(torch.from_numpy(np.array(b, np.float32)))
  return model


def to_torch(x) -> torch.Tensor:
  """NHWC array → NCHW float tensor (contiguous copy)."""
  x = np.asarray(x, np.float32)
  return torch.from_numpy(x.transpose(0, 3, 1, 2).copy())


def to_nhwc(x: torch.Tensor) -> np.ndarray:
  """NCHW tensor → NHWC NumPy array."""
  return x.detach().cpu().numpy().transpose(0, 2, 3, 1)


class DCGANGenerator(nn.Module):
  """Twin of ``advjax.models.DCGANGenerator(image_size=28)``."""

  def __init__(self, latent_dim: int = 64, features: int = 64, channels: int = 1):
    super().__init__()
    self.width = 2 * features
    self.project = nn.Sequential(nn.Linear(latent_dim, 7 * 7 * self.width),
                                 nn.BatchNorm1d(7 * 7 * self.width, momentum=0.1),
                                 nn.ReLU())
    self.up = nn.Sequential(
        nn.ConvTranspose2d(self.width, features, 4, stride=2, padding=1),
        nn.BatchNorm2d(features, momentum=0.1), nn.ReLU(),
        nn.ConvTranspose2d(features, channels, 4, stride=2, padding=1), nn.Tanh())
    for m in self.modules():
      if isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        nn.init.zeros_(m.bias)

  def forward(self, z):
    x = self.project(z).view(z.shape[0], self.width, 7, 7)
    return self.up(x)


class DCGANDiscriminator(nn.Module):
  """Twin of ``advjax.models.DCGANDiscriminator(image_size=28)``."""

  def __init__(self, features: int = 64, channels: int = 1):
    super().__init__()
    self.net = nn.Sequential(
        nn.Conv2d(channels, features, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(features, 2 * features, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * features * 7 * 7, 1))
    for m in self.modules():
      if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        nn.init.zeros_(m.bias)

  def forward(self, x):
    return self.net(x)[:, 0]


def make_gan_step(generator: nn.Module, discriminator: nn.Module, *,
                  latent_dim: int, ema_decay: float = 0.999):
  """The DCGAN step of ``advjax.train.make_gan_step`` (non-saturating loss,
  Adam 2e-4 β1 = 0.5, one critic update, EMA generator) in PyTorch.

  Returns ``step(real) -> (d_loss, g_loss)``; like advjax it draws fresh
  latents for the discriminator and the generator updates.
  """
  g_opt = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
  d_opt = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
  ema = [p.detach().clone() for p in generator.parameters()]
  softplus = nn.functional.softplus
  generator.train()
  discriminator.train()

  def step(real):
    batch = real.shape[0]
    with torch.no_grad():
      fake = generator(torch.randn(batch, latent_dim))
    d_opt.zero_grad(set_to_none=True)
    d_loss = (softplus(-discriminator(real)) + softplus(discriminator(fake))).mean()
    d_loss.backward()
    d_opt.step()
    g_opt.zero_grad(set_to_none=True)
    g_loss = softplus(-discriminator(generator(torch.randn(batch, latent_dim)))).mean()
    g_loss.backward()
    g_opt.step()
    with torch.no_grad():
      for e, p in zip(ema, generator.parameters()):
        e.mul_(ema_decay).add_(p.detach(), alpha=1.0 - ema_decay)
    return d_loss.detach(), g_loss.detach()

  return step


def make_pgd_at_step(model: nn.Module, *, eps: float, step_size: float,
                     n_steps: int, learning_rate: float):
  """One PGD adversarial-training step in PyTorch: torchattacks PGD (random
  start), then an Adam step on the mean cross-entropy of the adversarial batch.

  Returns ``step(images, labels) -> loss``.
  """
  import torchattacks  # pylint: disable=import-outside-toplevel
  opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
  attack = torchattacks.PGD(model, eps=eps, alpha=step_size, steps=n_steps,
                            random_start=True)

  def step(images, labels):
    model.eval()  # torchattacks switches modes itself; no BN/dropout here
    x_adv = attack(images, labels)
    model.train()
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x_adv), labels)
    loss.backward()
    opt.step()
    return loss.detach()

  return step
