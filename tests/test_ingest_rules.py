"""Validation rules on generated exports: which rows are quarantined with which reason, what is
flagged (not deleted), and tolerant participant-code matching across waves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from balint_analysis.errors import InputError
from balint_analysis.privacy import WITHHELD
from balint_analysis.validate.careless import longstring
from balint_analysis.validate.codes import normalise_codes, osa_distance
from tests import exports_factory as xf

GEN = {"timepoint": "pre", "id": "code"}
HEADER = ["code", "group", "when", *xf.PSS]


def _csv(rows: list[dict]) -> str:
    return xf.table(HEADER, rows)


def _row(code, value=2, **kw):
    return {"code": code, **xf.items(value), **kw}


def test_roster_id_test_ids_and_missing_id(tmp_path):
    rows = [_row("P1"), _row(""), _row("P9"), _row("TEST"), _row(" P2 ")]
    r = xf.run(xf.cohort(tmp_path, [("a.csv", _csv(rows), {**GEN, "test_ids": ["TEST"]})]))
    assert xf.reasons(r) == {3: {"no participant id"}, 4: {"participant not in the roster"},
                             5: {"preview, test or spam response",
                                 "participant not in the roster"}}  # fmt: skip
    assert r.valid["participant_id"].tolist() == ["P1", "P2"]  # ids are stripped
    assert xf.counts(r, "a.csv") == (5, 2, 3)
    # One problem per row and reason in rejected.csv; the flow counts each row once.
    f = r.flow["files"][0]
    assert f["rejected_by_reason"] == {"no participant id": 1, "participant not in the roster": 1,
                                       "preview, test or spam response": 1}


def test_duplicates_keep_the_latest_complete_submission(tmp_path):
    rows = [_row("P1", 1, when="2024-03-04 10:00"), _row("P1", 3, when="2024-03-04 09:00"),
            _row("P1", 4, when="2024-03-02 09:00")]  # fmt: skip
    spec = {**GEN}
    r = xf.run(xf.cohort(tmp_path, [("q.csv", xf.qualtrics(
        [{"ExternalReference": x["code"], "RecordedDate": x["when"], **xf.items(int(x["PSS_1"]))}
         for x in rows]), {"timepoint": "pre", "id": "ExternalReference"})]))  # fmt: skip
    assert spec
    assert xf.reasons(r) == {5: {"duplicate submission"}, 6: {"duplicate submission"}}
    reason = r.rejected.loc[r.rejected["row"] == 5, "reason"].item()
    assert reason == "duplicate submission (kept the latest: q.csv row 4)"
    assert r.valid["pss10__1"].tolist() == [1]


def test_duplicates_across_files_of_one_timepoint_keep_file_order_when_untimed(tmp_path):
    r = xf.run(xf.cohort(tmp_path, [("a.csv", _csv([_row("P1", 1)]), GEN),
                                    ("b.csv", _csv([_row("P1", 2)]), GEN)]))  # fmt: skip
    assert xf.reasons(r, "a.csv") == {2: {"duplicate submission"}}
    assert xf.counts(r, "a.csv") == (1, 0, 1) and xf.counts(r, "b.csv") == (1, 1, 0)


def test_group_from_export_unknown_and_inconsistent(tmp_path):
    pre = [_row("A1", group="balint"), _row("A2", group="control"), _row("A3", group="yoga")]
    post = [_row("A1", group="balint"), _row("A2", group="balint")]
    spec = {"id": "code", "group_column": "group"}
    r = xf.run(xf.cohort(tmp_path, [("pre.csv", _csv(pre), {**spec, "timepoint": "pre"}),
                                    ("post.csv", _csv(post), {**spec, "timepoint": "post"})],
                         roster=None))  # fmt: skip
    assert xf.reasons(r, "pre.csv") == {
        4: {"group is neither the intervention nor the control label"}}
    assert xf.reasons(r, "post.csv") == {
        3: {"group differs from this participant's group at an earlier timepoint (pre: control)"}}
    post_file = next(f for f in r.flow["files"] if f["source"].endswith("post.csv"))
    assert post_file["rejected_by_reason"] == {
        "group differs from this participant's group at an earlier timepoint": 1}
    assert r.flow["participants"]["observed"] == {"balint": {"pre": 1, "post": 1},
                                                  "control": {"pre": 1, "post": 0}}


def test_unknown_timepoint_value_and_its_echo(tmp_path):
    rows = [_row("P1", wave="1"), _row("P2", wave="screening"), _row("P3", wave="x@y.org")]
    text = xf.table(["code", "wave", *xf.PSS], rows)
    spec = {"id": "code", "timepoint_column": "wave", "timepoint_values": {"1": "pre"}}
    r = xf.run(xf.cohort(tmp_path, [("w.csv", text, spec)]))
    rej = r.rejected.set_index("row")
    # An undeclared label may be a surname: only its kind and length are shown.
    assert rej.loc[3, ["reason", "value"]].tolist() == ["timepoint not in design.timepoints",
                                                        f"{WITHHELD}text, 9 characters)"]
    assert rej.loc[4, "value"] == f"{WITHHELD}e-mail-like text, 7 characters)"
    assert xf.counts(r, "w.csv") == (3, 1, 2)


def test_text_answers_that_could_identify_someone_are_withheld(tmp_path):
    rows = [_row("P1", ["ann@example.org", "<script>x</script>", "John Smith", "n/a", "-", "?",
                        "7,5", 2, 2, 2])]  # fmt: skip
    r = xf.run(xf.cohort(tmp_path, [("a.csv", _csv(rows), GEN)]))
    values = dict(zip(r.rejected["column"], r.rejected["value"], strict=True))
    assert values == {"PSS_1": f"{WITHHELD}e-mail-like text, 15 characters)",
                      "PSS_2": f"{WITHHELD}text, 18 characters)",
                      "PSS_3": f"{WITHHELD}text, 10 characters)", "PSS_4": "n/a",
                      "PSS_5": "-", "PSS_6": "?", "PSS_7": "7,5"}  # fmt: skip
    assert set(r.rejected["reason"]) == {"not a number"}


def test_roster_problems(tmp_path):
    roster = [("P1", "balint"), ("P1", "control"), ("P2", "yoga"), ("", "balint")]
    r = xf.run(xf.cohort(tmp_path, [("a.csv", _csv([_row("P1")]), GEN)], roster=roster))
    got = {(int(row), col): reason for row, col, reason in
           zip(r.rejected["row"], r.rejected["column"], r.rejected["reason"], strict=True)}
    assert got == {(2, "participant_id"): "participant listed more than once in the roster",
                   (3, "participant_id"): "participant listed more than once in the roster",
                   (4, "group"): "group is neither the intervention nor the control label",
                   (5, "participant_id"): "no participant id",
                   (2, "code"): "participant not in the roster"}  # fmt: skip
    assert r.flow["roster"]["rows_in"] == 4 and r.flow["roster"]["rows_accepted"] == 0


def test_strict_mode_fails_on_the_first_problem(tmp_path):
    config = xf.cohort(tmp_path, [("a.csv", _csv([_row("P1", 9), _row("P9")]), GEN)])
    config["analysis"]["strict"] = True
    with pytest.raises(InputError, match=r"strict mode: 11 problem\(s\) in the input; first: .*"
                       r"a\.csv row 2 column PSS_1: value outside the allowed answers"):
        xf.run(config)


def test_longstring_fast_and_platform_flags_are_reported_not_deleted(tmp_path):
    rows = [
        {"ExternalReference": "P1", "Duration (in seconds)": "300", **xf.items(3)},
        {"ExternalReference": "P2", "Duration (in seconds)": "12",
         **xf.items([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])},
        {"ExternalReference": "P3", "Duration (in seconds)": "300",
         **xf.items([1, 1, 1, 1, 1, 1, 1, 1, 1, 2])},
    ]  # fmt: skip
    extra = ("Q_RecaptchaScore", "Q_RelevantIDDuplicate")
    rows[2].update({"Q_RecaptchaScore": "0.2", "Q_RelevantIDDuplicate": "true"})
    config = xf.cohort(tmp_path, [("q.csv", xf.qualtrics(rows, extra=extra),
                                   {"timepoint": "pre", "id": "ExternalReference"})])
    config["validation"] = {"careless": {"longstring_share": 0.9, "min_seconds_per_item": 2}}
    r = xf.run(config)
    assert xf.counts(r, "q.csv") == (3, 3, 0)
    got = {(int(row), flag, value) for row, flag, value in
           zip(r.flags["row"], r.flags["flag"], r.flags["value"], strict=True)}
    assert got == {(4, "longstring", "10"), (5, "too fast", "12.0"), (6, "longstring", "9"),
                   (6, "reCAPTCHA score < 0.5", ""), (6, "RelevantID duplicate", "")}
    assert r.flow["flags"] == {"rows": 3, "by_flag": {"RelevantID duplicate": 1,
                               "longstring": 2, "reCAPTCHA score < 0.5": 1, "too fast": 1}}
    assert "code" not in r.flags.columns and "participant_id" not in r.flags.columns


def test_longstring_counts_runs_and_missing_breaks_them():
    nan = float("nan")
    x = pd.DataFrame([[1, 1, 1, 2], [nan, 3, 3, nan], [2, 2, nan, 2], [nan] * 4]).to_numpy()
    assert longstring(x).tolist() == [3, 2, 2, 0]


def test_code_normalisation_and_distance():
    codes, invalid = normalise_codes(pd.Series([" an 12k", "Łk-7m", "zz", "ÖB03Z"]),
                                     r"^[A-Z]{2}\d{2}[A-Z]$")  # fmt: skip
    assert codes.tolist() == ["AN12K", "LK07M", "ZZ", "OB03Z"]
    assert invalid.tolist() == [False, False, True, False]
    assert [osa_distance("AN12K", b) for b in ("AN21K", "AN12X", "AN2K", "NA21K")] == [1, 1, 1, 2]


def _waves(tmp_path, post_codes, **matching):
    pre = [_row(c) for c in ("AN12K", "BM03Z", "CX11A", "CX11B")]
    post = [_row(c) for c in post_codes]
    config = xf.cohort(tmp_path, [("pre.csv", _csv(pre), GEN),
                                  ("post.csv", _csv(post), {**GEN, "timepoint": "post"})],
                       roster=[("AN12K", "balint"), ("BM03Z", "control"), ("CX11A", "balint"),
                               ("CX11B", "control")])  # fmt: skip
    if matching:
        config["validation"] = {"code_matching": matching}
    return xf.run(config)


POST_CODES = ["an 12k", "BM30Z", "CX11C", "ZZ99Q"]


def test_exact_matching_is_the_default(tmp_path):
    r = _waves(tmp_path, POST_CODES)
    assert xf.reasons(r, "post.csv") == {i: {"participant not in the roster"} for i in (2, 3, 4, 5)}
    assert r.flow["code_matching"] == {"method": "exact"}


def test_tolerant_matching_reports_every_fuzzy_link_and_refuses_ambiguity(tmp_path):
    r = _waves(tmp_path, POST_CODES, method="tolerant", pattern=r"^[A-Z]{2}\d{2}[A-Z]$")
    # an 12k: normalised; BM30Z: one transposition from BM03Z; CX11C: two candidates
    # (CX11A, CX11B) -> left unmatched; ZZ99Q: nothing near.
    assert xf.reasons(r, "post.csv") == {4: {"participant not in the roster"},
                                         5: {"participant not in the roster"}}  # fmt: skip
    m = r.flow["code_matching"]
    assert m["by_timepoint"]["post"] == {"exact": 0, "after_normalising": 1, "fuzzy": 1,
                                         "unmatched": 2, "invalid_code": 0}  # fmt: skip
    assert m["fuzzy_matches"] == [{"source": str(tmp_path / "raw" / "post.csv"), "row": 3,
                                   "timepoint": "post", "distance": 1,
                                   "edit": "transposition"}]  # fmt: skip
    fuzzy = r.flags[r.flags["flag"] == "participant code matched tolerantly"]
    assert fuzzy[["row", "value"]].values.tolist() == [[3, "1 (transposition)"]]
    assert "BM30Z" not in r.flow.__repr__() and "BM30Z" not in r.flags.to_csv()
    post = r.valid[r.valid["timepoint"] == "post"]
    assert sorted(post["participant_id"]) == ["AN12K", "BM03Z"]


def test_tolerant_matching_without_roster_anchors_on_baseline_and_never_reuses(tmp_path):
    pre = [_row("AN12K", group="balint"), _row("BM03Z", group="control")]
    post = [_row("AN12K", group="balint"), _row("AN12X", group="balint"),
            _row("BM03Y", group="balint"), _row("B M 0 3 Z", group="control")]  # fmt: skip
    spec = {"id": "code", "group_column": "group"}
    config = xf.cohort(tmp_path, [("pre.csv", _csv(pre), {**spec, "timepoint": "pre"}),
                                  ("post.csv", _csv(post), {**spec, "timepoint": "post"})],
                       roster=None, validation={"code_matching": {"method": "tolerant"}})
    r = xf.run(config)
    m = r.flow["code_matching"]["by_timepoint"]["post"]
    # AN12X: AN12K is already matched exactly at post; BM03Y: group differs from BM03Z's block.
    assert m == {"exact": 1, "after_normalising": 1, "fuzzy": 0, "unmatched": 2,
                 "invalid_code": 0}  # fmt: skip
    assert r.flow["code_matching"]["fuzzy_matches"] == []
    assert sorted(r.valid.loc[r.valid["timepoint"] == "post", "participant_id"]) == [
        "AN12K", "AN12X", "BM03Y", "BM03Z"]


def test_prepare_stage_gives_the_same_result_as_in_process(tmp_path):
    """The prepare job hands ingest's output to validation as text, as typed: ``-99`` stays
    ``-99`` and formulas are neutralised only in the user-facing rejected.csv."""
    from balint_analysis.config import load_config
    from balint_analysis.pipeline import prepare_stage

    rows = [_row("P1", [-99, "-", "=1+1", "@x", 2, 2, 2, 2, 2, 2]), _row("-P2")]
    post = [_row("P1"), _row("P4")]  # both arms and both waves keep participants
    config = xf.cohort(tmp_path, [("a.csv", _csv(rows), GEN),
                                  ("b.csv", _csv(post), {**GEN, "timepoint": "post"})])
    expected = xf.run(config)
    cfg = load_config(config)
    out = {k: str(tmp_path / f"{k}.out") for k in (
        "responses", "participants", "pseudonymisation", "rejected", "careless", "flow")}
    prepare_stage(cfg, {}, out)
    rejected = pd.read_csv(out["rejected"], dtype=str, keep_default_na=False)
    assert rejected["reason"].tolist() == expected.rejected["reason"].tolist()
    assert rejected["reason"].tolist()[:4] == [
        "value outside the allowed answers of this item", "not a number", "not a number",
        "not a number"]  # fmt: skip
    assert rejected["value"].tolist()[:4] == [f"{WITHHELD}negative number, 2 digits)", "'-",
                                              f"{WITHHELD}text, 4 characters)",
                                              f"{WITHHELD}e-mail-like text, 2 characters)"]
    assert pd.read_csv(out["careless"]).columns.tolist()[:5] == ["source", "row", "timepoint",
                                                                "group", "flag"]  # fmt: skip
    assert json.loads(Path(out["flow"]).read_text()) == expected.flow
    responses = pd.read_csv(out["responses"], dtype={"participant": str})
    assert len(responses) == len(expected.valid)
    assert not responses["participant"].isin(["P1", "-P2"]).any()  # pseudonymised


def test_tolerant_matching_blocks_on_redcap_site(tmp_path):
    def row(rid, event, dag):
        return {"record_id": rid, "redcap_event_name": event, "redcap_data_access_group": dag,
                "pss_complete": "2", "redcap_survey_identifier": "balint",
                **xf.items(2, "pss_{i:02d}")}

    rows = [row("AN12K", "pre_arm_1", "site_a"), row("BM03Z", "pre_arm_1", "site_a"),
            row("AN12X", "post_arm_1", "site_a"), row("BM03Y", "post_arm_1", "site_b")]
    text = xf.redcap(rows, dag=True).replace("redcap_survey_identifier", "group")
    spec = {"id": "record_id", "timepoint_column": "redcap_event_name", "group_column": "group",
            "timepoint_values": {"pre_arm_1": "pre", "post_arm_1": "post"},
            "instruments": {"pss10": "pss_{i:02d}"}}  # fmt: skip
    config = xf.cohort(tmp_path, [("rc.csv", text, spec)], roster=None,
                       validation={"code_matching": {"method": "tolerant"}})
    r = xf.run(config)
    m = r.flow["code_matching"]
    assert m["by_timepoint"]["post"]["fuzzy"] == 1 and m["by_timepoint"]["post"]["unmatched"] == 1
    assert [f["row"] for f in m["fuzzy_matches"]] == [4]
    assert sorted(r.valid.loc[r.valid["timepoint"] == "post", "participant_id"]) == [
        "AN12K", "BM03Y"]


def test_flow_counts_rows_per_group_and_timepoint(tmp_path):
    pre = [_row("P1"), _row("P4"), _row("P9"), _row("P1", 1)]
    post = [_row("P1"), _row("P5", 9)]
    r = xf.run(xf.cohort(tmp_path, [("pre.csv", _csv(pre), GEN),
                                    ("post.csv", _csv(post), {**GEN, "timepoint": "post"})]))
    assert r.flow["rows_by_group_timepoint"] == {
        "balint": {"pre": {"rows_in": 2, "rows_accepted": 1, "rows_rejected": 1},
                   "post": {"rows_in": 1, "rows_accepted": 1, "rows_rejected": 0}},
        "control": {"pre": {"rows_in": 1, "rows_accepted": 1, "rows_rejected": 0},
                    "post": {"rows_in": 1, "rows_accepted": 1, "rows_rejected": 0}},
        "unknown": {"pre": {"rows_in": 1, "rows_accepted": 0, "rows_rejected": 1}},
    }  # fmt: skip


def test_an_unanswered_later_row_does_not_displace_the_answers(tmp_path):
    rows = [{"ExternalReference": "P1", "RecordedDate": "2024-03-04 09:00", **xf.items(2)},
            {"ExternalReference": "P1", "RecordedDate": "2024-03-04 10:00"}]  # fmt: skip
    r = xf.run(xf.cohort(tmp_path, [("q.csv", xf.qualtrics(rows),
                                     {"timepoint": "pre", "id": "ExternalReference"})]))
    assert xf.reasons(r) == {5: {"duplicate submission"}}
    assert r.valid["pss10__1"].tolist() == [2]
