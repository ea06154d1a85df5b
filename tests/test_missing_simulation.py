"""Small version of benchmarks/missing_coverage.py (issue 16): MI under MAR agrees with the
primary LMM, and under MNAR the δ-adjusted analysis at the true δ removes the MAR analysis's
bias. The 1,000-replicate coverage figures are the benchmark's (benchmarks/README.md)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
from project_helpers import REPO


def _benchmark():
    path = REPO / "benchmarks" / "missing_coverage.py"
    spec = importlib.util.spec_from_file_location("missing_coverage", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mi_agrees_with_lmm_under_mar_and_delta_removes_mnar_bias():
    bench = _benchmark()
    mar = pd.DataFrame([bench.replicate(r, per_arm=30, imputations=5, delta=0.0, seed=3)
                        for r in range(8)])
    diff = mar["mi"] - mar["lmm"]
    # Same data, congenial imputation: MI differs from the LMM only by imputation noise.
    assert abs(diff.mean()) < 4 * diff.std(ddof=1) / np.sqrt(len(diff)) + 0.05
    # MI's CI is not narrower on average than the LMM's (it adds the between variance).
    width = {name: (mar[f"{name}_high"] - mar[f"{name}_low"]).mean() for name in ("mi", "lmm")}
    assert width["mi"] > 0.95 * width["lmm"]
    assert diff.abs().max() < 0.5 * width["mi"] / 3.92  # within half an SE in every replicate

    mnar = pd.DataFrame([bench.replicate(r, per_arm=30, imputations=5, delta=12.0, seed=3)
                         for r in range(8)])
    bias_mar = (mnar["mi"] - mnar["truth"]).mean()
    bias_delta = (mnar["delta"] - mnar["truth"]).mean()
    se = (mnar["delta"] - mnar["truth"]).std(ddof=1) / np.sqrt(len(mnar))
    assert bias_mar < -1.0  # drop-outs were worse: MAR makes the Balint arm look better
    assert abs(bias_delta) < 4 * se
