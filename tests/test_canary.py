"""Canary: exports seeded with e-mails, names, IP addresses and a ``<script>`` answer go through
the whole workflow (subprocess Snakemake); none of those strings may reach data/processed/ or
reports/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from project_helpers import FEW_IMPUTATIONS

from tests import exports_factory as xf

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e

TOKEN = "cAnArY7q"
CANARIES = [
    f"{TOKEN}.person@example.org",
    f"Zbigniew {TOKEN}ski",
    "203.0.113.77",
    f"<script>alert('{TOKEN}')</script>",
    f"Dr {TOKEN} Balint group",
]


def _answers(rng: np.random.Generator, template: str, shift: int) -> dict[str, str]:
    values = np.clip(rng.integers(0, 5, 10) - shift, 0, 4)
    return {template.format(i=i): str(v) for i, v in enumerate(values, start=1)}


def _write_cohort(root: Path) -> dict:
    rng = np.random.default_rng(7)
    raw = root / "data" / "raw" / "canary"
    raw.mkdir(parents=True)
    ids = [f"C{i:02d}" for i in range(1, 25)]
    groups = ["balint" if i % 2 else "control" for i in range(24)]
    people = [{"participant_id": p, "group": g, "balint_group": CANARIES[4] if g == "balint"
               else "", "email": CANARIES[0], "full_name": CANARIES[1], "age": str(30 + i)}
              for i, (p, g) in enumerate(zip(ids, groups, strict=True))]  # fmt: skip
    (raw / "participants.csv").write_text(xf.table(list(people[0]), people), encoding="utf-8")
    pre = [{"ExternalReference": p, "RecipientEmail": CANARIES[0], "RecipientFirstName":
            CANARIES[1], "IPAddress": CANARIES[2], "Q5_TEXT": CANARIES[3],
            "RecordedDate": "2024-03-04 10:00:00", **_answers(rng, "PSS_{i}", 0)}
           for p in ids]  # fmt: skip
    pre[0]["PSS_3"] = CANARIES[0]  # an e-mail typed into an answer field
    pre[1]["PSS_4"] = CANARIES[3]
    pre.append({"ExternalReference": CANARIES[0], **_answers(rng, "PSS_{i}", 0)})
    (raw / "pre_qualtrics.csv").write_text(xf.qualtrics(pre), encoding="utf-8")
    post = [{"record_id": p, "redcap_event_name": "post_arm_1", "redcap_survey_identifier":
             CANARIES[0], "pss_timestamp": "2024-06-01 10:00:00", "pss_complete": "2",
             "comments": CANARIES[3], **_answers(rng, "pss_{i:02d}", 1 if g == "balint" else 0)}
            for p, g in zip(ids, groups, strict=True)]  # fmt: skip
    post.append({**post[0], "redcap_event_name": CANARIES[1]})  # unmapped event named by a name
    (raw / "post_redcap.csv").write_text(xf.redcap(post), encoding="utf-8")
    template = "PSS[SQ{i:03d}]"
    follow = [{"id": str(n), "submitdate": "2024-09-01 10:00:00", "ipaddr": CANARIES[2],
               "SGIC": p, "PSS_comment": CANARIES[3],
               **_answers(rng, template, 1 if g == "balint" else 0)}
              for n, (p, g) in enumerate(zip(ids, groups, strict=True))]  # fmt: skip
    (raw / "followup_limesurvey.csv").write_bytes(xf.limesurvey(follow))
    config = {
        "cohort": "canary",
        "title": "Canary cohort",
        "design": {"timepoints": ["pre", "post", "followup"], "intervention": "balint",
                   "control": "control"},
        "participants": {"path": "data/raw/canary/participants.csv", "id": "participant_id",
                         "group": "group", "cluster": "balint_group"},
        "exports": [
            {"path": "data/raw/canary/pre_qualtrics.csv", "timepoint": "pre",
             "id": "ExternalReference"},
            {"path": "data/raw/canary/post_redcap.csv", "id": "record_id",
             "timepoint_column": "redcap_event_name", "timepoint_values": {"post_arm_1": "post"},
             "instruments": {"pss10": "pss_{i:02d}"}},
            {"path": "data/raw/canary/followup_limesurvey.csv", "timepoint": "followup",
             "id": "SGIC", "instruments": {"pss10": template}},
        ],
        "instruments": {"pss10": "PSS_{i}"},
        "analysis": {"primary": "pss10.total", "covariates": ["age"], "min_cell_size": 1},
        "privacy": {"key_env": "BALINT_ID_KEY", "allow_demo_key": True},
        "missing_data": FEW_IMPUTATIONS,
    }  # fmt: skip
    (root / "config").mkdir()
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def test_no_seeded_identifier_reaches_processed_or_reports(tmp_path):
    _write_cohort(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "BALINT_ID_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
         "--directory", str(tmp_path), "--cores", "2"],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    flow = json.loads((tmp_path / "data/processed/canary/flow.json").read_text())
    formats = {Path(f["source"]).name: f["format"] for f in flow["files"]}
    assert formats == {"pre_qualtrics.csv": "qualtrics", "post_redcap.csv": "redcap",
                       "followup_limesurvey.csv": "limesurvey"}  # fmt: skip
    for f in flow["files"]:
        assert f["rows_in"] == f["rows_accepted"] + f["rows_rejected"]
    files = [p for folder in ("data/processed", "reports") for p in (tmp_path / folder).rglob("*")
             if p.is_file()]  # fmt: skip
    assert any(p.name == "report.html" for p in files)
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for canary in CANARIES:
            assert canary not in text, (path, canary)
        assert TOKEN.lower() not in text.lower(), path
        assert "203.0.113" not in text, path
