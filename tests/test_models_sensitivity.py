"""Sensitivity analyses, ML refits and dose against R (lm, lme4/lmerTest, nlme + emmeans).

Reference numbers: ``tests/reference/sensitivity_reference.csv``, ``lme4_ml.csv``,
``nlme_varcomp.csv``, ``dose_reference.csv`` and the ``*_hetero`` rows of ``lme4_fixef.csv``,
all written by ``tests/reference/lme4_reference.R`` (committed; R is not needed here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_models_reference import CASES, REF, r_term, reference, rel, run

from balint_analysis.models import SENSITIVITY_COLUMNS, ancova

TWO_ARM = [c for c in CASES if c != "singlearm_plain"]
ANALYSES = ["primary_lmm", "ancova", "complete_case_lmm", "lmm_without_cluster",
            "lmm_residual_by_arm"]
RTOL = 1e-4  # estimates and SEs
ATOL_P = 1e-3  # p-values
# df: lmerTest Satterthwaite to 1e-3; the residual-by-arm df against lmerTest's recipe
# (numDeriv) applied to the nlme fit in R (satt_het in lme4_reference.R), also to 1e-3.
RTOL_DF = {"ancova": 0, "complete_case_lmm": 1e-3, "lmm_without_cluster": 1e-3,
           "lmm_residual_by_arm": 1e-3}


def _ours(case: str, instrument: str, scale: str, timepoint: str, analysis: str) -> pd.Series:
    s = run(case).sensitivity
    hit = s[(s["instrument"] == instrument) & (s["scale"] == scale)
            & (s["timepoint"] == timepoint) & (s["analysis"] == analysis)]
    assert len(hit) == 1
    return hit.iloc[0]


@pytest.mark.parametrize("case", TWO_ARM)
def test_sensitivity_rows_match_r(case):
    ref = pd.read_csv(REF / "sensitivity_reference.csv")
    ref = ref[ref["case"] == case]
    assert len(ref) > 0
    for r in ref.itertuples():
        ours = _ours(case, r.instrument, r.scale, r.timepoint, r.analysis)
        assert ours["estimate"] == pytest.approx(r.estimate, rel=RTOL)
        assert ours["se"] == pytest.approx(r.se, rel=RTOL)
        assert ours["df"] == pytest.approx(r.df, rel=RTOL_DF[r.analysis], abs=1e-9)
        assert abs(ours["p_value"] - r.p) < ATOL_P
        assert ours["converged"]


@pytest.mark.parametrize("case", list(CASES))
def test_sensitivity_table_layout(case):
    s = run(case).sensitivity
    eff = run(case).effects
    assert list(s.columns) == SENSITIVITY_COLUMNS
    assert len(s) == len(eff) * len(ANALYSES)
    for (_, _, _), block in s.groupby(["instrument", "scale", "timepoint"], sort=False):
        assert block["analysis"].tolist() == ANALYSES
    primary = s[s["analysis"] == "primary_lmm"].reset_index(drop=True)
    cols = ["estimate", "se", "df", "ci_low", "ci_high", "p_value"]
    np.testing.assert_allclose(primary[cols], eff[cols], rtol=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if c.endswith("_plain")])
def test_without_cluster_equals_primary_when_no_cluster_term(case):
    s = run(case).sensitivity
    a = s[s["analysis"] == "primary_lmm"].reset_index(drop=True)
    b = s[s["analysis"] == "lmm_without_cluster"].reset_index(drop=True)
    np.testing.assert_allclose(a[["estimate", "se", "df"]], b[["estimate", "se", "df"]])
    assert b["note"].str.contains("same as primary").all()


def test_single_arm_rows_say_why_not_estimable():
    s = run("singlearm_plain").sensitivity
    for analysis in ("ancova", "lmm_residual_by_arm"):
        rows = s[s["analysis"] == analysis]
        assert rows["estimate"].isna().all() and not rows["converged"].any()
        assert rows["note"].str.contains("single-arm").all()


def test_residual_by_arm_variances_and_likelihood_match_nlme():
    ref = pd.read_csv(REF / "nlme_varcomp.csv")
    for (case, instrument, scale), r in ref.groupby(["case", "instrument", "scale"]):
        rec = run(case).model_files[f"{instrument}.{scale}"]["fits"]["lmm_residual_by_arm"]
        vc = rec["variance_components"]
        for component, variance in zip(r["component"], r["variance"], strict=True):
            assert vc[component] == pytest.approx(variance, rel=1e-3)
        assert rec["reml"]["loglik"] == pytest.approx(r["reml_loglik"].iloc[0], abs=1e-4)
        assert rec["ml_refit"]["loglik"] == pytest.approx(r["ml_loglik"].iloc[0], abs=1e-4)
        assert rec["ml_refit"]["aic"] == pytest.approx(r["ml_aic"].iloc[0], abs=1e-4)
        assert rec["converged"]


def test_residual_by_arm_fixed_effects_match_nlme():
    ref = reference("fixef")
    ref = ref[ref["case"].str.endswith("_hetero")]
    assert ref["case"].nunique() == 4
    for (case, instrument, scale), r in ref.groupby(["case", "instrument", "scale"]):
        rec = run(case.removesuffix("_hetero")).model_files[f"{instrument}.{scale}"]
        fe = pd.DataFrame(rec["fits"]["lmm_residual_by_arm"]["fixed_effects"]).set_index("term")
        fe = fe.loc[[r_term(t) for t in r["term"]]]
        assert rel(fe["estimate"], r["estimate"]).max() < RTOL
        assert rel(fe["se"], r["se"]).max() < RTOL


@pytest.mark.parametrize("case", list(CASES))
def test_ml_refit_loglik_aic_bic_match_lme4(case):
    ref = reference("ml")
    ref = ref[ref["case"] == case]
    for r in ref.itertuples():
        ml = run(case).model_files[f"{r.instrument}.{r.scale}"]["fits"]["primary_lmm"]["ml_refit"]
        assert ml["loglik"] == pytest.approx(r.loglik, abs=1e-4)
        assert ml["aic"] == pytest.approx(r.aic, abs=1e-4)
        assert ml["bic"] == pytest.approx(r.bic, abs=1e-4)
        assert ml["n_parameters"] == r.npar


def test_dose_slopes_match_lm():
    ref = pd.read_csv(REF / "dose_reference.csv")
    for r in ref.itertuples():
        d = run(r.case).dose
        row = d[(d["instrument"] == r.instrument) & (d["scale"] == r.scale)
                & (d["timepoint"] == r.timepoint)].iloc[0]
        assert row["n"] == r.n
        assert row["slope"] == pytest.approx(r.slope, rel=RTOL)
        assert row["se"] == pytest.approx(r.se, rel=RTOL)
        assert row["df"] == r.df
        assert abs(row["p_value"] - r.p) < ATOL_P
        assert "observational" in row["note"]


def test_ancova_function_recovers_known_coefficient():
    rng = np.random.default_rng(7)
    n = 400
    pre = rng.normal(20, 5, n)
    group = np.where(np.arange(n) < n // 2, "balint", "control")
    post = 3 + 0.6 * pre - 2.0 * (group == "balint") + rng.normal(0, 1, n)
    res = ancova(pd.DataFrame({"post": post, "pre": pre, "g": group}), dv="post",
                 baseline="pre", between="g", intervention="balint")
    row = res.iloc[0]
    assert row["estimate"] == pytest.approx(-2.0, abs=0.3)
    assert row["df"] == n - 3
    assert row["n_intervention"] == row["n_control"] == n // 2
    assert row["ci_low"] < row["estimate"] < row["ci_high"]


def test_without_fuzzy_links_refits_on_the_remaining_answers():
    """With tolerant code matching, the fuzzily linked answers are left out of one refit."""
    from balint_analysis.models import analyse_outcomes, model_data
    from balint_analysis.models.fit import fit_lmm

    scores = pd.read_csv(REF / "nested_scores.csv")
    people = pd.read_csv(REF / "nested_participants.csv", dtype={"cluster": str})
    ee = scores[scores["scale"] == "emotional_exhaustion"]
    linked = ee[(ee["timepoint"] == "post") & ee["score"].notna()][["participant", "timepoint"]]
    linked = linked.iloc[::4].reset_index(drop=True)  # every 4th post answer
    args = {"timepoints": ["pre", "post", "followup"], "intervention": "balint",
            "control": "control", "primary": "mbi_hss.emotional_exhaustion"}  # fmt: skip
    res = analyse_outcomes(scores, people, fuzzy_links=linked, **args)
    s = res.sensitivity
    s = s[(s["scale"] == "emotional_exhaustion") & (s["analysis"] == "lmm_without_fuzzy_links")]
    assert s["timepoint"].tolist() == ["post", "followup"]
    assert s["note"].tolist() == [f"{len(linked)} fuzzily linked answers left out"] * 2
    # the same model fitted directly on the remaining answers
    rows = ee[ee["score"].notna()].merge(people[["participant", "cluster"]], on="participant")
    key = rows["participant"] + "/" + rows["timepoint"]
    kept = rows[~key.isin(linked["participant"] + "/" + linked["timepoint"])]
    fit = fit_lmm(model_data(kept, levels=args["timepoints"],
                                             intervention="balint", control="control"))
    term = np.array(fit.data.terms) == "group[balint]:timepoint[post]"
    (est,), (se,), _ = fit.contrast(term.astype(float))
    post = s.iloc[0]
    assert post["estimate"] == pytest.approx(est, rel=1e-9)
    assert post["se"] == pytest.approx(se, rel=1e-9)
    both = kept.groupby("participant")["timepoint"].agg(set)
    arms = kept.groupby("participant")["group"].first()
    at_post = arms[both.map(lambda t: {"pre", "post"} <= t)]
    assert (post["n_intervention"], post["n_control"]) == (
        (at_post == "balint").sum(), (at_post == "control").sum())
    record = res.model_files["mbi_hss.emotional_exhaustion"]["fits"]
    assert "lmm_without_fuzzy_links" in record
    # exact matching: no such analysis; tolerant without links: the primary model
    assert "lmm_without_fuzzy_links" not in set(run("nested_pn").sensitivity["analysis"])
    none = analyse_outcomes(scores, people, fuzzy_links=linked.iloc[:0], **args).sensitivity
    row = none[(none["scale"] == "emotional_exhaustion")
               & (none["analysis"] == "lmm_without_fuzzy_links")].iloc[0]
    prim = none[(none["scale"] == "emotional_exhaustion") & (none["analysis"] == "primary_lmm")]
    assert row["estimate"] == prim["estimate"].iloc[0]
    assert row["note"] == "no fuzzy code links: same as primary_lmm"


def test_fuzzy_linked_answers_from_flow_and_responses():
    from balint_analysis.models.inputs import fuzzy_linked_answers

    responses = pd.DataFrame({"participant": ["a", "a", "b"], "timepoint": ["pre", "post", "post"],
                              "source": ["x.csv", "y.csv", "y.csv"], "row": ["4", "7", "9"]})
    matching = {"method": "tolerant", "fuzzy_matches": [
        {"source": "y.csv", "row": 9, "timepoint": "post", "distance": 1, "edit": "substitution"}]}
    out = fuzzy_linked_answers(matching, responses)
    assert out.to_dict("records") == [{"participant": "b", "timepoint": "post"}]
    assert fuzzy_linked_answers({"method": "exact"}, responses) is None
    assert fuzzy_linked_answers({"method": "tolerant", "fuzzy_matches": []}, responses).empty
