"""The report's "Could drop-out explain the result?" section: wording in the three situations
(robust to any plausible δ, tipping within the plausible range, null result), with multiple
imputation switched off, the first-screen caveat and the sensitivity-table rows."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from balint_analysis.report.missing import (
    missing_caveat,
    missing_section,
    missing_sensitivity_rows,
    tipping_sentence,
)
from balint_analysis.report.text import ScaleInfo

EE = ScaleInfo("mbi_hss", "emotional_exhaustion", "Emotional exhaustion",
               "Maslach Burnout Inventory (MBI-HSS)", "higher_is_worse", 0.0, 54.0)  # fmt: skip
SD = 10.0  # baseline SD: δ in points = 10 × δ in SD


def grid(estimate: float, half_width: float, slope: float = 2.0) -> pd.DataFrame:
    """delta_balint rows over -1..1 SD: the estimate moves by ``slope`` points per SD."""
    sds = [round(-1 + 0.5 * k, 1) for k in range(5)]
    return pd.DataFrame({
        "instrument": "mbi_hss", "scale": "emotional_exhaustion", "timepoint": "post",
        "scenario": "delta_balint", "delta": [SD * d for d in sds], "delta_sd": sds,
        "estimate": [estimate + slope * d for d in sds],
        "ci_low": [estimate + slope * d - half_width for d in sds],
        "ci_high": [estimate + slope * d + half_width for d in sds],
        "se": half_width / 2, "df": 30.0, "p_value": 0.01, "fmi": 0.2, "m": 50, "reason": "",
    })  # fmt: skip


def mar_row(estimate: float, half_width: float) -> dict:
    return {"estimate": estimate, "ci_low": estimate - half_width,
            "ci_high": estimate + half_width, "fmi": 0.2, "reason": ""}  # fmt: skip


def tip(delta: float | None, reason: str = "") -> dict:
    return {"tipping_delta": math.nan if delta is None else delta,
            "tipping_delta_sd": math.nan if delta is None else delta / SD, "reason": reason}


def test_tipping_beyond_the_plausible_range():
    text = tipping_sentence(EE, mar=mar_row(-4.4, 3.9), tipping=tip(7.8), grid=grid(-4.4, 3.9),
                            plausible_sd=0.5)  # fmt: skip
    assert text == (
        "Participants who left the Balint groups would have had to score, on average, 7.8 "
        "points (0.8 SD) worse on emotional exhaustion than similar participants who stayed for "
        "this result to lose its statistical support — larger than the 0.5 SD this report "
        "treats as the largest plausible difference, so drop-out is unlikely to explain it."
    )


def test_robust_over_the_whole_grid():
    text = tipping_sentence(EE, mar=mar_row(-8.0, 3.0), grid=grid(-8.0, 3.0),
                            tipping=tip(None, "the result kept its statistical support over "
                                        "the whole δ range"), plausible_sd=0.5)  # fmt: skip
    assert text == (
        "Even if participants who left the Balint groups had scored worse or better on "
        "emotional exhaustion than similar participants who stayed, by any difference of up to "
        "1.0 SD examined, this result would keep its statistical support — beyond the 0.5 SD "
        "this report treats as the largest plausible difference, so drop-out is unlikely to "
        "explain it."
    )


def test_tipping_within_the_plausible_range():
    text = tipping_sentence(EE, mar=mar_row(-4.4, 3.9), tipping=tip(3.1), grid=grid(-4.4, 3.9),
                            plausible_sd=0.5)  # fmt: skip
    assert text == (
        "Participants who left the Balint groups would have had to score, on average, 3.1 "
        "points (0.3 SD) worse on emotional exhaustion than similar participants who stayed for "
        "this result to lose its statistical support — within the 0.5 SD this report treats as "
        "the largest plausible difference, so drop-out could explain this result."
    )


def test_null_result():
    text = tipping_sentence(EE, mar=mar_row(-2.2, 4.9), tipping=tip(-6.5), grid=grid(-2.2, 4.9),
                            plausible_sd=0.5)  # fmt: skip
    assert text == (
        "This result has no statistical support; participants who left the Balint groups would "
        "have had to score, on average, 6.5 points (0.7 SD) better on emotional exhaustion than "
        "similar participants who stayed for this result to gain statistical support — larger "
        "than the 0.5 SD "
        "this report treats as the largest plausible difference."
    )


def test_direction_follows_the_scale():
    """On a scale where higher is better (WHO-5), a positive δ is "better"."""
    wellbeing = ScaleInfo("who5", "total", "Well-being", "WHO-5", "higher_is_better", 0, 25)
    text = tipping_sentence(wellbeing, mar=mar_row(3.0, 2.0), tipping=tip(-2.0),
                            grid=grid(3.0, 2.0), plausible_sd=0.5)  # fmt: skip
    assert "2.0 points (0.2 SD) worse on well-being" in text


def frames(mi_off: bool = False):
    rows = grid(-4.4, 3.9)
    mar = rows[rows["delta_sd"] == 0].assign(scenario="mar")
    j2r = mar.assign(scenario="jump_to_reference", estimate=-3.0, ci_low=-6.9, ci_high=0.9)
    missing_data = pd.concat([mar, j2r, rows], ignore_index=True)
    tipping = pd.DataFrame([{"instrument": "mbi_hss", "scale": "emotional_exhaustion",
                             "timepoint": "post", "scenario": "delta_balint", **tip(3.1),
                             "direction": "worse; loses significance", "baseline_sd": SD}])
    effects = pd.DataFrame({"instrument": ["mbi_hss"], "scale": ["emotional_exhaustion"],
                            "timepoint": ["post"], "primary_timepoint": [True],
                            "n_intervention": [52], "n_control": [50]})
    settings = {"imputations": 0 if mi_off else 50, "plausible_delta_sd": 0.5}
    return missing_data, tipping, effects, settings


def section(mi_off: bool = False, min_cell: int = 5) -> dict:
    missing_data, tipping, effects, settings = frames(mi_off)
    return missing_section(missing_data, tipping, effects,
                           order=[("mbi_hss", "emotional_exhaustion")],
                           infos={("mbi_hss", "emotional_exhaustion"): EE}, post=["post"],
                           settings=settings, min_cell=min_cell)  # fmt: skip


def test_section_figure_table_and_caveat():
    s = section()
    assert s["run"] and s["m"] == 50 and len(s["sentences"]) == 1
    assert s["sentences"][0].startswith("Participants who left the Balint groups would have "
                                        "had to score, on average, 3.1 points (0.3 SD) worse")
    assert s["rows"] == [{"outcome": "Emotional exhaustion (MBI-HSS)", "timepoint": "post",
                          "mar": "−4.4", "fmi": "20%", "balint": "3.1 points (0.31 SD) worse",
                          "both": "—", "main": True, "approx": True}]  # fmt: skip
    # The figure: one dot per δ, the zero line, the tipping point at δ = 0.31 SD.
    assert s["figure"].count("<circle") == 5 + 1  # + the legend's marker
    assert "tipping point +0.31 SD" in s["figure"]
    caveat = "Missing answers: by follow-up, 30% had not answered; the analysis assumes ..."
    out = missing_caveat(["Not randomised: ...", caveat], s)
    assert out[1] == (
        "Missing answers: by follow-up, 30% had not answered; the result would lose its "
        "statistical support only if those who left the Balint groups had scored, on average, "
        "3.1 points (0.3 SD) worse than similar participants who stayed, within the 0.5 SD "
        "treated as plausible (see “Could drop-out explain the result?”)."
    )


def test_imputations_zero_says_not_run():
    s = section(mi_off=True)
    assert not s["run"] and not s["figure"] and not s["rows"]
    assert s["sentences"] == [
        "Multiple imputation was switched off in this run's configuration "
        "(missing_data.imputations: 0), so this report cannot say how different the "
        "participants who left would have had to be to change the result."
    ]
    assert missing_caveat(["Missing answers: x; y"], s) == ["Missing answers: x; y"]


def test_sensitivity_rows_beside_the_primary_analysis():
    missing_data, _tipping, _effects, _settings = frames()
    sens = pd.DataFrame([{"instrument": "mbi_hss", "scale": "emotional_exhaustion",
                          "timepoint": "post", "analysis": "primary_lmm", "estimate": -4.4,
                          "se": 2.3, "df": 15.7, "ci_low": -9.2, "ci_high": 0.4,
                          "p_value": 0.07, "n_intervention": 52, "n_control": 50,
                          "converged": True, "note": ""}])  # fmt: skip
    directions = {("mbi_hss", "emotional_exhaustion"): "higher_is_worse"}
    rows = missing_sensitivity_rows(missing_data, sens, 0.5, directions)
    assert list(rows["analysis"]) == ["mi_mar", "mi_jump_to_reference", "mi_delta_balint"]
    assert list(rows["estimate"]) == pytest.approx([-4.4, -3.0, -3.4])  # δ = +0.5 SD: -4.4 + 1
    assert rows["note"].iloc[2] == ("Balint drop-outs' imputed scores shifted by 5.0 points (0.5 "
                                    "SD); approximate: the standard error of the missing-at-random "
                                    "analysis")
    refitted = missing_data.assign(variance_components="refitted")
    rows = missing_sensitivity_rows(refitted, sens, 0.5, directions)
    assert rows["note"].iloc[2] == "Balint drop-outs' imputed scores shifted by 5.0 points (0.5 SD)"
    assert list(rows["n_intervention"]) == [52, 52, 52]


def test_small_groups_are_withheld():
    """Disclosure control as in the sensitivity table: no estimate, no tipping point, no figure."""
    s = section(min_cell=51)  # the comparison group has 50
    assert s["sentences"] == ["No tipping point is shown for emotional exhaustion: a group has "
                              "fewer than 51 participants."]  # fmt: skip
    assert not s["figure"] and s["rows"][0]["mar"] != "−4.4" and s["rows"][0]["balint"] == "—"


def test_methods_paragraph():
    from balint_analysis.report.missing import missing_methods_paragraph

    text = missing_methods_paragraph(section())
    assert "50 times" in text and "Rubin's rules (Barnard–Rubin degrees of freedom)" in text
    assert missing_methods_paragraph(section(mi_off=True)) == ""


def test_caveat_clause_in_the_other_situations():
    from balint_analysis.report.missing import caveat_clause

    robust = caveat_clause(EE, mar=mar_row(-8.0, 3.0), tipping=tip(None), grid=grid(-8.0, 3.0),
                           plausible_sd=0.5)  # fmt: skip
    assert robust == ("even a difference of 1.0 SD between those who left the Balint groups and "
                      "similar participants who stayed would leave the result its statistical "
                      "support")  # fmt: skip
    null_robust = caveat_clause(EE, mar=mar_row(-2.2, 4.9), tipping=tip(None),
                                grid=grid(-2.2, 4.9), plausible_sd=0.5)  # fmt: skip
    assert null_robust == ("even a difference of 1.0 SD between those who left the Balint groups "
                           "and similar participants who stayed would not give the result "
                           "statistical support")  # fmt: skip
    null = caveat_clause(EE, mar=mar_row(-2.2, 4.9), tipping=tip(-6.5), grid=grid(-2.2, 4.9),
                         plausible_sd=0.5)  # fmt: skip
    assert null == ("the result would gain statistical support only if those who left the "
                    "Balint groups had scored, on average, 6.5 points (0.7 SD) better than "
                    "similar participants who stayed, beyond the 0.5 SD treated as "
                    "plausible")  # fmt: skip
