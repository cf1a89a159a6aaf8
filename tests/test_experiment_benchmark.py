"""The benchmark in its smoke preset (no timing assertions)."""
from experiments import benchmark


def test_benchmark_smoke(tmp_path):
  results = benchmark.main(["--preset", "smoke", "--workdir", str(tmp_path),
                            "--quiet"])
  assert results["pool_grad_ms_reshape_max"] > 0
  for name in ("mlp", "small_cnn"):
    assert results[f"pgd2_{name}_examples_per_second_fori"] > 0
    assert results[f"pgd2_{name}_examples_per_second_python_loop"] > 0
  assert "pool_grad_speedup" in (tmp_path / "benchmark.md").read_text()


def test_python_loop_path_matches_the_library_pgd():
  import jax
  import jax.numpy as jnp
  import numpy as np
  from advjax import attacks
  w = jax.random.normal(jax.random.key(0), (20, 3))
  x = jax.random.uniform(jax.random.key(1), (8, 20))
  y = jnp.arange(8) % 3
  loss_fn = attacks.untargeted(lambda z: z @ w, y)
  kw = dict(eps=0.1, step_size=0.03, n_steps=3)
  ref = attacks.pgd(loss_fn, x, key=jax.random.key(0), random_start=False, **kw)
  ours = benchmark._pgd_python_loop(loss_fn, x, **kw)  # pylint: disable=protected-access
  # Same iterates; the library returns the best iterate, which for this
  # convex-in-x loss along the sign path is the last one.
  np.testing.assert_allclose(ours, ref, atol=1e-6)
