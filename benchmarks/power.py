"""Benchmark the power analysis: 1,000 replicates of a 100-participant, 3-timepoint design.

Usage: ``python benchmarks/power.py [--replicates 1000] [--cores 2]``. Runs the real workflow
target (``snakemake power``) in a temporary directory, and separately times the model fit per
replicate on the fast Newton-REML path and on the statsmodels reference path. Prints the figures
and writes ``benchmarks/results/power.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def _per_fit(n_fits: int) -> dict[str, float]:
    from balint_analysis.models import fit_lmm_statsmodels, model_data
    from balint_analysis.models.fit import fit_lmm_reml
    from balint_analysis.power import expand_grid, simulate_replicate

    cell = expand_grid({"n_per_arm": [50], "effect_d": [0.3], "icc": [0.05],
                        "timepoints": [3]}).iloc[0]
    data = [
        model_data(simulate_replicate(cell, np.random.default_rng(s)), levels=["t0", "t1", "t2"],
                   intervention="balint", control="control")
        for s in range(n_fits)
    ]  # fmt: skip
    out = {}
    for name, fit in (("fast", fit_lmm_reml), ("statsmodels", fit_lmm_statsmodels)):
        times = []
        for d in data:
            start = time.perf_counter()
            fit(d)
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--cores", default="2")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="balint-power-bench-"))
    subprocess.run([sys.executable, "-m", "balint_analysis.cli", "simulate", "--preset", "small",
                    "--seed", "1", "--out", "data/raw/bench", "--config-out", "config/config.yaml",
                    "--cohort", "bench"], cwd=work, check=True, capture_output=True)  # fmt: skip
    cfg_path = work / "config" / "config.yaml"
    config = yaml.safe_load(cfg_path.read_text())
    config["power"] = {"replicates": args.replicates, "chunk_size": max(1, args.replicates // 4),
                       "seed": 1, "grid": {"n_per_arm": [50], "effect_d": [0.3],
                                           "icc": [0.05], "timepoints": [3]}}  # fmt: skip
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "power", "--cores", args.cores,
                    "--snakefile", str(REPO / "workflow/Snakefile"), "--directory", str(work)],
                   check=True, capture_output=True)  # fmt: skip
    wall = time.perf_counter() - start
    fits = _per_fit(30)
    print(f"snakemake power, {args.replicates} replicates x 100 participants x 3 timepoints, "
          f"--cores {args.cores}: {wall:.1f} s")  # fmt: skip
    print(f"median fit per replicate: fast path {fits['fast'] * 1000:.1f} ms, "
          f"statsmodels path {fits['statsmodels'] * 1000:.1f} ms "
          f"({fits['statsmodels'] / fits['fast']:.0f}x)")  # fmt: skip
    out = REPO / "benchmarks" / "results" / "power.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"replicates": args.replicates, "cores": args.cores,
                               "wall_seconds": wall, "fit_seconds": fits}, indent=2) + "\n")


if __name__ == "__main__":
    main()
