"""Timing guard for degenerate and rank-deficient designs (issue 15): no outcome takes long.

Usage: ``python benchmarks/edge_models.py [--limit 5]``. Runs the model stage's entry point
(``analyse_outcomes``, sensitivity refits included) on the demo-sized edge-case datasets of
``tests/reference`` — a constant outcome (once 104 s), an outcome with no residual variation,
no comparison group at follow-up, one Balint group, a covariate aliased with group — prints one
line per case and exits 1 when any case takes longer than ``--limit`` seconds. A benchmark, not
a test: timings depend on the machine's load.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

REF = Path(__file__).resolve().parents[1] / "tests" / "reference"
ARGS = {"timepoints": ["pre", "post", "followup"], "intervention": "balint",
        "control": "control", "primary": "mbi_hss.emotional_exhaustion"}


def cases() -> dict[str, tuple[pd.DataFrame, pd.DataFrame, dict]]:
    def load(name):
        return (pd.read_csv(REF / f"{name}_scores.csv"),
                pd.read_csv(REF / f"{name}_participants.csv"))

    scores, participants = load("nested")
    # person intercept + group × time means only: no residual variation left
    zero = scores.copy()
    person = zero["participant"].str[1:].astype(float)
    step = zero["timepoint"].map({"pre": 0.0, "post": 1.0, "followup": 2.0})
    zero["score"] = 10 + person + step * zero["group"].map({"balint": 3.0, "control": 1.0})
    return {
        "constant outcome": (*load("constant"), {}),
        "no residual variation": (zero, participants, {}),
        "no controls at follow-up": (*load("nofollowctl"), {}),
        "one Balint group": (*load("onegroup"), {}),
        "covariate aliased with group": (*load("categorical"), {"covariates": ["arm_code"]}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=5.0, help="seconds allowed per case")
    args = parser.parse_args()
    from balint_analysis.models import analyse_outcomes

    analyse_outcomes(*cases()["one Balint group"][:2], **ARGS)  # warm-up: imports
    failed = False
    for name, (scores, participants, extra) in cases().items():
        start = time.perf_counter()
        result = analyse_outcomes(scores, participants, **ARGS | extra)
        seconds = time.perf_counter() - start
        reasons = sorted(set(result.effects["reason"]) - {""})
        ok = seconds <= args.limit
        failed |= not ok
        print(f"{name:30s} {seconds:6.2f} s  {'ok' if ok else 'FAIL'}  {'; '.join(reasons)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
