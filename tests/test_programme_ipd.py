"""The one-stage pooled (IPD) model against lme4/lmerTest (tests/reference/ipd_reference.R)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from project_helpers import REPO

from balint_analysis.models.design import model_data
from balint_analysis.models.reml import reml_state, variance_structure
from balint_analysis.programme.ipd import (
    FORMULA,
    IPD_COLUMNS,
    fit_pooled_outcome,
    one_stage_model,
    pooled_observations,
    random_components,
    standardise_scores,
)
from balint_analysis.programme.ipd_engine import site_reml_state, site_structure

REFERENCE = REPO / "tests" / "reference"
TIMEPOINTS = ["pre", "post", "followup"]
ARMS = {"intervention": "balint", "control": "control"}
# Same optimum, same algebra: far tighter than the cohort model's tolerances.
RTOL = 1e-6
RTOL_VAR = 1e-5
R_COMPONENTS = {"participant (Intercept)": "participant", "site.1 (Intercept)": "site",
                "site treated_post": "site_effect", "cluster treated_post": "cluster",
                "residual": "residual"}  # fmt: skip


def load(case: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (pd.read_csv(REFERENCE / f"ipd_{case}_scores.csv"),
            pd.read_csv(REFERENCE / f"ipd_{case}_participants.csv", keep_default_na=False))


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


@pytest.fixture(scope="module")
def results() -> dict:
    out = {}
    for case in ("sites", "boundary"):
        scores, roster = load(case)
        for standardise in (False, True):
            if standardise and case == "sites":
                continue
            out[case, standardise] = one_stage_model(scores, roster, timepoints=TIMEPOINTS,
                                                     standardise=standardise, **ARMS)
    return out


def r_rows(case: str, pooling: str) -> pd.DataFrame:
    ref = pd.read_csv(REFERENCE / "ipd_fixef.csv")
    ref = ref[(ref["case"] == case) & (ref["pooling"] == pooling)
              & ref["term"].str.startswith("groupbalint:timepoint")].copy()
    ref["timepoint"] = ref["term"].str.removeprefix("groupbalint:timepoint")
    return ref


@pytest.mark.parametrize(("case", "standardise"),
                         [("sites", False), ("boundary", False), ("boundary", True)])
def test_difference_in_change_matches_lmertest(results, case, standardise):
    res = results[case, standardise]
    assert list(res.columns) == IPD_COLUMNS
    ref = r_rows(case, "standardised" if standardise else "same instrument")
    merged = res.merge(ref, on=["scale", "timepoint"], suffixes=("", "_r"))
    assert len(merged) == len(ref) == len(res) > 0
    assert rel(merged["estimate"], merged["estimate_r"]) < RTOL
    assert rel(merged["se"], merged["se_r"]) < RTOL
    assert rel(merged["df"], merged["df_r"]) < RTOL
    assert rel(merged["p_value"], merged["p"]) < 1e-5
    half = merged["ci_high"] - merged["estimate"]
    assert np.allclose(merged["estimate"] - merged["ci_low"], half)
    assert merged["converged"].all()
    assert (merged["pooling"] == ("standardised" if standardise else "same instrument")).all()


@pytest.mark.parametrize("case", ["sites", "boundary"])
def test_variance_components_and_reml_criterion_match_lme4(case):
    scores, roster = load(case)
    ref = pd.read_csv(REFERENCE / "ipd_varcomp.csv")
    ref = ref[(ref["case"] == case) & (ref["pooling"] == "same instrument")]
    obs = pooled_observations(scores, roster)
    for scale, r in ref.groupby("scale"):
        fit = fit_pooled_outcome(obs[obs["scale"] == scale], timepoints=TIMEPOINTS, **ARMS)
        expected = dict(zip(r["component"].map(R_COMPONENTS), r["variance"], strict=True))
        got = {k: fit.variances.get(k, 0.0) for k in expected}
        for name, value in expected.items():
            assert abs(got[name] - value) <= RTOL_VAR * max(value, got["residual"]), name
        assert fit.deviance == pytest.approx(r["reml_crit"].iloc[0], rel=1e-9)
        assert (case == "boundary") == bool(r["singular"].iloc[0])
        assert fit.boundary == (("site_effect",) if case == "boundary" else ())


def test_sites_case_reports_the_site_effect_sd_and_counts(results):
    res = results["sites", False]
    varcomp = pd.read_csv(REFERENCE / "ipd_varcomp.csv")
    tau2 = varcomp.query("case == 'sites' and component == 'site treated_post'")["variance"]
    assert res["tau_site_effect"].to_numpy() == pytest.approx(np.sqrt(tau2.iloc[0]), rel=1e-5)
    scores, roster = load("sites")
    # Pseudonyms repeat across cohorts: participants are counted per cohort.
    assert res["n_participants"].iloc[0] == len(roster.drop_duplicates(["cohort", "participant"]))
    assert roster["participant"].nunique() < len(roster)
    assert (res["n_cohorts"] == 5).all() and (res["reason"] == "").all()


def test_boundary_is_a_row_with_a_reason_not_a_crash(results):
    res = results["boundary", False]
    assert (res["tau_site_effect"] == 0).all()
    assert res["reason"].str.contains("boundary").all()
    assert (res["reason"] == "variance estimated 0 (boundary): site × treatment effect (the "
            "model is the one without that term)").all()


def test_standardise_divides_by_the_baseline_sd_pooled_within_arms():
    frame = pd.DataFrame({"cohort": ["a"] * 6 + ["b"] * 3,
                          "group": ["x", "x", "x", "y", "y", "x", "x", "x", "y"],
                          "timepoint": ["pre"] * 5 + ["post", "pre", "pre", "pre"],
                          "score": [1.0, 2, 3, 5, 9, 4, 7, 7, 1]})  # fmt: skip
    out, dropped = standardise_scores(frame, baseline="pre")
    # cohort a: arm x var 1 (n 3), arm y var 8 (n 2): pooled sqrt((2*1 + 1*8) / 3)
    sd = np.sqrt(10 / 3)
    assert out["score"].to_numpy() == pytest.approx(np.array([1, 2, 3, 5, 9, 4]) / sd)
    assert dropped == ["b"]  # no spread in its only two-member arm


def test_one_cohort_and_missing_follow_up_give_rows_with_reasons():
    scores, roster = load("sites")
    one = scores[scores["cohort"] == "cohort3"]
    res = one_stage_model(one, roster, timepoints=TIMEPOINTS, **ARMS)
    assert res["converged"].all() and res["estimate"].notna().all()
    assert res["reason"].str.contains("no site intercept term").all()
    assert res["reason"].str.contains("no site × treatment effect term").all()
    baseline_only = scores[scores["timepoint"] == "pre"]
    res = one_stage_model(baseline_only, roster, timepoints=TIMEPOINTS, **ARMS)
    assert res["estimate"].isna().all() and (~res["converged"]).all()
    assert res["reason"].str.contains("no follow-up").all()
    assert len(res) == 2
    constant = one_stage_model(scores.assign(score=20.0), roster, timepoints=TIMEPOINTS, **ARMS)
    assert constant["estimate"].isna().all()
    assert (constant["reason"] == "everyone has the same score on this outcome").all()


def test_reference_was_made_with_the_same_formula():
    info = json.loads((REFERENCE / "ipd_info.json").read_text())
    assert " ".join(info["formula"].split()) == FORMULA


def test_site_engine_equals_the_dense_engine_derivatives_included():
    scores, roster = load("sites")
    obs = pooled_observations(scores, roster)
    data = model_data(obs, levels=TIMEPOINTS, **ARMS)
    comps = random_components(data.frame, data.clustered)
    X, sites = data.X[:, data.keep], data.frame["site"].to_numpy()
    dense = variance_structure(X, data.y, sites, comps)
    by_site = site_structure(X, data.y, sites, comps)
    for phi in ([15.0, 9.0, 3.0, 0.1, 8.5], [10.0, 0.0, 2.0, 0.0, 5.0]):
        a, b = reml_state(dense, phi), site_reml_state(by_site, phi)
        for field in ("deviance", "beta", "cov_beta", "gradient", "hessian", "dcov"):
            x, y = np.asarray(getattr(a, field)), np.asarray(getattr(b, field))
            assert np.max(np.abs(x - y)) <= 1e-9 * np.max(np.abs(x)), field
