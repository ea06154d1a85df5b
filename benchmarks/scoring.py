"""Benchmark the scoring engine: how long does scoring 1,000,000 item responses take?

Usage: ``python benchmarks/scoring.py [--responses 1000000] [--repeat 5] [--seed 1]``.
Builds a synthetic response table (MBI-HSS, PSS-10, CBI and WHO-5 items, 5% blanks) with
about ``--responses`` item answers, scores it with :func:`balint_analysis.scoring.score_responses`
and prints the median and best wall time. Target (issue 3): under 1 s for 1,000,000 item
responses. The figure is printed, never asserted in tests.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from balint_analysis.instruments import load_instrument
from balint_analysis.scoring import score_responses

INSTRUMENTS = ("mbi_hss", "pss10", "cbi", "who5")


def build(n_responses: int, seed: int) -> tuple[pd.DataFrame, dict]:
    """A response table with about ``n_responses`` item answers (5% left blank)."""
    rng = np.random.default_rng(seed)
    instruments = {i: load_instrument(i) for i in INSTRUMENTS}
    per_row = sum(inst.n_items for inst in instruments.values())
    n_rows = -(-n_responses // per_row)
    data: dict[str, np.ndarray] = {
        "participant": np.char.add("p", (np.arange(n_rows) // 3).astype(str)),
        "group": np.where(rng.random(n_rows) < 0.5, "balint", "control"),
        "timepoint": np.asarray(["pre", "post", "followup"])[np.arange(n_rows) % 3],
    }
    for inst_id, inst in instruments.items():
        codes = np.asarray(inst.allowed_values, dtype=float)
        for i in inst.items:
            x = codes[rng.integers(0, len(codes), n_rows)]
            data[f"{inst_id}__{i}"] = np.where(rng.random(n_rows) < 0.05, np.nan, x)
    return pd.DataFrame(data), instruments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    table, instruments = build(args.responses, args.seed)
    n_items = int(table.filter(like="__").size)
    score_responses(table.head(100), instruments)  # warm-up (imports, caches)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        scores = score_responses(table, instruments)
        times.append(time.perf_counter() - start)
    print(f"scored {n_items:,} item responses ({len(table):,} rows x {len(instruments)} "
          f"instruments -> {len(scores):,} scale scores)")  # fmt: skip
    print(f"median {statistics.median(times):.3f} s, best {min(times):.3f} s "
          f"over {args.repeat} runs (target < 1 s)")  # fmt: skip


if __name__ == "__main__":
    main()
