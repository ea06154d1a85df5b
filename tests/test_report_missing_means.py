"""The drop-out section's estimated means under multiple imputation (``missing_emmeans.csv``)
beside the primary analysis's (``emmeans.csv``), their disclosure control and absent inputs, and
the ``variance_components`` column (refitted / held at MAR) in sentence, table and methods."""

from __future__ import annotations

import math
import re
from html import unescape

import pandas as pd
import pytest

from balint_analysis.report import render_report
from balint_analysis.report.missing import missing_methods_paragraph, missing_section
from balint_analysis.report.missing_means import means_rows, means_section, means_sentence
from balint_analysis.report.missing_variance import HELD_FOOTNOTE, held_at_mar
from balint_analysis.report.text import ScaleInfo

EE = ("mbi_hss", "emotional_exhaustion")
INFO = ScaleInfo("mbi_hss", "emotional_exhaustion", "Emotional exhaustion",
                 "Maslach Burnout Inventory (MBI-HSS)", "higher_is_worse", 0.0, 54.0)  # fmt: skip
ARMS = [("balint", "Balint group", "intervention"), ("control", "comparison group", "control")]
TPS = ["pre", "post"]


def primary_emmeans(control_post_n: int = 40) -> pd.DataFrame:
    """emmeans.csv of the primary model: n = answers at that timepoint."""
    rows = [("balint", "pre", 27.0, 24.8, 29.2, 60), ("balint", "post", 22.1, 17.6, 26.5, 50),
            ("control", "pre", 26.0, 23.8, 28.2, 58),
            ("control", "post", 25.5, 22.9, 28.1, control_post_n)]  # fmt: skip
    return pd.DataFrame([{"instrument": EE[0], "scale": EE[1], "group": g, "timepoint": t,
                          "mean": m, "ci_low": lo, "ci_high": hi, "n": n}
                         for g, t, m, lo, hi, n in rows])  # fmt: skip


def pooled_emmeans() -> pd.DataFrame:
    """missing_emmeans.csv by hand: MAR and jump to reference, FMI per cell."""
    rows = [("mar", "balint", "pre", 27.0, 24.7, 29.3, 0.01),
            ("mar", "balint", "post", 21.96, 17.4, 26.74, 0.234),
            ("mar", "control", "pre", 26.0, 23.7, 28.3, 0.012),
            ("mar", "control", "post", 25.44, 22.8, 28.1, 0.0949),
            ("jump_to_reference", "balint", "pre", 27.0, 24.7, 29.3, 0.01),
            ("jump_to_reference", "balint", "post", 23.26, 18.85, 27.66, 0.2),
            ("jump_to_reference", "control", "pre", 26.0, 23.7, 28.3, 0.012),
            ("jump_to_reference", "control", "post", 25.44, 22.8, 28.1, 0.0949)]  # fmt: skip
    return pd.DataFrame([{"instrument": EE[0], "scale": EE[1], "scenario": sc, "group": g,
                          "timepoint": t, "mean": m, "se": 1.0, "df": 20.0, "ci_low": lo,
                          "ci_high": hi, "fmi": f, "m": 50, "reason": math.nan}
                         for sc, g, t, m, lo, hi, f in rows])  # fmt: skip


def test_the_three_means_side_by_side():
    rows = means_rows(pooled_emmeans(), primary_emmeans(), EE, ARMS, TPS, min_cell=5)
    assert rows[1] == {"group": "Balint group", "timepoint": "post", "reason": "",
                       "primary": "22.1", "primary_ci": "17.6 to 26.5",
                       "mar": "22.0", "mar_ci": "17.4 to 26.7",
                       "j2r": "23.3", "j2r_ci": "18.9 to 27.7", "fmi": "23%"}  # fmt: skip
    assert [(r["group"], r["timepoint"], r["mar"], r["fmi"]) for r in rows] == [
        ("Balint group", "pre", "27.0", "1%"), ("Balint group", "post", "22.0", "23%"),
        ("Comparison group", "pre", "26.0", "1%"), ("Comparison group", "post", "25.4", "9%"),
    ]  # fmt: skip


def test_sentence_says_what_the_comparison_means():
    text = means_sentence(pooled_emmeans(), primary_emmeans(), EE, INFO, ARMS, "post", 5)
    assert text == (
        "If the participants who left had answered like similar participants who stayed, the "
        "estimated mean emotional exhaustion at post would be 22.0 in the Balint group and 25.4 "
        "in the comparison group; the primary analysis, which assumes the same, gives 22.1 and "
        "25.5. If those who left the Balint group had answered like the comparison group "
        "instead (jump to reference), the Balint group's mean would be 23.3."
    )


def test_a_small_arm_shows_no_mean():
    """Fewer than min_cell answers at post in the comparison group: none of its three means
    there (the pooled ones are built around those few answers), and no sentence about post."""
    emm = primary_emmeans(control_post_n=3)
    rows = means_rows(pooled_emmeans(), emm, EE, ARMS, TPS, min_cell=5)
    small = rows[3]
    assert (small["primary"], small["mar"], small["j2r"], small["fmi"]) == (
        "suppressed", "suppressed", "suppressed", "—")
    assert small["primary_ci"] == small["mar_ci"] == small["j2r_ci"] == ""
    assert "25.4" not in str(small) and "25.5" not in str(small)
    assert rows[2]["mar"] == "26.0"  # the same arm at pre, with 58 answers, is shown
    assert means_sentence(pooled_emmeans(), emm, EE, INFO, ARMS, "post", 5) == ""
    section = means_section(pooled_emmeans(), emm, order=[EE], infos={EE: INFO}, arms=ARMS,
                            timepoints=TPS, primary_timepoint="post", min_cell=5, run=True)
    assert section["tables"][0]["sentence"] == "" and section["j2r"]


def test_absent_file_columns_and_rows():
    kw = {"order": [EE], "infos": {EE: INFO}, "arms": ARMS, "timepoints": TPS,
          "primary_timepoint": "post", "min_cell": 5}  # fmt: skip
    absent = means_section(pd.DataFrame(), primary_emmeans(), run=True, **kw)
    assert absent["tables"] == [] and "missing_emmeans.csv is absent" in absent["absent"]
    no_mean = means_section(pooled_emmeans().drop(columns="mean"), primary_emmeans(), run=True,
                            **kw)  # fmt: skip
    assert no_mean["tables"] == [] and no_mean["absent"]
    off = means_section(pooled_emmeans(), primary_emmeans(), run=False, **kw)
    assert off == {"tables": [], "j2r": False, "absent": ""}
    # no fmi column: "—"; a cell whose number of answers is unknown is not shown
    rows = means_rows(pooled_emmeans().drop(columns="fmi"), primary_emmeans().drop(columns="n"),
                      EE, ARMS, TPS, min_cell=5)  # fmt: skip
    assert {r["fmi"] for r in rows} == {"—"} and {r["mar"] for r in rows} == {"—"}
    # single-arm: no jump-to-reference rows, no such column, no such clause
    mar_only = pooled_emmeans().query("scenario == 'mar' and group == 'balint'")
    single = means_section(mar_only, primary_emmeans(), run=True, **kw | {"arms": ARMS[:1]})
    assert not single["j2r"]
    assert single["tables"][0]["sentence"].endswith("would be 22.0 in the Balint group; the "
                                                    "primary analysis, which assumes the same, "
                                                    "gives 22.1.")  # fmt: skip


def test_a_pooled_mean_without_a_number_gives_its_reason():
    pooled = pooled_emmeans()
    at = (pooled["scenario"] == "mar") & (pooled["timepoint"] == "post") & (
        pooled["group"] == "balint")
    pooled.loc[at, ["mean", "ci_low", "ci_high"]] = math.nan
    pooled["reason"] = pooled["reason"].astype(object)
    pooled.loc[at, "reason"] = "the completed-data model did not converge"
    row = means_rows(pooled, primary_emmeans(), EE, ARMS, TPS, min_cell=5)[1]
    assert (row["mar"], row["mar_ci"], row["j2r"]) == ("—", "", "23.3")
    assert row["reason"] == "the completed-data model did not converge"


# --- variance components: refitted or held at the MAR analysis's ------------------------------


def frames(variance: str | None):
    sds = [-1.0, -0.5, 0.0, 0.5, 1.0]
    grid = pd.DataFrame({"instrument": EE[0], "scale": EE[1], "timepoint": "post",
                         "scenario": "delta_balint", "delta": [10 * d for d in sds],
                         "delta_sd": sds, "estimate": [-4.4 + 2 * d for d in sds],
                         "ci_low": [-8.3 + 2 * d for d in sds],
                         "ci_high": [-0.5 + 2 * d for d in sds],
                         "se": 1.9, "df": 30.0, "p_value": 0.03, "fmi": 0.2, "m": 50,
                         "reason": ""})  # fmt: skip
    mar = grid[grid["delta_sd"] == 0].assign(scenario="mar")
    tipping = pd.DataFrame([{"instrument": EE[0], "scale": EE[1], "timepoint": "post",
                             "scenario": "delta_balint", "tipping_delta": 3.1,
                             "tipping_delta_sd": 0.31, "direction": "worse", "baseline_sd": 10.0,
                             "reason": ""}])  # fmt: skip
    if variance is not None:
        tipping["variance_components"] = variance
        grid["variance_components"] = variance
        mar["variance_components"] = "refitted"
    effects = pd.DataFrame({"instrument": [EE[0]], "scale": [EE[1]], "timepoint": ["post"],
                            "primary_timepoint": [True], "n_intervention": [50],
                            "n_control": [40]})  # fmt: skip
    return pd.concat([mar, grid], ignore_index=True), tipping, effects


def section(variance: str | None) -> dict:
    missing_data, tipping, effects = frames(variance)
    return missing_section(missing_data, tipping, effects, order=[EE], infos={EE: INFO},
                           post=["post"], settings={"imputations": 50, "plausible_delta_sd": 0.5},
                           min_cell=5)  # fmt: skip


SENTENCE = ("Participants who left the Balint groups would have had to score, on average, 3.1 "
            "points (0.3 SD) worse on emotional exhaustion than similar participants who stayed "
            "for this result to lose its statistical support — within the 0.5 SD this report "
            "treats as the largest plausible difference, so drop-out could explain this "
            "result.")  # fmt: skip


def test_refitted_primary_needs_no_caveat():
    s = section("refitted")
    assert s["sentences"] == [SENTENCE]
    assert not s["rows"][0]["approx"] and s["held_note"] == ""
    assert missing_methods_paragraph(s).endswith(
        "At each δ the model's variances were estimated afresh, so the standard errors and "
        "tipping points allow for the shifted answers.")


@pytest.mark.parametrize("variance", ["held_at_mar", None])  # None: outputs before the column
def test_held_variances_are_approximate(variance):
    s = section(variance)
    assert s["sentences"] == [
        SENTENCE + " This is approximate: the standard error at each δ is that of the "
        "missing-at-random analysis, so the true tipping point may lie closer to zero or further "
        "from it."]
    assert s["rows"][0]["approx"] and s["held_note"] == HELD_FOOTNOTE
    assert HELD_FOOTNOTE.startswith("Approximate: the standard error at each δ is that of the "
                                    "missing-at-random analysis")
    assert "closer to zero or further from it" in HELD_FOOTNOTE  # held SEs err either way
    assert missing_methods_paragraph(s).endswith(
        "For every outcome the standard error at each δ is that of the missing-at-random "
        "analysis (the model's variances were not re-estimated, to save computing time); it can "
        "be too small or too large, so those tipping points are approximate and may lie closer to "
        "zero or further from it.")


def test_methods_text_names_the_refitted_and_the_held_outcomes():
    from balint_analysis.report.missing_variance import variance_sentence

    dp, pa = (ScaleInfo("mbi_hss", s, label, "MBI-HSS", "higher_is_worse", 0, 30)
              for s, label in [("dp", "Depersonalization"), ("pa", "Personal accomplishment")])
    assert variance_sentence([INFO], [dp]).startswith(
        "For emotional exhaustion the model's variances were estimated afresh at each δ; for "
        "depersonalization the standard error at each δ is that of the missing-at-random")
    assert variance_sentence([INFO], [dp, pa, dp]).startswith(
        "For emotional exhaustion the model's variances were estimated afresh at each δ; for "
        "the other outcomes the standard error")
    assert variance_sentence([], []) == ""


def test_held_at_mar_reads_the_column():
    assert held_at_mar({"variance_components": "held_at_mar"})
    assert held_at_mar({}) and held_at_mar({"variance_components": math.nan})
    assert not held_at_mar({"variance_components": "refitted"}) and not held_at_mar(None)


# --- the rendered section ---------------------------------------------------------------------


def test_rendered_section_shows_the_means_and_the_footnote():
    """The whole report from the shared fixture, with multiple-imputation outputs added: the
    means table in the drop-out section, the mixed refitted/held methods text, no leaks."""
    from test_report import make_config
    from test_report_sections import full_inputs

    cfg = make_config()
    inputs = full_inputs(cfg)
    missing_data, tipping, _effects = frames("refitted")
    dp = ("mbi_hss", "depersonalization")
    held = tipping.assign(scale=dp[1], variance_components="held_at_mar")
    inputs.missing_data = pd.concat([missing_data, missing_data.assign(scale=dp[1])])
    inputs.tipping = pd.concat([tipping, held], ignore_index=True)
    emm = inputs.emmeans
    pooled = emm[emm["instrument"] == "mbi_hss"].assign(scenario="mar", fmi=0.25, m=50, reason="")
    pooled["mean"] = pooled["mean"] + 0.3  # distinguishable from the primary means
    inputs.emmeans.loc[(emm["instrument"] == "mbi_hss") & (emm["group"] == "control")
                       & (emm["timepoint"] == "followup"), "n"] = 4  # fmt: skip
    inputs.missing_emmeans = pd.concat([pooled, pooled.assign(scenario="jump_to_reference")])
    html = render_report(inputs, cfg)
    sec = html[html.index('<section id="dropout"'):]
    sec = sec[: sec.index("</section>")]
    text = unescape(re.sub(r"<[^>]+>", "", sec))
    assert "Estimated means with and without the missing answers filled in" in text
    assert "would be 25.3 in the Balint group and 27.4 in the comparison group; the primary " \
        "analysis, which assumes the same, gives 25.0 and 27.1." in text
    assert "Balint drop-outs like the comparison group" in text
    # the comparison group at follow-up (4 answers) shows none of its three means, per outcome
    assert text.count("Comparison groupfollow-upsuppressedsuppressedsuppressed—") == 3
    assert text.count("suppressed") == 3 * 3  # three MBI-HSS scales × three means
    assert "Estimated means of the other outcomes" in text  # depersonalization, folded
    ee_row, dp_row = text.split("Emotional exhaustion (MBI-HSS)post")[1].split(
        "Depersonalization (MBI-HSS)post")[:2]
    assert "3.1 points (0.31 SD) worse" in ee_row and "†" not in ee_row  # refitted
    assert "3.1 points (0.31 SD) worse †" in dp_row  # held at MAR: footnoted
    assert "— †" not in text  # no footnote mark on a cell without a tipping point
    assert "† Approximate: the standard error at each δ" in text
    methods = html[html.index('id="methods"'):]
    assert "For emotional exhaustion the model's variances were estimated afresh at each δ; " \
        "for depersonalization the standard error at each δ is that of the missing-at-random" \
        in unescape(re.sub(r"<[^>]+>", "", methods))
