"""Reliable change, cut-off movement, dose, per-model records and published test vectors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_models_reference import REF, run

from balint_analysis.models import (
    CLINICAL_COLUMNS,
    CUTOFF_COLUMNS,
    DOSE_COLUMNS,
    analyse_outcomes,
    category_transitions,
    reliable_change,
    ttest_from_summary,
)

# --- published vectors (docs/references.md, "Published numbers") --------------------------------


@pytest.mark.parametrize(
    ("balint", "control", "t_published"),
    [
        ((20.1, 8.3), (22.6, 8.7), 1.993),  # Cheng 2019, emotional exhaustion
        ((6.8, 4.9), (10.8, 5.2), 5.355),  # depersonalization
        ((38.3, 7.5), (34.6, 7.7), 3.311),  # personal accomplishment (printed without sign)
    ],
)
def test_cheng_2019_post_test_pooled_t(balint, control, t_published):
    res = ttest_from_summary(*balint, 70, *control, 140).iloc[0]
    assert abs(res["T"]) == pytest.approx(t_published, abs=5e-4)
    assert res["dof"] == 208
    ref = stats.ttest_ind_from_stats(*balint, 70, *control, 140, equal_var=True)
    assert res["T"] == pytest.approx(ref.statistic, rel=1e-12)
    assert res["p_val"] == pytest.approx(ref.pvalue, rel=1e-12)


def test_cheng_2019_emotional_exhaustion_p_value():
    res = ttest_from_summary(22.6, 8.7, 140, 20.1, 8.3, 70).iloc[0]
    assert res["p_val"] == pytest.approx(0.0476, abs=5e-5)
    assert res["diff"] == pytest.approx(2.5)
    assert res["ci_low"] < res["diff"] < res["ci_high"]


def test_lemogne_2020_change_score_t_pooled_not_welch():
    pooled = ttest_from_summary(0.27, 8.00, 125, -2.36, 11.41, 117).iloc[0]
    welch = ttest_from_summary(0.27, 8.00, 125, -2.36, 11.41, 117, correction=True).iloc[0]
    assert pooled["T"] == pytest.approx(2.087, abs=5e-4)  # paper: 2.086
    assert pooled["dof"] == 240
    assert pooled["p_val"] == pytest.approx(0.038, abs=5e-4)
    assert welch["T"] == pytest.approx(2.063, abs=5e-4)
    ref = stats.ttest_ind_from_stats(0.27, 8.00, 125, -2.36, 11.41, 117, equal_var=False)
    assert welch["T"] == pytest.approx(ref.statistic, rel=1e-12)
    assert welch["p_val"] == pytest.approx(ref.pvalue, rel=1e-12)


# --- reliable change --------------------------------------------------------------------------


def test_reliable_change_jacobson_truax_example_and_direction():
    worse = reliable_change([30, 30, 30], [20, 27, 40], sd_baseline=10, reliability=0.9,
                            direction="higher_is_worse")
    assert worse["s_diff"].iloc[0] == pytest.approx(4.472, abs=5e-4)
    assert worse["rci"].iloc[0] == pytest.approx(-2.236, abs=5e-4)
    assert worse["status"].tolist() == ["improved", "unchanged", "deteriorated"]
    better = reliable_change([30, 30, 30], [20, 27, 40], sd_baseline=10, reliability=0.9,
                             direction="higher_is_better")
    assert better["status"].tolist() == ["deteriorated", "unchanged", "improved"]
    with pytest.raises(ValueError, match="direction"):
        reliable_change([1], [2], sd_baseline=1, reliability=0.5, direction="up")


def _cohort():
    scores = pd.read_csv(REF / "nested_scores.csv")
    participants = pd.read_csv(REF / "nested_participants.csv")
    reliability = pd.DataFrame({"instrument": ["mbi_hss", "pss10"],
                                "scale": ["emotional_exhaustion", "total"],
                                "timepoint": ["pre", "pre"], "alpha": [0.9, 0.85]})
    return scores, participants, reliability


def test_clinical_table_counts_match_direct_computation():
    scores, participants, reliability = _cohort()
    res = analyse_outcomes(scores, participants, timepoints=["pre", "post", "followup"],
                           intervention="balint", control="control",
                           primary="mbi_hss.emotional_exhaustion", reliability=reliability)
    clin = res.clinical
    assert list(clin.columns) == CLINICAL_COLUMNS
    assert len(clin) == 2 * 2 * 2  # outcomes x post timepoints x groups
    s = scores[(scores["scale"] == "emotional_exhaustion") & scores["score"].notna()]
    wide = s.pivot(index="participant", columns="timepoint", values="score")
    grp = s.groupby("participant")["group"].first()
    base = wide["pre"].dropna()
    var = base.groupby(grp.reindex(base.index)).var()
    cnt = base.groupby(grp.reindex(base.index)).count()
    sd = np.sqrt(((cnt - 1) * var).sum() / (cnt.sum() - 2))
    s_diff = sd * np.sqrt(2) * np.sqrt(1 - 0.9)
    both = wide[["pre", "post"]].dropna()
    both = both[grp.reindex(both.index) == "balint"]
    rci = (both["post"] - both["pre"]) / s_diff
    row = clin[(clin["scale"] == "emotional_exhaustion") & (clin["timepoint"] == "post")
               & (clin["group"] == "balint")].iloc[0]
    assert row["s_diff"] == pytest.approx(s_diff)
    assert row["reliability"] == 0.9
    assert row["n"] == len(both)
    assert row["improved"] == (rci < -1.96).sum()
    assert row["deteriorated"] == (rci > 1.96).sum()
    assert row["improved"] + row["unchanged"] + row["deteriorated"] == row["n"]
    assert row["share_improved"] == pytest.approx(row["improved"] / row["n"])


def test_clinical_without_reliability_is_nan_and_explained():
    res = run("nested_pn")
    assert res.clinical["improved"].isna().all()
    assert res.clinical["n"].gt(0).all()
    diag = res.diagnostics["outcomes"][0]
    assert "alpha" in diag["clinical_notes"]["reliable_change"]


# --- cut-offs ---------------------------------------------------------------------------------


def test_category_transitions_counts_and_order():
    wide = pd.DataFrame({"group": ["b", "b", "b", "c"], "pre": ["high", "high", "low", None],
                         "post": ["moderate", "high", "low", "low"]})
    out = category_transitions(wide, timepoints=["pre", "post"], groups=["b", "c"],
                               order=["low", "moderate", "high"])
    b = out[out["group"] == "b"].set_index(["from_category", "to_category"])["n"]
    assert b[("high", "moderate")] == 1 and b[("high", "high")] == 1 and b[("low", "low")] == 1
    assert b.sum() == 3 and len(b) == 9
    assert out[out["group"] == "c"]["n"].sum() == 0  # no baseline category
    assert out["from_category"].iloc[:3].tolist() == ["low"] * 3


def test_cutoffs_from_scores_categories():
    scores, participants, _ = _cohort()
    cats = pd.cut(scores["score"], [-np.inf, 16.5, 26.5, np.inf],
                  labels=["low", "moderate", "high"]).astype(object)
    scores = scores.assign(category=cats.where(scores["scale"] == "emotional_exhaustion"))
    res = analyse_outcomes(scores, participants, timepoints=["pre", "post", "followup"],
                           intervention="balint", control="control",
                           primary="mbi_hss.emotional_exhaustion")
    cut = res.cutoffs
    assert list(cut.columns) == CUTOFF_COLUMNS
    ee = cut[cut["scale"] == "emotional_exhaustion"]
    assert ee["from_category"].unique().tolist() == ["low", "moderate", "high"]
    wide = scores[scores["scale"] == "emotional_exhaustion"].dropna(subset=["score"]).pivot(
        index="participant", columns="timepoint", values="category")
    n_both = wide[["pre", "post"]].dropna().shape[0]
    assert ee[ee["timepoint"] == "post"]["n"].sum() == n_both
    assert (cut[cut["scale"] == "total"]["n"].sum()) == 0


# --- dose and per-model records ---------------------------------------------------------------


def test_dose_table_layout():
    dose = run("nested_pn").dose
    assert list(dose.columns) == DOSE_COLUMNS
    assert dose["note"].str.startswith("observational").all()


def test_model_files_are_complete_json_records():
    res = run("covariates_pn")
    assert set(res.model_files) == {"mbi_hss.emotional_exhaustion"}
    rec = json.loads(json.dumps(res.model_files["mbi_hss.emotional_exhaustion"],
                                allow_nan=False))
    assert set(rec["fits"]) == {"primary_lmm", "complete_case_lmm", "lmm_without_cluster",
                                "lmm_residual_by_arm"}
    primary = rec["fits"]["primary_lmm"]
    fe = pd.DataFrame(primary["fixed_effects"])
    assert {"term", "estimate", "se", "df", "ci_low", "ci_high", "p_value"} <= set(fe.columns)
    assert set(primary["variance_components"]) == {"participant", "cluster", "residual"}
    ml = primary["ml_refit"]
    assert ml["aic"] == pytest.approx(-2 * ml["loglik"] + 2 * ml["n_parameters"])
    assert primary["reml"]["loglik"] < 0
    assert rec["diagnostics"]["converged"] is True
    assert rec["diagnostics"]["ml_refit"]["aic"] == ml["aic"]
