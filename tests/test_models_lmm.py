"""The model stage's algebra, fitting safeguards and public contract (no R needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from balint_analysis.models import (
    EFFECTS_COLUMNS,
    EMMEANS_COLUMNS,
    analyse_outcomes,
    benjamini_hochberg,
    fit_lmm_statsmodels,
    model_data,
)
from balint_analysis.models.reml import reml_state, variance_structure
from balint_analysis.models.satterthwaite import Satterthwaite

REF = Path(__file__).parent / "reference"
TP = ["pre", "post", "followup"]
CONTRACT_EFFECTS = [
    "instrument", "scale", "timepoint", "estimate", "se", "df", "ci_low", "ci_high", "p_value",
    "p_adjusted", "d_ppc2", "d_ci_low", "d_ci_high", "n_intervention", "n_control", "converged",
]
CONTRACT_EMMEANS = [
    "instrument", "scale", "group", "timepoint", "mean", "se", "ci_low", "ci_high", "n",
]
PRIMARY = "mbi_hss.emotional_exhaustion"


def load(dataset: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (pd.read_csv(REF / f"{dataset}_scores.csv"),
            pd.read_csv(REF / f"{dataset}_participants.csv"))


def analyse(scores, participants, **kwargs):
    args = {"timepoints": TP, "intervention": "balint", "control": "control",
            "primary": PRIMARY} | kwargs
    return analyse_outcomes(scores, participants, **args)


def nested_structure():
    scores, participants = load("nested")
    s = scores[scores["scale"] == "emotional_exhaustion"].dropna(subset=["score"])
    s = s.merge(participants[["participant", "cluster"]], on="participant")
    data = model_data(s, levels=TP, intervention="balint", control="control")
    f = data.frame
    comps = {"participant": (f["participant"].to_numpy(), np.ones(len(f))),
             "cluster": (f["block"].to_numpy(), f["treated_post"].to_numpy())}
    return data, variance_structure(data.X, data.y, f["block"], comps)


def test_reml_derivatives_match_finite_differences():
    _, struct = nested_structure()
    phi = np.array([35.0, 5.0, 30.0])
    state = reml_state(struct, phi)
    h = 1e-4
    for k in range(3):
        step = np.zeros(3)
        step[k] = h
        up, down = reml_state(struct, phi + step), reml_state(struct, phi - step)
        assert state.gradient[k] == pytest.approx((up.deviance - down.deviance) / (2 * h),
                                                  rel=1e-6, abs=1e-8)
        np.testing.assert_allclose(state.hessian[k], (up.gradient - down.gradient) / (2 * h),
                                   rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(state.dcov[k], (up.cov_beta - down.cov_beta) / (2 * h),
                                   rtol=1e-5, atol=1e-10)


def test_satterthwaite_equals_lmertest_numerical_recipe():
    """lmerTest: numerical Hessian of the deviance and Jacobian of C in (theta, sigma)."""
    data, struct = nested_structure()
    fit = fit_lmm_statsmodels(data)
    psi0 = np.append(np.sqrt(fit.state.phi[:2] / fit.state.phi[2]), np.sqrt(fit.state.phi[2]))

    def at(psi):
        return reml_state(struct, np.append(psi[:2] ** 2 * psi[2] ** 2, psi[2] ** 2))

    h, n = 1e-4, psi0.size
    hess, jac = np.zeros((n, n)), []
    for i in range(n):
        ei = np.eye(n)[i] * h
        jac.append((at(psi0 + ei).cov_beta - at(psi0 - ei).cov_beta) / (2 * h))
        for j in range(n):
            ej = np.eye(n)[j] * h
            hess[i, j] = (at(psi0 + ei + ej).deviance - at(psi0 + ei - ej).deviance
                          - at(psi0 - ei + ej).deviance + at(psi0 - ei - ej).deviance) / (4 * h**2)
    A = 2 * np.linalg.inv(hess)
    L = np.eye(len(data.terms))
    var = np.einsum("ra,ab,rb->r", L, fit.state.cov_beta, L)
    g = np.stack([np.einsum("ra,ab,rb->r", L, J, L) for J in jac], axis=1)
    df_numeric = 2 * var**2 / np.einsum("rk,kl,rl->r", g, A, g)
    _, _, df = Satterthwaite.from_state(fit.state).contrast(L)
    np.testing.assert_allclose(df, df_numeric, rtol=1e-4)


def test_zero_between_person_variance_gives_ols_and_residual_df():
    """No participant variance: boundary fit, fixed effects = OLS (statsmodels #10239 guard)."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(40):
        noise = rng.normal(0, 4, 3)
        noise -= noise.mean()  # person means carry no extra variation: REML variance -> 0
        for t, tp in enumerate(TP):
            treated = i < 20
            rows.append({"participant": f"P{i:02d}", "group": "balint" if treated else "control",
                         "timepoint": tp, "score": 25 + 3 * treated - 2 * t * treated + noise[t],
                         "cluster": pd.NA})
    frame = pd.DataFrame(rows)
    data = model_data(frame, levels=TP, intervention="balint", control="control")
    fit = fit_lmm_statsmodels(data)
    X, y = data.X, data.y
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    sigma2 = np.sum((y - X @ beta) ** 2) / (len(y) - X.shape[1])
    est, se, df = fit.contrast(np.eye(X.shape[1]))
    np.testing.assert_allclose(est, beta, rtol=1e-8, atol=1e-9)
    assert est[0] != 0 and est[1] != 0  # between-group effects not zeroed (#10239)
    np.testing.assert_allclose(se, np.sqrt(np.diag(np.linalg.inv(X.T @ X)) * sigma2), rtol=1e-8)
    np.testing.assert_allclose(df, len(y) - X.shape[1], rtol=1e-6)
    assert fit.boundary == ("participant",)
    assert fit.converged
    assert fit.variances["participant"] == 0.0
    assert fit.diagnostics["fallback"].startswith("refitted without participant")


def test_effects_and_emmeans_follow_the_output_contract():
    scores, participants = load("twoarm")
    res = analyse(scores, participants)
    assert list(res.effects.columns[:16]) == CONTRACT_EFFECTS
    assert list(res.effects.columns) == EFFECTS_COLUMNS
    assert list(res.emmeans.columns[:9]) == CONTRACT_EMMEANS
    assert list(res.emmeans.columns) == EMMEANS_COLUMNS
    eff = res.effects
    assert list(zip(eff["instrument"], eff["scale"], eff["timepoint"], strict=True)) == [
        ("mbi_hss", "emotional_exhaustion", "post"),
        ("mbi_hss", "emotional_exhaustion", "followup"),
        ("mbi_hss", "depersonalization", "post"), ("mbi_hss", "depersonalization", "followup"),
        ("pss10", "total", "post"), ("pss10", "total", "followup"),
    ]
    assert eff["role"].tolist() == ["primary"] * 2 + ["secondary"] * 4
    assert set(eff["design"]) == {"two-arm"} and set(eff["df_method"]) == {"Satterthwaite"}
    assert eff["effect_type"].iloc[0].startswith("difference in change from baseline")
    assert eff["converged"].dtype == bool
    primary = eff["role"] == "primary"
    np.testing.assert_array_equal(eff.loc[primary, "p_adjusted"], eff.loc[primary, "p_value"])
    np.testing.assert_allclose(eff.loc[~primary, "p_adjusted"],
                               benjamini_hochberg(eff.loc[~primary, "p_value"].to_numpy()))
    assert (eff["ci_low"] < eff["estimate"]).all() and (eff["estimate"] < eff["ci_high"]).all()
    emm = res.emmeans
    assert len(emm) == 3 * 2 * 3
    assert emm["group"].iloc[:6].tolist() == ["balint"] * 3 + ["control"] * 3
    observed = scores.dropna(subset=["score"])
    n = observed.groupby(["instrument", "scale", "group", "timepoint"])["participant"].nunique()
    assert emm.set_index(["instrument", "scale", "group", "timepoint"])["n"].eq(n).all()
    diag = res.diagnostics
    json.dumps(diag, allow_nan=False)
    first = diag["outcomes"][0]
    assert first["role"] == "primary" and first["n_obs"] == int(
        observed["scale"].eq("emotional_exhaustion").sum())
    assert diag["input_notes"]["rows_missing_score"] == int(scores["score"].isna().sum())
    again = analyse(scores, participants)
    pd.testing.assert_frame_equal(res.effects, again.effects)
    pd.testing.assert_frame_equal(res.emmeans, again.emmeans)


def test_d_ppc2_and_counts_use_participants_seen_at_baseline_and_t():
    scores, participants = load("twoarm")
    res = analyse(scores, participants)
    s = scores[scores["scale"] == "emotional_exhaustion"].dropna(subset=["score"])
    wide = s.pivot(index="participant", columns="timepoint", values="score")
    group = s.groupby("participant")["group"].first()
    both = wide[["pre", "post"]].dropna()
    t, c = both[group[both.index] == "balint"], both[group[both.index] == "control"]
    row = res.effects.iloc[0]
    assert (row.n_intervention, row.n_control) == (len(t), len(c))
    sd = np.sqrt(((len(t) - 1) * t["pre"].var() + (len(c) - 1) * c["pre"].var())
                 / (len(t) + len(c) - 2))
    c_p = 1 - 3 / (4 * (len(t) + len(c) - 2) - 1)
    d = c_p * ((t["post"] - t["pre"]).mean() - (c["post"] - c["pre"]).mean()) / sd
    assert row.d_ppc2 == pytest.approx(d)
    assert row.d_ci_low < d < row.d_ci_high


def test_single_arm_design_reports_within_group_change():
    scores, participants = load("singlearm")
    res = analyse(scores, participants, control=None)
    eff = res.effects
    assert set(eff["design"]) == {"single-arm"}
    assert eff["effect_type"].iloc[0] == "within-group change (no comparison group)"
    assert (eff["n_control"] == 0).all()
    assert set(res.emmeans["group"]) == {"balint"}


def test_empty_cell_is_not_estimable_and_reported():
    scores, participants = load("twoarm")
    drop = (scores["group"] == "control") & (scores["timepoint"] == "followup")
    res = analyse(scores[~drop], participants)
    eff = res.effects.set_index(["scale", "timepoint"])
    assert np.isnan(eff.loc[("emotional_exhaustion", "followup"), "estimate"])
    assert np.isfinite(eff.loc[("emotional_exhaustion", "post"), "estimate"])
    emm = res.emmeans.set_index(["scale", "group", "timepoint"])
    assert np.isnan(emm.loc[("emotional_exhaustion", "control", "followup"), "mean"])
    assert emm.loc[("emotional_exhaustion", "control", "followup"), "n"] == 0
    assert np.isfinite(emm.loc[("emotional_exhaustion", "balint", "followup"), "mean"])
    diag = res.diagnostics["outcomes"][0]
    assert diag["terms_not_estimable"] == ["group[balint]:timepoint[followup]"]


def test_cluster_handling_one_group_and_unassigned_participants():
    scores, participants = load("nested")
    one = participants.assign(cluster=participants["cluster"].where(
        participants["group"] != "balint", "G1"))
    diag = analyse(scores, one).diagnostics["outcomes"][0]
    assert diag["n_clusters"] == 0 and "cluster" not in diag["formula"]
    assert any("only one Balint group" in note for note in diag["notes"])
    unassigned = participants.copy()
    unassigned.loc[0, "cluster"] = np.nan  # a Balint participant whose group is unknown
    diag = analyse(scores, unassigned).diagnostics["outcomes"][0]
    assert diag["n_clusters"] == 4 and diag["converged"]


def test_other_timepoints_and_groups_are_ignored_and_counted():
    scores, participants = load("twoarm")
    extra = scores[scores["timepoint"] == "pre"].head(4).assign(timepoint="screening")
    other = scores.head(3).assign(group="waitlist", participant=lambda d: d["participant"] + "x")
    res = analyse(pd.concat([scores, extra, other]), participants)
    base = analyse(scores, participants)
    pd.testing.assert_frame_equal(res.effects, base.effects)
    notes = res.diagnostics["input_notes"]
    assert notes["rows_other_timepoint"] == 4 and notes["rows_other_group"] == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s, p: (s.drop(columns="score"), p), "lacks column"),
        (lambda s, p: (s, p.assign(group="control")), "has group"),
        (lambda s, p: (pd.concat([s, s.head(1)]), p), "more than one row"),
        (lambda s, p: (s, p.assign(age="old")), "not numeric"),
    ],
)
def test_invalid_inputs_raise_valueerror(change, message):
    scores, participants = change(*load("twoarm"))
    with pytest.raises(ValueError, match=message):
        analyse(scores, participants, covariates=["age"])


def test_unknown_primary_group_or_covariate_raise_valueerror():
    scores, participants = load("twoarm")
    with pytest.raises(ValueError, match="primary outcome"):
        analyse(scores, participants, primary="mbi_hss.nope")
    with pytest.raises(ValueError, match="does not occur"):
        analyse(scores, participants, control="waitlist")
    with pytest.raises(ValueError, match="covariate"):
        analyse(scores, participants, covariates=["income"])


def test_outcome_that_cannot_be_modelled_keeps_its_rows_and_says_why():
    scores, participants = load("twoarm")
    only_pre = scores[(scores["instrument"] == "pss10") & (scores["timepoint"] != "pre")]
    res = analyse(scores.drop(only_pre.index), participants)
    eff = res.effects[res.effects["instrument"] == "pss10"]
    assert len(eff) == 2 and eff["estimate"].isna().all() and not eff["converged"].any()
    assert eff["p_adjusted"].isna().all()
    eff_all = res.effects
    others = eff_all[(eff_all["role"] == "secondary") & (eff_all["instrument"] != "pss10")]
    np.testing.assert_allclose(others["p_adjusted"],
                               benjamini_hochberg(others["p_value"].to_numpy()))
    diag = res.diagnostics["outcomes"][-1]
    assert diag["scale"] == "total" and "baseline and a later timepoint" in diag["error"]
    assert diag["converged"] is False and diag["variance_components"] == {}
    emm = res.emmeans[res.emmeans["instrument"] == "pss10"]
    assert emm["mean"].isna().all() and emm["n"].sum() > 0
    json.dumps(res.diagnostics, allow_nan=False)
