"""`make bench`: the performance suite of issue 7 — one table, JSON results, ``--compare``.

Usage::

    python benchmarks/run.py                      # full suite (W1–W4), ~15–25 min on 2 cores
    python benchmarks/run.py --quick              # smaller sizes, about a minute or two
    python benchmarks/run.py --only W1,W3         # some workloads
    python benchmarks/run.py --compare old.json   # also print new/old ratios per figure

Workloads (see benchmarks/README.md): W1 the demo cohort cold / no-op vs the start-up floor;
W2 a large cohort (20,000 participants x 3 timepoints) per stage and whole; W3 one LMM fit,
statsmodels vs fast path vs lme4 at 200 / 2,000 / 20,000 participants; W4 scoring throughput;
W5 init / check on the W2-sized cohort and its SurveyMonkey and SoSci layouts, and the
``prepare`` job on three 1,000,000-row exports (peak RSS).
Every workload is generated with ``balint_analysis.simulate`` in fresh temporary directories.
Figures are medians of ``--repeat`` (>= 3) runs; each carries the 1-minute load average seen
while it ran. Results go to ``benchmarks/results/<full|quick>.json`` (git-ignored; copy it
elsewhere to keep it as a baseline).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from suite import w1_demo, w2_large, w3_models, w4_scoring, w5_own_cohort  # noqa: E402
from suite.measure import Figure, load, slurm_shim_env  # noqa: E402

WORKLOADS = {"W1": w1_demo, "W2": w2_large, "W3": w3_models, "W4": w4_scoring,
             "W5": w5_own_cohort}


def _options(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller workloads (~1–2 min)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (median; >= 3)")
    ap.add_argument("--cores", default="2", help="snakemake --cores")
    ap.add_argument("--only", default="W1,W2,W3,W4,W5", help="comma-separated workloads")
    ap.add_argument("--compare", type=Path, help="an earlier results JSON: print new/old ratios")
    ap.add_argument("--out", type=Path, help="results JSON (default benchmarks/results/"
                    "<full|quick>.json)")  # fmt: skip
    shim = "put a failing `scontrol` first on PATH for Snakemake (see README)"
    ap.add_argument("--no-slurm-probe", action="store_true", help=shim)
    ap.add_argument("--w2-participants", type=int)
    ap.add_argument("--w2-timeout", type=float, default=900.0,
                    help="seconds before a W2 workflow run is stopped (default 900)")  # fmt: skip
    ap.add_argument("--w3-sizes", help="comma-separated participant counts")
    ap.add_argument("--w4-participants", type=int)
    ap.add_argument("--w5-large-rows", type=int,
                    help="rows per export of W5's large-exports run (default 1,000,000; "
                    "--quick 20,000; 0 skips it)")  # fmt: skip
    opts = ap.parse_args(argv)
    opts.repeat = max(opts.repeat, 3)
    quick = opts.quick
    opts.w2_participants = opts.w2_participants or (500 if quick else 20_000)
    sizes = opts.w3_sizes or ("200,2000" if quick else "200,2000,20000")
    opts.w3_sizes = [int(s) for s in sizes.split(",")]
    opts.w4_participants = opts.w4_participants or (2_000 if quick else 20_000)
    if opts.w5_large_rows is None:
        opts.w5_large_rows = 20_000 if quick else 1_000_000
    opts.only = [w.strip().upper() for w in opts.only.split(",") if w.strip()]
    unknown = set(opts.only) - set(WORKLOADS)
    if unknown:
        ap.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    opts.env = slurm_shim_env() if opts.no_slurm_probe else None
    opts.out = opts.out or HERE / "results" / ("quick.json" if quick else "full.json")
    return opts


def _fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "items/s":
        return f"{value / 1e6:.2f} M/s"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def _verdict(f: Figure) -> str:
    return {True: "pass", False: "FAIL", None: ""}[f.passed]


def print_table(figs: list[Figure], old: dict[str, dict] | None) -> None:
    rows = [("figure", "median", "n", "target", "result", "load", *(["new/old"] if old else []),
             "note")]  # fmt: skip
    for f in figs:
        loads = f"{min(f.loads):.1f}–{max(f.loads):.1f}" if f.loads else ""
        ratio = []
        if old is not None:
            prev = old.get(f.key, {}).get("value")
            ok = prev not in (None, 0) and f.value == f.value and prev == prev
            ratio = [f"{f.value / prev:.2f}" if ok else "—"]
        rows.append((f.key, _fmt(f.value, f.unit), str(len(f.runs)) if f.runs else "",
                     f.target, _verdict(f), loads, *ratio, f.note))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for i, r in enumerate(rows):
        cells = [c.ljust(w) if j == 0 else c.rjust(w) if j in (1, 2) else c.ljust(w)
                 for j, (c, w) in enumerate(zip(r[:-1], widths, strict=True))]  # fmt: skip
        print("  ".join(cells) + ("  " + r[-1] if r[-1] else ""))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    opts = _options(argv)
    old = None
    if opts.compare:
        old = {f"{f['workload']}: {f['name']}": f
               for f in json.loads(opts.compare.read_text())["figures"]}  # fmt: skip
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"balint-analysis benchmarks ({'quick' if opts.quick else 'full'}): "
          f"{', '.join(opts.only)}; median of {opts.repeat} runs; --cores {opts.cores}; "
          f"{os.cpu_count()} CPUs; load {load():.2f} at start"
          + ("; scontrol shimmed" if opts.no_slurm_probe else ""), flush=True)  # fmt: skip
    figs: list[Figure] = []
    # W2 (long) last, so the quick, load-sensitive workloads run first; the table is in order.
    for name in sorted(opts.only, key=lambda w: (w in ("W2", "W5"), w)):
        t0 = time.perf_counter()
        print(f"... {name}", flush=True)
        figs += WORKLOADS[name].run(opts)
        print(f"    {name} done in {time.perf_counter() - t0:.0f} s (load {load():.2f})",
              flush=True)  # fmt: skip
    print()
    figs.sort(key=lambda f: f.workload[:2])  # stable: keeps each workload's own order
    print_table(figs, old)
    failed = [f.key for f in figs if f.passed is False]
    print(f"\n{sum(f.passed is True for f in figs)} targets met, {len(failed)} missed"
          + (f": {'; '.join(failed)}" if failed else ""))  # fmt: skip
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "started": started, "quick": opts.quick, "no_slurm_probe": opts.no_slurm_probe,
        "repeat": opts.repeat, "cores": opts.cores,
        "workloads": opts.only, "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "figures": [f.as_dict() for f in figs],
    }  # fmt: skip
    opts.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"results: {opts.out}" + (f" (compared with {opts.compare})" if old else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
