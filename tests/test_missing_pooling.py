"""Rubin's rules with Barnard–Rubin df (issue 16) against R's mice::pool and by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from project_helpers import REPO

from balint_analysis.missing.pooling import pool_imputations, rubin_pool

REFERENCE = REPO / "tests" / "reference"
KEYS = ["estimate", "se", "df", "ci_low", "ci_high", "p_value", "fmi", "riv"]


@pytest.mark.parametrize("analysis", ["lm", "lmer"])
def test_rubin_pool_equals_mice_pool(analysis):
    """mice 3.15 pool() (lm, df.residual) and pool.scalar (lmer, median Satterthwaite df) on
    the same per-imputation numbers (tests/reference/mice_pool_reference.R)."""
    per = pd.read_csv(REFERENCE / "mice_per_imputation.csv")
    ref = pd.read_csv(REFERENCE / "mice_pool_reference.csv").set_index("analysis").loc[analysis]
    part = per[per["analysis"] == analysis]
    assert len(part) == 10
    dfcom = float(np.median(part["df_complete"]))
    assert dfcom == pytest.approx(ref["df_complete"], rel=1e-12)
    ours = rubin_pool(part["estimate"], part["variance"], dfcom, alpha=0.05)
    for key in KEYS:
        assert ours[key] == pytest.approx(ref[key], rel=1e-8), key
    # The same through the table interface, with the median df_complete.
    table = pool_imputations(part.assign(instrument="x", scale="y", timepoint="t",
                                         scenario="mar", delta=0.0))
    assert len(table) == 1
    for key in KEYS[:-1]:
        assert table[key].iloc[0] == pytest.approx(ref[key], rel=1e-8), key


def test_rubin_pool_by_hand():
    """Q = 1.0, 1.2, 0.9, 1.1, 1.3; U = 0.04; nu_com = 50 (worked by hand: B = 0.025,
    T = 0.07, r = 0.75, lambda = 3/7, nu_old = 21.78, nu_obs = 27.49)."""
    res = rubin_pool([1.0, 1.2, 0.9, 1.1, 1.3], [0.04] * 5, 50.0)
    lam = 0.03 / 0.07
    nu_old = 4 / lam**2
    nu_obs = 51 / 53 * 50 * (1 - lam)
    assert res["estimate"] == pytest.approx(1.1)
    assert res["se"] == pytest.approx(np.sqrt(0.07))
    assert res["riv"] == pytest.approx(0.75)
    assert res["df"] == pytest.approx(nu_old * nu_obs / (nu_old + nu_obs), rel=1e-12)
    assert res["df"] == pytest.approx(12.152, abs=1e-3)
    assert res["fmi"] == pytest.approx((0.75 + 2 / (res["df"] + 3)) / 1.75, rel=1e-12)
    assert res["fmi"] == pytest.approx(0.5040, abs=1e-4)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((0.5243, 1.6757), abs=1e-4)
    assert res["m"] == 5
    # Rubin's 1987 df when the complete-data df is infinite.
    assert rubin_pool([1.0, 1.2, 0.9, 1.1, 1.3], [0.04] * 5, np.inf)["df"] == \
        pytest.approx(nu_old, rel=1e-12)
    assert np.isnan(rubin_pool([1.0], [0.04], 50.0)["estimate"])


finite = st.floats(-50, 50, allow_nan=False)


@settings(max_examples=25, deadline=None)
@given(q=finite, u=st.floats(0.01, 10), m=st.integers(2, 60), dfc=st.floats(2, 500))
def test_identical_imputations_have_no_between_variance(q, u, m, dfc):
    """M identical results: B = 0, T = U, and nu is the nu_obs limit (nu_com (nu_com + 1) /
    (nu_com + 3)), just below nu_com."""
    res = rubin_pool([q] * m, [u] * m, dfc)
    assert res["riv"] == pytest.approx(0.0, abs=1e-12)  # the mean of M equal floats may round
    assert res["se"] == pytest.approx(np.sqrt(u), rel=1e-12)
    assert res["df"] == pytest.approx(dfc * (dfc + 1) / (dfc + 3), rel=1e-9)
    assert res["df"] <= dfc
    assert res["fmi"] == pytest.approx(2 / (res["df"] + 3), rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(data=st.lists(st.tuples(finite, st.floats(0.01, 10)), min_size=2, max_size=30),
       dfc=st.floats(2, 500), seed=st.integers(0, 2**32 - 1))
def test_pooling_ignores_the_order_of_imputations(data, dfc, seed):
    q, u = map(np.array, zip(*data, strict=True))
    perm = np.random.default_rng(seed).permutation(len(q))
    a, b = rubin_pool(q, u, dfc), rubin_pool(q[perm], u[perm], dfc)
    for key in KEYS:
        assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12, nan_ok=True), key
    assert a["df"] <= dfc * (1 + 1e-12)


def test_pool_imputations_groups_and_reasons():
    rows = pd.DataFrame({
        "instrument": "mbi", "scale": "ee", "timepoint": ["post"] * 4 + ["fu"] * 4,
        "group": "balint", "scenario": "mar", "delta": 0.0, "imputation": [0, 1, 2, 3] * 2,
        "estimate": [1.0, 2.0, 1.5, 1.2, np.nan, np.nan, np.nan, np.nan],
        "variance": [0.5, 0.4, 0.6, 0.5, np.nan, np.nan, np.nan, np.nan],
        "df_complete": [30.0, 31.0, 29.0, 40.0, np.nan, np.nan, np.nan, np.nan],
        "reason": [""] * 4 + ["no follow-up"] * 4, "baseline_sd": 2.0})
    out = pool_imputations(rows)
    assert list(out["timepoint"]) == ["post", "fu"]
    first = rubin_pool([1.0, 2.0, 1.5, 1.2], [0.5, 0.4, 0.6, 0.5], 30.5)
    assert out["estimate"].iloc[0] == pytest.approx(first["estimate"])
    assert out["df"].iloc[0] == pytest.approx(first["df"])
    assert out["reason"].tolist() == ["", "no follow-up"]
    assert np.isnan(out["estimate"].iloc[1])
    assert out["delta_sd"].iloc[0] == 0.0


def test_vectorised_pooling_gives_rubin_pool_bit_for_bit():
    """Equal-sized groups are pooled as one array: the same bits as rubin_pool per group;
    groups of different sizes (one imputation short) are pooled one by one, same values."""
    rng = np.random.default_rng(4)
    rows = pd.DataFrame({
        "instrument": "mbi", "scale": "ee", "timepoint": "post", "scenario": "delta_both",
        "delta": np.repeat(np.linspace(-2, 2, 7), 20), "imputation": np.tile(range(20), 7),
        "estimate": rng.normal(-2, 0.7, 140), "variance": rng.uniform(0.3, 0.6, 140),
        "df_complete": rng.uniform(60, 70, 140), "reason": ""})
    for frame in (rows, rows.iloc[1:]):
        out = pool_imputations(frame)
        assert len(out) == 7
        for (_, part), got in zip(frame.groupby("delta"), out.itertuples(), strict=True):
            want = rubin_pool(part["estimate"], part["variance"],
                              float(np.median(part["df_complete"])))
            assert (got.estimate, got.se, got.df, got.ci_low, got.p_value, got.fmi, got.m) == \
                (want["estimate"], want["se"], want["df"], want["ci_low"], want["p_value"],
                 want["fmi"], want["m"])  # fmt: skip
