"""W4: scoring throughput (item responses per second).

A simulated cohort goes through ingest → validate → pseudonymise (Snakemake, not timed); a
worker subprocess then reads the pseudonymised ``responses.csv`` as the score stage does and
times, in-process after one warm-up, :func:`score_responses` alone and the whole score-stage
computation (scores + reliability + item descriptives + flag counts, no file I/O). Throughput
counts every item cell of the table (answered or blank), as ``benchmarks/scoring.py`` does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (the worker): make `suite` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from suite.cohorts import generate, remove, workdir
from suite.measure import PY, Figure, median, run_cmd, snakemake

HERE = Path(__file__).resolve().parent
COHORT = "bench"


def worker(argv: list[str]) -> None:
    import argparse

    import pandas as pd
    import yaml

    from balint_analysis.config import load_config
    from balint_analysis.scoring import (
        flag_counts,
        item_descriptives,
        reliability,
        score_responses,
    )
    from suite.measure import timed

    ap = argparse.ArgumentParser()
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    cfg = load_config(yaml.safe_load((args.workdir / "config" / "config.yaml").read_text()))
    responses = pd.read_csv(args.workdir / "data" / "processed" / COHORT / "responses.csv",
                            dtype={"participant": str, "timepoint": str})  # fmt: skip
    instruments = dict(cfg.instruments)
    timepoints = list(cfg.design.timepoints)
    groups = list(cfg.design.groups)

    def stage() -> None:
        score_responses(responses, instruments)
        reliability(responses, instruments, timepoints)
        item_descriptives(responses, instruments, timepoints)
        flag_counts(responses, instruments, timepoints, groups)

    stage()  # warm-up
    cells = int(responses.filter(like="__").size)
    answered = int(responses.filter(like="__").notna().sum().sum())
    print(json.dumps({"rows": len(responses), "cells": cells, "answered": answered,
                      "score_responses": timed(lambda: score_responses(responses, instruments),
                                               args.repeat),
                      "stage": timed(stage, args.repeat)}))  # fmt: skip


def run(opts) -> list[Figure]:
    n = opts.w4_participants
    work = workdir("w4")
    try:
        generate(work, n, COHORT, seed=n)
        target = f"data/processed/{COHORT}/responses.csv"
        run_cmd(snakemake("--cores", str(opts.cores), target), work, opts.env)
        res = run_cmd([PY, str(HERE / "w4_scoring.py"), "worker", str(work),
                       "--repeat", str(max(opts.repeat, 5))], HERE)  # fmt: skip
    finally:
        remove(work)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    w = f"W4 ({n:,} participants)"
    cells = out["cells"]
    sr, st = out["score_responses"], out["stage"]
    table = f"{out['rows']:,} rows x {cells // out['rows']} items = {cells:,} item cells"
    return [
        Figure(w, "score_responses", "s", sr, loads=[res.load], note=table),
        Figure(w, "score_responses throughput", "items/s", [cells / t for t in sr],
               value=cells / median(sr)),
        Figure(w, "score stage compute (scores+reliability+items+flags)", "s", st),
        Figure(w, "score stage compute throughput", "items/s", [cells / t for t in st],
               value=cells / median(st)),
    ]  # fmt: skip


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(sys.argv[2:])
