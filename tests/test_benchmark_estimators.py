"""The estimator benchmark at smoke size (no timing assertions)."""
import jax

from experiments import benchmark_estimators


def test_bench_estimators_smoke(tmp_path):
  results = benchmark_estimators.bench_estimators(
      batch=2, n_samples=4, repeats=1, key=jax.random.key(0), model="mlp",
      square_queries=10)
  for key in ("nes_queries_per_second_advjax", "nes_queries_per_second_art",
              "nes_speedup_vs_art", "square_queries_per_second"):
    assert results[key] > 0, key
  assert results["square_counted_queries"] == 2 * 10  # the whole budget runs
  assert -1.0 <= results["nes_cosine_art"] <= 1.0
  assert all(isinstance(v, (int, float)) for v in results.values())
