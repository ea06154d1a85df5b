"""Data-quality details, careless-responding counts, code matching, per-scale missing rules and
derived scales in the report, from known inputs (exact content and small-cell suppression)."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import numpy as np
import pandas as pd
from test_report import TPS, _write_processed, make_config, make_inputs, text_of
from test_report_sections import section

from balint_analysis.report import load_inputs, render_report
from balint_analysis.report.descriptive import derived_from, split_outcomes
from balint_analysis.report.quality import (
    careless_section,
    code_matching,
    file_details,
    rows_by_group_timepoint,
    withheld_sentence,
)

ARMS = [("balint", "Balint group", "intervention"), ("control", "comparison group", "control")]
SAV = {
    "source": "raw/s.sav", "kind": "export", "format": "generic", "format_detected": True,
    "variant": "sav", "container": "sav", "encoding": "UTF-8", "delimiter": "", "decimal": ".",
    "header_rows": 1, "user_missing_set_blank": {"PSS_2": 2, "PSS_1": 1},
    "recoded_by_value_labels": ["PSS_1", "PSS_2", "PSS_3"], "choice_text_mapped": 0,
}  # fmt: skip
XLSX = {
    "source": "raw/wb.xlsx", "format": "microsoft_forms", "format_detected": True,
    "variant": "xlsx", "container": "xlsx", "encoding": "xlsx", "delimiter": "", "decimal": ".",
    "header_rows": 1, "sheet": "Wave 1", "duplicate_headers": ["Comment"],
}  # fmt: skip
CSV = {
    "source": "raw/q.csv", "format": "qualtrics", "format_detected": False,
    "variant": "current (choice text)", "container": "text", "encoding": "cp1250",
    "delimiter": ";", "decimal": ",", "header_rows": 3, "choice_text_mapped": 12,
    "mojibake_suspected": True,
}  # fmt: skip
CODE = "BM30Z"  # a participant code: never in the report


def careless() -> pd.DataFrame:
    """careless.csv as validate writes it (validate.careless.FLAG_COLUMNS)."""
    rows = []

    def add(n: int, flag: str, g: str, t: str, inst: str = "pss10", start: int = 0) -> None:
        for k in range(n):
            rows.append({"source": f"raw/{t}.csv", "row": 100 + start + k, "timepoint": t,
                         "group": g, "flag": flag, "instrument": inst, "value": "10",
                         "threshold": ">= 10 of 10 items"})  # fmt: skip

    add(7, "longstring", "balint", "pre")
    add(3, "longstring", "balint", "pre", inst="mbi_hss")  # same responses: counted once
    add(2, "longstring", "control", "pre", start=50)
    add(6, "too fast", "control", "post", inst="")
    add(1, "participant code matched tolerantly", "balint", "post", inst="", start=90)
    return pd.DataFrame(rows)


def tolerant_flow() -> dict:
    return {
        "method": "tolerant", "pattern": "^[A-Z]{2}\\d{2}[A-Z]$", "max_distance": 1,
        "anchors": "roster",
        "by_timepoint": {
            "post": {"exact": 50, "after_normalising": 3, "fuzzy": 3, "unmatched": 1,
                     "invalid_code": 0},
            "pre": {"exact": 58, "after_normalising": 1, "fuzzy": 0, "unmatched": 0,
                    "invalid_code": 2},
        },
        "fuzzy_matches": [
            {"source": "raw/post.csv", "row": 7, "timepoint": "post", "distance": 1,
             "edit": "transposition"},
            {"source": "raw/post.csv", "row": 9, "timepoint": "post", "distance": 1,
             "edit": "substitution"},
            {"source": "raw/post.csv", "row": 31, "timepoint": "post", "distance": 1,
             "edit": "transposition"},
        ],
    }  # fmt: skip


# --------------------------------------------------------------------------- file details


def test_file_details_show_what_was_detected_and_how() -> None:
    assert file_details(SAV) == [
        "format generic / sav (detected from the file)",
        "read as SPSS file",
        "SPSS user-missing codes blanked: 3 values in 2 columns (PSS_1, PSS_2)",
        "3 item columns recoded through the SPSS value labels",
    ]
    assert file_details(XLSX) == [
        "format microsoft_forms / xlsx (detected from the file)",
        "read as Excel workbook",
        "worksheet “Wave 1”",
        "duplicate column names renamed: Comment",
    ]
    assert file_details(CSV) == [
        "format qualtrics / current (choice text) (as set in the config)",
        "encoding cp1250",
        "delimiter semicolon",
        "decimal mark “,” (converted to “.”)",
        "3 header rows",
        "12 answers given as choice text mapped to codes",
        "text looks mis-decoded (mojibake suspected): check the file's encoding",
    ]


def test_file_details_name_decoded_answer_codes() -> None:
    ls = {"answer_codes": {"setting": "position", "cells_decoded": 19}}
    assert file_details(ls) == [
        "19 answers given as answer codes, decoded by position (the first option = the lowest "
        "value)"]  # fmt: skip
    assert file_details({"excel_serial_times": 2}) == [
        "2 submission times written as Excel serial numbers (the file was re-saved in Excel), "
        "converted to dates"]  # fmt: skip
    ls = {"format": "limesurvey", "answer_codes": {"setting": "mapping", "cells_decoded": 1}}
    assert file_details(ls)[1:] == [
        "1 answer given as LimeSurvey answer codes, decoded through the configured map"]
    sosci = {"format": "sosci", "answer_codes": {"setting": "position", "cells_decoded": 9},
             "no_answer_codes_set_blank": {"PS01_01": 2, "PS01_04": 1}}  # fmt: skip
    assert file_details(sosci)[1:] == [
        "3 answers coded as “no answer” by the platform (e.g. SoSci −9, −1) set missing, in 2 "
        "item columns",
        "9 answers given as SoSci Survey option positions, decoded by position (the first "
        "option = the lowest value)"]  # fmt: skip


def test_file_details_show_only_present_keys() -> None:
    assert file_details({"source": "x.csv"}) == []
    assert file_details({"encoding": "utf-8", "delimiter": ","}) == [
        "encoding utf-8",
        "delimiter comma",
    ]


def test_file_details_in_the_rendered_table() -> None:
    cfg = make_config()
    inputs = make_inputs(cfg)
    inputs.flow["files"][1].update(CSV, source=inputs.flow["files"][1]["source"])
    t = section(render_report(inputs, cfg), "quality")
    assert (
        "data/raw/demo/post_followup_redcap.csv format qualtrics / current (choice text) "
        "(as set in the config) encoding cp1250 delimiter semicolon" in t
    )
    assert "mojibake suspected" in t
    assert "data/raw/demo/participants.csv (roster) — — 120 120" in t  # nothing detected


# --------------------------------------------------------------------------- careless


def test_careless_counts_per_flag_group_timepoint_with_suppression() -> None:
    out = careless_section(careless(), ARMS, TPS, 5)
    assert out["groups"] == ["Balint group", "Comparison group"]
    assert [(r["flag"], r["timepoint"], r["cells"]) for r in out["rows"]] == [
        ("Same answer many times in a row (longstring)", "pre", ["7", "<5"]),
        ("Completed implausibly fast", "post", ["0", "6"]),
        ("Participant code matched tolerantly", "post", ["<5", "0"]),
    ]
    assert careless_section(careless(), ARMS, TPS, 2)["rows"][2]["cells"] == ["<2", "0"]


def test_careless_absent_or_empty() -> None:
    assert careless_section(pd.DataFrame(), ARMS, TPS, 5)["available"] is False
    empty = pd.DataFrame(columns=["source", "row", "timepoint", "group", "flag", "instrument",
                                  "value", "threshold"])  # fmt: skip
    out = careless_section(empty, ARMS, TPS, 5)
    assert out["available"] is True and out["any"] is False


def test_careless_rendered_without_rows_or_values() -> None:
    cfg = make_config()
    inputs = make_inputs(cfg)
    inputs.careless = careless()
    out = render_report(inputs, cfg)
    t = section(out, "quality")
    assert (
        "Flagged responses per flag, timepoint and group Flag Timepoint Balint group Comparison "
        "group Same answer many times in a row (longstring) pre 7 <5 Completed implausibly fast "
        "post 0 6 Participant code matched tolerantly post <5 0" in t
    )
    assert ">= 10 of 10 items" not in html_lib.unescape(out)
    assert "raw/pre.csv" not in out and "raw/post.csv" not in out
    inputs.careless = careless().iloc[0:0]
    assert "No response was flagged." in section(render_report(inputs, cfg), "quality")
    inputs.careless = pd.DataFrame()
    assert "Careless-responding flags are not available in this run" in section(
        render_report(inputs, cfg), "quality"
    )


# --------------------------------------------------------------------------- code matching


def test_code_matching_exact() -> None:
    m = code_matching({"code_matching": {"method": "exact"}}, TPS)
    assert m["method"] == "exact" and m["rows"] == [] and "matched exactly" in m["text"]
    assert code_matching({}, TPS) == {"available": False}


def test_code_matching_tolerant_counts_and_distances_only() -> None:
    m = code_matching({"code_matching": tolerant_flow()}, TPS)
    assert m["columns"] == ["exact", "after normalising", "tolerant (fuzzy)", "unmatched",
                            "invalid code"]  # fmt: skip
    assert m["rows"] == [
        {"timepoint": "pre", "cells": ["58", "1", "0", "0", "2"]},
        {"timepoint": "post", "cells": ["50", "3", "3", "1", "0"]},
    ]
    assert m["distances"] == [
        {"distance": "1", "edit": "substitution", "n": "1"},
        {"distance": "1", "edit": "transposition", "n": "2"},
    ]
    assert "within at most 1 edit" in m["text"] and "the roster's ids" in m["text"]
    cfg = make_config()
    inputs = make_inputs(cfg)
    inputs.flow["code_matching"] = tolerant_flow()
    out = render_report(inputs, cfg)
    t = section(out, "quality")
    assert (
        "Timepoint Exact After normalising Tolerant (fuzzy) Unmatched Invalid code "
        "pre 58 1 0 0 2 post 50 3 3 1 0" in t
    )
    dist = "Tolerant links by edit distance: 1 edit (substitution): 1; 1 edit (transposition): 2."
    assert dist in t
    assert "raw/post.csv" not in out and CODE not in out


# --------------------------------------------------------------------------- withheld, flow rows


def test_withheld_sentence() -> None:
    rej = pd.DataFrame({"value": ["9", "(withheld: text, 4 characters)",
                                  "(withheld: number, 11 digits)", ""]})  # fmt: skip
    s = withheld_sentence(rej)
    assert "replaced on purpose by a description such as “(withheld: text, 4 characters)”" in s
    assert s.endswith("2 values are withheld in this run.")
    assert withheld_sentence(rej.iloc[:1]).endswith("No value needed withholding in this run.")
    cfg = make_config()
    inputs = make_inputs(cfg)
    inputs.rejected.loc[2, "value"] = "(withheld: e-mail-like text, 17 characters)"
    t = section(render_report(inputs, cfg), "quality")
    assert "1 value is withheld in this run." in t


def test_rows_by_group_timepoint_in_the_flow_section() -> None:
    flow = {"rows_by_group_timepoint": {
        "unknown": {"post": {"rows_in": 2, "rows_accepted": 0, "rows_rejected": 2}},
        "control": {"pre": {"rows_in": 61, "rows_accepted": 59, "rows_rejected": 2}},
        "balint": {"unmapped": {"rows_in": 1, "rows_accepted": 0, "rows_rejected": 1},
                   "post": {"rows_in": 52, "rows_accepted": 50, "rows_rejected": 2},
                   "pre": {"rows_in": 60, "rows_accepted": 58, "rows_rejected": 2}},
    }}  # fmt: skip
    out = rows_by_group_timepoint(flow, ARMS, TPS)
    assert [tuple(r.values()) for r in out["rows"]] == [
        ("Balint group", "pre", "60", "58", "2"),
        ("Balint group", "post", "52", "50", "2"),
        ("Balint group", "not a design timepoint", "1", "0", "1"),
        ("Comparison group", "pre", "61", "59", "2"),
        ("group unknown", "post", "2", "0", "2"),
    ]
    assert rows_by_group_timepoint({}, ARMS, TPS)["available"] is False
    cfg = make_config()
    inputs = make_inputs(cfg)
    inputs.flow.update(flow)
    t = section(render_report(inputs, cfg), "flow")
    assert "Group Timepoint Rows in Accepted Rejected Balint group pre 60 58 2" in t
    assert "group unknown post 2 0 2" in t


# --------------------------------------------------------------------------- instruments


def test_missing_rule_shown_per_scale() -> None:
    cfg = make_config(instruments={"mbi_hss": "MBI_{i}", "pss10": "PSS_{i}", "cbi": "CBI_{i}"})
    t = section(render_report(make_inputs(cfg), cfg), "instruments")
    assert (
        "Work-related burnout (7 items, mean, higher = worse; scored when at least 4 of 7 "
        "items are answered)" in t
    )
    assert (
        "Emotional exhaustion (9 items, sum, higher = worse; scored when at least 8 of 9 items "
        "are answered)" in t
    )
    assert "A score is computed when at least 80%" not in t


# --------------------------------------------------------------------------- derived scales


WHO = {"mbi_hss": "MBI_{i}", "pss10": "PSS_{i}", "who5": "WHO5_{i}"}


def _who_inputs(cfg, with_models: bool):
    inputs = make_inputs(cfg)
    rng = np.random.default_rng(3)
    base = inputs.scores[inputs.scores["scale"] == "total"].copy()
    raw = base.assign(instrument="who5", score=rng.integers(5, 25, len(base)).astype(float))
    pct = raw.assign(scale="percentage", score=raw["score"] * 4)
    # three people at follow-up in the comparison group: that cell is suppressed
    drop = pct[(pct["group"] == "control") & (pct["timepoint"] == "followup")].index[3:]
    pct.loc[drop, "score"] = np.nan
    inputs.scores = pd.concat([inputs.scores, raw, pct], ignore_index=True)
    if with_models:
        for name in ("effects", "emmeans"):
            df = getattr(inputs, name)
            extra = [df[df["scale"] == "total"].assign(instrument="who5", scale=s)
                     for s in ("total", "percentage")]  # fmt: skip
            setattr(inputs, name, pd.concat([df, *extra], ignore_index=True))
    return inputs, pct


def test_derived_from_is_read_from_the_definition() -> None:
    cfg = make_config(instruments=WHO)
    assert derived_from(cfg, "who5", "percentage") == "total"
    assert derived_from(cfg, "who5", "total") is None
    assert derived_from(cfg, "nope", "total") is None
    modelled = [("mbi_hss", "emotional_exhaustion"), ("who5", "percentage"), ("who5", "total")]
    shown, tested = split_outcomes(cfg, modelled, pd.DataFrame())
    assert shown == [("mbi_hss", "emotional_exhaustion"), ("who5", "total"),
                     ("who5", "percentage")]  # fmt: skip
    assert tested == [("mbi_hss", "emotional_exhaustion"), ("who5", "total")]


def test_derived_scale_descriptive_only_with_or_without_model_rows() -> None:
    cfg = make_config(instruments=WHO)
    for with_models in (True, False):
        inputs, pct = _who_inputs(cfg, with_models)
        out = render_report(inputs, cfg)
        sec = re.search(r'<section id="outcome-who5-percentage".*?</section>', out, re.S)
        assert sec, with_models
        t = html_lib.unescape(text_of(sec.group(0)))
        assert "Same information as Well-being (raw), not tested separately." in t
        assert "derived outcome" in t and "Effect:" not in t and "Estimate" not in t
        v = pct[(pct["group"] == "balint") & (pct["timepoint"] == "pre")]["score"]
        mean, sd = f"{v.mean():.1f}", f"{v.std(ddof=1):.1f}"
        assert f"Balint group {mean} (SD {sd}) n = 30" in t
        assert "Comparison group" in t and "suppressed n = <5" in t
        # WHO-5 total is still tested; only when the model stage produced rows for it
        assert ('id="outcome-who5-total-eff"' in out) is with_models
        # without sensitivity.csv the section is omitted (nothing to say)
        sens = section(out, "sensitivity") if 'id="sensitivity"' in out else ""
        assert "Well-being (percentage)" not in sens
        inst = section(out, "instruments")
        assert (
            "Well-being (percentage) (5 items, percent, higher = better; scored when at least 4 "
            "of 5 items are answered; same information as Well-being (raw))" in inst
        )


def test_scored_scale_without_model_rows_is_descriptive() -> None:
    cfg = make_config(instruments=WHO)
    inputs, _ = _who_inputs(cfg, with_models=False)
    out = render_report(inputs, cfg)
    sec = re.search(r'<section id="outcome-who5-total".*?</section>', out, re.S)
    t = html_lib.unescape(text_of(sec.group(0)))
    assert "No model was fitted for this outcome; observed averages only." in t
    assert "descriptive outcome" in t


# --------------------------------------------------------------------------- files


def test_load_inputs_reads_careless_optionally(tmp_path: Path) -> None:
    proc = tmp_path / "p"
    _write_processed(proc, make_inputs())
    assert load_inputs(proc).careless.empty
    careless().to_csv(proc / "careless.csv", index=False)
    loaded = load_inputs(proc)
    assert len(loaded.careless) == 19 and loaded.careless["flag"].iloc[0] == "longstring"
    assert "careless.csv" in {f["path"] for f in loaded.provenance["processed"]}


def test_careless_count_leaving_few_unflagged_is_hidden() -> None:
    """7 of 9 accepted rows flagged: 2 unflagged would follow from the shown rows, so the 7 is
    hidden (secondary suppression, never "<5"); the "<5" of the control arm is protected by
    hiding its unflagged complement, which is not displayed."""
    accepted = {"balint": {"pre": {"rows_accepted": 9}}, "control": {"pre": {"rows_accepted": 40}}}
    out = careless_section(careless(), ARMS, TPS, 5, accepted)
    assert out["rows"][0]["cells"] == ["hidden", "<5"]
    # without the accepted rows nothing is derivable: the plain primary rule
    assert careless_section(careless(), ARMS, TPS, 5)["rows"][0]["cells"] == ["7", "<5"]
