"""Export layouts of the synthetic-cohort generator: real layout facts of the written bytes,
truth consistency, an independent reading of every file, determinism, the CLI and its config."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest
import yaml

from balint_analysis.cli import main
from balint_analysis.config import check_schema, load_config
from balint_analysis.errors import InputError
from balint_analysis.instruments import load_instrument
from balint_analysis.simulate import (
    LAYOUTS,
    PRESETS,
    SimulatedCohort,
    simulate_cohort,
    write_cohort,
    write_config,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SM_META = ["Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address",
           "Email Address", "First Name", "Last Name", "Custom Data 1"]  # fmt: skip
SOSCI_HEAD = ["CASE", "SERIAL", "REF", "QUESTNNR", "MODE", "STARTED"]
SOSCI_TAIL = ["TIME_SUM", "MAILSENT", "LASTDATA", "FINISHED", "Q_VIEWER", "LASTPAGE", "MAXPAGE",
              "MISSING", "MISSREL", "TIME_RSI", "DEG_TIME"]  # fmt: skip
SOSCI_ID = {"mbi_hss": "MB01", "pss10": "PS01", "cbi": "CB01", "who5": "WH01", "olbi": "OL01",
            "proqol5": "PQ01", "jse_hp": "JS01"}  # fmt: skip
MIN_ANSWERED = {("cbi", "personal"): 3, ("cbi", "work"): 4, ("cbi", "client"): 3}
NEW_LAYOUTS = ["tutorial", "surveymonkey", "sosci"]


@pytest.fixture(scope="module")
def cohorts() -> dict[str, SimulatedCohort]:
    return {
        "tutorial": simulate_cohort(seed=31, layout="tutorial"),
        "surveymonkey": simulate_cohort(preset="small", seed=32, layout="surveymonkey"),
        "sosci": simulate_cohort(preset="small", seed=33, layout="sosci"),
    }


# --- reading the written files independently --------------------------------------------------


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _sm_names(row1: list[str], width: int) -> list[str]:
    """SurveyMonkey columns as the pipeline addresses them: metadata by name, ``Q<n>`` or
    ``Q<n>_<k>`` (a block starts at each non-empty row-1 cell after the metadata)."""
    starts = [j for j in range(len(SM_META), width) if row1[j] != ""]
    names = list(SM_META)
    for n, (a, b) in enumerate(zip(starts, [*starts[1:], width], strict=True), start=1):
        names += [f"Q{n}"] if b - a == 1 else [f"Q{n}_{k}" for k in range(1, b - a + 1)]
    return names


def read_file(name: str, data: bytes, tmp_path: Path) -> pd.DataFrame:
    """A written export as strings with its spreadsheet ``row`` numbers (header rows counted)."""
    if name.endswith(".xlsx"):
        sheet = openpyxl.load_workbook(io.BytesIO(data))["Responses"]
        rows = [[_cell(v) for v in r] for r in sheet.iter_rows(values_only=True)]
        header, body, first = rows[0], rows[1:], 2
    elif name.endswith(".sav"):
        path = tmp_path / name
        path.write_bytes(data)
        df, _ = pyreadstat.read_sav(str(path), user_missing=True)
        header, body, first = list(df.columns), [[_cell(v) for v in r] for r in
                                                 df.itertuples(index=False)], 2  # fmt: skip
    elif "surveymonkey" in name:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        header, body, first = _sm_names(rows[0], len(rows[0])), rows[2:], 3
    elif "sosci" in name:
        text = data.decode("utf-16") if data[:2] == b"\xff\xfe" else data.decode("utf-8")
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t"))
        header, body, first = rows[0], rows[1:], 2
    else:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
        header, body, first = rows[0], rows[1:], 2
    df = pd.DataFrame(body, columns=header, dtype=str)
    return df.assign(row=np.arange(first, first + len(df)))


def _columns(entry: dict, top: dict, inst_id: str) -> list[str]:
    template = entry.get("instruments", top)[inst_id]
    return [template.format(i=i) for i in load_instrument(inst_id).items]


def _decode(values: pd.Series, inst_id: str, coding: str) -> pd.Series:
    inst = load_instrument(inst_id)
    text = values.str.strip()
    if coding == "label":  # an option without a label (JSE 2-6) shows its number
        table = {str(v): float(v) for v in inst.allowed_values}
        table |= {str(v).lower(): float(k) for k, v in inst.response_labels.items()}
        return text.str.lower().map(table).astype(float)
    num = pd.to_numeric(text, errors="coerce")
    if coding == "position":
        allowed = pd.Series(inst.allowed_values, index=range(1, len(inst.allowed_values) + 1))
        return num.map(allowed).astype(float)
    return num.where(num.isin(inst.allowed_values))


def reference_scores(cohort: SimulatedCohort, config: dict, tmp_path: Path) -> pd.DataFrame:
    """Apply each platform's documented rules to the bytes and score, without the generator."""
    roster = None
    if "participants" in config:
        roster = set(pd.read_csv(io.BytesIO(cohort.files["participants.csv"]), dtype=str)
                     ["participant_id"])  # fmt: skip
    frames = []
    for entry in config["exports"]:
        name = Path(entry["path"]).name
        df = read_file(name, cohort.files[name], tmp_path)
        pid = df[entry["id"]].str.strip()
        keep = pid != ""
        if roster is not None:
            keep &= pid.isin(roster)
        if "MODE" in df:  # SoSci: respondents only, finished only
            keep &= (df["MODE"] == "interview") & df["FINISHED"].isin(["1", "T"])
        if "End Date" in df:  # SurveyMonkey: the latest End Date; SoSci: the latest start
            order = df["End Date"]
        elif "STARTED" in df:
            order = df["STARTED"]
        else:  # no submission time: the later row
            order = pd.Series(np.arange(len(df)), index=df.index)
        df = df.assign(participant_id=pid, _order=order)[keep].sort_values("_order", kind="stable")
        df = df.drop_duplicates("participant_id", keep="last")
        coding = "position" if entry.get("answer_codes") == "position" else (
            "label" if entry["format"] == "surveymonkey" else "code")  # fmt: skip
        for inst_id in config["instruments"]:
            cols = _columns(entry, config["instruments"], inst_id)
            values = pd.DataFrame({i: _decode(df[c], inst_id, coding).to_numpy()
                                   for i, c in enumerate(cols, start=1)})  # fmt: skip
            frames.append((df["participant_id"].to_numpy(), entry["timepoint"], inst_id, values))
    out = []
    for pids, tp, inst_id, x in frames:
        inst = load_instrument(inst_id)
        lo, hi = inst.response_min, inst.response_max
        for sid, scale in inst.scales.items():
            cols = x[list(scale.items)].copy()
            for i in scale.reverse:
                cols[i] = lo + hi - cols[i]
            need = MIN_ANSWERED.get((inst_id, sid), np.ceil(0.8 * len(scale.items)))
            mean = cols.mean(axis=1)
            score = {"sum": mean * len(scale.items), "mean": mean,
                     "percent": (mean - lo) / (hi - lo) * 100}[scale.method]  # fmt: skip
            out.append(pd.DataFrame({"participant_id": pids, "timepoint": tp, "instrument": inst_id,
                                     "scale": sid,
                                     "score": score.where(cols.notna().sum(axis=1) >= need)}))
    return pd.concat(out, ignore_index=True)


def _config(cohort: SimulatedCohort, tmp_path: Path) -> dict:
    path = write_config(cohort, tmp_path / "data", tmp_path / "c.yaml", cohort_name="c")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- layout facts of the bytes ----------------------------------------------------------------


def test_tutorial_workbook_and_csv(cohorts, tmp_path):
    c = cohorts["tutorial"]
    assert list(c.files) == ["baseline.xlsx", "followup.csv", "truth_scores.csv", "truth.json"]
    assert c.roster is None and c.params.instruments == ("mbi_hss", "olbi")
    assert PRESETS["tutorial"].n_per_arm == 30 and PRESETS["tutorial"].n_balint_groups == 3
    book = openpyxl.load_workbook(io.BytesIO(c.files["baseline.xlsx"]))
    assert book.sheetnames == ["Responses"]
    sheet = book["Responses"]
    header = [v for v in next(sheet.iter_rows(values_only=True))]
    assert header == ["Code", "Group", "Date", *[f"MBI{i}" for i in range(1, 23)],
                      *[f"OLBI{i}" for i in range(1, 17)], "Email"]  # fmt: skip
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert all(isinstance(r[2], dt.datetime) for r in rows)  # a date cell
    items = [v for r in rows for v in r[3:-1] if v is not None]
    assert sum(isinstance(v, int) for v in items) == len(items) - 1 and "n/a" in items
    assert {r[1] for r in rows} == {"Balint group", "Comparison group"}
    assert all(e is None or e.endswith("@example.org") for e in (r[-1] for r in rows))
    core = zipfile.ZipFile(io.BytesIO(c.files["baseline.xlsx"])).read("docProps/core.xml")
    assert b">2025-10-02T17:00:00Z</dcterms:modified>" in core
    data = c.files["followup.csv"]
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data and b"\n" not in data.replace(
        b"\r\n", b"")  # fmt: skip
    head = data[3:].split(b"\r\n")[0].decode().split(";")
    assert head == ["code", "group", "submitted", *[f"mbi_{i:02d}" for i in range(1, 23)],
                    *[f"olbi_{i:02d}" for i in range(1, 17)]]  # fmt: skip
    post = read_file("followup.csv", data, tmp_path)
    assert post["submitted"].str.fullmatch(r"\d\d\.\d\d\.2026 \d\d:\d\d").all()
    pre = read_file("baseline.xlsx", c.files["baseline.xlsx"], tmp_path)
    codes = set(pre["Code"]) | set(post["code"])
    assert all(re.fullmatch(r"[A-Z]{2}(0[1-9]|[12]\d|3[01])[A-Z]", x) for x in codes - {""})
    # the same person writes the same code in both waves
    ts = c.truth_scores[c.truth_scores["accepted"] & (c.truth_scores["scale"] == "exhaustion")]
    both = set(ts.loc[ts["timepoint"] == "pre", "participant_id"]) & set(
        ts.loc[ts["timepoint"] == "post", "participant_id"])  # fmt: skip
    assert both and both <= set(pre["Code"]) & set(post["code"])
    group_of = dict(zip(ts["participant_id"], ts["group"], strict=False))
    for df, code, group in ((pre, "Code", "Group"), (post, "code", "group")):
        named = df[df[code].isin(group_of)]
        assert (named[group] == named[code].map(group_of)).all()


def test_surveymonkey_two_header_rows_and_position_coding(cohorts, tmp_path):
    c = cohorts["surveymonkey"]
    data = c.files["pre_surveymonkey.csv"]
    assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    row1, row2 = rows[0], rows[1]
    assert row1[:9] == SM_META and row2[:9] == [""] * 9
    assert row1[9] == "Your study code (from your invitation letter)"
    assert row2[9] == row2[-1] == "Open-Ended Response"
    start = 10
    for inst_id in c.params.instruments:
        n = load_instrument(inst_id).n_items
        assert row1[start] != "" and row1[start + 1:start + n] == [""] * (n - 1)
        stem = {"mbi_hss": "MBI", "pss10": "PSS", "cbi": "CBI", "who5": "WHO-5"}[inst_id]
        assert row2[start:start + n] == [f"{stem} item {i}" for i in range(1, n + 1)]
        start += n
    assert row1[start] == "Anything else you would like to tell us?" and start == len(row1) - 1
    df = read_file("pre_surveymonkey.csv", data, tmp_path)
    assert df["Respondent ID"].str.fullmatch(r"\d{12}").all()
    assert df["Collector ID"].str.fullmatch(r"\d{9}").all() and df["Collector ID"].nunique() == 1
    assert df["End Date"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    assert list(df["End Date"]) == sorted(df["End Date"], reverse=True)  # newest first
    assert list(df["Respondent ID"]) == sorted(df["Respondent ID"], reverse=True)
    assert (df[["Email Address", "First Name", "Last Name", "Custom Data 1"]] == "").all().all()
    mbi = df[[f"Q2_{i}" for i in range(1, 23)]]
    values = set(mbi.to_numpy().ravel()) - {""}
    assert values == {str(k) for k in range(1, 9)}  # positions 1-7, one 8 ("Not applicable")
    cbi = df[[f"Q4_{i}" for i in range(1, 20)]]
    assert set(cbi.to_numpy().ravel()) - {""} <= {"1", "2", "3", "4", "5"}
    fu = read_file("followup_surveymonkey.csv", c.files["followup_surveymonkey.csv"], tmp_path)
    labels = set(load_instrument("mbi_hss").response_labels.values())
    cells = set(fu[[f"Q2_{i}" for i in range(1, 23)]].to_numpy().ravel()) - {""}
    assert cells == labels | {"Not applicable"}
    config = _config(c, tmp_path)
    assert config["instruments"] == {"mbi_hss": "Q2_{i}", "pss10": "Q3_{i}", "cbi": "Q4_{i}",
                                     "who5": "Q5_{i}"}  # fmt: skip
    assert [e.get("answer_codes") for e in config["exports"]] == ["position", "position", None]
    assert {e["id"] for e in config["exports"]} == {"Q1"}


def test_sosci_three_downloads(cohorts, tmp_path):
    c = cohorts["sosci"]
    items = [f"{SOSCI_ID[k]}_{i:02d}" for k in c.params.instruments
             for i in load_instrument(k).items]  # fmt: skip
    pages = len(c.params.instruments) + 2
    header = [*SOSCI_HEAD, *items, "ID01_01", *[f"TIME{p:03d}" for p in range(1, pages + 1)],
              *SOSCI_TAIL]  # fmt: skip
    raw = c.files["pre_sosci.csv"]
    assert raw[:2] == b"\xff\xfe" and raw[2:4] == b'"\x00'  # UTF-16LE BOM, quoted field
    text = raw.decode("utf-16")
    lines = text.split("\r\n")
    assert lines[-1] == "" and "\n" not in "".join(lines)
    assert all(f.startswith('"') and f.endswith('"') for line in lines[:-1]
               for f in line.split("\t"))  # fmt: skip
    pre = read_file("pre_sosci.csv", raw, tmp_path)
    assert list(pre.columns[:-1]) == header
    cells = set(pre[items].to_numpy().ravel())
    assert {"-9", "-1"} <= cells and cells - {"", "-9", "-1"} <= {str(k) for k in range(1, 8)}
    assert set(pre["MODE"]) == {"interview", "pretest"} and set(pre["FINISHED"]) == {"0", "1"}
    unfinished = pre[pre["FINISHED"] == "0"].iloc[0]
    assert unfinished["LASTPAGE"] == unfinished["MAXPAGE"] and int(unfinished["LASTPAGE"]) < pages
    assert (pre.loc[pre["FINISHED"] == "1", "LASTPAGE"] == str(pages)).all()
    cases = pre["CASE"].astype(int)
    assert cases.is_monotonic_increasing and (cases.diff().dropna() >= 1).all()
    path = tmp_path / "post.sav"
    path.write_bytes(c.files["post_sosci.sav"])
    df, meta = pyreadstat.read_sav(str(path), user_missing=True)
    assert list(df.columns) == header
    assert meta.missing_ranges["MB01_01"] == [{"lo": -9.0, "hi": -9.0}, {"lo": -1.0, "hi": -1.0}]
    assert meta.variable_value_labels["MB01_01"][-9.0] == "Not answered"
    assert meta.variable_value_labels["FINISHED"] == {0.0: "Canceled", 1.0: "Finished"}
    assert (df[items] == -9).any().any() and set(df["MODE"]) == {"interview", "debug"}
    assert pd.api.types.is_datetime64_any_dtype(df["STARTED"])
    plain, _ = pyreadstat.read_sav(str(path))  # default read: user-missing -> NaN
    assert not (plain[items] < 0).any().any()
    assert c.files["post_sosci.sav"][92:109] == b"08 Apr 2618:00:00"
    rdata = c.files["followup_sosci.csv"]
    assert not rdata.startswith(b"\xef\xbb\xbf") and b"\r" not in rdata
    first, second = rdata.decode("utf-8").split("\n")[:2]
    assert first.split("\t") == [f'"{h}"' for h in header]
    fields = dict(zip(header, second.split("\t"), strict=True))
    assert fields["QUESTNNR"] == '"fu"' and fields["MODE"] == '"interview"'
    assert fields["FINISHED"] in ("T", "F") and fields["Q_VIEWER"] == "F"
    assert fields["ID01_01"].startswith('"P') and re.fullmatch(r"-?\d+", fields["MB01_01"])
    fu = read_file("followup_sosci.csv", rdata, tmp_path)
    assert set(fu["FINISHED"]) == {"T", "F"}


# --- truth consistency -------------------------------------------------------------------------


@pytest.mark.parametrize("layout", NEW_LAYOUTS)
def test_truth_accounts_for_every_file_and_row(cohorts, layout, tmp_path):
    c = cohorts[layout]
    t = c.truth
    assert t["layout"] == layout and t["preset"] == c.params.name
    for name, facts in t["files"].items():
        assert facts["sha256"] == hashlib.sha256(c.files[name]).hexdigest()
    flows = t["expected_flow"]["files"]
    assert list(flows) == [f.name for f in c.export_files]
    for name, f in flows.items():
        df = read_file(name, c.files[name], tmp_path)
        assert f["rows_in"] == len(df) == t["files"][name]["records"]
        assert f["rows_in"] == f["rows_accepted"] + f["rows_rejected"]
        mine = [p for p in t["problems"] if p["file"] == name]
        excluded = [p for p in mine if p["action"] == "row excluded"]
        assert f["rows_rejected"] == len(excluded) == sum(f["rejected_by_kind"].values())
        assert sum(f["rejected_by_reason"].values()) == len(excluded)
        assert f["items_invalidated"] == len(mine) - len(excluded)
        assert f["items_missing"] == sum(m["file"] == name for m in t["missing_items"])
        id_column = next(e.id_column for e in c.export_files if e.name == name)
        for p in mine:
            record = df[df["row"] == p["row"]].iloc[0]
            assert record[p["column"]] == p["value"], p
            assert record[id_column] == p["participant_id"], p
            if "kept_row" in p:
                kept = df[df["row"] == p["kept_row"]].iloc[0]
                assert kept[id_column] == p["participant_id"]
        for m in (m for m in t["missing_items"] if m["file"] == name):
            assert df.loc[df["row"] == m["row"], m["column"]].iloc[0] == m.get("value", "")
    ts = c.truth_scores[c.truth_scores["scale"] == c.params.scales[0].scale]
    observed = ts[ts["accepted"]].groupby(["group", "timepoint"]).size()
    for group, counts in t["expected_flow"]["observed"].items():
        assert group in LAYOUTS[layout].labels
        for tp, n in counts.items():
            assert observed[(group, tp)] == n
    assert set(c.truth_scores["timepoint"]) == set(LAYOUTS[layout].timepoints)


def test_problem_kinds_per_layout(cohorts):
    kinds = {name: sorted((p["file"], p["kind"]) for p in c.truth["problems"])
             for name, c in cohorts.items()}  # fmt: skip
    assert kinds["tutorial"] == sorted([
        ("baseline.xlsx", "duplicate_submission"), ("baseline.xlsx", "no_participant_id"),
        ("baseline.xlsx", "out_of_range"), ("baseline.xlsx", "text_in_numeric"),
        ("followup.csv", "duplicate_submission"), ("followup.csv", "no_participant_id"),
        ("followup.csv", "out_of_range")])  # fmt: skip
    assert kinds["surveymonkey"] == sorted([
        ("pre_surveymonkey.csv", "duplicate_submission"), ("pre_surveymonkey.csv", "out_of_range"),
        ("post_surveymonkey.csv", "no_participant_id"),
        ("post_surveymonkey.csv", "unknown_participant"),
        ("followup_surveymonkey.csv", "duplicate_submission"),
        ("followup_surveymonkey.csv", "not_a_choice")])  # fmt: skip
    assert kinds["sosci"] == sorted([
        ("pre_sosci.csv", "test_response"), ("pre_sosci.csv", "unfinished"),
        ("pre_sosci.csv", "duplicate_submission"), ("post_sosci.sav", "test_response"),
        ("post_sosci.sav", "unfinished"), ("followup_sosci.csv", "duplicate_submission"),
        ("followup_sosci.csv", "unfinished")])  # fmt: skip
    sosci = cohorts["sosci"].truth["expected_flow"]["files"]
    assert all(set(f["items_missing_by_code"]) == {"-9", "-1"} for f in sosci.values())
    assert sum(f["items_missing_by_code"]["-1"] for f in sosci.values()) > 0


@pytest.mark.parametrize("layout", NEW_LAYOUTS)
def test_expected_scores_match_an_independent_reading(cohorts, layout, tmp_path):
    c = cohorts[layout]
    ref = reference_scores(c, _config(c, tmp_path), tmp_path)
    keys = ["participant_id", "timepoint", "instrument", "scale"]
    ref = ref.set_index(keys)
    truth = c.truth_scores.set_index(keys)
    accepted = truth[truth["accepted"]]
    generating = {(s.instrument, s.scale) for s in c.params.scales}
    assert sorted(ref.index) == sorted(accepted.index)
    joined = ref.join(accepted["expected"])
    assert np.allclose(joined["score"], joined["expected"], equal_nan=True, atol=1e-9)
    clean = accepted[accepted["expected"].notna()]
    assert np.isclose(clean["expected"], clean["observed"]).mean() > 0.8
    assert {(i, s) for _, _, i, s in accepted.index} >= generating


def test_layouts_share_people_and_answers():
    demo = simulate_cohort(preset="small", seed=41)
    for layout in ("surveymonkey", "sosci"):
        other = simulate_cohort(preset="small", seed=41, layout=layout)
        for col in ("participant_id", "group", "timepoint", "latent", "observed", "responded"):
            assert other.truth_scores[col].equals(demo.truth_scores[col]), (layout, col)
        assert other.files["participants.csv"] == demo.files["participants.csv"]
    tut = simulate_cohort(preset="small", seed=41, layout="tutorial")
    two = demo.truth_scores[demo.truth_scores["timepoint"] != "followup"].reset_index(drop=True)
    assert np.allclose(tut.truth_scores["latent"], two["latent"])
    assert tut.truth["design"]["intervention"] == "Balint group"


@pytest.mark.parametrize("layout", NEW_LAYOUTS)
def test_same_seed_same_bytes_other_seed_other_bytes(cohorts, layout):
    c = cohorts[layout]
    again = simulate_cohort(c.params, seed=c.seed, layout=layout)
    assert again.files == c.files
    other = simulate_cohort(c.params, seed=c.seed + 1, layout=layout)
    assert list(other.files) == list(c.files)
    for name in c.files:
        assert other.files[name] != c.files[name], name


@pytest.mark.parametrize("layout", ["surveymonkey", "sosci", "tutorial"])
def test_every_battery_and_clean_cohorts(layout):
    survey = simulate_cohort(preset="survey", seed=5, layout=layout)
    names = [f.name for f in survey.export_files]
    assert survey.truth["expected_flow"]["files"].keys() == set(names)
    clean = simulate_cohort(dataclasses.replace(PRESETS["small"], inject_problems=False),
                            seed=5, layout=layout)
    assert clean.truth["problems"] == []
    for f in clean.truth["expected_flow"]["files"].values():
        assert f["rows_rejected"] == 0 and f["items_invalidated"] == 0


# --- API, CLI and config ----------------------------------------------------------------------


def test_demo_layout_is_the_default(tmp_path):
    a = simulate_cohort(preset="small", seed=7)
    b = simulate_cohort(preset="small", seed=7, layout="demo")
    assert a.files == b.files and a.layout == "demo" and "layout" not in a.truth
    config = _config(a, tmp_path)
    assert config["synthetic"] == {"seed": 7, "preset": "small"}


def test_bad_layouts_are_refused(cohorts, tmp_path):
    with pytest.raises(InputError, match="Unknown export layout 'paper'"):
        simulate_cohort(seed=1, layout="paper")
    with pytest.raises(ValueError, match="simulated with layout 'sosci'"):
        write_cohort(cohorts["sosci"], tmp_path, layout="demo")
    with pytest.raises(ValueError, match="simulated with layout 'tutorial'"):
        write_config(cohorts["tutorial"], tmp_path, tmp_path / "c.yaml", cohort_name="c",
                     layout="sosci")  # fmt: skip
    assert main(["simulate", "--layout", "paper", "--seed", "1", "--out", str(tmp_path)]) == 1


@pytest.mark.parametrize("layout", NEW_LAYOUTS)
def test_cli_writes_a_schema_valid_config(layout, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["simulate", "--layout", layout, "--seed", "9", "--out", f"data/raw/{layout}",
            "--config-out", f"config/{layout}.yaml"]  # fmt: skip
    if layout != "tutorial":
        argv += ["--preset", "small"]
    assert main(argv) == 0
    raw = yaml.safe_load(Path(f"config/{layout}.yaml").read_text(encoding="utf-8"))
    check_schema(raw, SCHEMA)
    assert raw["synthetic"] == {"seed": 9, "preset": "tutorial" if layout == "tutorial" else
                                "small", "layout": layout}  # fmt: skip
    for entry in raw["exports"]:
        assert Path(entry["path"]).is_file()
    truth = json.loads(Path(f"data/raw/{layout}/truth.json").read_text(encoding="utf-8"))
    assert truth["layout"] == layout and raw["design"]["timepoints"] == truth["design"][
        "timepoints"]  # fmt: skip
    # the typed view finds every mapped item column in the files
    cfg = load_config(raw)
    for spec, entry in zip(cfg.exports, raw["exports"], strict=True):
        name = Path(entry["path"]).name
        df = read_file(name, Path(entry["path"]).read_bytes(), tmp_path)
        for inst_id in cfg.instruments:
            assert set(cfg.columns_for(spec, inst_id).values()) <= set(df.columns), name
        assert spec.id in df.columns


def test_tutorial_config_reads_the_group_from_each_file(tmp_path):
    c = simulate_cohort(seed=3, layout="tutorial")
    raw = _config(c, tmp_path)
    assert "participants" not in raw and raw["analysis"]["covariates"] == []
    assert raw["design"] == {"timepoints": ["pre", "post"], "intervention": "Balint group",
                             "control": "Comparison group", "randomised": False}  # fmt: skip
    base, post = raw["exports"]
    assert base == {"path": f"{tmp_path}/data/baseline.xlsx", "format": "excel",
                    "sheet": "Responses", "timepoint": "pre", "id": "Code",
                    "group_column": "Group"}  # fmt: skip
    assert post["group_column"] == "group" and post["delimiter"] == ";"
    assert post["instruments"] == {"mbi_hss": "mbi_{i:02d}", "olbi": "olbi_{i:02d}"}
    assert raw["instruments"] == {"mbi_hss": "MBI{i}", "olbi": "OLBI{i}"}
    effects = c.truth["true_effects"]
    assert effects["olbi.exhaustion"] == {"post": -0.15}
    assert c.truth["expected_flow"]["roster"] is None
    assert set(c.truth["expected_flow"]["enrolled"]) == {"Balint group", "Comparison group"}
