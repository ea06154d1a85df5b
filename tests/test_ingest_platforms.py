"""Awkward but readable exports from every platform: what is detected, which rows are
quarantined with which reason, and that ``rows_in == rows_accepted + rows_rejected``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from balint_analysis.errors import InputError
from tests import exports_factory as xf

PREVIEW = "preview, test or spam response"
INCOMPLETE = "incomplete response (not finished / form not complete)"
NOT_IN_ROSTER = "participant not in the roster"
DUPLICATE = "duplicate submission"
UNKNOWN_TP = "timepoint not in design.timepoints"
PRE_Q = {"timepoint": "pre", "id": "ExternalReference"}


def _info(result, name):
    return next(f for f in result.flow["files"] if f["source"].endswith(name))


def test_qualtrics_current_statuses_and_unfinished(tmp_path):
    rows = [
        {"ExternalReference": "P1", **xf.items(2)},
        {"ExternalReference": "P2", "Status": "1", **xf.items(2)},  # preview
        {"ExternalReference": "P3", "Status": "2", **xf.items(2)},  # test
        {"ExternalReference": "P4", "Status": "8", **xf.items(2)},  # spam
        {"ExternalReference": "P5", "DistributionChannel": "preview", **xf.items(2)},
        {"ExternalReference": "P6", "Finished": "0", "Progress": "40"},
        {"ExternalReference": "P6", "Status": "4", **xf.items(3)},  # imported: kept
    ]
    r = xf.run(xf.cohort(tmp_path, [("q.csv", xf.qualtrics(rows), PRE_Q)]))
    assert xf.reasons(r) == {5: {PREVIEW}, 6: {PREVIEW}, 7: {PREVIEW}, 8: {PREVIEW},
                             9: {INCOMPLETE}}  # fmt: skip
    assert xf.counts(r, "q.csv") == (7, 2, 5)
    info = _info(r, "q.csv")
    assert (info["format"], info["variant"], info["header_rows"]) == ("qualtrics", "current", 3)
    assert info["format_detected"] is True


def test_qualtrics_legacy_two_header_rows_trailing_comma_and_bom(tmp_path):
    rows = [{"ExternalReference": "P1", **xf.items(1)}, {"ExternalReference": "P2",
             "Status": "1", **xf.items(1)}]  # fmt: skip
    data = xf.qualtrics(rows, legacy=True).encode("utf-8-sig")
    r = xf.run(xf.cohort(tmp_path, [("legacy.csv", data, {"timepoint": "pre",
                                                           "id": "ExternalDataReference"})]))
    info = _info(r, "legacy.csv")
    assert (info["format"], info["variant"], info["encoding"]) == ("qualtrics", "legacy",
                                                                    "utf-8-sig")  # fmt: skip
    assert info["format_detected"] is True
    assert xf.reasons(r) == {4: {PREVIEW}}  # data start at row 3
    assert xf.counts(r, "legacy.csv") == (2, 1, 1)
    assert "EmailAddress" in info["dropped_columns"]["identifier"]


def test_qualtrics_choice_text_export_is_mapped_through_the_labels(tmp_path):
    labels = ["Never", "Almost never", "Sometimes", "Fairly often", "Very often"]
    rows = [
        {"ExternalReference": "P1", "Status": "IP Address", "Finished": "True",
         **xf.items([labels[i % 5] for i in range(10)])},
        {"ExternalReference": "P2", "Status": "Survey Preview", "Finished": "True",
         **xf.items("Sometimes")},
        {"ExternalReference": "P3", "Status": "IP Address", "Finished": "False"},
    ]  # fmt: skip
    r = xf.run(xf.cohort(tmp_path, [("ct.csv", xf.qualtrics(rows), PRE_Q)]))
    assert _info(r, "ct.csv")["variant"] == "current (choice text)"
    assert _info(r, "ct.csv")["choice_text_mapped"] == 20
    assert xf.reasons(r) == {5: {PREVIEW}, 6: {INCOMPLETE}}
    got = r.valid.iloc[0][[f"pss10__{i}" for i in range(1, 11)]].tolist()
    assert got == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]


def test_qualtrics_utf16_tsv_is_detected(tmp_path):
    rows = [{"ExternalReference": "P1", **xf.items(2)}]
    data = xf.qualtrics(rows, delimiter="\t").encode("utf-16")
    r = xf.run(xf.cohort(tmp_path, [("q.tsv", data, PRE_Q)]))
    info = _info(r, "q.tsv")
    assert (info["encoding"], info["delimiter"], info["format"]) == ("utf-16", "\t", "qualtrics")
    assert xf.counts(r, "q.tsv") == (1, 1, 0)


def test_qualtrics_seen_unanswered_and_out_of_range_invalidate_items_only(tmp_path):
    rows = [{"ExternalReference": "P1", **xf.items([-99, 5, 2, 2, 2, 2, 2, 2, 2, "7,5"])}]
    r = xf.run(xf.cohort(tmp_path, [("q.csv", xf.qualtrics(rows), PRE_Q)]))
    rej = r.rejected.set_index("column")
    # 5 lies just outside PSS's 0-4 and is shown; -99 is too far out to be a slip (withheld).
    assert rej.loc["PSS_1", ["reason", "value"]].tolist() == [
        "value outside the allowed answers of this item", "(withheld: negative number, 2 digits)"]
    assert rej.loc["PSS_2", ["reason", "value"]].tolist() == [
        "value outside the allowed answers of this item", "5"]
    assert rej.loc["PSS_10", ["reason", "value"]].tolist() == ["not a number", "7,5"]
    assert set(r.rejected["action"]) == {"item set missing"}
    assert xf.counts(r, "q.csv") == (1, 1, 0)
    assert _info(r, "q.csv")["items_invalidated"] == 3


def test_redcap_longitudinal_events_dag_and_form_status(tmp_path):
    def row(rid, event, status="2", stamp="2024-06-01 10:00:00", dag="site_a", **kw):
        return {"record_id": rid, "redcap_event_name": event, "redcap_data_access_group": dag,
                "pss_timestamp": stamp, "pss_complete": status, **xf.items(2, "pss_{i:02d}"),
                **kw}  # fmt: skip

    rows = [
        row("P1", "baseline_arm_1"),
        row("P1", "post_arm_1", consent_complete=""),  # another form blank at this event: ok
        row("P2", "baseline_arm_1", status="1"),  # unverified
        row("P3", "post_arm_1", stamp="[not completed]", status="0"),
        row("P4", "screening_arm_1"),
        # Another form's status says nothing about the questionnaire (its own form is 2).
        row("P5", "baseline_arm_1", status="2", consent_complete="0"),
    ]
    spec = {"id": "record_id", "timepoint_column": "redcap_event_name",
            "timepoint_values": {"baseline_arm_1": "pre", "post_arm_1": "post"},
            "instruments": {"pss10": "pss_{i:02d}"}}  # fmt: skip
    r = xf.run(xf.cohort(tmp_path, [("rc.csv", xf.redcap(rows, dag=True,
                                                          forms=("pss", "consent")), spec)]))
    assert xf.reasons(r) == {4: {INCOMPLETE}, 5: {INCOMPLETE}, 6: {UNKNOWN_TP}}
    assert xf.counts(r, "rc.csv") == (6, 3, 3)
    assert set(r.valid["site"]) == {"site_a"}
    assert _info(r, "rc.csv")["variant"] == "raw, longitudinal, data access groups"
    assert _info(r, "rc.csv")["redcap_forms"] == {"from": "column order", "pss10": "pss"}
    rej = r.rejected.set_index("row")
    assert rej.loc[6, ["column", "value"]].tolist() == ["redcap_event_name", "screening_arm_1"]


def test_limesurvey_codes_bom_crlf_sentinel_and_incomplete(tmp_path):
    template = "PSS[SQ{i:03d}]"
    rows = [
        {"id": "1", "submitdate": "2024-03-04 08:19:03", "SGIC": "P1", "ipaddr": "10.1.2.3",
         **xf.items(2, template)},
        {"id": "2", "submitdate": "", "lastpage": "1", "SGIC": "P2", **xf.items(1, template)},
        {"id": "3", "submitdate": "1980-01-01 00:00:00", "datestamp": "2024-03-05 10:00:00",
         "SGIC": "P3", **xf.items(3, template)},
    ]  # fmt: skip
    spec = {"timepoint": "pre", "id": "SGIC", "instruments": {"pss10": template}}
    r = xf.run(xf.cohort(tmp_path, [("results-survey1.csv", xf.limesurvey(rows), spec)]))
    info = _info(r, "results-survey1.csv")
    assert (info["format"], info["encoding"], info["format_detected"]) == (
        "limesurvey", "utf-8-sig", True)  # fmt: skip
    assert xf.reasons(r) == {3: {INCOMPLETE}}
    assert xf.counts(r, "results-survey1.csv") == (3, 2, 1)
    valid = r.valid.set_index("participant_id")
    assert valid.loc["P3", "submitted_at"] == "2024-03-05 10:00:00"  # not the 1980 sentinel
    assert "ipaddr" in info["dropped_columns"]["identifier"]
    assert "PSS_comment" in info["dropped_columns"]["free_text"]


LS_CODES = ["AO01", "AO02", "AO03", "AO04", "AO05", "AO01", "AO02", "AO03", "AO04", "AO05"]


def _ls_coded(values: list[list[str]]) -> bytes:
    template = "PSS[SQ{i:03d}]"
    rows = [{"id": str(k), "submitdate": "2024-03-04 08:19:03", "SGIC": f"P{k}",
             **xf.items(v, template)} for k, v in enumerate(values, start=1)]  # fmt: skip
    return xf.limesurvey(rows)


LS_SPEC = {"timepoint": "pre", "id": "SGIC", "instruments": {"pss10": "PSS[SQ{i:03d}]"}}


def test_limesurvey_answer_codes_must_be_declared(tmp_path):
    content = _ls_coded([LS_CODES, ["A5"] * 10])
    config = xf.cohort(tmp_path, [("codes.csv", content, LS_SPEC)])
    with pytest.raises(InputError) as err:
        xf.run(config)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{tmp_path}/raw/codes.csv: 20 of 20 answers are "
                                               "LimeSurvey answer codes (e.g. 'AO01' in column "
                                               "PSS[SQ001])")  # fmt: skip
    assert "`answer_codes: position`" in msg


def test_limesurvey_answer_codes_by_position_and_by_map(tmp_path):
    content = _ls_coded([LS_CODES, ["A5"] * 9 + ["AO09"]])
    r = xf.run(xf.cohort(tmp_path, [("codes.csv", content, {**LS_SPEC,
                                                             "answer_codes": "position"})]))
    items = r.valid.set_index("participant_id").filter(like="pss10__")
    assert items.loc["P1"].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]  # PSS answers 0-4
    assert items.loc["P2"].tolist()[:9] == [4] * 9 and pd.isna(items.loc["P2", "pss10__10"])
    rej = r.rejected
    assert rej[["row", "column", "reason", "value"]].values.tolist() == [
        [3, "PSS[SQ010]", "answer code without a value under answer_codes", "AO09"]]
    assert _info(r, "codes.csv")["answer_codes"] == {"setting": "position", "cells_decoded": 19}
    mapping = {f"AO0{k}": 4 - (k - 1) for k in range(1, 6)} | {"A5": 0}
    r = xf.run(xf.cohort(tmp_path, [("codes.csv", content, {**LS_SPEC,
                                                             "answer_codes": mapping})]))
    items = r.valid.set_index("participant_id").filter(like="pss10__")
    assert items.loc["P1"].tolist() == [4, 3, 2, 1, 0, 4, 3, 2, 1, 0]
    assert items.loc["P2"].tolist()[:9] == [0] * 9


def test_answer_code_position_follows_the_instruments_allowed_values():
    from balint_analysis.ingest.answer_codes import code_table
    from balint_analysis.instruments import load_instrument

    cbi = code_table("position", load_instrument("cbi"))
    assert [cbi[f"AO0{k}"] for k in range(1, 6)] == ["0", "25", "50", "75", "100"]
    assert cbi["A3"] == cbi["AO3"] == "50"
    mbi = code_table("position", load_instrument("mbi_hss"))
    assert mbi["AO07"] == "6" and "AO08" not in mbi


def test_limesurvey_semicolon_separator(tmp_path):
    template = "PSS[SQ{i:03d}]"
    rows = [{"id": "1", "submitdate": "2024-03-04 08:19:03", "SGIC": "P1", **xf.items(2, template)}]
    spec = {"timepoint": "pre", "id": "SGIC", "format": "limesurvey",
            "instruments": {"pss10": template}}  # fmt: skip
    r = xf.run(xf.cohort(tmp_path, [("ls.csv", xf.limesurvey(rows, delimiter=";"), spec)]))
    assert _info(r, "ls.csv")["delimiter"] == ";"
    assert xf.counts(r, "ls.csv") == (1, 1, 0)


def test_google_forms_labels_timestamps_and_duplicates(tmp_path):
    stmt = "In the last month, how often... [Statement {i}]"
    rows = [
        {"Timestamp": "2024/03/04 9:03:40 PM GMT+1", "Email Address": "ann@example.org",
         "Your personal code": "P1", **xf.items("Sometimes", stmt)},
        {"Timestamp": "2024/03/04 10:03:40 AM GMT+1", "Email Address": "ann@example.org",
         "Your personal code": "P1", **xf.items("Never", stmt)},
    ]  # fmt: skip
    spec = {"timepoint": "pre", "id": "Your personal code", "instruments": {"pss10": stmt}}
    r = xf.run(xf.cohort(tmp_path, [("gf.csv", xf.google_forms(rows), spec)]))
    info = _info(r, "gf.csv")
    assert info["format"] == "google_forms"
    assert "Email Address" in info["dropped_columns"]["identifier"]
    assert xf.reasons(r) == {3: {DUPLICATE}}  # the 10 AM answer loses to the 9 PM one
    assert r.valid["pss10__1"].tolist() == [2]
    assert r.valid["submitted_at"].tolist() == ["2024-03-04 21:03:40"]


def test_microsoft_forms_workbook(tmp_path):
    start = dt.datetime(2024, 3, 4, 8, 12, 44)
    rows = [
        {"ID": 1, "Start time": start, "Completion time": start + dt.timedelta(minutes=6),
         "Email": "anonymous", "Name": None, "Your personal code": "P1",
         **{f"Statement {i}": "Fairly often" for i in range(1, 11)}},
        {"ID": 2, "Start time": start, "Completion time": start + dt.timedelta(seconds=9),
         "Email": "bob@example.org", "Name": "Bob Example", "Your personal code": "P2",
         **{f"Statement {i}": 1 for i in range(1, 11)}},
    ]  # fmt: skip
    spec = {"timepoint": "pre", "id": "Your personal code",
            "instruments": {"pss10": "Statement {i}"}}  # fmt: skip
    r = xf.run(xf.cohort(tmp_path, [("ms.xlsx", lambda p: xf.microsoft_forms(p, rows), spec)]))
    info = _info(r, "ms.xlsx")
    assert (info["format"], info["container"], info["sheet"]) == ("microsoft_forms", "xlsx",
                                                                  "Sheet1")  # fmt: skip
    assert {"Email", "Name"} <= set(info["dropped_columns"]["identifier"])
    assert xf.counts(r, "ms.xlsx") == (2, 2, 0)
    assert r.valid["pss10__1"].tolist() == [3, 1]
    assert r.valid["duration_s"].tolist() == ["360", "9"]
    fast = r.flags[r.flags["flag"] == "too fast"]
    assert fast["row"].tolist() == [3]  # 9 s for 10 items


def test_excel_sheet_by_name_and_leading_blank_rows_keep_spreadsheet_rows(tmp_path):
    def write(path):
        xf.xlsx(path, ["code", *xf.PSS], [["P1", *[2] * 10], ["P9", *[1] * 10]],
                sheet="Wave 1", leading_blank_rows=2)  # fmt: skip

    spec = {"timepoint": "pre", "id": "code", "sheet": "Wave 1"}
    r = xf.run(xf.cohort(tmp_path, [("wb.xlsx", write, spec)]))
    assert _info(r, "wb.xlsx")["format"] == "generic"
    assert xf.reasons(r) == {5: {NOT_IN_ROSTER}}  # header on row 3, P9 on row 5


def test_spss_user_missing_and_missing_labels_are_blanked_and_counted(tmp_path):
    cols = {"code": ["P1", "P2"], **{c: [2.0, 3.0] for c in xf.PSS}}
    cols["PSS_1"] = [9.0, 2.0]
    cols["PSS_2"] = [8.0, 99.0]

    def write(path):
        xf.sav(path, cols, missing_ranges={"PSS_1": [9.0], "PSS_2": [{"lo": 90.0, "hi": 99.0}]},
               variable_value_labels={"PSS_2": {8.0: "No answer", 1.0: "Almost never"}})

    r = xf.run(xf.cohort(tmp_path, [("s.sav", write, {"timepoint": "pre", "id": "code"})]))
    info = _info(r, "s.sav")
    assert (info["container"], info["format"]) == ("sav", "generic")
    assert info["user_missing_set_blank"] == {"PSS_1": 1, "PSS_2": 2}
    assert r.rejected.empty and xf.counts(r, "s.sav") == (2, 2, 0)
    valid = r.valid.set_index("participant_id")
    assert pd.isna(valid.loc["P1", "pss10__1"]) and pd.isna(valid.loc["P1", "pss10__2"])
    assert pd.isna(valid.loc["P2", "pss10__2"]) and valid.loc["P2", "pss10__1"] == 2


def test_spss_qualtrics_metadata_is_honoured(tmp_path):
    cols = {"ResponseId": ["R_1", "R_2"], "Status": [0.0, 1.0], "Finished": [1.0, 1.0],
            "ExternalReference": ["P1", "P2"], **{c: [2.0, 2.0] for c in xf.PSS}}  # fmt: skip
    r = xf.run(xf.cohort(tmp_path, [("q.sav", lambda p: xf.sav(p, cols), PRE_Q)]))
    assert _info(r, "q.sav")["format"] == "qualtrics"
    assert xf.reasons(r) == {3: {PREVIEW}}


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8-sig", "utf-8-sig"), ("cp1250", "cp1250"), ("utf-16", "utf-16"), ("utf-8", "utf-8")],
)
def test_european_csv_roster_encoding_delimiter_decimal_comma(tmp_path, encoding, expected):
    config = xf.cohort(tmp_path, [("a.csv", xf.table(["code", *xf.PSS], [
        {"code": "ŁK12M", **xf.items(2)}]), {"timepoint": "pre", "id": "code"})],
        roster=None)  # fmt: skip
    people = tmp_path / "raw" / "people.csv"
    people.write_bytes("kod;grupa;staz_lat\r\nŁK12M;balint;7,5\r\nŻG05A;control;12\r\n"
                       .encode(encoding))  # fmt: skip
    config["participants"] = {"path": str(people), "id": "kod", "group": "grupa"}
    config["analysis"]["covariates"] = ["staz_lat"]
    r = xf.run(config)
    roster = r.flow["roster"]
    assert (roster["encoding"], roster["delimiter"], roster["decimal"]) == (expected, ";", ",")
    assert r.roster["staz_lat"].tolist() == ["7.5", "12"]
    assert r.valid["participant_id"].tolist() == ["ŁK12M"]


def test_decimal_comma_in_items_with_explicit_decimal(tmp_path):
    text = xf.table(["code", *xf.PSS], [{"code": "P1", **xf.items("2,0")}], delimiter=";")
    r = xf.run(xf.cohort(tmp_path, [("d.csv", text, {"timepoint": "pre", "id": "code",
                                                      "decimal": ","})]))  # fmt: skip
    assert r.rejected.empty and r.valid["pss10__1"].tolist() == [2]
    assert _info(r, "d.csv")["decimal"] == ","


def test_mojibake_is_noted(tmp_path):
    text = xf.table(["code", "note", *xf.PSS], [{"code": "P1", "note": "zaÅ‚oga", **xf.items(2)}])
    r = xf.run(xf.cohort(tmp_path, [("m.csv", text, {"timepoint": "pre", "id": "code"})]))
    assert _info(r, "m.csv")["mojibake_suspected"] is True


def test_duplicate_headers_are_renamed_and_reported(tmp_path):
    text = "code,Comment,Comment," + ",".join(xf.PSS) + "\nP1,a,b," + ",".join(["1"] * 10) + "\n"
    r = xf.run(xf.cohort(tmp_path, [("dh.csv", text, {"timepoint": "pre", "id": "code"})]))
    info = _info(r, "dh.csv")
    assert info["duplicate_headers"] == ["Comment"]
    assert info["dropped_columns"]["free_text"] == ["Comment", "Comment.2"]


def test_spss_value_labels_recode_a_differently_coded_scale(tmp_path):
    labels = {float(k + 1): t for k, t in enumerate(
        ["Never", "Almost never", "Sometimes", "Fairly often", "Very often"])}  # fmt: skip
    cols = {"code": ["P1", "P2"], **{c: [1.0, 5.0] for c in xf.PSS}}

    def write(path):
        xf.sav(path, cols, variable_value_labels=dict.fromkeys(xf.PSS, labels))

    r = xf.run(xf.cohort(tmp_path, [("coded1to5.sav", write, {"timepoint": "pre", "id": "code"})]))
    assert _info(r, "coded1to5.sav")["recoded_by_value_labels"] == sorted(xf.PSS)
    assert r.rejected.empty
    assert r.valid["pss10__1"].tolist() == [0, 4]
