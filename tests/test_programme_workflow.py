"""A programme end to end: docs/programme.md's commands run as written in a copy of the
repository (three simulated cohorts, one full run), then dry runs: nothing to do, and adding a
cohort plans that cohort's job and the pooled stage only."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from project_helpers import REPO, copy_repository

from balint_analysis.programme.dataset import META_CSV_COLUMNS

pytestmark = pytest.mark.e2e

ENV = {k: v for k, v in os.environ.items() if k not in ("BALINT_ID_KEY", "VIRTUAL_ENV")}


def _bash_block(markdown: Path) -> str:
    return re.findall(r"```bash\n(.*?)```", markdown.read_text(encoding="utf-8"), re.S)[0]


def _dry_run(work: Path) -> dict[str, int]:
    """Planned jobs per rule of a dry run of the example programme (``all`` left out)."""
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2",
                           "--configfile", "config/programme/example.yaml"], cwd=work,
                          capture_output=True, text=True, env=ENV, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    if "Nothing to be done" in done.stdout + done.stderr:
        return {}
    table = (done.stdout + done.stderr).split("Job stats:", 1)[1].split("total", 1)[0]
    counts = {}
    for line in table.splitlines()[3:]:
        if line.strip():
            rule, n = line.split()
            counts[rule] = int(n)
    counts.pop("all", None)
    return counts


@pytest.fixture(scope="module")
def programme_run(tmp_path_factory):
    work = copy_repository(tmp_path_factory.mktemp("programme"), link_venv=True)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", _bash_block(REPO / "docs" /
                           "programme.md")], cwd=work, capture_output=True, text=True, env=ENV,
                          check=False)  # fmt: skip
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return work, done


def test_documented_commands_write_the_pooled_files_and_report(programme_run):
    work, done = programme_run
    report = work / "reports" / "programmes" / "example" / "report.html"
    assert f"Report: {report}" in done.stderr
    folder = work / "data" / "processed" / "programmes" / "example"
    meta = pd.read_csv(folder / "meta.csv")
    assert list(meta.columns) == META_CSV_COLUMNS
    assert sorted(meta["site"].unique()) == ["Krakow", "Leipzig", "Utrecht"]
    # each row's effect is the cohort's own effects.csv row, never refitted
    effects = pd.read_csv(work / "data" / "processed" / "example_leipzig" / "effects.csv")
    mine = meta[meta["cohort"] == "example_leipzig"].merge(effects, on=["instrument", "scale",
                                                                        "timepoint"])
    assert len(mine) == len(effects) and (mine["estimate_x"] == mine["estimate_y"]).all()
    pooled = pd.read_csv(folder / "meta_analysis.csv")
    primary = pooled[(pooled["scale"] == "emotional_exhaustion") & (pooled["timepoint"] == "post")]
    assert sorted(primary["measure"]) == ["difference_in_change", "smd"]
    assert (primary["k"] == 3).all()
    assert len(pd.read_csv(folder / "leave_one_out.csv")) == 3 * len(pooled)
    assert (pd.read_csv(folder / "ipd.csv")["n_cohorts"] == 3).all()
    cohorts = json.loads((folder / "cohorts.json").read_text(encoding="utf-8"))["cohorts"]
    for entry in cohorts:  # links from the programme report reach each cohort's report
        assert (report.parent / entry["report"]).resolve().is_file()


def test_no_pseudonym_leaves_the_cohorts(programme_run):
    work, _ = programme_run
    pseudonyms = set()
    for cohort in ("example_krakow", "example_leipzig", "example_utrecht"):
        scores = pd.read_csv(work / "data" / "processed" / cohort / "scores.csv", dtype=str)
        pseudonyms |= set(scores["participant"])
    pattern = re.compile("|".join(map(re.escape, sorted(pseudonyms))))
    folders = [work / p / "programmes" for p in ("data/processed", "data/interim", "reports",
                                                   "logs")]  # fmt: skip
    files = [f for folder in folders for f in folder.rglob("*") if f.is_file()]
    assert files and not [f for f in files if pattern.search(f.read_text(encoding="utf-8"))]


def test_adding_a_cohort_reruns_that_cohort_and_the_pooled_stage_only(programme_run):
    work, _ = programme_run
    assert _dry_run(work) == {}
    config = yaml.safe_load((work / "config" / "example_utrecht.yaml").read_text("utf-8"))
    config["cohort"] = "example_extra"
    extra = work / "config" / "example_extra.yaml"
    extra.write_text(yaml.safe_dump(config), encoding="utf-8")
    programme_file = work / "config" / "programme" / "example.yaml"
    original = programme_file.read_text(encoding="utf-8")
    programme = yaml.safe_load(original)
    programme["programme"]["cohorts"].append({"config": "config/example_extra.yaml",
                                              "site": "Extra"})  # fmt: skip
    programme_file.write_text(yaml.safe_dump(programme), encoding="utf-8")
    try:
        assert _dry_run(work) == {"programme_cohort": 1, "programme_pool": 1,
                                  "programme_report": 1}  # fmt: skip
    finally:
        programme_file.write_text(original, encoding="utf-8")
        extra.unlink()


def test_a_cohort_rerun_on_its_own_is_pooled_at_the_next_programme_run(programme_run):
    work, _ = programme_run
    assert _dry_run(work) == {}
    # what the cohort's own run does to a file it re-makes: written anew and moved into place
    folder = work / "data" / "processed" / "example_krakow"
    fresh = folder / "emmeans.csv.rerun"
    fresh.write_bytes((folder / "emmeans.csv").read_bytes())
    os.replace(fresh, folder / "emmeans.csv")
    assert _dry_run(work) == {"programme_pool": 1, "programme_report": 1}


def test_a_broken_programme_config_is_one_line(tmp_path):
    (tmp_path / "config" / "programme").mkdir(parents=True)
    shutil.copy(REPO / "config" / "config.yaml", tmp_path / "config" / "demo.yaml")
    (tmp_path / "config" / "programme" / "p.yaml").write_text(yaml.safe_dump({"programme": {
        "name": "p", "title": "P", "cohorts": [{"config": "config/demo.yaml", "site": "A"}],
        "outcome": ["mbi_hss.emotional_exhaustion"]}}), encoding="utf-8")  # fmt: skip
    done = subprocess.run([str(REPO / ".venv" / "bin" / "balint-analysis"), "run", "--config",
                           "config/programme/p.yaml", "--", "-n"], cwd=tmp_path,
                          capture_output=True, text=True, env=ENV, check=False)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == ("balint-analysis: config/programme/p.yaml: config key "
                                   "'programme': unknown key 'outcome' (did you mean "
                                   "'outcomes'?); the keys here are name, title, cohorts, "
                                   "outcomes, primary_outcome, primary_timepoint, "
                                   "pool_standardised, alpha, min_cell_size.")
