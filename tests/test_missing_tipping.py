"""Tipping points of the δ-adjusted scenarios (issue 16)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from balint_analysis.missing.pooling import pool_imputations, rubin_pool
from balint_analysis.missing.tipping import TIPPING_COLUMNS, tipping_points

GRID = np.round(np.linspace(-10, 10, 21), 10)


def per_imputation(e0, slope=0.5, m=8, seed=1, variance=1.0):
    """Per-imputation rows linear in δ (as the analysis gives them), one outcome."""
    rng = np.random.default_rng(seed)
    base = e0 + rng.normal(0, 0.4, m)
    w = slope + rng.normal(0, 0.05, m)
    rows = [("mbi_hss", "emotional_exhaustion", "post", "delta_balint", d, k,
             base[k] + d * w[k], variance, 40.0, "") for d in GRID for k in range(m)]
    return pd.DataFrame(rows, columns=["instrument", "scale", "timepoint", "scenario", "delta",
                                       "imputation", "estimate", "variance", "df_complete",
                                       "reason"])


SD = {("mbi_hss", "emotional_exhaustion"): 8.0}
DIRECTIONS = {("mbi_hss", "emotional_exhaustion"): "higher_is_worse"}


def test_significant_result_loses_support_at_the_root():
    per = per_imputation(-4.0)
    pooled = pool_imputations(per)
    out = tipping_points(pooled, SD, 0.05, per_imputation=per, directions=DIRECTIONS)
    assert list(out.columns) == TIPPING_COLUMNS
    row = out.iloc[0]
    assert row["direction"] == "worse; loses significance"
    assert 0 < row["tipping_delta"] < 10
    assert row["tipping_delta_sd"] == pytest.approx(row["tipping_delta"] / 8.0)
    # Exactly where the pooled upper bound reaches 0 (imputations interpolated exactly).
    d = row["tipping_delta"]
    at = per.groupby("imputation").apply(
        lambda g: pd.Series({"e": np.interp(d, g["delta"], g["estimate"]),
                             "v": np.interp(d, g["delta"], g["variance"])}),
        include_groups=False)
    assert rubin_pool(at["e"], at["v"], 40.0)["ci_high"] == pytest.approx(0.0, abs=1e-9)
    # From the pooled grid alone: linear interpolation of the bound, close to the exact root.
    approx = tipping_points(pooled, SD, 0.05, directions=DIRECTIONS)["tipping_delta"].iloc[0]
    assert approx == pytest.approx(d, abs=0.05)


def test_null_result_becomes_significant_in_either_direction_nearest_zero():
    per = per_imputation(0.3)
    out = tipping_points(pool_imputations(per), SD, 0.05, per_imputation=per)
    row = out.iloc[0]
    assert row["direction"].endswith("; becomes significant")
    # Beyond the tipping δ (on its side) the grid's CI excludes 0; the scale's direction is
    # unknown here, so δ's way is named "higher"/"lower".
    pooled = pool_imputations(per).set_index("delta")
    side = np.sign(row["tipping_delta"])
    beyond = pooled.loc[[d for d in GRID if d * side > abs(row["tipping_delta"])]]
    assert ((beyond["ci_low"] > 0) | (beyond["ci_high"] < 0)).iloc[0]
    assert row["direction"].split(";")[0] == ("higher" if side > 0 else "lower")


def test_robust_result_has_no_tipping_point_and_says_why():
    per = per_imputation(-30.0, slope=0.1)
    out = tipping_points(pool_imputations(per), SD, 0.05, per_imputation=per)
    assert np.isnan(out["tipping_delta"].iloc[0])
    assert out["reason"].iloc[0].startswith("the result kept its statistical support")
