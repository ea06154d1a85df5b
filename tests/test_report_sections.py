"""The report's sections fed by the model stage's optional files, from known inputs.

Fixtures for ``sensitivity.csv``, ``clinical.csv``, ``cutoffs.csv``, ``dose.csv``, ``items.csv``
and ``flags.csv`` (columns exactly as agreed with the model stage), plus the single-arm and the
failed-model wording. The base inputs come from ``test_report.py``.
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report import (
    EVIL,
    SCALES,
    TPS,
    _write_processed,
    make_config,
    make_inputs,
    text_of,
)

from balint_analysis.config import StudyConfig
from balint_analysis.report import ReportInputs, load_inputs, render_report
from balint_analysis.report.clinical import hidden_counts

ANALYSES = ("primary_lmm", "ancova", "complete_case_lmm", "lmm_without_cluster",
            "lmm_residual_by_arm")  # fmt: skip
#: (estimate, ci_low, ci_high) at follow-up for the primary outcome, per analysis.
EE_FU = {
    "primary_lmm": (-3.9, -6.6, -1.2),
    "ancova": (-3.5, -6.0, -1.0),
    "complete_case_lmm": (-4.2, -7.9, -0.5),
    "lmm_without_cluster": (-3.8, -5.9, -1.7),
    "lmm_residual_by_arm": (-3.7, -6.7, -0.7),
}
PERSON = "p0123456789abcdef"  # a pseudonym that must never reach the report


def sensitivity(arms: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    for inst, scale in SCALES:
        for t in ("post", "followup"):
            for k, a in enumerate(ANALYSES):
                est, lo, hi = (
                    EE_FU[a]
                    if (scale, t) == ("emotional_exhaustion", "followup")
                    else (-1.0 - 0.1 * k, -3.0, 1.0)
                )
                rows.append(
                    {"instrument": inst, "scale": scale, "timepoint": t, "analysis": a,
                     "estimate": est, "se": (hi - lo) / 4, "df": 12.0, "ci_low": lo,
                     "ci_high": hi, "p_value": 0.01 if hi < 0 else 0.3,
                     "n_intervention": 40 if a == "complete_case_lmm" else 44,
                     "n_control": np.nan if len(arms) == 1 else 46, "converged": True,
                     "note": ""}
                )  # fmt: skip
    df = pd.DataFrame(rows)
    pss = (df["scale"] == "total") & (df["analysis"] == "lmm_residual_by_arm")
    df.loc[pss, ["converged", "estimate", "note"]] = [False, np.nan, f"singular fit {EVIL}"]
    dp = (df["scale"] == "depersonalization") & (df["analysis"] == "complete_case_lmm")
    df.loc[dp, "n_intervention"] = 4  # too few complete cases: suppressed
    return df


def clinical(arms: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    for inst, scale in SCALES:
        for t in ("post", "followup"):
            for g in arms:
                imp, unc, det = (12, 28, 5) if g == "balint" else (6, 34, 6)
                if scale == "depersonalization" and g != "balint":
                    imp, unc, det = 1, 2, 1  # a group of 4: suppressed entirely
                n = imp + unc + det
                rows.append(
                    {"instrument": inst, "scale": scale, "timepoint": t, "group": g, "n": n,
                     "improved": imp, "unchanged": unc, "deteriorated": det,
                     "share_improved": imp / n, "share_unchanged": unc / n,
                     "share_deteriorated": det / n, "s_diff": 3.0, "reliability": 0.91}
                )  # fmt: skip
    return pd.DataFrame(rows)


def cutoffs(arms: tuple[str, ...]) -> pd.DataFrame:
    # EE categories low < moderate < high, higher = worse.
    moves = {
        "balint": {("high", "high"): 10, ("high", "moderate"): 8, ("moderate", "low"): 6,
                   ("moderate", "moderate"): 12, ("low", "low"): 6, ("low", "moderate"): 2},
        "control": {("high", "high"): 15, ("high", "moderate"): 5, ("moderate", "high"): 6,
                    ("moderate", "moderate"): 14, ("low", "low"): 6},
    }  # fmt: skip
    rows = [
        {"instrument": "mbi_hss", "scale": "emotional_exhaustion", "timepoint": t, "group": g,
         "from_category": f, "to_category": to, "n": n}
        for t in ("post", "followup") for g in arms for (f, to), n in moves[g].items()
    ]  # fmt: skip
    return pd.DataFrame(rows)


def dose() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"instrument": i, "scale": s, "timepoint": t, "n": 44 if t == "followup" else 48,
             "slope": -0.42 if s == "emotional_exhaustion" else 0.05, "se": 0.2, "df": 42.0,
             "ci_low": -0.83 if s == "emotional_exhaustion" else -0.35,
             "ci_high": -0.01 if s == "emotional_exhaustion" else 0.45,
             "p_value": 0.045, "note": ""}
            for i, s in SCALES for t in ("post", "followup")
        ]
    )  # fmt: skip


def items() -> pd.DataFrame:
    rows = []
    for inst, n_items in (("mbi_hss", 22), ("pss10", 10)):
        for t in ("pre", "post", "followup"):
            for k in range(1, n_items + 1):
                rows.append(
                    {"instrument": inst, "item": k, "timepoint": t, "n": 100, "mean": 3.0,
                     "sd": 1.2, "missing_share": 0.05 if k == 7 else 0.01,
                     "floor_share": 0.29 if (inst, k) == ("mbi_hss", 5) else 0.02,
                     "ceiling_share": 0.30 if (inst, k) == ("mbi_hss", 17) else 0.03}
                )  # fmt: skip
    return pd.DataFrame(rows)


def careless() -> pd.DataFrame:
    """careless.csv as validate writes it: 6 longstring responses at pre, 2 too fast at post."""
    rows = [("balint", "pre", "longstring", k) for k in range(6)]
    rows += [("control", "post", "too fast", k) for k in range(2)]
    return pd.DataFrame(
        [{"source": "data/raw/demo/pre_qualtrics.csv", "row": 10 + k, "timepoint": t, "group": g,
          "flag": f, "instrument": "pss10" if f == "longstring" else "", "value": "10",
          "threshold": ">= 10 of 10 items"} for g, t, f, k in rows]
    )  # fmt: skip


def flags(arms: tuple[str, ...]) -> pd.DataFrame:
    """flags.csv as the score stage writes it (scoring.FLAG_COLUMNS)."""
    counts = {("balint", "post"): (50, 2), ("balint", "followup"): (8, 6),
              ("control", "followup"): (4, 0)}  # fmt: skip
    return pd.DataFrame(
        [
            {"instrument": "phq9", "flag": "item9_self_harm", "group": g, "timepoint": t,
             "n_responses": counts.get((g, t), (50, 6))[0],
             "n_flagged": counts.get((g, t), (50, 6))[1]}
            for g in arms for t in ("pre", "post", "followup")
        ]
    )  # fmt: skip


def full_inputs(config: StudyConfig | None = None) -> ReportInputs:
    """make_inputs() plus every optional aggregate file of the model stage."""
    config = config or make_config()
    arms = config.design.groups
    inputs = make_inputs(config)
    inputs.sensitivity = sensitivity(arms)
    inputs.clinical = clinical(arms)
    inputs.cutoffs = cutoffs(arms)
    inputs.dose = dose()
    inputs.items = items()
    inputs.flags = flags(arms)
    inputs.careless = careless()
    inputs.flow["files"][0].update(
        format_detected=False, container="text", decimal=",", header_rows=3,
        duplicate_headers=["Q5_TEXT"], user_missing_set_blank={"MBI_1": 2, "MBI_2": 1},
        recoded_by_value_labels=["MBI_1", "MBI_2"], choice_text_mapped=4, mojibake_suspected=True,
    )  # fmt: skip
    inputs.flow["code_matching"] = {
        "method": "tolerant", "pattern": "^[A-Z]{2}\\d{2}[A-Z]$", "max_distance": 1,
        "anchors": "roster",
        "by_timepoint": {t: {"exact": 50, "after_normalising": 2, "fuzzy": 1, "unmatched": 1,
                             "invalid_code": 0} for t in ("pre", "post", "followup")},
        "fuzzy_matches": [{"source": "data/raw/demo/post_followup_redcap.csv", "row": 7,
                           "timepoint": "post", "distance": 1, "edit": "transposition"}],
    }  # fmt: skip
    inputs.flow["rows_by_group_timepoint"] = {
        g: {t: {"rows_in": 60, "rows_accepted": 58, "rows_rejected": 2} for t in TPS}
        for g in (*arms, "unknown")
    }
    inputs.flow["files"][0]["submitted_by_timepoint"] = {
        "pre": {"first": "2026-01-12T08:01:00", "last": "2026-02-03T17:45:00"}
    }
    return inputs


@pytest.fixture(scope="module")
def html() -> str:
    return render_report(full_inputs(), make_config())


def section(html: str, sid: str) -> str:
    """Visible text of one top-level section."""
    m = re.search(rf'<section id="{sid}".*?(?=<section id="(?!outcome|sens-|rci-))', html, re.S)
    assert m, sid
    return html_lib.unescape(text_of(m.group(0)))


# --------------------------------------------------------------------------- sensitivity


def test_sensitivity_side_by_side(html: str) -> None:
    t = section(html, "sensitivity")
    for label in (
        "Primary: mixed model, all available answers",
        "ANCOVA: later score adjusted for baseline",
        "Mixed model, complete cases only",
        "Mixed model without the Balint-group effect",
        "Mixed model, residual variance per arm",
    ):
        assert t.count(label) == 4, label  # one table per outcome
    ee = t.split("Emotional exhaustion (MBI-HSS)", 1)[1].split("Depersonalization")[0]
    assert "−3.5 (−6.0 to −1.0)" in ee and "−4.2 (−7.9 to −0.5)" in ee
    assert "p 0.010 · n 44 / 46" in ee and "n 40 / 46" in ee
    assert (
        "At follow-up, the 5 analyses give estimates from −4.2 to −3.5 points; all point in "
        "the same direction as the primary analysis. Confidence intervals (95%) that exclude "
        "zero: 5 of 5." in ee
    )


def test_sensitivity_suppressed_and_failed(html: str) -> None:
    t = section(html, "sensitivity")
    dp = t.split("Depersonalization (MBI-HSS)", 1)[1].split("Personal accomplishment")[0]
    assert "suppressed n <5 / 46" in dp
    pss = t.split("(PSS-10)", 1)[1]
    assert "did not converge" in pss and "singular fit" in pss
    assert EVIL not in html and "singular fit &lt;script&gt;" in html
    assert "The 4 analyses give" not in pss  # only converged analyses are compared
    assert "At post, the 4 analyses give estimates" in pss


def test_sensitivity_disagreement_becomes_a_limitation() -> None:
    cfg = make_config()
    inputs = full_inputs(cfg)
    s = inputs.sensitivity
    s.loc[(s["scale"] == "depersonalization") & (s["analysis"] == "ancova"), "estimate"] = 0.8
    out = text_of(render_report(inputs, cfg))
    assert "they do not all point in the same direction, so the answer depends on" in out
    assert (
        "The direction of the effect depends on the analysis choices for: Depersonalization "
        "(MBI-HSS) (see Sensitivity analyses)." in out
    )
    assert "The answer depends on how it is analysed" not in out  # not the main outcome
    ee = (s["scale"] == "emotional_exhaustion") & (s["timepoint"] == "followup")
    s.loc[ee & (s["analysis"] == "ancova"), "estimate"] = 0.4
    head = text_of(render_report(inputs, cfg).split('id="flow"')[0])
    assert (
        "The answer depends on how it is analysed: at follow-up, the 5 analyses give estimates "
        "from −4.2 to 0.4 points, not all in the same direction (see Sensitivity analyses)." in head
    )


# --------------------------------------------------------------------------- clinical meaning


def test_reliable_change(html: str) -> None:
    t = section(html, "clinical")
    ee = t.split("Emotional exhaustion (MBI-HSS)", 1)[1].split("Depersonalization")[0]
    assert (
        "By follow-up, in the Balint group 27% improved and 11% deteriorated; in the comparison "
        "group 13% improved and 13% deteriorated reliably" in ee
    )
    assert "follow-up Balint group 45 12 (27%) 28 (62%) 5 (11%) 5.9" in ee


def test_reliable_change_suppression(html: str) -> None:
    t = section(html, "clinical")
    dp = t.split("Depersonalization (MBI-HSS)", 1)[1].split("Personal accomplishment")[0]
    assert "Comparison group <5 suppressed" in dp
    assert "2 (50%)" not in dp


def test_hidden_counts_secondary_suppression() -> None:
    assert hidden_counts({"a": 3, "b": 40, "c": 7}, 5) == {"a", "c"}
    assert hidden_counts({"a": 3, "b": 40, "c": 2}, 5) == {"a", "c"}
    assert hidden_counts({"a": 0, "b": 40, "c": 7}, 5) == set()


def test_cutoff_movement(html: str) -> None:
    t = section(html, "clinical")
    cut = t.split("Movement across published cut-offs")[1]
    # Balint: better = high→moderate 8 + moderate→low 6 = 14; same 10+12+6; worse low→moderate
    # 2 → "<5", and 14 with it as "hidden" (secondary suppression: n − same = better + worse;
    # 14 is not below 5, so it must not read "<5")
    assert "post Balint group 44 hidden 28 (64%) <5 18 (41%) → 10 (23%)" in cut
    # control: better 5, same 35, worse 6; "high" 20 → 21
    assert "post Comparison group 46 5 (11%) 35 (76%) 6 (13%) 20 (43%) → 21 (46%)" in cut
    assert "categories low / moderate / high" in cut


def test_flags_are_aggregated_and_suppressed() -> None:
    cfg = make_config()
    inputs = full_inputs(cfg)
    out = render_report(inputs, cfg)
    t = section(out, "clinical").split("Safety item (aggregated)")[1]
    assert "answers flagged" in t
    assert "phq9 item9_self_harm Balint group post 50 <5" in t  # 2 flagged
    assert "phq9 item9_self_harm Comparison group post 50 6" in t
    # 6 of 8 flagged: fewer than 5 not flagged, so the count would disclose nearly everyone
    assert "phq9 item9_self_harm Balint group follow-up 8 hidden" in t
    # 4 answers: the flagged count is hidden whatever its size (it may be 0 or 4)
    assert "phq9 item9_self_harm Comparison group follow-up <5 hidden" in t
    # per-person rows are counted, never listed
    inputs.flags = pd.DataFrame(
        {"participant": [PERSON] * 3 + ["p2", "p3", "p4", "p5", "p6"],
         "group": ["balint"] * 8, "timepoint": ["post"] * 8}
    )  # fmt: skip
    out = render_report(inputs, cfg)
    assert PERSON not in out
    assert "— Balint group post 8" in section(out, "clinical")


# --------------------------------------------------------------------------- dose, items, dates


def test_dose(html: str) -> None:
    t = section(html, "dose")
    assert "Observational." in t
    assert (
        "Among Balint participants with attendance recorded (n = 44), each additional session "
        "attended went with a change in emotional exhaustion of −0.42 points from pre to "
        "follow-up (95% CI −0.83 to −0.01; scale 0–54, higher = worse)." in t
    )
    assert "does not show that more sessions cause more change" in text_of(html)


def test_items_compact(html: str) -> None:
    t = section(html, "instruments").split("Item-level quality")[1]
    # the median item has 1 of 100 answers missing: a share standing for a count below 5
    assert "median <5 answers, highest 5.0% (item 7)" in t
    assert (
        "MBI-HSS pre 100 median <5 answers, highest 5.0% (item 7) 1 of 22 (most: item 5, 29%) "
        "1 of 22 (most: item 17, 30%)" in t
    )
    assert t.index("MBI-HSS") < t.index("PSS-10")


def test_response_dates(html: str) -> None:
    assert "pre: 2026-01-12 to 2026-02-03" in section(html, "flow")
    assert "08:01" not in html


def test_methods_describe_what_ran(html: str) -> None:
    t = section(html, "methods")
    assert "Sensitivity analyses, shown beside the primary result: Primary: mixed model" in t
    assert "Jacobson–Truax reliable change index" in t
    assert "regressed on the number of sessions attended" in t


# --------------------------------------------------------------------------- wording


def test_single_arm_wording() -> None:
    cfg = make_config(control=None)
    out = text_of(render_report(full_inputs(cfg), cfg))
    assert "Single-arm before/after study (no comparison group)" in out
    assert (
        "From pre to follow-up, emotional exhaustion in the Balint group fell by 3.9 points "
        "(change −3.9 points, 95% CI −6.6 to −1.2; scale 0–54, higher = worse)." in out
    )
    assert (
        "With no comparison group, the change cannot be attributed to the Balint groups: time, "
        "regression to the mean or other events could explain it." in out
    )
    assert "than in the comparison group" not in out and "Comparison group" not in out
    assert "p 0.010 · n 44 " in out and "n 44 / " not in out


def _failed_inputs(cfg: StudyConfig) -> ReportInputs:
    inputs = full_inputs(cfg)
    eff = inputs.effects
    ee = eff["scale"] == "emotional_exhaustion"
    eff.loc[ee, ["estimate", "se", "ci_low", "ci_high", "p_value", "d_ppc2"]] = np.nan
    eff.loc[ee, "converged"] = False
    m = inputs.models["outcomes"][0]
    m.update(
        converged=False,
        warnings=["Hessian not positive definite"],
        attempts=[{"fit": "lbfgs", "ok": False, "error": "singular matrix"}],
    )
    return inputs


def test_failed_model_wording() -> None:
    cfg = make_config()
    out = render_report(_failed_inputs(cfg), cfg)
    head = text_of(out.split('id="flow"')[0])
    assert (
        "The statistical model for the main outcome, emotional exhaustion, did not converge, so "
        "no effect is reported. Reason recorded by the model stage: Hessian not positive "
        "definite; singular matrix." in head
    )
    assert "The statistical model for the main outcome did not converge" in head  # caveat
    assert "points difference in change" not in head and "fell by" not in head
    res = text_of(out.split('id="outcome-mbi-hss-emotional-exhaustion"')[1].split("<section")[0])
    assert (
        "The statistical model for emotional exhaustion did not converge, so no effect is "
        "reported." in res
    )
    assert "not reported model did not converge" in res
    assert "Models that did not converge (numbers unreliable): mbi_hss.emotional_exhaustion." in (
        text_of(out)
    )


def test_nonconverged_numbers_are_not_headlined() -> None:
    cfg = make_config()
    inputs = make_inputs(cfg)
    inputs.effects.loc[inputs.effects["scale"] == "emotional_exhaustion", "converged"] = False
    head = text_of(render_report(inputs, cfg).split('id="flow"')[0])
    assert "did not converge, so no effect is reported" in head
    assert "3.9" not in head


# --------------------------------------------------------------------------- files


def _write_all(d: Path, inputs: ReportInputs) -> None:
    _write_processed(d, inputs)
    for name in ("sensitivity", "clinical", "cutoffs", "dose", "items", "flags", "careless"):
        getattr(inputs, name).to_csv(d / f"{name}.csv", index=False)


def test_load_inputs_optional_files(tmp_path: Path) -> None:
    cfg = make_config()
    _write_all(tmp_path / "p", full_inputs(cfg))
    loaded = load_inputs(tmp_path / "p")
    assert len(loaded.sensitivity) == 40 and len(loaded.careless) == 8
    assert loaded.sensitivity["note"].dropna().tolist() == [f"singular fit {EVIL}"] * 2
    names = {f["path"] for f in loaded.provenance["processed"]}
    assert {"sensitivity.csv", "clinical.csv", "dose.csv", "flags.csv"} <= names
    out = text_of(render_report(loaded, cfg))
    assert "not available in this run" not in out
    assert "−3.5 (−6.0 to −1.0)" in out
    for name in ("sensitivity", "clinical", "cutoffs", "dose", "items", "flags", "careless"):
        (tmp_path / "p" / f"{name}.csv").unlink()
    loaded = load_inputs(tmp_path / "p")
    assert loaded.sensitivity.empty and loaded.flags.empty
    out = text_of(render_report(loaded, cfg))
    for what in ("Item-level statistics", "Careless-responding flags"):
        assert f"{what} are not available in this run" in out, what
    # sections with nothing to say are omitted (issue 15), with their entries in the contents
    for heading in ("Sensitivity analyses", "Clinical meaning", "Cut-off", "Dose:"):
        assert heading not in out, heading
    assert "Safety item" not in out


def test_full_report_has_no_small_counts_or_people(html: str) -> None:
    assert PERSON not in html
    assert not re.search(r"https?://", html)
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "duplicate ids"


def test_methods_name_the_estimation_engine():
    from balint_analysis.report.model_facts import engine_words as _engine_words

    fast = {"optimizer": "Newton on exact REML derivatives (fast path)"}
    reference = {"optimizer": "bfgs"}
    assert _engine_words([fast]) == " (Newton's method on the exact REML derivatives)"
    assert "statsmodels MixedLM" in _engine_words([reference])
    both = _engine_words([fast, reference])
    assert both.startswith(" (Newton's method") and "where it could not certify" in both
    assert _engine_words([{}]) == ""


def test_residual_sd_note_withheld_when_an_arm_is_small() -> None:
    cfg = make_config()
    inputs = make_inputs(cfg)
    sens = sensitivity(("balint", "control"))
    het = sens["analysis"] == "lmm_residual_by_arm"
    sens.loc[het, "note"] = "residual SD control 1.58, balint 1.97"
    inputs.sensitivity = sens
    assert "residual SD control 1.58, balint 1.97" in text_of(render_report(inputs, cfg))
    sens.loc[sens["timepoint"] == "post", "n_control"] = 3
    out = text_of(render_report(inputs, cfg))
    assert "1.58" not in out and "1.97" not in out
    assert "details withheld: an arm has fewer than 5 people" in out


def test_per_arm_variance_components_of_a_small_arm_are_withheld() -> None:
    from balint_analysis.report.methods import model_rows

    models = {"outcomes": [{"instrument": "mbi_hss", "scale": "emotional_exhaustion",
                            "variance_components": {"participant": 4.2, "residual_control": 2.5,
                                                    "residual_balint": 3.9}}]}  # fmt: skip
    assert model_rows(models, {"balint": 30, "control": 31}, 5)[0]["vc"] == (
        "participant 4.20; residual_control 2.50; residual_balint 3.90"
    )
    assert model_rows(models, {"balint": 30, "control": 3}, 5)[0]["vc"] == (
        "participant 4.20; residual_control suppressed; residual_balint 3.90"
    )


def test_small_balint_group_size_reads_below_five() -> None:
    cfg = make_config()
    inputs = make_inputs(cfg)
    part = inputs.participants
    idx = part.index[part["group"] == "balint"]
    part.loc[idx, "cluster"] = "grp0"
    part.loc[idx[:3], "cluster"] = "grp1"  # a Balint group of 3
    out = text_of(render_report(inputs, cfg))
    # "<5–27" beside the arm's 30 gave the 3 away: the sizes are hidden together.
    assert "2 Balint group(s); participants per group: hidden (at least one below 5)." in out


def test_report_has_the_disclosure_legend(html: str) -> None:
    t = text_of(html)
    assert "Disclosure control" in t
    assert "“hidden”: a count of any size, withheld only so that a “&lt;5” count" in t


def test_item_share_standing_for_a_small_count_is_not_shown() -> None:
    from balint_analysis.report.disclosure import share_label

    assert share_label(0.29, 14, 5) == "<5 answers"  # 4 people
    assert share_label(0.79, 14, 5) == "all but <5 answers"  # 11 of 14: 3 did not
    assert share_label(0.29, 100, 5) == "29%"
    assert share_label(0.0, 14, 5) == "0%"
    assert share_label(0.05, 100, 5, 1) == "5.0%"


def test_no_answers_reads_zero_not_a_small_count() -> None:
    """A row with no answers describes nobody: 0, never "<5" (which means 1 to 4)."""
    from balint_analysis.report.clinical import flags_section

    flags = pd.DataFrame({"instrument": ["phq9"], "flag": ["item9"], "group": ["balint"],
                          "timepoint": ["pre"], "n_responses": [0], "n_flagged": [0]})  # fmt: skip
    section = flags_section(flags, make_config(), [("balint", "Balint group", "#000")], ["pre"],
                            5)  # fmt: skip
    cells = [c for row in section["rows"] for c in row["cells"]]
    assert cells and "<5" not in cells and set(cells) == {"0"}


def test_a_small_balint_group_size_cannot_be_worked_out_from_the_arm_size() -> None:
    """Groups of 3 and 9 in an arm of 12: "<5–9" beside n = 12 would give the 3 away."""
    from balint_analysis.report.tables import baseline_table

    people = pd.DataFrame({"participant": [f"p{i}" for i in range(17)],
                           "group": ["balint"] * 12 + ["control"] * 5,
                           "cluster": ["G1"] * 3 + ["G2"] * 9 + [None] * 5})  # fmt: skip
    scores = pd.DataFrame(columns=["participant", "group", "timepoint", "instrument", "scale",
                                   "score"])  # fmt: skip
    arms = [("balint", "Balint group", "a"), ("control", "Comparison group", "b")]
    table = baseline_table(people, scores, arms, "pre", [], 5)
    assert table["clusters"] == {"n": "2", "sizes": "hidden (at least one below 5)"}
    people.loc[people["cluster"] == "G1", "cluster"] = "G2"  # one group of 12: nothing small
    assert baseline_table(people, scores, arms, "pre", [], 5)["clusters"]["sizes"] == "12"
