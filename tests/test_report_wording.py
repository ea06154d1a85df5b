"""The report's wording follows what the model did: one sentence per situation, asserted exactly.

Each test changes the synthetic processed outputs of ``test_report.make_inputs`` the way the
model stage records the situation (``models.json``: ``cluster_term``, ``boundary``,
``fallback``, ``fit_warnings``; ``effects.csv``: ``estimable`` and ``reason``) and checks the
results, the first-screen caveats, the methods and the limitations.
"""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import numpy as np
import pandas as pd
from test_report import make_config, make_inputs, text_of
from test_report_sections import full_inputs

from balint_analysis.report import ReportInputs, render_report
from balint_analysis.report.model_facts import (
    CLUSTER_CAVEAT,
    CLUSTER_LIMITATION,
    CLUSTER_METHODS,
    CLUSTER_RESULT,
)

PRIMARY = ("mbi_hss", "emotional_exhaustion")
FEW_GROUPS_PROSE = "the group-level variance is poorly estimated"
HONEST_DF_PROSE = "stay honest when there are few Balint groups"


def _with_models(inputs: ReportInputs, **changes: Any) -> ReportInputs:
    """Every outcome's ``models.json`` entry updated with ``changes``."""
    for m in inputs.models["outcomes"]:
        m.update(changes)
    return inputs


def _text(html: str) -> str:
    """Visible text as read: inline glossary markup removed, entities decoded."""
    return html_lib.unescape(text_of(re.sub(r"</?(a|abbr)\b[^>]*>", "", html)))


def _parts(html: str) -> dict[str, str]:
    """Visible text of the first screen, the results, the methods and the limitations."""

    def between(start: str, end: str) -> str:
        return _text(html.split(start, 1)[1].split(end, 1)[0])

    return {
        "head": _text(html.split('id="flow"')[0]),
        "results": between('<section id="results"', "</section>\n\n<section"),
        "methods": between('<section id="methods"', "</section>"),
        "limitations": between('<section id="limitations"', "</section>"),
        "all": _text(html),
    }


def _render(inputs: ReportInputs) -> dict[str, str]:
    return _parts(render_report(inputs, make_config()))


def test_one_balint_group_says_the_cluster_term_was_dropped() -> None:
    inputs = _with_models(make_inputs(), cluster_term="dropped_single_group", n_clusters=1)
    for m in inputs.models["outcomes"]:
        m["variance_components"].pop("cluster")
    out = _render(inputs)
    assert CLUSTER_CAVEAT["dropped_single_group"] == (
        "Only one Balint group took part, so differences between Balint groups could not be "
        "allowed for: the result comes from one group and its leader, and its confidence "
        "interval treats the members' answers as independent, so it may be too narrow."
    )
    assert CLUSTER_CAVEAT["dropped_single_group"] in out["head"]
    assert CLUSTER_RESULT["dropped_single_group"] in out["results"]
    assert CLUSTER_METHODS["dropped_single_group"] in out["methods"]
    assert CLUSTER_LIMITATION["dropped_single_group"] in out["limitations"]
    for wrong in (FEW_GROUPS_PROSE, HONEST_DF_PROSE, "Few Balint groups", "partially nested"):
        assert wrong not in out["all"], wrong


def test_one_balint_group_is_recognised_in_older_model_outputs() -> None:
    """Without ``cluster_term`` (older outputs), one group and no cluster variance is the same."""
    inputs = _with_models(make_inputs(), n_clusters=1)
    for m in inputs.models["outcomes"]:
        m["variance_components"].pop("cluster")
    out = _render(inputs)
    assert CLUSTER_CAVEAT["dropped_single_group"] in out["head"]
    assert FEW_GROUPS_PROSE not in out["all"]


def test_no_cluster_column_caveat_says_group_treatment_was_not_modelled() -> None:
    inputs = _with_models(make_inputs(), cluster_term="no_cluster_column", n_clusters=0)
    for m in inputs.models["outcomes"]:
        m["variance_components"].pop("cluster")
    out = _render(inputs)
    assert (
        "Group-delivered treatment was not modelled: the roster does not say which Balint group "
        "each participant attended, so the analysis treats participants as if each had been "
        "treated alone. Members of one group influence each other, so the confidence intervals "
        "may be too narrow and the p-values too small." in out["head"]
    )
    assert (
        "Its confidence interval and p-value use Satterthwaite degrees of freedom, a "
        "small-sample correction (a normal approximation would overstate certainty). The roster "
        "names no Balint group for each participant, so the model has no Balint-group term: "
        "group-delivered treatment was not modelled." in out["methods"]
    )
    assert CLUSTER_LIMITATION["no_cluster_column"] in out["limitations"]
    assert CLUSTER_RESULT["no_cluster_column"] in out["results"]
    assert HONEST_DF_PROSE not in out["all"] and FEW_GROUPS_PROSE not in out["all"]


def test_modelled_clusters_keep_the_few_groups_wording() -> None:
    out = _render(_with_models(make_inputs(), cluster_term="modelled"))
    assert "Few Balint groups (4)" in out["head"]
    assert HONEST_DF_PROSE in out["methods"]
    assert (
        "4 Balint groups took part: with so few groups the group-level variance is poorly "
        "estimated, the degrees of freedom are small and the intervals wide; results may depend "
        "on these particular leaders." in out["limitations"]
    )
    assert not any(s in out["all"] for s in CLUSTER_RESULT.values())


def test_cluster_term_dropped_at_the_boundary() -> None:
    inputs = _with_models(make_inputs(), cluster_term="dropped_boundary", boundary=True)
    out = _render(inputs)
    assert (
        "The Balint groups did not differ more than chance would produce (their variation was "
        "estimated at zero), so this model was refitted without the Balint-group term."
        in out["results"]
    )
    assert (
        "The variation between Balint groups was estimated at zero (a boundary fit), so the "
        "Balint-group term was dropped and the model refitted without it." in out["methods"]
    )
    assert CLUSTER_LIMITATION["dropped_boundary"] in out["limitations"]
    assert HONEST_DF_PROSE not in out["methods"]


def test_boundary_fit_sentence_in_results_and_methods() -> None:
    out = _render(make_inputs())  # depersonalization's model is a boundary fit
    assert (
        "A variance in this model was estimated at zero (a boundary fit): the answers vary no "
        "more between people or groups than chance would produce. The effect estimate is still "
        "usable, but its interval may be slightly too narrow." in out["results"]
    )
    assert (
        "1 model had a variance estimated at zero (a boundary fit; the estimates remain "
        "usable): mbi_hss.depersonalization." in out["methods"]
    )


def test_fallback_engine_is_named_in_results_and_methods() -> None:
    inputs = make_inputs()
    inputs.models["outcomes"][0]["fallback"] = "Newton-REML could not certify the optimum"
    out = _render(inputs)
    assert (
        "This model was fitted with the fallback method because the main method could not "
        "confirm its result (Newton-REML could not certify the optimum)." in out["results"]
    )
    assert (
        "mbi_hss.emotional_exhaustion was fitted with the fallback method (Newton-REML could not "
        "certify the optimum)." in out["methods"]
    )


def _not_estimable(inputs: ReportInputs, scale: str, timepoint: str, reason: str) -> None:
    eff = inputs.effects
    if "estimable" not in eff:
        eff["estimable"] = True
        eff["reason"] = ""
    sel = (eff["scale"] == scale) & (eff["timepoint"] == timepoint)
    cols = ["estimate", "se", "df", "ci_low", "ci_high", "p_value", "p_adjusted"]
    eff.loc[sel, cols] = np.nan
    eff.loc[sel, ["estimable", "reason"]] = [False, reason]


def test_non_estimable_effect_gives_its_reason_not_a_convergence_failure() -> None:
    inputs = make_inputs()
    # A converged fit whose abandoned attempts failed: their errors are no reason for anything.
    inputs.models["outcomes"][1]["attempts"] = [{"method": "lbfgs", "error": "Singular matrix"}]
    _not_estimable(
        inputs, "depersonalization", "followup", "no comparison-group participants were "
        "observed at follow-up"
    )  # fmt: skip
    out = _render(inputs)
    assert (
        "At follow-up no effect can be estimated: no comparison-group participants were "
        "observed at follow-up." in out["results"]
    )
    assert "did not converge" not in out["all"]
    assert "no reason was recorded" not in out["all"] and "Singular matrix" not in out["all"]
    assert "not reported not estimable" in out["results"]  # the effect table's row


def test_non_estimable_primary_effect_headline() -> None:
    inputs = make_inputs()
    for t in ("post", "followup"):
        _not_estimable(inputs, "emotional_exhaustion", t, "everyone has the same score")
    out = _render(inputs)
    assert re.search(
        r"No effect on the main outcome, emotional exhaustion, can be estimated at "
        r"(post|follow-up): everyone has the same score\.",
        out["head"],
    )
    assert "did not converge" not in out["head"]


def test_only_warnings_of_the_fit_used_are_shown() -> None:
    inputs = make_inputs()
    abandoned = "ConvergenceWarning: The MLE may be on the boundary of the parameter space."
    for m in inputs.models["outcomes"]:
        m.update(warnings=[abandoned] * 6, fit_warnings=[])
    inputs.models["outcomes"][0]["fit_warnings"] = ["the Hessian was nearly singular"]
    out = _render(inputs)
    assert "ConvergenceWarning" not in out["all"]
    assert out["results"].count("Model note:") == 1
    assert "Model note: the Hessian was nearly singular" in out["results"]


def test_answer_box_and_sentence_share_one_sign_convention() -> None:
    html = render_report(make_inputs(), make_config())
    box = _text(html.split('class="key-figure"', 1)[1].split("</div>", 1)[0])
    ci = re.search(r"CI (\S+ to [^\s;,]+)", box)
    assert ci is not None
    head = _parts(html)["head"]
    sentence = re.search(
        r"Balint group minus comparison group: (\S+) points, 95% CI (\S+ to [^\s;,]+)", head
    )
    assert sentence is not None
    assert sentence.group(2) == ci.group(1)
    assert "\u2212" in sentence.group(1)  # the signed estimate, as in the box


def test_single_invalidated_answer_is_singular() -> None:
    inputs = make_inputs()
    inputs.flow["totals"]["items_invalidated"] = 1
    out = _render(inputs)
    assert "1 answer to a single item set to missing" in out["all"]
    assert "single answers set missing" not in out["all"]


def test_sensitivity_notes_use_plain_words() -> None:
    cfg = make_config()
    inputs = full_inputs(cfg)
    sel = inputs.sensitivity["analysis"] == "lmm_without_cluster"
    inputs.sensitivity.loc[sel, "note"] = "no fuzzy code links: same as primary_lmm"
    out = _text(render_report(inputs, cfg))
    assert "same as the primary analysis" in out
    assert "primary_lmm" not in out


def test_directions_disagree_is_a_fact_worded_once() -> None:
    cfg = make_config()
    inputs = full_inputs(cfg)
    sens = inputs.sensitivity
    sel = (sens["scale"] == "emotional_exhaustion") & (sens["analysis"] == "ancova")
    sens.loc[sel, ["estimate", "ci_low", "ci_high"]] = [1.5, -0.5, 3.5]
    out = _parts(render_report(inputs, cfg))
    assert re.search(
        r"The answer depends on how it is analysed: at follow-up, the 5 analyses give estimates "
        r"from \S+ to 1\.5 points, not all in the same direction \(see Sensitivity analyses\)\.",
        out["head"],
    )
    assert (
        "The direction of the effect depends on the analysis choices for: Emotional exhaustion "
        "(MBI-HSS) (see Sensitivity analyses)." in out["limitations"]
    )


def test_dose_section_omitted_when_every_cell_is_suppressed() -> None:
    cfg = make_config()
    inputs = full_inputs(cfg)
    inputs.dose = inputs.dose.assign(n=3)  # below min_cell_size: every estimate withheld
    out = _parts(render_report(inputs, cfg))
    assert "regressed on the number of sessions attended" not in out["methods"]
    assert "The dose analysis is observational" not in out["limitations"]
    assert "Dose: change vs sessions attended" not in out["all"]


def test_dose_section_omitted_without_attendance_data() -> None:
    cfg = make_config()
    inputs = full_inputs(cfg)
    inputs.dose = pd.DataFrame()
    out = _parts(render_report(inputs, cfg))
    assert "The dose analysis is observational" not in out["limitations"]
    assert "Dose: change vs sessions attended" not in out["all"]


# ------------------------------------------------------ the model stage's own outputs, worded


def _fitted(cluster: str | None, controls_at_followup: bool = True) -> ReportInputs:
    """``make_inputs()`` with effects, EMMs and models.json from a real fit of one outcome.

    40 participants (20 per arm) at pre/post/follow-up; ``cluster`` is every Balint
    participant's group (None: the roster has no cluster column).
    """
    from balint_analysis.models import analyse_outcomes

    rng = np.random.default_rng(15)
    people = [(f"p{k:02d}", "balint" if k < 20 else "control") for k in range(40)]
    rows = []
    for pid, arm in people:
        level = rng.normal(25, 5)
        for t, shift in (("pre", 0.0), ("post", -3.0), ("followup", -4.0)):
            if arm == "control" and t == "followup" and not controls_at_followup:
                continue
            drop = shift if arm == "balint" else 0.0
            score = level + drop + rng.normal(0, 3)
            row = {"participant": pid, "group": arm, "timepoint": t, "score": score}
            rows.append({**row, "instrument": PRIMARY[0], "scale": PRIMARY[1]})
    participants = pd.DataFrame({"participant": [p for p, _ in people],
                                 "group": [a for _, a in people]})  # fmt: skip
    if cluster is not None:
        participants["cluster"] = [cluster if a == "balint" else "" for _, a in people]
    res = analyse_outcomes(
        pd.DataFrame(rows), participants, timepoints=["pre", "post", "followup"],
        intervention="balint", control="control", primary=".".join(PRIMARY),
    )  # fmt: skip
    inputs = make_inputs()
    inputs.effects, inputs.emmeans, inputs.models = res.effects, res.emmeans, res.diagnostics
    return inputs


def test_real_fit_with_one_balint_group_is_worded_as_such() -> None:
    inputs = _fitted(cluster="G1")
    assert inputs.models["outcomes"][0]["cluster_term"] == "dropped_single_group"
    out = _render(inputs)
    assert CLUSTER_CAVEAT["dropped_single_group"] in out["head"]
    assert CLUSTER_LIMITATION["dropped_single_group"] in out["limitations"]
    assert FEW_GROUPS_PROSE not in out["all"] and HONEST_DF_PROSE not in out["all"]


def test_real_fit_without_cluster_column_is_worded_as_such() -> None:
    inputs = _fitted(cluster=None)
    assert inputs.models["outcomes"][0]["cluster_term"] == "no_cluster_column"
    out = _render(inputs)
    assert CLUSTER_CAVEAT["no_cluster_column"] in out["head"]
    assert HONEST_DF_PROSE not in out["methods"]


def test_real_fit_with_no_controls_at_followup() -> None:
    inputs = _fitted(cluster=None, controls_at_followup=False)
    out = _render(inputs)
    sentence = re.search(
        r"At follow-up no effect can be estimated: no comparison-group participants were "
        r"observed at follow-up\.",
        out["results"],
    )
    assert sentence is not None, out["results"][:2000]
    assert "did not converge" not in out["all"] and "no reason was recorded" not in out["all"]


def test_degenerate_outcome_is_not_modelled_not_a_convergence_failure() -> None:
    inputs = make_inputs()
    reason = "everyone has the same score on this outcome"
    dp = inputs.models["outcomes"][1]
    assert dp["scale"] == "depersonalization"
    dp.update(converged=False, degenerate=reason)
    for t in ("post", "followup"):
        _not_estimable(inputs, "depersonalization", t, reason)
    sel = inputs.effects["scale"] == "depersonalization"
    inputs.effects.loc[sel, "converged"] = False
    out = _render(inputs)
    assert (
        "At post no effect can be estimated: everyone has the same score on this outcome."
        in (out["results"])
    )
    assert (
        "mbi_hss.depersonalization was not modelled (everyone has the same score on this "
        "outcome)." in out["methods"]
    )
    assert (
        "Outcomes that could not be modelled, so no effect is reported: "
        "mbi_hss.depersonalization (everyone has the same score on this outcome)."
        in out["limitations"]
    )
    assert "did not converge" not in out["all"]


def test_small_arm_reason_does_not_say_how_small() -> None:
    inputs = make_inputs()
    _not_estimable(inputs, "depersonalization", "post", "fewer than 3 participants in the "
                   "comparison group")  # fmt: skip
    inputs.effects.loc[inputs.effects["scale"] == "depersonalization", "n_control"] = np.nan
    out = _render(inputs)
    assert "At post no effect can be estimated: too few participants in an arm." in out["results"]
    assert "fewer than 3" not in out["all"]
