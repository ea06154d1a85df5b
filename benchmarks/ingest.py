"""Benchmark reading + validating a large cohort: 20,000 participants × 3 timepoints × 90 items.

Usage: ``python benchmarks/ingest.py [--participants 20000]``. Writes a Qualtrics export (pre)
and a REDCap longitudinal export (post, follow-up) plus a roster into a temporary folder,
then times :func:`balint_analysis.ingest.ingest` and :func:`balint_analysis.validate.validate`
in-process and prints the seconds (the target is under 10 s). Nothing in the repository is
touched. A few problems are injected so the rejection paths run too.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from balint_analysis.config import load_config  # noqa: E402
from balint_analysis.ingest import ingest  # noqa: E402
from balint_analysis.instruments import load_instrument  # noqa: E402
from balint_analysis.validate import validate  # noqa: E402

INSTRUMENTS = ("mbi_hss", "proqol5", "olbi", "bat12", "pss10")  # 22 + 30 + 16 + 12 + 10 = 90


def _items(rng: np.random.Generator, n: int, template: str) -> pd.DataFrame:
    cols = {}
    for inst_id in INSTRUMENTS:
        inst = load_instrument(inst_id)
        values = rng.integers(inst.response_min, inst.response_max + 1, (n, inst.n_items))
        for i in range(inst.n_items):
            cols[template.format(inst=inst_id, i=i + 1)] = values[:, i].astype(str)
    return pd.DataFrame(cols)


def write_inputs(folder: Path, n: int, seed: int = 1) -> dict:
    """Write the exports and roster; return the raw config mapping."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:06d}" for i in range(n)])
    groups = np.where(np.arange(n) % 2 == 0, "balint", "control")
    pd.DataFrame({"participant_id": ids, "group": groups}).to_csv(
        folder / "participants.csv", index=False
    )
    pre = pd.DataFrame({"ExternalReference": ids, "Status": "0", "Finished": "1",
                        "RecordedDate": "2024-03-04 10:00:00",
                        "IPAddress": "10.0.0.1"})  # fmt: skip
    pre = pd.concat([pre, _items(rng, n, "{inst}_{i}")], axis=1)
    pre.iloc[:20, 1] = "1"  # previews
    pre.iloc[20:40, -1] = "N/A"  # text in a numeric field
    header = list(pre.columns)
    import_ids = [json.dumps({"ImportId": c}) for c in header]
    with open(folder / "pre_qualtrics.csv", "w", encoding="utf-8", newline="") as fh:
        pd.DataFrame([header, import_ids], columns=header).to_csv(fh, index=False)
        pre.to_csv(fh, index=False, header=False)
    events = np.repeat(["post_arm_1", "followup_arm_1"], n)
    post = pd.DataFrame({"record_id": np.tile(ids, 2), "redcap_event_name": events,
                         "survey_timestamp": "2024-06-01 10:00:00"})  # fmt: skip
    post = pd.concat([post, _items(rng, 2 * n, "{inst}_{i:02d}")], axis=1)
    post["survey_complete"] = "2"
    post.iloc[:30, -1] = "0"  # incomplete forms
    post.to_csv(folder / "post_followup_redcap.csv", index=False)
    return {
        "cohort": "bench",
        "title": "Ingest benchmark",
        "design": {"timepoints": ["pre", "post", "followup"], "intervention": "balint",
                   "control": "control"},
        "participants": {"path": str(folder / "participants.csv"), "id": "participant_id",
                         "group": "group"},
        "exports": [
            {"path": str(folder / "pre_qualtrics.csv"), "timepoint": "pre",
             "id": "ExternalReference"},
            {"path": str(folder / "post_followup_redcap.csv"), "id": "record_id",
             "timepoint_column": "redcap_event_name",
             "timepoint_values": {"post_arm_1": "post", "followup_arm_1": "followup"},
             "instruments": {i: f"{i}_{{i:02d}}" for i in INSTRUMENTS}},
        ],
        "instruments": {i: f"{i}_{{i}}" for i in INSTRUMENTS},
        "analysis": {"primary": "pss10.total"},
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=20_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        raw = write_inputs(Path(tmp), args.participants)
        config = load_config(raw)
        start = time.perf_counter()
        result = ingest(config)
        read = time.perf_counter() - start
        checked = validate(result.responses, result.roster, config, result.info)
        total = time.perf_counter() - start
    t = checked.flow["totals"]
    print(f"participants={args.participants} timepoints=3 items=90 rows_in={t['rows_in']} "
          f"accepted={t['rows_accepted']} rejected={t['rows_rejected']} "
          f"problems={len(checked.rejected)}")  # fmt: skip
    print(f"read {read:.2f} s, validate {total - read:.2f} s, read + validate {total:.2f} s "
          f"(target < 10 s)")  # fmt: skip


if __name__ == "__main__":
    main()
