"""balint_analysis.models against R lme4 1.1.31 / lmerTest 3.1.3 / emmeans 1.8.4.

The datasets (``tests/reference/*_scores.csv``, ``*_participants.csv``) come from
``tests/reference/make_datasets.py``; the reference numbers (``lme4_*.csv``) from
``tests/reference/lme4_reference.R``. Both are committed; R is not needed to run these tests.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from balint_analysis.models import analyse_outcomes

REF = Path(__file__).parent / "reference"
TIMEPOINTS = ["pre", "post", "followup"]
COVARIATES = ["age", "years_in_practice"]
LEVELS = {"gender": ["female", "male", "diverse"]}

# R case -> (dataset, analyse_outcomes keyword arguments)
CASES = {
    "twoarm_plain": ("twoarm", {}),
    "nested_plain": ("nested", {"use_clusters": False}),
    "nested_pn": ("nested", {}),
    "covariates_plain": ("covariates", {"use_clusters": False, "covariates": COVARIATES}),
    "covariates_pn": ("covariates", {"covariates": COVARIATES}),
    "boundary_plain": ("boundary", {"use_clusters": False}),
    "boundary_pn": ("boundary", {}),
    "singlearm_plain": ("singlearm", {"control": None}),
    "twotime_plain": ("twotime", {"use_clusters": False, "covariates": COVARIATES,
                                  "timepoints": ["pre", "post"]}),
    "twotime_pn": ("twotime", {"covariates": COVARIATES, "timepoints": ["pre", "post"]}),
    "categorical_binary_plain": ("categorical", {"use_clusters": False,
                                                 "covariates": ["age", "night_shifts"]}),
    "categorical_factor_plain": ("categorical", {"use_clusters": False,
                                                 "covariates": ["age", "gender"],
                                                 "covariate_levels": LEVELS}),
    "categorical_pn": ("categorical", {"covariates": ["age", "gender", "night_shifts"],
                                       "covariate_levels": LEVELS}),
    "categorical_aliased_plain": ("categorical", {"use_clusters": False,
                                                  "covariates": ["arm_code"]}),
}

# In the aliased cases both lme4 and the workflow drop the aliased column (pivoted QR, R's
# tolerance) and report the coefficients of the reduced model: every lme4 coefficient is
# compared, none is skipped.

# Tolerances (relative) demanded by docs/contract.md, "Statistics".
RTOL_FIXED = 1e-4  # fixed effects, SEs, EMMs and their SEs
RTOL_DF = 1e-3  # Satterthwaite df
RTOL_VAR = 1e-3  # variance components
ATOL_P = 1e-3  # p-values (absolute)


@cache
def run(case: str):
    dataset, kwargs = CASES[case]
    scores = pd.read_csv(REF / f"{dataset}_scores.csv")
    participants = pd.read_csv(REF / f"{dataset}_participants.csv")
    args = {"timepoints": TIMEPOINTS, "intervention": "balint", "control": "control",
            "primary": "mbi_hss.emotional_exhaustion"} | kwargs
    return analyse_outcomes(scores, participants, **args)


@cache
def reference(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"lme4_{name}.csv")


def r_term(term: str) -> str:
    """lme4's coefficient name -> ours (``groupbalint:timepointpost`` -> ``group[balint]:...``)."""
    if term == "(Intercept)":
        return "Intercept"
    return re.sub(r"(group|timepoint|gender)(balint|pre|post|followup|male|diverse)", r"\1[\2]",
                  term)


def outcome_diag(result, instrument: str, scale: str) -> dict:
    (diag,) = [d for d in result.diagnostics["outcomes"]
               if (d["instrument"], d["scale"]) == (instrument, scale)]
    return diag


def rel(a, b) -> np.ndarray:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_fixed_effects_se_and_df_match_lmertest(case):
    ref = reference("fixef")
    ref = ref[ref["case"] == case]
    result = run(case)
    for (instrument, scale), r in ref.groupby(["instrument", "scale"]):
        fe = pd.DataFrame(outcome_diag(result, instrument, scale)["fixed_effects"])
        fe = fe.set_index("term").loc[[r_term(t) for t in r["term"]]]
        assert rel(fe["estimate"], r["estimate"]).max() < RTOL_FIXED
        assert rel(fe["se"], r["se"]).max() < RTOL_FIXED
        assert rel(fe["df"], r["df"]).max() < RTOL_DF
        assert np.abs(fe["p_value"].to_numpy() - r["p"].to_numpy()).max() < ATOL_P
        assert rel(fe["p_value"], r["p"]).max() < 1e-3


@pytest.mark.parametrize("case", list(CASES))
def test_effect_rows_are_the_interaction_coefficients(case):
    ref = reference("fixef")
    ref = ref[ref["case"] == case].assign(term=lambda d: d["term"].map(r_term))
    eff = run(case).effects
    single = CASES[case][1].get("control", "control") is None
    for row in eff.itertuples():
        term = (f"timepoint[{row.timepoint}]" if single
                else f"group[balint]:timepoint[{row.timepoint}]")
        r = ref[(ref["instrument"] == row.instrument) & (ref["scale"] == row.scale)
                & (ref["term"] == term)].iloc[0]
        assert row.estimate == pytest.approx(r["estimate"], rel=RTOL_FIXED)
        assert row.se == pytest.approx(r["se"], rel=RTOL_FIXED)
        assert row.df == pytest.approx(r["df"], rel=RTOL_DF)
        assert row.p_value == pytest.approx(r["p"], rel=1e-3, abs=1e-8)
        assert row.converged


@pytest.mark.parametrize("case", list(CASES))
def test_emmeans_match_r_emmeans(case):
    ref = reference("emmeans")
    ref = ref[ref["case"] == case]
    emm = run(case).emmeans
    merged = ref.merge(emm, on=["instrument", "scale", "group", "timepoint"], validate="1:1")
    assert len(merged) == len(ref) > 0
    # Not estimable under this reference grid (a covariate aliased with group at its mean):
    # NaN in both.
    assert (merged["mean"].isna() == merged["emmean"].isna()).all()
    merged = merged.dropna(subset=["emmean"])
    if merged.empty:
        return
    assert rel(merged["mean"], merged["emmean"]).max() < RTOL_FIXED
    assert rel(merged["se_y"], merged["se_x"]).max() < RTOL_FIXED
    assert rel(merged["df_y"], merged["df_x"]).max() < RTOL_DF
    assert rel(merged["ci_low"], merged["lower"]).max() < RTOL_DF
    assert rel(merged["ci_high"], merged["upper"]).max() < RTOL_DF


@pytest.mark.parametrize("case", list(CASES))
def test_variance_components_and_reml_criterion_match_lme4(case):
    ref = reference("varcomp")
    ref = ref[ref["case"] == case]
    result = run(case)
    for (instrument, scale), r in ref.groupby(["instrument", "scale"]):
        diag = outcome_diag(result, instrument, scale)
        ours = diag["variance_components"]
        total = r["variance"].sum()
        for component, variance in zip(r["component"], r["variance"], strict=True):
            assert ours[component] == pytest.approx(variance, rel=RTOL_VAR, abs=1e-6 * total)
        assert set(ours) == set(r["component"])
        assert diag["reml_deviance"] == pytest.approx(r["reml_crit"].iloc[0], abs=1e-5)
        assert diag["boundary"] == bool(r["singular"].iloc[0])


def test_partially_nested_model_reports_cluster_icc_on_variance_scale():
    diag = outcome_diag(run("nested_pn"), "mbi_hss", "emotional_exhaustion")
    vc = diag["variance_components"]
    assert diag["n_clusters"] == 4
    assert diag["icc_cluster"] == pytest.approx(vc["cluster"] / sum(vc.values()))
    assert "(0 + treated_post | cluster)" in diag["formula"]
    # The statsmodels reference path reports statsmodels' own numbers on their own scale
    # (cov_re, vcomp, scale; not the relative params), and they equal the Newton-REML engine's.
    from balint_analysis.models import fit_lmm_statsmodels, model_data

    scores = pd.read_csv(REF / "nested_scores.csv")
    people = pd.read_csv(REF / "nested_participants.csv", dtype={"cluster": str})
    frame = scores[(scores["scale"] == "emotional_exhaustion") & scores["score"].notna()]
    frame = frame.merge(people[["participant", "cluster"]], on="participant")
    data = model_data(frame, levels=TIMEPOINTS, intervention="balint", control="control")
    sm = fit_lmm_statsmodels(data).diagnostics["statsmodels_variances"]
    assert sm["cov_re_of"] == "cluster"
    assert sm["cov_re"] == pytest.approx(vc["cluster"], rel=1e-5)
    assert sm["vcomp"][0] == pytest.approx(vc["participant"], rel=1e-5)
    assert sm["scale"] == pytest.approx(vc["residual"], rel=1e-5)


def test_boundary_cluster_variance_is_reported_and_effect_equals_model_without_it():
    pn, plain = run("boundary_pn"), run("boundary_plain")
    diag = outcome_diag(pn, "mbi_hss", "emotional_exhaustion")
    assert diag["boundary"] is True
    assert diag["boundary_components"] == ["cluster"]
    assert diag["variance_components"]["cluster"] == 0.0
    assert diag["icc_cluster"] == 0.0
    assert diag["converged"] is True
    assert any("boundary" in note for note in diag["notes"])
    assert pn.effects["boundary"].all()
    cols = ["estimate", "se", "df", "ci_low", "ci_high", "p_value", "d_ppc2"]
    np.testing.assert_allclose(pn.effects[cols], plain.effects[cols], rtol=1e-6)
    np.testing.assert_allclose(pn.emmeans[["mean", "se", "df"]],
                               plain.emmeans[["mean", "se", "df"]], rtol=1e-6)
