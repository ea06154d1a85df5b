"""Rank-deficient and degenerate designs, as R handles them (issue 15, items 1, 3 and 4).

Reference numbers: ``tests/reference/lme4_edge_cases.csv`` from ``lme4_reference.R`` (lme4
1.1.31, lmerTest, emmeans 1.8.4) on datasets derived from ``nested`` by ``make_datasets.py``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from balint_analysis.models import analyse_outcomes, fit_lmm, fit_lmm_statsmodels, model_data
from balint_analysis.models.degenerate import (
    CONSTANT,
    NO_RESIDUAL,
    DegenerateOutcomeError,
    degenerate_reason,
)
from balint_analysis.models.design import independent_columns
from balint_analysis.models.inputs import prepare_inputs

REF = Path(__file__).parent / "reference"
TIMEPOINTS = ["pre", "post", "followup"]
EE = ("mbi_hss", "emotional_exhaustion")
RTOL = 1e-4


@cache
def run(dataset: str, **kwargs):
    scores = pd.read_csv(REF / f"{dataset}_scores.csv")
    participants = pd.read_csv(REF / f"{dataset}_participants.csv")
    if kwargs.pop("no_cluster_column", False):
        participants = participants.drop(columns="cluster")
    args = {"timepoints": TIMEPOINTS, "intervention": "balint", "control": "control",
            "primary": "mbi_hss.emotional_exhaustion"} | kwargs
    return analyse_outcomes(scores, participants, **args)


def diag(result, outcome=EE) -> dict:
    (d,) = [d for d in result.diagnostics["outcomes"] if (d["instrument"], d["scale"]) == outcome]
    return d


def lme4(case: str, what: str) -> pd.DataFrame:
    ref = pd.read_csv(REF / "lme4_edge_cases.csv")
    return ref[(ref["case"] == case) & (ref["what"] == what)]


def r_term(term: str) -> str:
    if term == "(Intercept)":
        return "Intercept"
    for factor, level in (("group", "balint"), ("timepoint", "post"),
                          ("timepoint", "followup")):
        term = term.replace(f"{factor}{level}", f"{factor}[{level}]")
    return term


def test_no_controls_at_followup_reports_lme4s_coefficients_and_the_reason():
    result = run("nofollowctl", use_clusters=False)
    d = diag(result)
    fe = pd.DataFrame(d["fixed_effects"]).set_index("term")
    ref = lme4("nofollowctl_plain", "fixef")
    assert "rank deficient so dropping 1 column" in ref["message"].iloc[0]
    ours = fe.loc[[r_term(t) for t in ref["term"]]]
    np.testing.assert_allclose(ours["estimate"], ref["estimate"], rtol=RTOL)
    np.testing.assert_allclose(ours["se"], ref["se"], rtol=RTOL)
    np.testing.assert_allclose(ours["df"], ref["df"], rtol=1e-3)
    # lme4's value (the intervention arm's change at follow-up), where a full-design
    # estimability check alone would give NaN
    assert fe.loc["timepoint[followup]", "estimate"] == pytest.approx(-2.548572, abs=1e-5)
    assert fe["estimate"].isna().sum() == 1  # only the dropped interaction column
    assert d["dropped_columns"] == ["group[balint]:timepoint[followup]"]
    assert any("rank deficient so dropping 1 column" in n for n in d["notes"])
    eff = result.effects[result.effects["scale"] == "emotional_exhaustion"].set_index("timepoint")
    reason = "no comparison-group participants were observed at followup"
    assert eff.loc["followup", "reason"] == reason
    assert not eff.loc["followup", "estimable"]
    assert eff.loc["followup", "converged"]  # the model converged; the effect is not estimable
    numbers = ["estimate", "se", "df", "ci_low", "ci_high", "p_value"]
    assert eff.loc["followup", numbers].isna().all()
    assert eff.loc["post", "estimable"] and eff.loc["post", "reason"] == ""
    assert d["not_estimable"] == {"group[balint]:timepoint[followup]": reason}


def test_no_controls_at_followup_emmeans_match_emmeans_including_the_missing_cell():
    emm = run("nofollowctl", use_clusters=False).emmeans
    emm = emm[emm["scale"] == "emotional_exhaustion"]
    ref = lme4("nofollowctl_plain", "emmean")
    merged = ref.merge(emm, on=["group", "timepoint"], validate="1:1")
    assert len(merged) == 6
    assert (merged["estimate"].isna() == merged["mean"].isna()).all()
    gap = merged[merged["mean"].isna()].iloc[0]
    assert (gap["group"], gap["timepoint"]) == ("control", "followup")
    assert gap["reason"] == "no comparison-group participants were observed at followup"
    assert not gap["estimable"]
    ok = merged.dropna(subset=["mean"])
    np.testing.assert_allclose(ok["mean"], ok["estimate"], rtol=RTOL)
    np.testing.assert_allclose(ok["se_y"], ok["se_x"], rtol=RTOL)
    assert ok["estimable"].all()


def test_aliased_covariate_is_dropped_as_lme4_does_and_its_emmeans_say_why():
    scores = pd.read_csv(REF / "categorical_scores.csv")
    participants = pd.read_csv(REF / "categorical_participants.csv")
    result = analyse_outcomes(scores, participants, timepoints=TIMEPOINTS, intervention="balint",
                              control="control", primary="mbi_hss.emotional_exhaustion",
                              covariates=["arm_code"], use_clusters=False)
    d = diag(result)
    assert d["dropped_columns"] == ["arm_code"]
    fe = pd.DataFrame(d["fixed_effects"]).set_index("term")
    assert np.isfinite(fe.loc["group[balint]", "estimate"])  # lme4 reports it; so do we
    assert result.effects["estimable"].all()
    # emmeans (cov.keep = character(0)): nonEst for every mean; the workflow says why.
    assert result.emmeans["mean"].isna().all()
    assert set(result.emmeans["reason"]) == {
        "this mean is not estimable with the covariates at their means (a covariate is "
        "aliased with group or time)"}


def test_one_balint_group_drops_the_term_and_equals_lme4_without_it():
    result = run("onegroup")
    d = diag(result)
    assert d["cluster_term"] == "dropped_single_group"
    eff = result.effects[result.effects["scale"] == "emotional_exhaustion"].set_index("timepoint")
    without = lme4("onegroup_plain", "fixef").assign(term=lambda r: r["term"].map(r_term))
    with_term = lme4("onegroup_pn", "fixef").assign(term=lambda r: r["term"].map(r_term))
    for t in ("post", "followup"):
        term = f"group[balint]:timepoint[{t}]"
        r = without.set_index("term").loc[term]
        assert eff.loc[t, "estimate"] == pytest.approx(r["estimate"], rel=RTOL)
        assert eff.loc[t, "se"] == pytest.approx(r["se"], rel=RTOL)
        assert eff.loc[t, "p_value"] == pytest.approx(r["p"], rel=1e-3)
        # lme4 with the term: same estimate, an SE ~2.4 times larger (the single group's
        # deviation is absorbed by a nearly unidentifiable variance), p 0.30 instead of 0.013.
        rt = with_term.set_index("term").loc[term]
        assert rt["estimate"] == pytest.approx(r["estimate"], rel=1e-6)
        assert rt["se"] > 2 * r["se"]
    assert "nearly unidentifiable" in with_term["message"].iloc[0]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, "modelled"),
    ({"use_clusters": False}, "not_requested"),
    ({"no_cluster_column": True}, "no_cluster_column"),
])
def test_cluster_term_says_what_the_model_did(kwargs, expected):
    assert diag(run("nested", **kwargs))["cluster_term"] == expected


def test_cluster_term_on_the_boundary_is_reported_as_dropped():
    d = diag(run("boundary"))
    assert d["boundary"] and d["cluster_term"] == "dropped_boundary"


def test_constant_outcome_has_no_p_and_the_reason_where_lme4_fails_to_converge():
    ref = lme4("constant_plain", "fixef")
    assert "failed to converge" in ref["message"].iloc[0]
    assert (ref["p"] > 0.999).all()  # lme4: p = 1 beside a convergence failure
    result = run("constant")
    eff = result.effects
    assert (eff["reason"] == CONSTANT).all() and not eff["estimable"].any()
    numbers = ["estimate", "se", "df", "ci_low", "ci_high", "p_value", "p_adjusted"]
    assert eff[numbers].isna().all().all()
    d = diag(result)
    assert d["degenerate"] == CONSTANT
    assert d["fit_warnings"] == [] and d["engine"] is None  # no fit was tried
    sens = result.sensitivity
    assert sens[["estimate", "p_value"]].isna().all().all()
    assert (sens["note"] == CONSTANT).all()
    assert (result.emmeans["reason"] == CONSTANT).all()


def _frame(n_per_arm: int, scores) -> pd.DataFrame:
    rows = []
    for i in range(2 * n_per_arm):
        group = "balint" if i < n_per_arm else "control"
        for k, t in enumerate(TIMEPOINTS):
            rows.append({"participant": f"P{i}", "group": group, "timepoint": t,
                         "score": scores(i, k, group), "cluster": ""})
    return pd.DataFrame(rows)


def _data(frame: pd.DataFrame):
    return model_data(frame, levels=TIMEPOINTS, intervention="balint", control="control")


def test_zero_residual_outcome_is_degenerate_and_refused_before_fitting():
    # person intercept + group x time means, nothing else: the residual variance is exactly 0
    frame = _frame(6, lambda i, k, g: 10.0 + i + (k * 3.0 if g == "balint" else k * 1.0))
    data = _data(frame)
    assert degenerate_reason(data) == NO_RESIDUAL
    with pytest.raises(DegenerateOutcomeError, match="no variation left"):
        fit_lmm(data)


def test_fewer_than_three_participants_in_an_arm_is_degenerate():
    rng = np.random.default_rng(1)
    frame = _frame(4, lambda i, k, g: float(rng.normal(20, 5)))
    frame = frame[~frame["participant"].isin(["P5", "P6"])]  # controls: P4, P7
    assert degenerate_reason(_data(frame)) == "fewer than 3 participants in the comparison group"
    rng = np.random.default_rng(1)
    assert degenerate_reason(_data(_frame(4, lambda i, k, g: float(rng.normal(20, 5))))) is None


def test_warnings_are_those_of_the_fit_used_only():
    scores = pd.read_csv(REF / "boundary_scores.csv")
    participants = pd.read_csv(REF / "boundary_participants.csv")
    frame, _ = prepare_inputs(scores, participants, TIMEPOINTS, "balint", "control", [], None)
    sub = frame[frame["scale"] == "emotional_exhaustion"].dropna(subset=["score"])
    fit = fit_lmm_statsmodels(_data(sub))
    attempts = fit.diagnostics["attempts"]
    assert len(attempts) == 3 and len(attempts[0]["warnings"]) == 3  # abandoned attempt
    assert fit.diagnostics["random_effects_fitted"] == ["participant"]
    assert fit.diagnostics["warnings"] == fit.diagnostics["fit_warnings"] == []


def test_pivoted_qr_keeps_columns_left_to_right_with_rs_tolerance():
    x = np.arange(6.0)
    # 2x + 1 is exactly aliased; x + 1e-9 x^3 adds rank only below R's tolerance (1e-7)
    X = np.column_stack([np.ones(6), x, 2 * x + 1, x**2, x + 1e-9 * x**3])
    assert independent_columns(X).tolist() == [True, True, False, True, False]


def test_a_column_the_qr_drops_makes_every_mean_loading_on_it_non_estimable():
    """A covariate equal to group up to 1e-8: the pivoted QR drops it, so every mean (all load
    on it at its average) is non-estimable, as R's emmeans says ("nonEst"). Estimability used a
    second, looser tolerance and reported all four means."""
    from balint_analysis.models.emmeans import estimated_marginal_means

    rng = np.random.default_rng(1)
    rows = []
    for i in range(40):
        group, level = ("balint", 20 + 3 * rng.normal()) if i < 20 else ("control",
                                                                         20 + 3 * rng.normal())
        for timepoint in ("pre", "post"):
            rows.append({"participant": f"p{i}", "group": group, "timepoint": timepoint,
                         "cluster": None, "score": level + rng.normal(),
                         "x": float(group == "balint") + 1e-8 * rng.normal()})  # fmt: skip
    data = model_data(pd.DataFrame(rows), levels=["pre", "post"], intervention="balint",
                      control="control", covariates=["x"])  # fmt: skip
    assert not data.keep.all()
    means = estimated_marginal_means(fit_lmm(data), groups=["balint", "control"],
                                     timepoints=["pre", "post"])  # fmt: skip
    assert means["mean"].isna().all()
