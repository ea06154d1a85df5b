"""Adapters on the layout corpus: exports written from real published files, not by our simulator.

``tests/fixtures/exports/`` reproduces the exact layouts of real exports (README.md there names
where each layout fact was seen); ``expected.yaml`` states, for each file, what a correct reading
is: the platform, the rows a correct pipeline rejects and why, and every accepted row's
participant and decoded PSS-10 answers. Each fixture runs through ingest and validation with a
config that names the items by the platform's variable names.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from balint_analysis.config import load_config
from balint_analysis.ingest import ingest, load_table
from balint_analysis.ingest.detect import detect_format
from balint_analysis.ingest.platforms import ADAPTERS
from balint_analysis.validate import NOT_A_RESPONSE, validate

FIXTURES = Path(__file__).parent / "fixtures" / "exports"
EXPECTED = yaml.safe_load((FIXTURES / "expected.yaml").read_text(encoding="utf-8"))
WHY = {
    "not_a_questionnaire_row": NOT_A_RESPONSE,
    "preview_test_spam": "preview, test or spam response",
    "incomplete": "incomplete response (not finished / form not complete)",
    "unmapped_timepoint": "timepoint not in design.timepoints",
    "no_participant_id": "no participant id",
    "duplicate": "duplicate submission",
}
PLATFORM = {"spss": "generic", "excel": "generic"}  # a plain .sav/.xlsx is read generically
EXPORTS = {k: v for k, v in EXPECTED.items() if "rows_in" in v}


@pytest.fixture(scope="module")
def binaries(tmp_path_factory) -> dict[str, Path]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("fixture_build", FIXTURES / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_all(tmp_path_factory.mktemp("binary-fixtures"))


def fixture_path(name: str, binaries: dict[str, Path], where: Path) -> Path:
    source = binaries[name.removeprefix("build:")] if name.startswith("build:") else FIXTURES / name
    target = where / source.name
    shutil.copy(source, target)
    return target


def answer_codes(expected: dict):
    coding = expected["pss10"].get("coding")
    if isinstance(coding, dict) and "map" in coding:
        return {str(k): v for k, v in coding["map"].items()}
    return None


def fixture_config(name: str, expected: dict, path: Path, where: Path,
                   dictionary: Path | None = None) -> dict:  # fmt: skip
    columns = expected["pss10"]["columns"]
    mapping = columns.get("template") or {int(k): v for k, v in columns["map"].items()}
    export = {"path": str(path), "id": expected["id_column"], "format": "auto",
              "instruments": {"pss10": mapping}}  # fmt: skip
    tp = expected["timepoint"]
    if "fixed" in tp:
        export["timepoint"] = tp["fixed"]
    else:
        export["timepoint_column"] = tp["column"]
        export["timepoint_values"] = {str(k): v for k, v in tp["values"].items()}
    codes = answer_codes(expected)
    if codes:
        export["answer_codes"] = codes
    if dictionary is not None:
        export["dictionary"] = str(dictionary)
    participants = sorted({a["participant"] for a in expected["accepted"]})
    roster = where / "roster.csv"
    roster.write_text("code,group\n" + "".join(f"{p},balint\n" for p in participants))
    return {
        "cohort": "fixture", "title": name,
        "design": {"timepoints": ["pre", "post"], "intervention": "balint"},
        "participants": {"path": str(roster), "id": "code", "group": "group"},
        "exports": [export], "instruments": {"pss10": mapping},
        "analysis": {"primary": "pss10.total"},
    }  # fmt: skip


def run(name: str, binaries, tmp_path, dictionary: Path | None = None):
    expected = EXPORTS[name]
    path = fixture_path(name, binaries, tmp_path)
    cfg = load_config(fixture_config(name, expected, path, tmp_path, dictionary))
    ingested = ingest(cfg)
    checked = validate(ingested.responses, ingested.roster, cfg, ingested.info)
    return expected, path, ingested, checked


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_platform_is_detected(name, binaries, tmp_path):
    expected = EXPORTS[name]
    table = load_table(str(fixture_path(name, binaries, tmp_path)), "fixture")
    assert detect_format(table) == PLATFORM.get(expected["format"], expected["format"])
    assert table.container == expected["container"]
    raw = ADAPTERS[detect_format(table)](table)
    assert raw.header_rows == expected.get("header_rows", 1)


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_rows_are_accounted_for_and_the_right_ones_rejected(name, binaries, tmp_path):
    expected, path, ingested, checked = run(name, binaries, tmp_path)
    entry = checked.flow["files"][0]
    assert entry["rows_in"] == expected["rows_in"]
    assert entry["rows_in"] == entry["rows_accepted"] + entry["rows_rejected"]
    assert entry["rows_rejected"] == len(expected["rejected_rows"])
    excluded = checked.rejected[checked.rejected["action"] == "row excluded"]
    for want in expected["rejected_rows"]:
        reasons = excluded.loc[excluded["row"] == want["row"], "reason"].tolist()
        assert any(r.startswith(WHY[want["why"]]) for r in reasons), (want, reasons)
    # Every reason a person reads is a sentence, never a raw check name.
    assert not checked.rejected["reason"].str.contains("failed check|not_nullable").any()


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_accepted_answers_are_decoded_to_the_instrument_codes(name, binaries, tmp_path):
    expected, path, ingested, checked = run(name, binaries, tmp_path)
    valid = checked.valid.set_index("row")
    items = [f"pss10__{i}" for i in range(1, 11)]
    assert sorted(valid.index) == sorted(a["row"] for a in expected["accepted"])
    for want in expected["accepted"]:
        got = valid.loc[want["row"]]
        assert got["participant_id"] == want["participant"]
        assert got["timepoint"] == want["timepoint"]
        values = [None if np.isnan(v) else v for v in got[items].astype(float)]
        assert values == want["pss10"], want["row"]


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_identifiers_and_metadata_never_leave_ingest(name, binaries, tmp_path):
    expected, path, ingested, checked = run(name, binaries, tmp_path)
    identifiers = {c.strip() for c in expected.get("identifier_columns", [])}
    identifiers |= {c.strip() for c in expected.get("free_text_columns", [])}
    carried = set(ingested.responses.columns) | set(checked.valid.columns)
    assert not identifiers & carried
    dropped = ingested.info["files"][0]["dropped_columns"]
    named = set(dropped["identifier"]) | set(dropped["free_text"]) | set(dropped["unused"])
    id_col = expected["id_column"]
    assert identifiers - {id_col} <= named


def test_redcap_data_dictionary_gives_the_forms(binaries, tmp_path):
    dictionary = FIXTURES / "redcap" / "multiform_dictionary.csv"
    expected, path, ingested, checked = run("redcap/multiform.csv", binaries, tmp_path,
                                            dictionary=dictionary)  # fmt: skip
    forms = ingested.info["files"][0]["redcap_forms"]
    assert forms == {"from": "dictionary", "pss10": "pss"}
    assert checked.flow["files"][0]["rows_rejected"] == len(expected["rejected_rows"])


def test_qualtrics_items_by_import_id_as_well_as_export_tag(binaries, tmp_path):
    for name in ("qualtrics/current.csv", "qualtrics/insights.csv"):
        expected = dict(EXPORTS[name])
        ids = expected["pss10"].get("import_ids") or {}
        template = ids.get("template") or "QID2_{i}"
        expected["pss10"] = {**expected["pss10"], "columns": {"template": template}}
        if name.endswith("insights.csv"):  # statement 10 was re-added: QID2-11
            expected["pss10"]["columns"] = {"map": {i: f"QID2_{i}" for i in range(1, 10)}
                                            | {10: "QID2_11"}}  # fmt: skip
        path = fixture_path(name, binaries, tmp_path)
        cfg = load_config(fixture_config(name, expected, path, tmp_path))
        ingested = ingest(cfg)
        checked = validate(ingested.responses, ingested.roster, cfg, ingested.info)
        assert len(checked.valid) == len(expected["accepted"])
        valid = checked.valid.set_index("row")
        items = [f"pss10__{i}" for i in range(1, 11)]
        for want in expected["accepted"]:
            got = valid.loc[want["row"]]
            assert got["participant_id"] == want["participant"]
            values = [None if np.isnan(v) else v for v in got[items].astype(float)]
            assert values == want["pss10"], (name, want["row"])


def test_column_map_names_the_export_columns_config_aliases_resolve_to(binaries, tmp_path):
    """A config may name the timepoint and group columns by Qualtrics ImportId; ingest.json
    names the columns the file calls them by (as it does for the participant id)."""
    name = "qualtrics/current.csv"
    path = fixture_path(name, binaries, tmp_path)
    raw = fixture_config(name, EXPORTS[name], path, tmp_path)
    export = raw["exports"][0]
    del export["timepoint"]
    export.update(timepoint_column="userLanguage", timepoint_values={"EN": "pre"},
                  group_column="QID3", id="QID1_TEXT")  # fmt: skip
    column_map = ingest(load_config(raw)).info["files"][0]["column_map"]
    assert (column_map["participant_id"], column_map["timepoint"], column_map["group"]) == (
        "Q1", "UserLanguage", "Q3")  # fmt: skip


def test_question_text_is_kept_as_a_label_not_the_identity(binaries, tmp_path):
    table = load_table(str(FIXTURES / "qualtrics" / "legacy.csv"), "fixture")
    raw = ADAPTERS["qualtrics"](table)
    assert {"Q2_1", "Q3_1", "ResponseID", "Finished"} <= set(raw.data.columns)
    assert raw.labels["Q2_1"].startswith("The questions in this scale")
    assert raw.labels["Q2_1"] == raw.labels["Q3_1"]  # repeated texts: never a reason to refuse


def test_spss_items_whose_labels_disagree_stop_with_the_columns(tmp_path):
    import pyreadstat

    from balint_analysis.errors import InputError

    labels = {0: "Never", 1: "Almost never", 2: "Sometimes", 3: "Fairly often", 4: "Very often"}
    shifted = {k + 1: v for k, v in labels.items()}
    df = pd.DataFrame({"code": ["A1", "B2"], **{f"pss{i:02d}": [1.0, 2.0] for i in range(1, 11)}})
    value_labels = {f"pss{i:02d}": (shifted if i <= 5 else labels) for i in range(1, 11)}
    path = tmp_path / "mixed.sav"
    pyreadstat.write_sav(df, str(path), variable_value_labels=value_labels)
    expected = {"id_column": "code", "timepoint": {"fixed": "pre"},
                "pss10": {"columns": {"template": "pss{i:02d}"}},
                "accepted": [{"participant": "A1"}]}  # fmt: skip
    cfg = load_config(fixture_config("mixed", expected, path, tmp_path))
    with pytest.raises(InputError, match="'pss01'.*'pss06'"):
        ingest(cfg)


@pytest.mark.parametrize(("name", "variant"), [("build:google_forms.xlsx", "xlsx"),
                                               ("forms/google_forms.csv", "csv"),
                                               ("build:microsoft_forms.xlsx", "xlsx")])
def test_forms_variant_names_the_container(name, variant, binaries, tmp_path):
    expected, path, ingested, checked = run(name, binaries, tmp_path)
    assert ingested.info["files"][0]["variant"] == variant


def test_redcap_items_across_forms_need_the_form_named(tmp_path):
    from balint_analysis.errors import InputError

    header = ["record_id", "sgic", *[f"pss_{i}" for i in range(1, 6)], "part_a_complete",
              *[f"pss_{i}" for i in range(6, 11)], "part_b_complete"]  # fmt: skip
    body = [["1", "AN12K", *["2"] * 5, "2", *["1"] * 5, "2"],
            ["2", "BM03Z", *["3"] * 5, "2", *["0"] * 5, "1"]]  # fmt: skip
    path = tmp_path / "split.csv"
    path.write_text("\n".join(",".join(r) for r in [header, *body]) + "\n", encoding="utf-8")
    expected = {"id_column": "sgic", "timepoint": {"fixed": "pre"},
                "pss10": {"columns": {"template": "pss_{i}"}},
                "accepted": [{"participant": "AN12K"}, {"participant": "BM03Z"}]}  # fmt: skip
    raw = fixture_config("split", expected, path, tmp_path)
    with pytest.raises(InputError, match=r"items of pss10 lie in REDCap forms part_a, part_b.*"
                                         r"exports\[\]\.forms"):
        ingest(load_config(raw))
    raw["exports"][0]["forms"] = {"pss10": "part_b"}
    cfg = load_config(raw)
    ingested = ingest(cfg)
    checked = validate(ingested.responses, ingested.roster, cfg, ingested.info)
    assert checked.valid["participant_id"].tolist() == ["AN12K"]  # part_b of BM03Z is 1
    assert ingested.info["files"][0]["redcap_forms"] == {"from": "column order",
                                                         "pss10": "part_b"}  # fmt: skip


def test_positions_read_as_codes_stop_the_run(binaries, tmp_path):
    """Qualtrics' default numbering (PSS 1-5) without answer_codes: never scored one too high."""
    from balint_analysis.errors import InputError

    name = "qualtrics/legacy.csv"
    expected = {**EXPORTS[name], "pss10": {**EXPORTS[name]["pss10"], "coding": "identity"}}
    path = fixture_path(name, binaries, tmp_path)
    cfg = load_config(fixture_config(name, expected, path, tmp_path))
    with pytest.raises(InputError, match=r"legacy.csv: Perceived Stress Scale.*answers run 1–5 "
                                         r"and 0 never occurs.*`answer_codes: position`"):
        ingest(cfg)


def test_codes_read_as_positions_stop_the_run(binaries, tmp_path):
    from balint_analysis.errors import InputError

    name = "qualtrics/current.csv"
    expected = {**EXPORTS[name], "pss10": {**EXPORTS[name]["pss10"], "coding": {"map": {
        str(k): v for k, v in zip(range(1, 6), range(5), strict=True)}}}}  # fmt: skip
    path = fixture_path(name, binaries, tmp_path)
    raw = fixture_config(name, expected, path, tmp_path)
    raw["exports"][0]["answer_codes"] = "position"
    with pytest.raises(InputError, match=r"`answer_codes: position` is set, but \d+ answers "
                                         r"are 0, which is no option position"):
        ingest(load_config(raw))
