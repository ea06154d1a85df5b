"""Imputation from the primary model and the completed-data analyses (issue 16)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from project_helpers import REPO

from balint_analysis.missing.analysis import impute_and_analyse
from balint_analysis.missing.imputation import (
    ImputationDraw,
    complete_design,
    completed_scores,
)
from balint_analysis.models.contrasts import treatment_effect
from balint_analysis.models.design import model_data
from balint_analysis.models.fit import fit_lmm

TIMEPOINTS = ["pre", "post", "followup"]


def cohort(n=40, seed=3, clusters=4, missing=0.3):
    """A small two-arm cohort: random intercept, Balint-group effect, MAR drop-out."""
    rng = np.random.default_rng(seed)
    pid = [f"p{i:02d}" for i in range(n)]
    group = np.where(np.arange(n) < n // 2, "balint", "control")
    cluster = np.where(group == "balint", [f"g{i % clusters}" for i in range(n)], None)
    age = rng.normal(45, 8, n).round()
    b = rng.normal(0, 5, n)
    c = {f"g{k}": rng.normal(0, 2) for k in range(clusters)}
    rows = []
    for i in range(n):
        drop = rng.random() < missing
        for k, t in enumerate(TIMEPOINTS):
            effect = -3.0 * k * (group[i] == "balint") + (c[cluster[i]] * (k > 0)
                                                         if cluster[i] else 0.0)
            score = 25 + b[i] + 0.1 * (age[i] - 45) + effect + rng.normal(0, 4)
            if k and drop and (k == 2 or rng.random() < 0.5):
                continue
            rows.append((pid[i], group[i], t, "mbi_hss", "emotional_exhaustion", score,
                         cluster[i], age[i]))
    return pd.DataFrame(rows, columns=["participant", "group", "timepoint", "instrument",
                                       "scale", "score", "cluster", "age"])


def run(sub, **kw):
    args = dict(instrument="mbi_hss", scale="emotional_exhaustion", participants=None,
                timepoints=TIMEPOINTS, intervention="balint", control="control",
                covariates=["age"], covariate_levels={}, use_clusters=True,
                imputations=[0, 1, 2], seed=11, outcome_index=2, deltas=[-2.0, 0.0, 3.0],
                alpha=0.05)
    return impute_and_analyse(sub, **(args | kw))


def test_jump_to_reference_by_hand():
    """No covariates, no Balint groups, variances given: a Balint participant observed only
    at baseline is imputed at the comparison arm's mean plus their conditional deviation
    a / (s + a) * (y_pre - own baseline mean); under MAR at their own arm's mean."""
    frame = pd.DataFrame({
        "participant": ["a", "a", "a", "b", "c", "c", "c", "d", "d", "d"],
        "group": ["balint"] * 4 + ["control"] * 6,
        "timepoint": ["pre", "post", "followup", "pre"] + TIMEPOINTS * 2,
        "score": [20.0, 18, 15, 30, 22, 23, 21, 26, 25, 27], "cluster": None})
    data = model_data(frame, levels=TIMEPOINTS, intervention="balint",
                      control="control", use_clusters=False)
    design = complete_design(data, ["group", "cluster"])
    beta = np.array([24.0, 1.0, -1.0, -2.0, -3.0, -5.0])  # terms in model order
    assert data.terms == ("Intercept", "group[balint]", "timepoint[post]",
                          "timepoint[followup]", "group[balint]:timepoint[post]",
                          "group[balint]:timepoint[followup]")
    a, s = 9.0, 4.0
    zeros = dict(cluster_normals=np.zeros(4), participant_normals=np.zeros(4),
                 row_normals=np.zeros(len(design.data.frame)))
    draw = ImputationDraw(beta=beta, phi=np.array([a, 0.0, s]), **zeros)
    f = design.data.frame
    deviation = a / (s + a) * (30.0 - (24.0 + 1.0))
    j2r = completed_scores(design, draw, reference=True)
    mar = completed_scores(design, draw)
    b_rows = (f["participant"] == "b").to_numpy()
    assert f.loc[b_rows, "timepoint"].tolist() == TIMEPOINTS
    assert j2r[b_rows][1:] == pytest.approx([24 - 1 + deviation, 24 - 2 + deviation])
    assert mar[b_rows][1:] == pytest.approx([24 + 1 - 1 - 3 + deviation,
                                             24 + 1 - 2 - 5 + deviation])
    assert j2r[b_rows][0] == mar[b_rows][0] == 30.0
    observed = design.observed
    assert np.array_equal(j2r[observed], f["score"].to_numpy()[observed])


def test_conditional_distribution_matches_the_dense_formula():
    """With Balint groups: the imputed scores' mean and covariance (they are linear in the
    standard normals) equal mu_m + V_mo V_oo^-1 (y_o - mu_o) and V_mm - V_mo V_oo^-1 V_om."""
    sub = cohort(n=16, clusters=2, missing=0.5)
    data = model_data(sub, levels=TIMEPOINTS, intervention="balint", control="control",
                      covariates=["age"])
    design = complete_design(data, ["group", "cluster", "age"])
    f = design.data.frame
    beta = np.linspace(20, 22, int(data.keep.sum()))
    phi = np.array([16.0, 3.0, 9.0])
    sizes = (design.cluster.max() + 1, design.participant.max() + 1, len(f))
    names = ("cluster_normals", "participant_normals", "row_normals")

    def scores(normals):
        parts, start = {}, 0
        for name, size in zip(names, sizes, strict=True):
            parts[name] = normals[start:start + size]
            start += size
        return completed_scores(design, ImputationDraw(beta=beta, phi=phi, **parts))

    total = sum(sizes)
    base = scores(np.zeros(total))
    jac = np.column_stack([scores(np.eye(total)[k]) - base for k in range(total)])
    Zp = (design.participant[:, None] == np.arange(sizes[1])).astype(float)
    Zc = (design.cluster[:, None] == np.arange(sizes[0])) * design.z_cluster[:, None]
    V = phi[0] * Zp @ Zp.T + phi[1] * Zc @ Zc.T + phi[2] * np.eye(len(f))
    o, m = design.observed, design.missing
    mu = design.design_matrix @ beta
    y = f["score"].to_numpy(dtype=float)
    reg = V[np.ix_(m, o)] @ np.linalg.inv(V[np.ix_(o, o)])
    assert base[m] == pytest.approx(mu[m] + reg @ (y[o] - mu[o]), rel=1e-10)
    cov = jac[m] @ jac[m].T
    assert cov == pytest.approx(V[np.ix_(m, m)] - reg @ V[np.ix_(o, m)], abs=1e-9)


def test_imputations_do_not_depend_on_chunking_and_delta_is_linear():
    sub = cohort()
    together = run(sub)
    alone = run(sub, imputations=[2])
    third = together[together["imputation"] == 2].reset_index(drop=True)
    pd.testing.assert_frame_equal(third, alone)
    assert set(together["scenario"]) == {"mar", "delta_balint", "delta_both",
                                         "jump_to_reference"}
    assert (together["reason"] == "").all()
    mar = together[together["scenario"] == "mar"].set_index(["imputation", "timepoint"])
    for scenario in ("delta_balint", "delta_both"):
        part = together[together["scenario"] == scenario]
        zero = part[part["delta"] == 0].set_index(["imputation", "timepoint"])
        assert zero["estimate"].to_numpy() == pytest.approx(
            mar.loc[zero.index, "estimate"].to_numpy(), rel=1e-12)
        for (_, _), rows in part.groupby(["imputation", "timepoint"]):
            slope = np.diff(rows["estimate"]) / np.diff(rows["delta"])
            assert slope == pytest.approx(np.full(2, slope[0]), rel=1e-9)
            assert rows["variance"].nunique() == 1
    # Shifting the Balint drop-outs up makes the Balint arm's change look worse (larger).
    bal = together[(together["scenario"] == "delta_balint") & (together["delta"] == 3.0)]
    assert (bal["estimate"].to_numpy() > mar["estimate"].to_numpy()).all()


def test_completed_data_analysis_is_the_primary_model():
    """Each completed dataset's estimate, variance and df are those of the primary model
    fitted to it (same Satterthwaite df as the model stage)."""
    from balint_analysis.missing import analysis
    from balint_analysis.missing.completed import analyse_completed
    sub = cohort()
    fit, design, _, reason = analysis._primary(
        sub, timepoints=TIMEPOINTS, intervention="balint", control="control",
        covariates=["age"], covariate_levels={}, use_clusters=True)
    assert reason == ""
    rng = np.random.default_rng(0)
    draw = analysis.draw_parameters(fit, design, rng)
    y = completed_scores(design, draw)
    L = np.array([analysis.treatment_contrast(design.data, t)[design.data.keep]
                  for t in TIMEPOINTS[1:]])
    est, var, df, _, _ = analyse_completed(
        fit, design, y, L, {}, np.asarray(fit.state.phi))
    refit = fit_lmm(model_data(design.data.frame.assign(score=y), levels=TIMEPOINTS,
                               intervention="balint", control="control",
                               covariates=["age"]))
    for k, t in enumerate(TIMEPOINTS[1:]):
        effect = treatment_effect(refit, t)
        assert est[k] == pytest.approx(effect["estimate"], rel=1e-6)
        assert var[k] == pytest.approx(effect["se"] ** 2, rel=1e-5)
        assert df[k] == pytest.approx(effect["df"], rel=1e-4)


def test_engine_matches_lmer_on_a_mice_completed_dataset():
    """The df_complete source: our fit of a completed dataset against lmerTest's per-imputation
    numbers (tests/reference/mice_pool_reference.R)."""
    completed = pd.read_csv(REPO / "tests" / "reference" / "mice_completed.csv")
    ref = pd.read_csv(REPO / "tests" / "reference" / "mice_per_imputation.csv")
    ref = ref[(ref["analysis"] == "lmer") & (ref["imputation"] == 1)].iloc[0]
    one = completed[completed["imputation"] == 1].rename(columns={
        "id": "participant", "arm": "group", "time": "timepoint"}).assign(cluster=None)
    fit = fit_lmm(model_data(one, levels=TIMEPOINTS, intervention="balint",
                             control="control", use_clusters=False))
    effect = treatment_effect(fit, "followup")
    assert effect["estimate"] == pytest.approx(ref["estimate"], rel=1e-6)
    assert effect["se"] ** 2 == pytest.approx(ref["variance"], rel=1e-5)
    assert effect["df"] == pytest.approx(ref["df_complete"], rel=1e-4)


def test_reasons_single_arm_and_nothing_missing():
    sub = cohort()
    single = run(sub[sub["group"] == "balint"], control=None, imputations=[0])
    by = single.groupby("scenario")["reason"].first()
    assert by["mar"] == "" and by["delta_balint"] == ""
    assert "single-arm" in by["jump_to_reference"] and "single-arm" in by["delta_both"]
    assert single.loc[single["scenario"] == "jump_to_reference", "estimate"].isna().all()
    full = cohort(missing=0.0)
    none = run(full, imputations=[0])
    assert none["estimate"].isna().all()
    assert (none["reason"] == "no participant has a missing score: nothing to impute").all()
