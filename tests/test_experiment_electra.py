"""Smoke run of experiments/electra.py (tiny preset, in-process)."""
import json
import math

import numpy as np

from advjax import data
from experiments import electra


def test_plausibility_sorts_tokens_by_the_chains_that_allow_them():
  # Chain 0 writes 3 4 5, chain 1 writes 3 6 5 (0 is padding).
  corpus = data.TextSplit(np.array([[3, 4, 5, 0], [3, 6, 5, 0]], np.int32),
                          np.array([0, 1], np.int32))
  seen = electra.chain_bigrams(corpus, 8, 2, pad_id=0)
  assert seen.sum() == 4 and seen[0, 3, 4] and seen[1, 6, 5] and not seen[0, 3, 6]
  corrupted = np.array([[3, 4, 5, 0],    # own chain throughout
                        [3, 6, 5, 0],    # 6 between 3 and 5: chain 1's only
                        [3, 7, 5, 0],    # 7: no chain
                        [3, 4, 0, 0]],   # 4 before padding: its left pair decides
                       np.int32)
  kinds = electra.plausibility(corrupted, np.zeros(4, np.int32), seen, pad_id=0)
  np.testing.assert_array_equal(kinds[:, 1], [0, 1, 2, 0])
  # Under chain 1 the first sentence's 4 is chain 0's, i.e. another chain's.
  assert electra.plausibility(corrupted[:1], np.ones(1, np.int32), seen, 0)[0, 1] == 1


def test_electra_smoke(tmp_path):
  results = electra.main(["--preset", "smoke", "--workdir", str(tmp_path), "--quiet"])
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved.keys() == results.keys()
  cfg = electra.PRESETS["smoke"]
  n_points = cfg.pretrain_steps // cfg.chunk_steps + 1
  for name in ("electra", "mlm"):
    assert 0.0 <= saved[f"{name}/downstream_accuracy"] <= 1.0
    curve = [saved[f"{name}/downstream_accuracy@{i * cfg.chunk_steps}"]
             for i in range(n_points)]
    assert all(0.0 <= a <= 1.0 for a in curve)
    assert curve[-1] == saved[f"{name}/downstream_accuracy"]
    assert saved[f"{name}/gflops_per_step"] > 0
  assert 0.0 <= saved["rtd_auc"] <= 1.0
  assert 0.0 <= saved["generator_mlm_accuracy"] <= 1.0
  # An untrained generator almost never samples the original word.
  assert saved["replaced_fraction_of_masked"] > 0.5
  shares = [saved[f"replaced/{k}_share"] for k in electra.PLAUSIBILITY]
  assert min(shares) >= 0.0 and math.isclose(sum(shares), 1.0, rel_tol=1e-6)
  # A generator of a quarter of the width: the ELECTRA step costs more than
  # the MLM step, but less than two of them.
  assert 1.0 < saved["electra/flops_ratio_vs_mlm"] < 2.0
  steps_to = saved["electra/steps_to_mlm_final"]
  assert steps_to is None or (0 <= steps_to <= cfg.pretrain_steps
                              and not math.isnan(steps_to))
  assert (tmp_path / "electra_downstream.png").exists()
