"""Effect sizes and multiplicity: literature test vectors, statsmodels, properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from balint_analysis.models import benjamini_hochberg, hedges_g, morris_dppc2, standardized_change
from balint_analysis.models.effects import (
    change_d_from_scores,
    dppc2_from_scores,
    model_standardized_effect,
    pooled_baseline_sd,
    pooled_prepost_correlation,
)

# Morris (2008) five-study example (metafor datT / datC), docs/references.md.
MORRIS = pd.DataFrame(
    {
        "n_t": [20, 50, 9, 10, 14],
        "n_c": [20, 42, 9, 11, 14],
        "rho": [0.47, 0.64, 0.77, 0.89, 0.44],
        "pre_t": [30.6, 23.5, 0.5, 53.4, 35.6],
        "post_t": [38.5, 26.8, 0.7, 75.9, 36.0],
        "sd_t": [15.0, 3.1, 0.1, 14.5, 4.7],
        "pre_c": [23.1, 24.9, 0.6, 55.7, 34.8],
        "post_c": [19.7, 25.3, 0.6, 60.7, 33.4],
        "sd_c": [13.8, 4.1, 0.2, 17.3, 3.1],
    }
)
EXPECTED_D = [0.7685, 0.8010, 1.2047, 1.0477, 0.4390]
EXPECTED_VAR = [0.1158, 0.0354, 0.1591, 0.0762, 0.1675]
EXPECTED_SD_PRE = [14.412, 3.590, 0.158, 16.035, 3.981]
EXPECTED_CP = [0.9801, 0.9916, 0.9524, 0.9600, 0.9709]


def morris_table() -> pd.DataFrame:
    m = MORRIS
    return morris_dppc2(m.pre_t, m.post_t, m.sd_t, m.n_t, m.pre_c, m.post_c, m.sd_c, m.n_c, m.rho)


def test_morris_dppc2_reproduces_the_published_test_vectors():
    out = morris_table()
    np.testing.assert_allclose(out["d_ppc2"], EXPECTED_D, atol=5e-5)
    np.testing.assert_allclose(out["variance"], EXPECTED_VAR, atol=5e-5)
    np.testing.assert_allclose(out["sd_pre"], EXPECTED_SD_PRE, atol=5e-4)
    np.testing.assert_allclose(out["c_p"], EXPECTED_CP, atol=5e-5)
    np.testing.assert_allclose(out["ci_low"], out["d_ppc2"] - 1.959964 * np.sqrt(out["variance"]),
                               rtol=1e-6)


def test_morris_dppc2_single_study_and_confidence_level():
    one = morris_dppc2(30.6, 38.5, 15.0, 20, 23.1, 19.7, 13.8, 20, 0.47, confidence=0.90)
    assert len(one) == 1
    assert one["d_ppc2"].item() == pytest.approx(0.7685, abs=5e-5)
    assert one["ci_high"].item() - one["d_ppc2"].item() == pytest.approx(
        1.644854 * one["se"].item(), rel=1e-6)


def test_dppc2_from_scores_summarises_paired_scores():
    rng = np.random.default_rng(1)
    pre_t, pre_c = rng.normal(30, 8, 15), rng.normal(28, 7, 12)
    post_t, post_c = pre_t - 4 + rng.normal(0, 4, 15), pre_c - 1 + rng.normal(0, 4, 12)
    got = dppc2_from_scores(pre_t, post_t, pre_c, post_c)
    rho = pooled_prepost_correlation([(pre_t, post_t), (pre_c, post_c)])
    # pooled within-arm correlation, by hand
    cov = (np.cov(pre_t, post_t)[0, 1] * 14 + np.cov(pre_c, post_c)[0, 1] * 11)
    var_pre = pre_t.var(ddof=1) * 14 + pre_c.var(ddof=1) * 11
    var_post = post_t.var(ddof=1) * 14 + post_c.var(ddof=1) * 11
    assert rho == pytest.approx(cov / np.sqrt(var_pre * var_post))
    sd_pre = np.sqrt(var_pre / 25)
    c_p = 1 - 3 / (4 * 25 - 1)
    d = c_p * ((post_t.mean() - pre_t.mean()) - (post_c.mean() - pre_c.mean())) / sd_pre
    assert got["d_ppc2"].item() == pytest.approx(d)
    assert got["rho"].item() == pytest.approx(rho)
    assert got["n_t"].item() == 15 and got["n_c"].item() == 12


def test_dppc2_from_scores_needs_two_pairs_per_arm():
    got = dppc2_from_scores([1.0], [2.0], [1.0, 2.0, 3.0], [2.0, 2.0, 4.0])
    assert np.isnan(got["d_ppc2"].item()) and got["n_t"].item() == 1
    with pytest.raises(ValueError, match="paired"):
        dppc2_from_scores([1.0, 2.0], [2.0], [1.0, 2.0], [2.0, 3.0])


def test_standardized_change_formula():
    out = standardized_change(30.0, 26.0, 8.0, 20, 0.6)
    c = 1 - 3 / (4 * 19 - 1)
    d = c * -4.0 / 8.0
    var = 2 * c**2 * 0.4 / 20 * 19 / 17 * (1 + 20 * d**2 / (2 * 0.4)) - d**2
    assert out["d"].item() == pytest.approx(d)
    assert out["variance"].item() == pytest.approx(var)
    scores = change_d_from_scores([30.0, 35.0, 28.0, 40.0], [26.0, 30.0, 27.0, 33.0])
    assert scores["d"].item() < 0 and scores["n"].item() == 4


def test_hedges_g_reproduces_the_cheng_example():
    out = hedges_g(20.1, 8.3, 70, 22.6, 8.7, 140)
    assert out["d"].item() == pytest.approx(-0.292, abs=5e-4)
    assert out["J"].item() == pytest.approx(0.99639, abs=5e-6)
    assert out["g"].item() == pytest.approx(-0.291, abs=5e-4)
    assert out["ci_low"].item() == pytest.approx(-0.578, abs=5e-4)
    assert out["ci_high"].item() == pytest.approx(-0.003, abs=5e-4)
    approx = hedges_g(20.1, 8.3, 70, 22.6, 8.7, 140, correction="approx")
    assert approx["J"].item() == pytest.approx(out["J"].item(), abs=1e-5)
    with pytest.raises(ValueError, match="correction"):
        hedges_g(1, 1, 10, 0, 1, 10, correction="none")


@pytest.mark.parametrize("seed", range(5))
def test_benjamini_hochberg_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.05, 4), rng.uniform(0, 1, 11)])
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(benjamini_hochberg(p), expected, rtol=1e-12)


def test_benjamini_hochberg_keeps_nan_and_series_index():
    p = pd.Series([0.01, np.nan, 0.04, 0.03], index=list("abcd"))
    got = benjamini_hochberg(p)
    assert list(got.index) == list("abcd") and np.isnan(got["b"])
    expected = multipletests(p.dropna().to_numpy(), method="fdr_bh")[1]
    np.testing.assert_allclose(got.dropna().to_numpy(), expected)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg([0.5, 1.5])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=40))
def test_benjamini_hochberg_properties(values):
    p = np.array(values)
    adj = benjamini_hochberg(p)
    assert np.all(adj >= p - 1e-15)
    assert np.all(adj <= 1.0)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adj[order]) >= -1e-15)  # monotone in the raw p-values
    perm = np.random.default_rng(len(values)).permutation(len(values))
    np.testing.assert_allclose(benjamini_hochberg(p[perm]), adj[perm])  # order-free
    np.testing.assert_allclose(adj, multipletests(p, method="fdr_bh")[1], rtol=1e-12)


# --- The primary standardised effect: model estimate and CI / pooled baseline SD (Feingold) ---


def test_pooled_baseline_sd_by_hand():
    # arm 1: 1, 2, 3 (sum of squares 2, df 2); arm 2: 2, 4, 6, 8 (20, df 3) -> sqrt(22 / 5)
    assert pooled_baseline_sd([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0]]) == pytest.approx(
        np.sqrt(4.4), abs=1e-12)
    assert pooled_baseline_sd([[1.0, np.nan, 3.0]]) == pytest.approx(np.sqrt(2.0))
    assert np.isnan(pooled_baseline_sd([[5.0], [3.0]]))  # no arm with two scores
    assert np.isnan(pooled_baseline_sd([[4.0, 4.0], [4.0, 4.0]]))  # no spread: no d


def test_model_standardized_effect_by_hand():
    # The example: difference -4.4 (95% CI -9.2 to 0.4) with a baseline SD of 8.
    d = model_standardized_effect(-4.4, -9.2, 0.4, 8.0).iloc[0]
    assert d["d_model"] == pytest.approx(-0.55)
    assert d["d_model_ci_low"] == pytest.approx(-1.15)
    assert d["d_model_ci_high"] == pytest.approx(0.05)  # includes 0, as the primary CI does
    missing = model_standardized_effect([1.0, np.nan], [0.5, np.nan], [1.5, np.nan],
                                        [0.0, 2.0])
    assert missing.isna().all().all()  # SD 0, or no estimate: no d


def test_model_d_is_morris_dppc2_without_its_correction_on_the_published_example():
    # With complete data and no covariates the model's estimate is the observed difference in
    # mean change, so d_model = d_ppc2 / c_p (Feingold 2009 vs Morris 2008): Morris's five
    # studies give back the published d_ppc2 = 0.7685, 0.8010, 1.2047, 1.0477, 0.4390.
    m = MORRIS
    diff = (m["post_t"] - m["pre_t"]) - (m["post_c"] - m["pre_c"])
    sd_pre = np.sqrt(((m["n_t"] - 1) * m["sd_t"] ** 2 + (m["n_c"] - 1) * m["sd_c"] ** 2)
                     / (m["n_t"] + m["n_c"] - 2))
    d = model_standardized_effect(diff, diff - 1, diff + 1, sd_pre)["d_model"]
    c_p = 1 - 3 / (4 * (m["n_t"] + m["n_c"] - 2) - 1)
    np.testing.assert_allclose(d * c_p, EXPECTED_D, atol=5e-5)


_finite = st.floats(-1e4, 1e4, allow_nan=False, allow_subnormal=False)


@given(estimate=_finite, low=st.floats(0, 1e4, allow_subnormal=False),
       high=st.floats(0, 1e4, allow_subnormal=False),
       sd=st.floats(1e-3, 1e3, allow_subnormal=False))
@settings(max_examples=500, deadline=None)
def test_standardised_ci_excludes_zero_exactly_when_the_primary_ci_does(estimate, low, high, sd):
    ci_low, ci_high = estimate - low, estimate + high
    d = model_standardized_effect(estimate, ci_low, ci_high, sd).iloc[0]
    primary_excludes = ci_low > 0 or ci_high < 0
    d_excludes = d["d_model_ci_low"] > 0 or d["d_model_ci_high"] < 0
    assert d_excludes == primary_excludes
    assert d["d_model_ci_low"] <= d["d_model"] <= d["d_model_ci_high"]
    assert np.sign(d["d_model"]) == np.sign(estimate)
