"""APGD: the checkpoint schedule, ball and box, and strength against PGD."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import attacks
from advjax.losses import cross_entropy
from attack_models import trained_digits_mlp

pytestmark = pytest.mark.strict_dtypes
EPS = 0.1


@pytest.fixture(scope="module")
def model():
  return trained_digits_mlp()  # trained outside the strict-dtype context


def test_checkpoint_schedule_matches_the_reference_implementation():
  # autoattack's autopgd_base with n_iter=100: first check after 22 steps,
  # intervals shrinking by 3 down to 6.
  sched = attacks.checkpoint_schedule(100)
  assert [k for _, k in sched] == [22, 19, 16, 13, 10, 7, 6, 6]
  assert [i for i, _ in sched] == list(np.cumsum([22, 19, 16, 13, 10, 7, 6, 6]) - 1)


def test_stays_in_ball_and_box(model):
  logits_fn, x, y = model
  for norm, eps, x_adv in (
      (jnp.inf, EPS, attacks.apgd_attack(logits_fn, x, y, key=jax.random.key(0),
                                         eps=EPS, n_steps=5)),
      (2, 0.5, attacks.apgd(attacks.untargeted(logits_fn, y), x,
                            key=jax.random.key(0), eps=0.5, norm=2, n_steps=5))):
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert np.all(attacks.lp_norm(x_adv - x, norm) <= eps * (1 + 1e-5) + 1e-6)
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


def test_apgd_is_at_least_as_strong_as_pgd_at_equal_iterations(model):
  logits_fn, x, y = model
  n = 20
  key = jax.random.key(1)
  x_pgd = attacks.pgd(attacks.untargeted(logits_fn, y), x, key=key, eps=EPS,
                      step_size=2.5 * EPS / n, n_steps=n)
  x_apgd = attacks.apgd(attacks.untargeted(logits_fn, y), x, key=key, eps=EPS,
                        n_steps=n)
  loss_pgd = float(jnp.mean(cross_entropy(logits_fn(x_pgd), y)))
  loss_apgd = float(jnp.mean(cross_entropy(logits_fn(x_apgd), y)))
  assert loss_apgd >= loss_pgd, (loss_apgd, loss_pgd)
  acc = lambda xa: float(jnp.mean(jnp.argmax(logits_fn(xa), -1) == y))  # noqa: E731
  a_pgd = acc(x_pgd)
  a_ce = acc(attacks.apgd_attack(logits_fn, x, y, key=key, eps=EPS, n_steps=n))
  a_t = acc(attacks.apgd_targeted(logits_fn, x, y, key=key, eps=EPS, n_steps=n,
                                  n_target_classes=2))
  assert 0.05 < a_pgd < 0.95  # a regime where strength shows
  assert a_ce <= a_pgd and a_t <= a_pgd


def test_targeted_apgd_reaches_the_target(model):
  logits_fn, x, y = model
  target = (y + 1) % 10
  x_adv = attacks.apgd_attack(logits_fn, x, y, key=jax.random.key(2), eps=0.3,
                              target=target, loss="dlr", n_steps=20)
  hit = float(jnp.mean(jnp.argmax(logits_fn(x_adv), -1) == target))
  x_pgd = attacks.pgd(attacks.targeted(logits_fn, target), x, key=jax.random.key(2),
                      eps=0.3, step_size=2.5 * 0.3 / 20, n_steps=20)
  hit_pgd = float(jnp.mean(jnp.argmax(logits_fn(x_pgd), -1) == target))
  assert hit > 0.8 and hit >= hit_pgd - 0.05


def test_bad_arguments(model):
  logits_fn, x, y = model
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="loss"):
    attacks.apgd_attack(logits_fn, x, y, key=key, eps=0.1, loss="hinge")
  with pytest.raises(ValueError, match="norm"):
    attacks.apgd_attack(logits_fn, x, y, key=key, eps=0.1, norm=1)
  with pytest.raises(ValueError, match="eps"):
    attacks.apgd(attacks.untargeted(logits_fn, y), x, key=key, eps=-0.1)
  with pytest.raises(ValueError, match="n_target_classes"):
    attacks.apgd_targeted(logits_fn, x, y, key=key, eps=0.1, n_target_classes=10)
  with pytest.raises(ValueError, match="momentum"):
    attacks.apgd(attacks.untargeted(logits_fn, y), x, key=key, eps=0.1, momentum=0.0)
