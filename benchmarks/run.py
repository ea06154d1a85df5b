"""Benchmark the demo workflow: cold end-to-end run, no-op re-run, and the floor they compare to.

Usage: ``python benchmarks/run.py [--repeat 3] [--cores 2]``. Prints a table of medians and
writes ``benchmarks/results/demo.json`` so a later run can be compared with this one.
Each run happens in a fresh temporary copy of the demo inputs, so nothing in the repository is
touched.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of the children of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def _workdir() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="balint-bench-"))
    shutil.copytree(REPO / "data" / "raw" / "demo", tmp / "data" / "raw" / "demo")
    shutil.copytree(REPO / "config", tmp / "config")
    return tmp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cores", default="2")
    args = parser.parse_args()
    snake = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow/Snakefile"),
             "--cores", args.cores]  # fmt: skip
    floor_cmd = [sys.executable, "-c",
                 "import pandas, statsmodels.formula.api, pingouin, pandera.pandas"]  # fmt: skip
    figures: dict[str, list[float]] = {"cold": [], "noop": [], "snakemake_version": [],
                                       "stack_import": [], "cold_peak_rss_mb": []}  # fmt: skip
    for _ in range(args.repeat):
        work = _workdir()
        wall, rss = _timed(snake, work)
        figures["cold"].append(wall)
        figures["cold_peak_rss_mb"].append(rss)
        figures["noop"].append(_timed(snake, work)[0])
        figures["snakemake_version"].append(
            _timed([sys.executable, "-m", "snakemake", "--version"], work)[0]
        )
        figures["stack_import"].append(_timed(floor_cmd, work)[0])
        shutil.rmtree(work)
    med = {k: statistics.median(v) for k, v in figures.items()}
    floor = med["snakemake_version"] + med["stack_import"]
    rows = [
        ("demo cold end to end", f"{med['cold']:.2f} s"),
        ("demo no-op re-run", f"{med['noop']:.2f} s"),
        ("floor: snakemake start-up + stack import", f"{floor:.2f} s"),
        ("cold / floor", f"{med['cold'] / floor:.2f}"),
        ("peak RSS of one job (max)", f"{max(figures['cold_peak_rss_mb']):.0f} MB"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"median of {args.repeat} runs, --cores {args.cores}, {platform.python_version()}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    out = REPO / "benchmarks" / "results" / "demo.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": figures, "median": med, "floor": floor}, indent=2) + "\n")


if __name__ == "__main__":
    main()
