"""Square attack: ball and box, exact query counts, the p schedule, success on
a trained model; a scikit-learn model reached through the NumPy oracle."""
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from advjax import attacks
from advjax import data

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from attack_models import trained_digits_mlp  # noqa: E402

pytestmark = pytest.mark.strict_dtypes


@pytest.fixture(scope="module")
def digits():
  return trained_digits_mlp()


@pytest.mark.parametrize("norm,eps", [(jnp.inf, 0.3), (2, 2.0)])
def test_breaks_a_trained_model_inside_ball_and_box(digits, norm, eps):
  logits_fn, x, y = digits
  loss_fn = attacks.untargeted(logits_fn, y, loss="margin")
  res = jax.jit(lambda z, k: attacks.square_attack(
      loss_fn, z, key=k, eps=eps, n_queries=200, norm=norm))(x, jax.random.key(0))
  assert res.x_adv.shape == x.shape and res.x_adv.dtype == x.dtype
  assert np.all(attacks.lp_norm(res.x_adv - x, norm) <= eps * (1 + 1e-5) + 1e-6)
  assert float(res.x_adv.min()) >= 0.0 and float(res.x_adv.max()) <= 1.0
  preds = np.asarray(jnp.argmax(logits_fn(res.x_adv), -1))
  np.testing.assert_array_equal(res.success, preds != np.asarray(y))
  np.testing.assert_allclose(res.loss, loss_fn(res.x_adv), rtol=1e-5, atol=1e-5)
  assert res.success.mean() >= 0.95
  assert np.all((res.n_queries >= 1) & (res.n_queries <= 200))


@pytest.mark.parametrize("norm,eps", [(jnp.inf, 0.05), (2, 0.5)])
def test_counts_queries_exactly(digits, norm, eps):
  """A host-side oracle logs every query: the reported count of an example is
  the call at which it first became adversarial, the budget otherwise."""
  logits_fn, x, y = digits
  margin = jax.jit(attacks.untargeted(logits_fn, y, loss="margin"))
  log = []

  def host(z):
    values = np.asarray(margin(jnp.asarray(z)))
    log.append(values > 0)
    return values

  def oracle(z):
    return jax.pure_callback(host, jax.ShapeDtypeStruct((z.shape[0],), jnp.float32), z)

  budget = 60
  res = jax.jit(lambda z, k: attacks.square_attack(
      oracle, z, key=k, eps=eps, n_queries=budget, norm=norm))(x, jax.random.key(1))
  hits = np.stack(log)
  assert hits.shape == (budget, len(x))  # exactly the budget, one call per query
  first = np.where(hits.any(0), hits.argmax(0) + 1, budget)
  np.testing.assert_array_equal(res.n_queries, first)
  assert 0 < res.success.mean() < 1  # a radius where both cases occur


def test_p_schedule_is_the_papers():
  p = attacks.square_p_schedule(0.8, 10_000)
  assert len(p) == 9_999
  np.testing.assert_allclose(p[[0, 10, 11, 50, 51, 200, 201, 501, 1001, 2001, 4001,
                                6001, 8001, 9998]],
                             0.8 / 2.0 ** np.array([0, 0, 1, 1, 2, 2, 3, 4, 5, 6, 7,
                                                    8, 9, 9]))
  short = attacks.square_p_schedule(0.8, 1000)  # rescaled to the budget
  np.testing.assert_allclose(short[[1, 2, 5, 6]], [0.8, 0.4, 0.4, 0.2])


def test_bad_arguments(digits):
  logits_fn, x, y = digits
  loss_fn = attacks.untargeted(logits_fn, y, loss="margin")
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="norm"):
    attacks.square_attack(loss_fn, x, key=key, eps=0.1, n_queries=10, norm=1)
  with pytest.raises(ValueError, match="n_queries"):
    attacks.square_attack(loss_fn, x, key=key, eps=0.1, n_queries=0)
  with pytest.raises(ValueError, match="p_init"):
    attacks.square_attack(loss_fn, x, key=key, eps=0.1, n_queries=10, p_init=0.0)
  with pytest.raises(ValueError, match="NHWC"):
    attacks.square_attack(lambda z: z[:, 0], x.reshape(len(x), -1), key=key,
                          eps=0.1, n_queries=10)


def test_numpy_oracle_lets_square_and_nes_break_scikit_learn():
  from sklearn.linear_model import LogisticRegression
  train, test = data.digits()
  clf = LogisticRegression(max_iter=300).fit(train.image.reshape(len(train), -1),
                                             train.label)
  logits_fn = attacks.numpy_oracle(clf.predict_proba, num_classes=10)
  x, y = jnp.asarray(test.image[:40]), jnp.asarray(test.label[:40])
  expected = np.log(clf.predict_proba(test.image[:40].reshape(40, -1)))
  np.testing.assert_allclose(jax.jit(logits_fn)(x), expected, rtol=1e-5, atol=1e-5)
  stacked = jax.vmap(logits_fn)(jnp.stack([x, x]))  # one host call under vmap
  np.testing.assert_allclose(stacked[1], expected, rtol=1e-5, atol=1e-5)
  with pytest.raises(Exception):
    jax.grad(lambda z: jnp.sum(logits_fn(z)))(x)
  correct = np.asarray(jnp.argmax(logits_fn(x), -1) == y)
  loss_fn = attacks.untargeted(logits_fn, y, loss="margin")
  sq = attacks.square_attack(loss_fn, x, key=jax.random.key(0), eps=0.3,
                             n_queries=300)
  nes = attacks.blackbox_pgd(loss_fn, x, key=jax.random.key(0), eps=0.3,
                             step_size=0.03, n_steps=25, n_samples=10, sigma=1e-2)
  assert np.mean(np.asarray(sq.success)[correct]) >= 0.9
  assert np.mean(np.asarray(nes.success)[correct]) >= 0.9
  assert np.all(attacks.lp_norm(sq.x_adv - x, jnp.inf) <= 0.3 + 1e-6)
