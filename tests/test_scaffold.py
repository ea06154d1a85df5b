"""``balint-analysis init`` → ``check`` on export sets in three layouts unlike the demo's.

For each simulated cohort (a clinic's Excel baseline and semicolon CSV follow-up with the group
in the files and no roster; SurveyMonkey; SoSci Survey), ``init`` must write the config a
researcher would (asserted key by key), leave only ``TODO`` markers for what the files cannot
tell, and — once those are answered — ``check`` must plan exactly the row accounting the
simulator recorded in ``truth.json``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from project_helpers import answer_todos, run_init, use_few_imputations

from balint_analysis.cli import main
from balint_analysis.config_schema import check_schema
from balint_analysis.errors import InputError

KEY = {"BALINT_ID_KEY": "a-long-test-key-0123456789abcdef"}


def simulate(tmp_path: Path, layout: str, cohort: str) -> Path:
    args = ["simulate", "--layout", layout, "--seed", "5", "--out", f"data/raw/{cohort}"]
    if layout != "tutorial":
        args += ["--preset", "small"]
    assert main(args) == 0
    return tmp_path / "data" / "raw" / cohort


def check(cohort: str, capsys) -> str:
    capsys.readouterr()
    rc = main(["check", "--config", f"config/{cohort}.yaml"])
    out = capsys.readouterr().out
    assert rc == 0, out
    return out


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k, v in KEY.items():
        monkeypatch.setenv(k, v)
    return tmp_path


def assert_flow_matches_truth(folder: Path, output: str) -> None:
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    for name, flow in truth["expected_flow"]["files"].items():
        line = next(x for x in output.splitlines() if x.strip().startswith("data/raw/")
                    and x.split(":")[0].endswith("/" + name))  # fmt: skip
        want = (f"{flow['rows_in']} rows = {flow['rows_accepted']} accepted + "
                f"{flow['rows_rejected']} rejected")  # fmt: skip
        assert want in line, (name, line)


def test_tutorial_layout(project, capsys):
    folder = simulate(project, "tutorial", "ward7")
    config = run_init("ward7")
    assert config["design"] == {"timepoints": ["baseline", "followup"],
                                "intervention": "Balint group", "control": "Comparison group",
                                "randomised": False}  # fmt: skip
    assert "participants" not in config
    assert [e["path"] for e in config["exports"]] == ["data/raw/ward7/baseline.xlsx",
                                                      "data/raw/ward7/followup.csv"]  # fmt: skip
    pre, post = config["exports"]
    assert pre == {"path": "data/raw/ward7/baseline.xlsx", "format": "excel",
                   "sheet": "Responses", "id": "Code", "timepoint": "baseline",
                   "group_column": "Group"}  # fmt: skip
    assert post == {"path": "data/raw/ward7/followup.csv", "format": "generic", "id": "code",
                    "timepoint": "followup", "group_column": "group",
                    "instruments": {"mbi_hss": "mbi_{i:02d}", "olbi": "olbi_{i:02d}"}}  # fmt: skip
    assert config["instruments"] == {"mbi_hss": "MBI{i}", "olbi": "OLBI{i}"}
    assert config["analysis"] == {"primary": "mbi_hss.emotional_exhaustion"}
    assert config["privacy"] == {"key_env": "BALINT_ID_KEY"}
    # The title is the one thing the files cannot tell: a TODO the schema check refuses.
    assert config["title"].startswith("TODO: the report's title")
    with pytest.raises(InputError, match="'title' is still TODO: the report's title"):
        check_schema(config)
    text = Path("config/ward7.yaml").read_text(encoding="utf-8")
    assert re.search(r"id: Code  # \d+ distinct codes, \d+ of them also in "
                     r"data/raw/ward7/followup.csv column 'code'", text)
    assert "22 columns MBI1 … MBI22" in text
    answer_todos(Path("config/ward7.yaml"), {"title": "Balint groups on ward 7"})
    assert_flow_matches_truth(folder, check("ward7", capsys))


def test_surveymonkey_layout(project, capsys):
    folder = simulate(project, "surveymonkey", "sm")
    config = run_init("sm")
    assert config["design"]["timepoints"] == ["pre", "post", "followup"]
    assert (config["design"]["intervention"], config["design"]["control"]) == ("balint",
                                                                                "control")
    assert config["participants"] == {"path": "data/raw/sm/participants.csv",
                                      "id": "participant_id", "group": "group",
                                      "cluster": "balint_group",
                                      "sessions": "sessions_attended"}  # fmt: skip
    exports = {Path(e["path"]).name: e for e in config["exports"]}
    assert list(exports) == ["pre_surveymonkey.csv", "post_surveymonkey.csv",
                             "followup_surveymonkey.csv"]  # fmt: skip
    for name, export in exports.items():
        assert (export["format"], export["id"]) == ("surveymonkey", "Q1")
        # Numerical-value exports hold option positions; the answer-text export does not.
        assert export.get("answer_codes") == (None if "followup" in name else "position")
    assert config["instruments"] == {"mbi_hss": "Q2_{i}", "pss10": "Q3_{i}", "cbi": "Q4_{i}",
                                     "who5": "Q5_{i}"}  # fmt: skip
    answer_todos(Path("config/sm.yaml"), {"title": "SurveyMonkey cohort"})
    assert_flow_matches_truth(folder, check("sm", capsys))


def test_sosci_layout(project, capsys):
    folder = simulate(project, "sosci", "sosci")
    config = run_init("sosci")
    exports = {Path(e["path"]).name: e for e in config["exports"]}
    assert list(exports) == ["pre_sosci.csv", "post_sosci.sav", "followup_sosci.csv"]
    for export in exports.values():
        assert (export["format"], export["id"], export["answer_codes"]) == (
            "sosci", "ID01_01", "position")
    assert [exports[n]["timepoint"] for n in exports] == ["pre", "post", "followup"]
    assert config["instruments"] == {"mbi_hss": "MB01_{i:02d}", "pss10": "PS01_{i:02d}",
                                     "cbi": "CB01_{i:02d}", "who5": "WH01_{i:02d}"}  # fmt: skip
    answer_todos(Path("config/sosci.yaml"), {"title": "SoSci cohort"})
    assert_flow_matches_truth(folder, check("sosci", capsys))


def test_undecidable_groups_are_todos_that_name_the_choices(project, capsys):
    folder = project / "data" / "raw" / "ab"
    folder.mkdir(parents=True)
    rows = ["code,arm," + ",".join(f"PSS_{i}" for i in range(1, 11))]
    for k in range(12):
        rows.append(f"C{k:02d},{'A' if k % 2 else 'B'}," + ",".join(str((k + i) % 5)
                                                                  for i in range(10)))  # fmt: skip
    (folder / "pre.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "post.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = run_init("ab")
    assert config["design"]["intervention"].startswith("TODO: which label is the Balint group: "
                                                       "'B' (12 rows), 'A' (12 rows)")
    assert config["instruments"] == {"pss10": "PSS_{i}"}
    capsys.readouterr()
    assert main(["check", "--config", "config/ab.yaml"]) == 1
    out = capsys.readouterr().out
    assert "config key 'design.intervention' is still TODO: which label is the Balint group" in out


def test_init_never_overwrites_and_refuses_an_empty_folder(project, capsys):
    simulate(project, "tutorial", "ward7")
    run_init("ward7")
    assert main(["init", "data/raw/ward7"]) == 1
    assert "exists; move it away or pass --force" in capsys.readouterr().err
    (project / "data" / "raw" / "empty").mkdir()
    assert main(["init", "data/raw/empty"]) == 1
    assert "no export found" in capsys.readouterr().err


@pytest.mark.e2e
def test_init_from_another_directory_then_run_from_anywhere(tmp_path):
    """The CLI through its installed script, from a directory that is not the project."""
    project = tmp_path / "proj"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, **KEY}
    cli = [sys.executable, "-m", "balint_analysis.cli"]
    subprocess.run([*cli, "simulate", "--layout", "tutorial", "--seed", "2", "--out",
                    str(project / "data/raw/clinic")], check=True, cwd=elsewhere, env=env,
                   capture_output=True)  # fmt: skip
    proc = subprocess.run([*cli, "init", str(project / "data/raw/clinic")], cwd=elsewhere,
                          env=env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    config = project / "config" / "clinic.yaml"
    text = config.read_text(encoding="utf-8").replace(
        config.read_text(encoding="utf-8").split("title: ", 1)[1].split("\n", 1)[0],
        "Clinic cohort")
    config.write_text(text, encoding="utf-8")
    use_few_imputations(config)
    proc = subprocess.run([*cli, "run", "--config", str(config), "--cores", "2"], cwd=elsewhere,
                          env=env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = project / "reports" / "clinic" / "report.html"
    assert f"Report: {report}" in proc.stderr
    html = report.read_text(encoding="utf-8")
    assert "Synthetic demo data" not in html and "demo pseudonymisation key" not in html
    assert not (elsewhere / "reports").exists() and not (elsewhere / "data").exists()


def test_redcap_export_with_its_data_dictionary(project, capsys):
    """A real-layout REDCap export (tests/fixtures) with its dictionary; one wave, named by
    nothing in the file: the timepoint is a TODO."""
    import shutil

    fixtures = Path(__file__).parent / "fixtures" / "exports" / "redcap"
    folder = project / "data" / "raw" / "rc"
    folder.mkdir(parents=True)
    for name in ("multiform.csv", "multiform_dictionary.csv"):
        shutil.copy(fixtures / name, folder / name)
    config = run_init("rc")
    (export,) = config["exports"]
    assert export["format"] == "redcap"
    assert export["dictionary"] == "data/raw/rc/multiform_dictionary.csv"
    # One file: nothing to tell REDCap's record id from the typed code; init asks.
    assert export["id"] == "TODO: which column holds the participant code: 'sgic', 'record_id'?"
    assert export["timepoint"].startswith("TODO: which timepoint are the responses of")
    assert config["instruments"] == {"pss10": "pss_{i}"}
    assert config["design"]["intervention"].startswith("TODO")  # no group column, no roster
