"""Edge cases of reading exports: REDCap data dictionaries that do not fit the export, choice
text with odd spacing, encoding names Python spells several ways, a damaged key history, and
how the data-quality table names a platform's "no answer" codes.

A bad input stops with one line naming the file and the fix, never a cell value or traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from balint_analysis.config import load_config
from balint_analysis.errors import InputError
from balint_analysis.identifiers import read_key_history as _key_history
from balint_analysis.ingest import ingest
from balint_analysis.report.quality import file_details
from tests import exports_factory as xf

DICTIONARY_HEADER = ["Variable / Field Name", "Form Name", "Section Header", "Field Type",
                     "Field Label"]  # fmt: skip
RC_SPEC = {"id": "record_id", "timepoint": "pre", "instruments": {"pss10": "pss_{i:02d}"}}


def _redcap_rows() -> list[dict]:
    return [{"record_id": p, "pss_timestamp": "2024-06-01 10:00:00", "pss_complete": "2",
             **xf.items(2, "pss_{i:02d}")} for p in ("P1", "P2")]  # fmt: skip


def _dictionary(path: Path, forms: dict[str, str], header: list[str] = DICTIONARY_HEADER) -> Path:
    """A REDCap data dictionary CSV: ``forms`` maps each field to its form."""
    rows = [dict(zip(header, [field, form, "", "text", f"Label of {field}"], strict=False))
            for field, form in forms.items()]  # fmt: skip
    path.write_text(xf.table(header, rows), encoding="utf-8")
    return path


def _redcap_cohort(tmp_path: Path, forms: dict[str, str], **dictionary_kw) -> dict:
    dictionary = _dictionary(tmp_path / "dictionary.csv", forms, **dictionary_kw)
    spec = {**RC_SPEC, "dictionary": str(dictionary)}
    return xf.cohort(tmp_path, [("rc.csv", xf.redcap(_redcap_rows()), spec)])


def _one_line_error(config: dict) -> str:
    with pytest.raises(InputError) as err:
        ingest(load_config(config))
    text = str(err.value)
    assert "\n" not in text and "P1" not in text and "Traceback" not in text
    return text


def test_a_dictionary_form_the_export_has_no_status_for_stops_with_the_fix(tmp_path):
    forms = {"record_id": "enrolment", **{f"pss_{i:02d}": "wellbeing" for i in range(1, 11)}}
    text = _one_line_error(_redcap_cohort(tmp_path, forms))
    assert text.startswith(str(tmp_path / "raw" / "rc.csv") + ": the items of pss10 lie in "
                           "REDCap form 'wellbeing' (judging by the dictionary), but the file "
                           "has no 'wellbeing_complete' column; forms in it: ['pss'].")
    assert "`exports[].forms: {pss10: <form>}`" in text


def test_items_split_across_dictionary_forms_name_the_dictionary_as_the_source(tmp_path):
    forms = {f"pss_{i:02d}": ("part_a" if i <= 5 else "pss") for i in range(1, 11)}
    text = _one_line_error(_redcap_cohort(tmp_path, forms))
    assert "lie in REDCap forms part_a, pss (judging by the dictionary)" in text
    assert "`exports[].forms: {pss10: <form>}`" in text
    assert "exports[].dictionary" not in text  # it was given: no advice to give it


def test_a_dictionary_without_field_labels_still_gives_the_forms(tmp_path):
    forms = {"record_id": "enrolment", **{f"pss_{i:02d}": "pss" for i in range(1, 11)}}
    config = _redcap_cohort(tmp_path, forms, header=DICTIONARY_HEADER[:2])
    info = ingest(load_config(config)).info["files"][0]
    assert info["redcap_forms"] == {"from": "dictionary", "pss10": "pss"}


def test_choice_text_with_doubled_or_non_breaking_spaces_is_mapped(tmp_path):
    texts = ["Never", "Almost  never", "Sometimes", "Fairly\xa0often", " Very   often ",
             "never", "ALMOST NEVER", "SOMETIMES", "Fairly often", "Very\xa0 often"]  # fmt: skip
    rows = [{"ExternalReference": "P1", "Status": "IP Address", "Finished": "True",
             **xf.items(texts)}]  # fmt: skip
    r = xf.run(xf.cohort(tmp_path, [("ct.csv", xf.qualtrics(rows),
                                     {"timepoint": "pre", "id": "ExternalReference"})]))
    assert r.valid.iloc[0][[f"pss10__{i}" for i in range(1, 11)]].tolist() == [
        0, 1, 2, 3, 4, 0, 1, 2, 3, 4]  # fmt: skip
    assert r.flow["files"][0]["choice_text_mapped"] == 10
    assert r.rejected.empty


@pytest.mark.parametrize("encoding", ["utf_8", "u8", "UTF8", "utf_8_sig", "UTF-8-SIG"])
def test_every_spelling_of_utf8_reads_a_file_with_a_bom(tmp_path, encoding):
    body = xf.table(["code", *xf.PSS], [{"code": p, **xf.items(2)} for p in ("P1", "P2")])
    spec = {"timepoint": "pre", "id": "code", "encoding": encoding}
    r = xf.run(xf.cohort(tmp_path, [("bom.csv", body.encode("utf-8-sig"), spec)]))
    assert r.valid["participant_id"].tolist() == ["P1", "P2"]


def test_a_bom_file_declared_in_another_encoding_still_stops(tmp_path):
    body = xf.table(["code", *xf.PSS], [{"code": "P1", **xf.items(2)}])
    spec = {"timepoint": "pre", "id": "code", "encoding": "cp1250"}
    text = _one_line_error(xf.cohort(tmp_path, [("bom.csv", body.encode("utf-8-sig"), spec)]))
    assert "bom.csv: starts with a UTF-8 byte-order mark" in text
    assert "Remove the `encoding:` key" in text


def test_a_missing_key_history_is_a_new_one_and_a_readable_one_is_read(tmp_path):
    path = tmp_path / "key_history.json"
    assert _key_history(str(path)) == []
    path.write_text(json.dumps({"fingerprints": ["aa11", "bb22"]}), encoding="utf-8")
    assert _key_history(str(path)) == ["aa11", "bb22"]


@pytest.mark.parametrize("content", ['{"fingerprints": ["aa1', "[]", '{"keys": []}',
                                     '{"fingerprints": "aa11"}', "\udcff"])  # fmt: skip
def test_a_damaged_key_history_stops_instead_of_being_overwritten(tmp_path, content):
    path = tmp_path / "key_history.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(InputError) as err:
        _key_history(str(path))
    text = str(err.value)
    assert text.startswith(f"{path}: the cohort's key history cannot be read")
    assert "Delete it to start a new history" in text and "\n" not in text
    assert path.read_bytes() == content.encode("utf-8", "surrogateescape")


@pytest.mark.parametrize(("fmt", "example"), [("sosci", " (e.g. SoSci −9, −1)"),
                                              ("limesurvey", " (e.g. LimeSurvey “N/A”)"),
                                              ("generic", "")])  # fmt: skip
def test_no_answer_codes_are_exemplified_by_the_file_s_own_platform(fmt, example):
    entry = {"format": fmt, "no_answer_codes_set_blank": {"Q1": 2, "Q2": 1}}
    assert file_details(entry)[1] == (f"3 answers coded as “no answer” by the platform{example} "
                                      "set missing, in 2 item columns")  # fmt: skip
