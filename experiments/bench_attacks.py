"""Attack sections of the benchmark: advjax vs torchattacks and Foolbox on the
same models with the same weights, plus PGD's loop strategies and FLOP rate.

Every advjax attack is one compiled function of ``(params, x, y)`` (the
weights are arguments, as in a real evaluation loop, not constants XLA could
fold). Peers run the PyTorch twin from :mod:`experiments.bench_torch` with
the transferred weights. Throughput is examples per second; a ratio is
advjax's throughput over the peer's, measured in the same interleaved rounds.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from advjax import attacks
from advjax import data
from advjax import models
from experiments import bench_timing

MODELS = {"mlp": models.MLP, "small_cnn": models.SmallCNN,
          "madry_cnn": models.MadryCNN}
EPS_LINF, STEP_LINF = 0.3, 0.01
EPS_L2, STEP_L2 = 2.0, 0.1
CW_CONST, CW_LR = 1.0, 0.01


def setup_model(name: str, batch: int, key):
  """``(module, variables, x, y)``: a freshly initialised reference model
  and ``batch`` real MNIST test images (offline subset, tiled if needed)."""
  _, test = data.mnist_subset()
  reps = -(-batch // len(test.label))
  x = jnp.asarray(np.tile(test.image, (reps, 1, 1, 1))[:batch])
  y = jnp.asarray(np.tile(test.label, reps)[:batch])
  module = MODELS[name]()
  variables = module.init(key, x[:1])
  return module, variables, x, y


def advjax_attacks(module, *, pgd_steps: int, cw_steps: int):
  """``{attack: fn(variables, x, y) -> x_adv}`` (to be jitted)."""

  def loss(variables, y):
    return attacks.untargeted(lambda z: module.apply(variables, z), y)

  key = jax.random.key(0)
  return {
      "fgsm": lambda v, x, y: attacks.fgsm(loss(v, y), x, eps=EPS_LINF),
      f"pgd{pgd_steps}": lambda v, x, y: attacks.pgd(
          loss(v, y), x, key=key, eps=EPS_LINF, step_size=STEP_LINF,
          n_steps=pgd_steps, random_start=False),
      f"pgd{pgd_steps}_l2": lambda v, x, y: attacks.pgd(
          loss(v, y), x, key=key, norm=2, eps=EPS_L2, step_size=STEP_L2,
          n_steps=pgd_steps, random_start=False),
      f"cw{cw_steps}": lambda v, x, y: attacks.carlini_wagner_l2(
          lambda z: module.apply(v, z), x, y, n_search_steps=1, n_steps=cw_steps,
          initial_const=CW_CONST, learning_rate=CW_LR),
  }


def pgd_step(module):
  """One PGD-L∞ step ``(variables, xc, x0, y) -> x_next`` (no best-iterate
  bookkeeping): the unit driven from Python in the loop-strategy comparison."""

  def step(variables, xc, x0, y):
    loss_fn = attacks.untargeted(lambda z: module.apply(variables, z), y)
    g = jax.grad(lambda z: jnp.sum(loss_fn(z)))(xc)
    delta = jnp.clip(xc + STEP_LINF * jnp.sign(g) - x0, -EPS_LINF, EPS_LINF)
    return jnp.clip(x0 + delta, 0.0, 1.0)

  return step


def python_loop(compiled_step, variables, x, y, n_steps: int):
  """The compiled PGD step driven ``n_steps`` times from Python."""
  xc = x
  for _ in range(n_steps):
    xc = compiled_step(variables, xc, x, y)
  return xc


def peer_attacks(torch_model, *, pgd_steps: int, cw_steps: int):
  """``{attack: {peer: fn(x_t, y_t)}}`` for torchattacks and Foolbox."""
  import foolbox as fb  # pylint: disable=import-outside-toplevel
  import torchattacks  # pylint: disable=import-outside-toplevel
  fmodel = fb.PyTorchModel(torch_model, bounds=(0.0, 1.0))

  def foolbox(attack, eps):
    return lambda x, y: attack(fmodel, x, y, epsilons=eps)[1]

  ta = {
      "fgsm": torchattacks.FGSM(torch_model, eps=EPS_LINF),
      f"pgd{pgd_steps}": torchattacks.PGD(torch_model, eps=EPS_LINF, alpha=STEP_LINF,
                                          steps=pgd_steps, random_start=False),
      f"pgd{pgd_steps}_l2": torchattacks.PGDL2(torch_model, eps=EPS_L2,
                                               alpha=STEP_L2, steps=pgd_steps,
                                               random_start=False),
      f"cw{cw_steps}": torchattacks.CW(torch_model, c=CW_CONST, kappa=0.0,
                                       steps=cw_steps, lr=CW_LR),
  }
  fbx = {
      "fgsm": foolbox(fb.attacks.FGSM(), EPS_LINF),
      f"pgd{pgd_steps}": foolbox(fb.attacks.LinfPGD(
          abs_stepsize=STEP_LINF, steps=pgd_steps, random_start=False), EPS_LINF),
      f"pgd{pgd_steps}_l2": foolbox(fb.attacks.L2PGD(
          abs_stepsize=STEP_L2, steps=pgd_steps, random_start=False), EPS_L2),
      f"cw{cw_steps}": foolbox(fb.attacks.L2CarliniWagnerAttack(
          binary_search_steps=1, steps=cw_steps, stepsize=CW_LR,
          initial_const=CW_CONST), None),
  }
  return {name: {"torchattacks": ta[name], "foolbox": fbx[name]} for name in ta}


def bench_model(name: str, *, batch: int, pgd_steps: int, cw_steps: int,
                repeats: int, attack_names, peers=("torchattacks", "foolbox"),
                key) -> dict[str, float]:
  """All requested attacks on one model: advjax vs the peers.

  Keys (``<a>`` an attack such as ``pgd40``, ``<m>`` the model):
  ``<a>_<m>_examples_per_second_<advjax|torchattacks|foolbox>``,
  ``<a>_ratio_vs_<peer>_<m>``, ``<a>_<m>_spread_seconds_<contender>``,
  ``compile_seconds_<a>_<m>``; for PGD L∞ also the Python-driven step loop
  (``..._advjax_step_loop``) and the step's FLOP rate.
  """
  import torch  # pylint: disable=import-outside-toplevel
  from experiments import bench_torch  # pylint: disable=import-outside-toplevel
  module, variables, x, y = setup_model(name, batch, key)
  tmodel = bench_torch.load_flax_params(bench_torch.classifier(name),
                                        variables["params"], name)
  xt, yt = bench_torch.to_torch(x), torch.from_numpy(np.array(y)).long()
  ours = advjax_attacks(module, pgd_steps=pgd_steps, cw_steps=cw_steps)
  theirs = peer_attacks(tmodel, pgd_steps=pgd_steps, cw_steps=cw_steps)
  pgd_name = f"pgd{pgd_steps}"
  out = {}
  for attack in attack_names:
    if attack not in ours:
      raise ValueError(f"unknown attack {attack!r}; known: {sorted(ours)}")
    compiled, seconds = bench_timing.compile_ahead(ours[attack], variables, x, y)
    out[f"compile_seconds_{attack}_{name}"] = seconds
    contenders = {"advjax": lambda c=compiled: c(variables, x, y)}
    if attack == pgd_name:
      step, step_compile = bench_timing.compile_ahead(pgd_step(module), variables,
                                                      x, x, y)
      out[f"compile_seconds_pgd_step_{name}"] = step_compile
      contenders["advjax_step_loop"] = lambda: python_loop(step, variables, x, y,
                                                           pgd_steps)
    for peer in peers:
      contenders[peer] = lambda fn=theirs[attack][peer]: fn(xt, yt)
    stats = bench_timing.interleaved(contenders, repeats=repeats)
    for who, s in stats.items():
      out[f"{attack}_{name}_examples_per_second_{who}"] = batch / s["median"]
      out[f"{attack}_{name}_spread_seconds_{who}"] = s["spread"]
    for peer in peers:
      out[f"{attack}_ratio_vs_{peer}_{name}"] = (stats[peer]["median"]
                                                 / stats["advjax"]["median"])
    if attack == pgd_name:
      step_flops = bench_timing.flops(step)
      out[f"pgd_step_{name}_gflop"] = step_flops / 1e9
      out[f"pgd_step_{name}_gflops_per_second"] = (
          step_flops * pgd_steps / stats["advjax"]["median"] / 1e9)
  return out


def bench_variants(name: str, *, batch: int, batches, n_steps: int, repeats: int,
                   key) -> dict[str, float]:
  """How the calling pattern changes PGD-L∞ speed on one model (advjax only).

  * the compiled step driven from Python with the iterate's buffer donated
    (``donate_argnums``) or not, and blocking after every step or once;
  * the same step compiled with XLA's default options instead of
    :func:`advjax.models.cpu_compiler_options` (YNNPACK convolutions);
  * the compiled attack (``fori_loop``) at several batch sizes.

  Keys: ``variant_<m>_seconds_<variant>`` and
  ``variant_<m>_examples_per_second_batch<B>``.
  """
  module, variables, x, y = setup_model(name, max(batches + (batch,)), key)
  xb, yb = x[:batch], y[:batch]
  step = pgd_step(module)
  plain, _ = bench_timing.compile_ahead(step, variables, xb, xb, yb)
  donated, _ = bench_timing.compile_ahead(step, variables, xb, xb, yb,
                                          donate_argnums=(1,))

  def loop(compiled, *, block_each):
    xc = jnp.array(xb)  # a fresh buffer: donation consumes it
    for _ in range(n_steps):
      xc = compiled(variables, xc, xb, yb)
      if block_each:
        xc.block_until_ready()
    return xc

  xla_default, _ = bench_timing.compile_ahead(step, variables, xb, xb, yb,
                                              compiler_options={})
  stats = bench_timing.interleaved({
      "step_loop": lambda: loop(plain, block_each=False),
      "step_loop_xla_default_options": lambda: loop(xla_default, block_each=False),
      "step_loop_donated": lambda: loop(donated, block_each=False),
      "step_loop_block_each_step": lambda: loop(plain, block_each=True),
  }, repeats=repeats)
  out = {f"variant_{name}_seconds_{k}": s["median"] for k, s in stats.items()}
  attack = advjax_attacks(module, pgd_steps=n_steps, cw_steps=1)[f"pgd{n_steps}"]
  for b in batches:
    xs, ys = x[:b], y[:b]
    compiled, _ = bench_timing.compile_ahead(attack, variables, xs, ys)
    s = bench_timing.interleaved(
        {"fori": lambda c=compiled, xs=xs, ys=ys: c(variables, xs, ys)},
        repeats=repeats)["fori"]
    out[f"variant_{name}_examples_per_second_batch{b}"] = b / s["median"]
  return out
