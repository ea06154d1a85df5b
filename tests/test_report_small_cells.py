"""A real run on a cohort of 3 people per arm: no statistic or count of a small cell in the report.

Issue 14: with 3 people per arm every mean, count and effect was suppressed, but the sensitivity
note still showed "residual SD control 1.58, balint 1.97". One Snakemake run (module-scoped)
on two Qualtrics exports and a roster; then every number the processed files hold for a small
cell (residual SDs per arm, estimated means, baseline means and SDs, effects) is looked for in
the report's text.
"""

from __future__ import annotations

import html as html_lib
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import answers, qualtrics_csv
from project_helpers import FEW_IMPUTATIONS

from balint_analysis.report.text import fmt

REPO = Path(__file__).resolve().parents[1]
COHORT = "three"
pytestmark = pytest.mark.e2e

#: (participant, group, MBI answer at pre, at post, PSS answer at pre, at post)
PEOPLE = [
    ("B1", "balint", 3, 2, 2, 1), ("B2", "balint", 4, 2, 3, 2), ("B3", "balint", 5, 4, 1, 1),
    ("C1", "control", 2, 3, 2, 3), ("C2", "control", 4, 4, 3, 3), ("C3", "control", 6, 5, 4, 2),
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("three-per-arm")
    raw = work / "data" / "raw" / COHORT
    raw.mkdir(parents=True)
    (raw / "participants.csv").write_text(
        "participant_id,group,balint_group,age\n"
        + "".join(f"{p},{g},{'G1' if g == 'balint' else ''},{40 + k}\n"
                  for k, (p, g, *_) in enumerate(PEOPLE)),
        encoding="utf-8",
    )  # fmt: skip
    for t, col in (("pre", 2), ("post", 3)):
        rows = [
            {"Status": "0", "Finished": "1", "Progress": "100", "ExternalReference": r[0],
             "RecordedDate": f"2024-0{3 if t == 'pre' else 6}-04 0{k}:00:00",
             **answers(("MBI", "PSS"), r[col], r[col + 2])}
            for k, r in enumerate(PEOPLE)
        ]  # fmt: skip
        (raw / f"{t}_qualtrics.csv").write_text(qualtrics_csv(rows), encoding="utf-8")
    config = {
        "cohort": COHORT,
        "title": "Three per arm",
        "design": {"timepoints": ["pre", "post"], "intervention": "balint", "control": "control"},
        "participants": {"path": f"data/raw/{COHORT}/participants.csv", "id": "participant_id",
                         "group": "group", "cluster": "balint_group"},
        "exports": [
            {"path": f"data/raw/{COHORT}/{t}_qualtrics.csv", "format": "qualtrics",
             "timepoint": t, "id": "ExternalReference"}
            for t in ("pre", "post")
        ],
        "instruments": {"mbi_hss": "MBI_{i}", "pss10": "PSS_{i}"},
        "analysis": {"primary": "mbi_hss.emotional_exhaustion", "min_cell_size": 5},
        "privacy": {"key_env": "BALINT_TEST_KEY_UNSET", "allow_demo_key": True},
        "missing_data": FEW_IMPUTATIONS,
    }  # fmt: skip
    (work / "config").mkdir()
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("BALINT_ID_KEY",
                                                             "BALINT_TEST_KEY_UNSET")}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
         "--directory", str(work), "--cores", "2"],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (work / "reports" / COHORT / "report.html").read_text(encoding="utf-8")
    body = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    # the config listing repeats the config, not data; leave it out of the scan
    body = re.sub(r"<pre[^>]*>.*?</pre>", " ", body, flags=re.S)
    text = html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))
    return {"text": text, "processed": work / "data" / "processed" / COHORT}


def _absent(number: str, text: str) -> bool:
    """True when ``number`` does not occur in ``text`` as a number of its own."""
    return re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", text) is None


def test_residual_sd_per_arm_is_not_shown(run: dict) -> None:
    sens = pd.read_csv(run["processed"] / "sensitivity.csv")
    notes = sens.loc[sens["analysis"] == "lmm_residual_by_arm", "note"].dropna().astype(str)
    sds = [m for n in notes for m in re.findall(r"\d+\.\d+", n)]
    assert sds, "the model stage records the per-arm residual SDs (the leak's source)"
    assert "residual SD control" not in run["text"]
    assert "residual SD balint" not in run["text"]
    for sd in sds:
        assert _absent(sd, run["text"]), sd
    assert "details withheld: an arm has fewer than 5 people" in run["text"]


def test_means_effects_and_baseline_statistics_are_not_shown(run: dict) -> None:
    text = run["text"]
    emm = pd.read_csv(run["processed"] / "emmeans.csv")
    eff = pd.read_csv(run["processed"] / "effects.csv")
    scores = pd.read_csv(run["processed"] / "scores.csv")
    base = scores[scores["timepoint"] == "pre"].groupby(["instrument", "scale", "group"])["score"]
    numbers = [
        *emm["mean"].dropna(), *emm["ci_low"].dropna(), *emm["ci_high"].dropna(),
        *eff["estimate"].dropna(), *eff["ci_low"].dropna(), *eff["ci_high"].dropna(),
        *base.mean(), *base.std(),
    ]  # fmt: skip
    shown = [
        f for f in {fmt(x) for x in numbers} if f not in ("0.0", "−0.0") and not _absent(f, text)
    ]
    assert shown == []
    assert "suppressed" in text


def test_small_counts_read_below_five_and_legend_is_there(run: dict) -> None:
    text = run["text"]
    assert "“<5”: a count of 1 to 4 people" in text  # legend
    assert "“hidden”: a count of any size" in text
    assert "Disclosure control" in text
    # group sizes and the participant flow are public margins (n = 3 in the header); the
    # number behind every statistic reads "<5"
    assert "Emotional exhaustion suppressed n = <5 suppressed n = <5" in text
    sens = text.split("Sensitivity analyses")[2]
    assert "<5 / <5" in sens and "3 / 3" not in sens
