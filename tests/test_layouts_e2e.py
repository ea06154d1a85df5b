"""Simulated SurveyMonkey and SoSci Survey cohorts: the same layout facts as the real exports,
then the whole workflow, with no identifier or platform metadata in what it writes.

The simulator's export writers are checked against the layout corpus written from published
exports (``tests/fixtures/exports/``): header rows, metadata columns and their order, byte
facts. Then a SurveyMonkey and a SoSci cohort run end to end through Snakemake, and every file
under ``data/processed/`` and ``reports/`` is searched for the identifiers the exports hold.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from project_helpers import FIXTURES, REPO, use_few_imputations

from balint_analysis.simulate import simulate_cohort, write_cohort


def rows(path: Path, encoding: str = "utf-8-sig", delimiter: str = ",") -> list[list[str]]:
    text = path.read_bytes().decode(encoding)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for layout in ("surveymonkey", "sosci"):
        folder = tmp_path_factory.mktemp(layout)
        write_cohort(simulate_cohort(preset="small", seed=8, layout=layout), folder,
                     layout=layout)  # fmt: skip
        out[layout] = folder
    return out


def test_surveymonkey_writer_follows_the_real_layout(written):
    real = rows(FIXTURES / "surveymonkey" / "expanded_numeric.csv")
    ours = rows(written["surveymonkey"] / "pre_surveymonkey.csv")
    assert ours[0][:9] == real[0][:9]  # the nine metadata columns, in order
    assert ours[1][:9] == [""] * 9  # row 2 is empty under the metadata
    assert ours[1][9] == real[1][9] == "Open-Ended Response"
    # A question spanning several columns has its text above the first one only.
    start = ours[0].index("Maslach Burnout Inventory (MBI-HSS)")
    assert ours[0][start + 1: start + 22] == [""] * 21
    assert not (written["surveymonkey"] / "pre_surveymonkey.csv").read_bytes().startswith(
        b"\xef\xbb\xbf")  # no BOM, as in the public export


def test_sosci_writer_follows_the_real_layout(written):
    real = FIXTURES / "sosci" / "data_balint_2024-06-12_09-14.csv"
    ours = written["sosci"] / "pre_sosci.csv"
    assert real.read_bytes()[:2] == ours.read_bytes()[:2] == b"\xff\xfe"  # UTF-16LE BOM
    real_header = rows(real, "utf-16", "\t")[0]
    our_header = rows(ours, "utf-16", "\t")[0]
    assert our_header[:6] == real_header[:6] == ["CASE", "SERIAL", "REF", "QUESTNNR", "MODE",
                                                 "STARTED"]  # fmt: skip
    tail = ["TIME_SUM", "MAILSENT", "LASTDATA", "FINISHED", "Q_VIEWER", "LASTPAGE", "MAXPAGE",
            "MISSING", "MISSREL", "TIME_RSI", "DEG_TIME"]  # fmt: skip
    assert our_header[-11:] == real_header[-11:] == tail
    # The R-data export writes FINISHED as T/F (as the public rdata file does), not 1/0.
    rdata = rows(written["sosci"] / "followup_sosci.csv", "utf-8", "\t")
    finished = rdata[0].index("FINISHED")
    assert {r[finished] for r in rdata[1:]} == {"T", "F"}


def test_demo_writers_follow_the_real_layouts():
    """Qualtrics, REDCap and LimeSurvey as the committed demo cohort writes them."""
    demo = REPO / "data" / "raw" / "demo"
    real = rows(FIXTURES / "qualtrics" / "current.csv")
    ours = rows(demo / "pre_qualtrics.csv")
    assert ours[0][:17] == real[0][:17]  # the 17 default metadata columns, in order
    assert all(c.startswith('{"ImportId":') for c in ours[2])  # JSON ImportId row 3
    real_ls = (FIXTURES / "limesurvey" / "codes.csv").read_bytes()
    ours_ls = (demo / "followup_limesurvey.csv").read_bytes()
    assert real_ls[:3] == ours_ls[:3] == b"\xef\xbb\xbf"  # BOM
    # CRLF line ends (a bare LF only inside a multi-line comment cell).
    assert ours_ls.endswith(b"\r\n") and ours_ls.count(b"\r\n") >= 0.9 * ours_ls.count(b"\n")
    assert rows(demo / "followup_limesurvey.csv")[0][:7] == rows(
        FIXTURES / "limesurvey" / "codes.csv")[0][:7]  # the system columns, in order
    redcap = rows(demo / "post_redcap.csv")[0]
    assert redcap[:2] == ["record_id", "redcap_event_name"]
    assert redcap[-1].endswith("_complete")  # each form ends with its status column


def identifiers(folder: Path) -> set[str]:
    """E-mails, IP addresses and names the simulated exports hold (never to be written)."""
    found: set[str] = set()
    for path in folder.iterdir():
        if path.suffix != ".csv" or path.name.startswith("truth"):
            continue
        text = path.read_bytes().decode("utf-16" if path.read_bytes()[:2] == b"\xff\xfe"
                                        else "utf-8-sig")  # fmt: skip
        found |= set(re.findall(r"[\w.+-]+@example\.org", text))
        found |= set(re.findall(r"\b(?:192\.0\.2|198\.51\.100|203\.0\.113)\.\d+\b", text))
    return found


@pytest.mark.e2e
@pytest.mark.parametrize("layout", ["surveymonkey", "sosci"])
def test_init_check_run_without_leaking_identifiers(layout, tmp_path):
    """init → (the TODO answered) → check → run, then no identifier in what was written."""
    sim = simulate_cohort(preset="small", seed=12, layout=layout)
    raw = tmp_path / "data" / "raw" / layout
    write_cohort(sim, raw, layout=layout)
    env = {**os.environ, "BALINT_ID_KEY": "a-key-for-the-layout-test-0123456789"}
    cli = [sys.executable, "-m", "balint_analysis.cli"]

    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*cli, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True)  # fmt: skip

    assert call("init", f"data/raw/{layout}").returncode == 0
    config = tmp_path / "config" / f"{layout}.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r"(?m)^title: .*$", "title: Layout cohort", text), encoding="utf-8")
    use_few_imputations(config)
    proc = call("check", "--config", str(config))
    assert proc.returncode == 0, proc.stdout[-2000:]
    proc = call("run", "--config", str(config), "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = [p for d in ("data/processed", "reports") for p in (tmp_path / d).rglob("*")
               if p.is_file()]  # fmt: skip
    assert any(p.name == "report.html" for p in written)
    secrets = identifiers(raw)
    assert len(secrets) > 10  # the exports do hold e-mail and IP addresses
    codes = set(sim.roster["participant_id"])
    for path in written:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not [s for s in secrets if s in text], path
        assert not [c for c in codes if re.search(rf"\b{re.escape(c)}\b", text)], path
    flow = (tmp_path / f"data/processed/{layout}/flow.json").read_text(encoding="utf-8")
    assert f'"format": "{layout}"' in flow
