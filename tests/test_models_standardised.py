"""The primary standardised effect on real fits, and the primary-timepoint rows of effects.csv.

``d_model`` is the model's estimate and CI over the pooled baseline SD (Feingold 2009), so the
standardised effect an evaluator reads beside the primary difference can never contradict it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from balint_analysis.models import EFFECTS_COLUMNS, analyse_outcomes

REF = Path(__file__).parent / "reference"
TP = ["pre", "post", "followup"]


def complete_cohort(seed: int = 3, per_arm: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every participant answers at every timepoint; no covariates, no Balint groups."""
    rng = np.random.default_rng(seed)
    rows, people = [], []
    for arm, drop in (("balint", -4.0), ("control", 0.0)):
        for k in range(per_arm):
            pid = f"{arm[0].upper()}{k:02d}"
            person = rng.normal(25, 7)
            people.append({"participant": pid, "group": arm})
            for j, t in enumerate(TP):
                score = person + (drop * j / 2) + rng.normal(0, 4)
                rows.append({"participant": pid, "group": arm, "timepoint": t,
                             "instrument": "mbi_hss", "scale": "emotional_exhaustion",
                             "score": round(score, 2)})
    return pd.DataFrame(rows), pd.DataFrame(people)


def analyse(scores, participants, **kwargs):
    args = {"timepoints": TP, "intervention": "balint", "control": "control",
            "primary": "mbi_hss.emotional_exhaustion"} | kwargs
    return analyse_outcomes(scores, participants, **args)


def test_d_model_is_the_estimate_over_the_pooled_baseline_sd_on_a_real_fit():
    scores, people = complete_cohort()
    effects = analyse(scores, people, use_clusters=False).effects
    assert {"d_model", "d_model_ci_low", "d_model_ci_high", "primary_timepoint"} <= set(
        EFFECTS_COLUMNS)
    base = scores[scores["timepoint"] == "pre"].groupby("group")["score"]
    n, var = base.count(), base.var(ddof=1)
    sd_pre = np.sqrt(((n - 1) * var).sum() / (n - 1).sum())
    for col, source in (("d_model", "estimate"), ("d_model_ci_low", "ci_low"),
                        ("d_model_ci_high", "ci_high")):
        np.testing.assert_allclose(effects[col], effects[source] / sd_pre, rtol=1e-12)
    # Complete data, no covariates: the model's estimate is the observed difference in mean
    # change, so d_model is Morris's d_ppc2 without its small-sample factor c_p.
    c_p = 1 - 3 / (4 * (2 * 12 - 2) - 1)
    np.testing.assert_allclose(effects["d_model"] * c_p, effects["d_ppc2"], rtol=1e-6)
    assert (effects["d_model"] < 0).all() and effects["d_model"].abs().between(0.1, 3).all()


@pytest.mark.parametrize("dataset", ["twoarm", "nested", "singlearm"])
def test_d_model_ci_excludes_zero_exactly_when_the_model_ci_does(dataset):
    scores = pd.read_csv(REF / f"{dataset}_scores.csv")
    people = pd.read_csv(REF / f"{dataset}_participants.csv")
    single = dataset == "singlearm"
    effects = analyse(scores, people, control=None if single else "control").effects
    fitted = effects.dropna(subset=["ci_low", "ci_high"])
    assert len(fitted) >= 2
    primary_excludes = (fitted["ci_low"] > 0) | (fitted["ci_high"] < 0)
    d_excludes = (fitted["d_model_ci_low"] > 0) | (fitted["d_model_ci_high"] < 0)
    assert (primary_excludes == d_excludes).all()
    assert (np.sign(fitted["d_model"]) == np.sign(fitted["estimate"])).all()
    assert fitted["d_model"].notna().all()
    if dataset == "twoarm":  # the disagreement the issue saw: Morris's CI includes 0 here
        ppc2_excludes = (fitted["d_ci_low"] > 0) | (fitted["d_ci_high"] < 0)
        assert (primary_excludes & ~ppc2_excludes).any()


def test_primary_timepoint_rows_default_to_the_end_of_the_groups_and_follow_the_choice():
    scores, people = complete_cohort(per_arm=6)
    default = analyse(scores, people, use_clusters=False)
    marked = default.effects.loc[default.effects["primary_timepoint"], "timepoint"]
    assert marked.tolist() == ["post"]
    assert default.effects["primary_timepoint"].dtype == bool
    assert default.diagnostics["settings"]["primary_timepoint"] == "post"
    chosen = analyse(scores, people, use_clusters=False, primary_timepoint="followup").effects
    assert chosen.loc[chosen["primary_timepoint"], "timepoint"].tolist() == ["followup"]
    with pytest.raises(ValueError, match="not a post-baseline timepoint"):
        analyse(scores, people, use_clusters=False, primary_timepoint="pre")
