"""Benchmark the report stage on the demo's processed outputs.

Usage: ``python benchmarks/report.py [--repeat 5] [--processed data/processed/demo]
[--config config/config.yaml]``. Needs a finished demo run (``make run``). Times, separately,

* ``load``: :func:`load_inputs` (reading the processed files and hashing them and the inputs);
* ``render``: :func:`render_report` (pure: context, figures, template);
* ``write``: :func:`write_report` (load + render + atomic write), what the workflow rule runs;

each the median of ``--repeat`` runs (at least 3) after one warm-up that imports matplotlib and
compiles the template (the workflow's script pays that import once too). Prints a small table and
the headline figure; the output goes to a temporary folder, nothing in the repository is touched.
The target from issue 6 is under 3 s for ``write``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 3.0


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    ap.add_argument("--processed", default=str(REPO / "data" / "processed" / "demo"))
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    args = ap.parse_args(argv)
    repeat = max(args.repeat, 3)

    from balint_analysis.config import read_config
    from balint_analysis.report import load_inputs, render_report, write_report

    processed = Path(args.processed)
    if not (processed / "effects.csv").exists():
        print(f"{processed}: no processed outputs; run `make run` first.", file=sys.stderr)
        return 1
    config = read_config(args.config)
    roster = [config.roster.path] if config.roster else []
    paths = [e.path for e in config.exports] + roster + [args.config]
    raw = [p for p in (REPO / x for x in paths) if p.is_file()]
    inputs = load_inputs(processed, input_files=raw)
    render_report(inputs, config)  # warm-up: imports matplotlib, compiles the template
    with tempfile.TemporaryDirectory(prefix="balint-report-bench-") as tmp:
        out = Path(tmp) / "report.html"
        results = {
            "load": _median(lambda: load_inputs(processed, input_files=raw), repeat),
            "render": _median(lambda: render_report(inputs, config), repeat),
            "write": _median(lambda: write_report(processed, config, out, input_files=raw), repeat),
        }
        size = out.stat().st_size
    print(f"report benchmark: {processed} ({repeat} runs each, median)")
    for name, secs in results.items():
        print(f"  {name:<7} {secs:6.3f} s")
    print(f"  size    {size / 1024:6.0f} KiB")
    verdict = "under" if results["write"] < TARGET_S else "OVER"
    print(f"report rendering for the demo: {results['write']:.2f} s ({verdict} the {TARGET_S:g} s "
          "target)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
