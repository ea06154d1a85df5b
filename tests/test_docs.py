"""The README's and the tutorial's commands, run exactly as written in a copy of the repository.

The first round of this project passed every test and still failed its first real user: the
tests wrote a temporary ``config/config.yaml``, so nobody ran the documented own-cohort
commands with a second config. Here the demo is run first (the README's ``make run``), then the
tutorial (``docs/tutorial.md``, every ``bash`` block in order) and the README's own-cohort
blocks on cohorts whose instruments, layouts and keys differ from the demo's; afterwards the
demo's outputs must be byte-identical and nothing of the demo may show in the other cohorts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from project_helpers import REPO, answer_todos, copy_repository

pytestmark = pytest.mark.e2e


def bash_blocks(markdown: Path) -> list[str]:
    """The ``bash`` code blocks of a Markdown file, in order."""
    return re.findall(r"```bash\n(.*?)```", markdown.read_text(encoding="utf-8"), re.S)


def sh(workdir: Path, script: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("BALINT_ID_KEY", "VIRTUAL_ENV")}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workdir,
                          capture_output=True, text=True, env={**base, **(env or {})})  # fmt: skip
    assert proc.returncode == 0, f"{script}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n" \
                                 f"{proc.stderr[-3000:]}"
    return proc


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    work = copy_repository(tmp_path_factory.mktemp("repo"), link_venv=True)
    sh(work, "make run")  # the README's first command: the demo
    return work


def assert_flow_is_the_truth(work: Path, cohort: str, raw: str) -> None:
    truth = json.loads((work / raw / "truth.json").read_text(encoding="utf-8"))
    flow = json.loads((work / f"data/processed/{cohort}/flow.json").read_text(encoding="utf-8"))
    got = {Path(f["source"]).name: (f["rows_in"], f["rows_accepted"], f["rows_rejected"])
           for f in flow["files"]}  # fmt: skip
    want = {name: (f["rows_in"], f["rows_accepted"], f["rows_rejected"])
            for name, f in truth["expected_flow"]["files"].items()}  # fmt: skip
    assert got == want


def assert_nothing_of_the_demo(work: Path, cohort: str) -> None:
    html = (work / f"reports/{cohort}/report.html").read_text(encoding="utf-8")
    assert "Synthetic demo data" not in html  # the cohort's config has no `synthetic:` key
    assert "demo pseudonymisation key" not in html and "DEMO key" not in html
    pseudo = json.loads((work / f"data/processed/{cohort}/pseudonymisation.json").read_text())
    assert pseudo["demo_key_used"] is False
    assert "data/raw/demo" not in (work / f"data/processed/{cohort}/flow.json").read_text()


def test_tutorial_then_readme_leave_the_demo_untouched(copy):
    demo_before = digests(copy / "data/processed/demo") | digests(copy / "reports/demo")
    # `make run` imputed with the documented default (M = 50); other end-to-end tests use fewer.
    pooled = pd.read_csv(copy / "data/processed/demo/missing_data.csv")
    mar = pooled[pooled["scenario"] == "mar"]
    assert len(mar) and (mar["m"] == 50).all() and mar["estimate"].notna().all()

    # The tutorial, every bash block in order, as one shell session.
    proc = sh(copy, "\n".join(bash_blocks(REPO / "docs/tutorial.md")))
    assert "check found the slip" in proc.stdout
    assert f"Report: {copy}/reports/ward7/report.html" in proc.stderr
    assert_flow_is_the_truth(copy, "ward7", "data/raw/ward7")
    assert_nothing_of_the_demo(copy, "ward7")

    # The README's own cohort: SoSci Survey exports with a roster, copied into data/raw/pilot/.
    sh(copy, ".venv/bin/balint-analysis simulate --layout sosci --preset small --seed 3 "
             "--out data/raw/pilot")  # fmt: skip
    first, second = bash_blocks(REPO / "README.md")[1:3]
    sh(copy, first)
    answer_todos(copy / "config/pilot.yaml", {"title": "Pilot cohort"})
    proc = sh(copy, second)
    assert "Ready: nothing was written" in proc.stdout
    assert f"Report: {copy}/reports/pilot/report.html" in proc.stderr
    assert_flow_is_the_truth(copy, "pilot", "data/raw/pilot")
    assert_nothing_of_the_demo(copy, "pilot")

    demo_after = digests(copy / "data/processed/demo") | digests(copy / "reports/demo")
    assert demo_after == demo_before
    # Plain snakemake still analyses the default cohort, and finds it up to date.
    proc = sh(copy, ".venv/bin/snakemake --cores 2")
    assert "Nothing to be done" in proc.stdout + proc.stderr
