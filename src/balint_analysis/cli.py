"""The ``balint-analysis`` command."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from balint_analysis import __version__
from balint_analysis.errors import InputError

__all__ = ["main"]


def _simulate(args: argparse.Namespace) -> int:
    from balint_analysis.simulate import PRESETS, simulate_cohort, write_cohort, write_config

    if args.preset not in PRESETS:
        raise InputError(f"unknown preset '{args.preset}'; choose one of {sorted(PRESETS)}.")
    cohort = simulate_cohort(preset=args.preset, seed=args.seed)
    written = write_cohort(cohort, args.out)
    if args.config_out:
        name = args.cohort or Path(args.out).name
        written.append(write_config(cohort, args.out, args.config_out, cohort_name=name))
    for path in written:
        print(path)
    return 0


def _report_path(args: argparse.Namespace) -> int:
    from balint_analysis.config import read_config

    cfg = read_config(args.config)
    path = Path("reports") / cfg.cohort / "report.html"
    state = "" if path.exists() else " (not yet written)"
    print(f"Report: {path.resolve()}{state}")
    return 0


def _instruments_doc(args: argparse.Namespace) -> int:
    from balint_analysis.instruments import docs

    if args.check:
        if docs.check(args.out):
            print(f"{args.out} is up to date.")
            return 0
        print(f"{args.out} is out of date; run `balint-analysis instruments-doc`.", file=sys.stderr)
        return 1
    print(docs.write(args.out))
    return 0


def _run(args: argparse.Namespace) -> int:
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(args.cores),
           "--configfile", args.config]  # fmt: skip
    return subprocess.call(cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="balint-analysis",
        description="Evaluate Balint groups against burnout: survey exports in, report out.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser("simulate", help="generate a synthetic cohort with known truth")
    sim.add_argument("--preset", default="demo", help="cohort size preset (demo, small, ...)")
    sim.add_argument("--seed", type=int, required=True, help="random seed (same seed, same bytes)")
    sim.add_argument("--out", required=True, help="folder for the exports, roster and truth.json")
    sim.add_argument("--config-out", help="also write a config YAML analysing the cohort")
    sim.add_argument("--cohort", help="cohort name in that config (default: the folder name)")
    sim.set_defaults(func=_simulate)

    rp = sub.add_parser("report-path", help="print where a config's report is written")
    rp.add_argument("--config", default="config/config.yaml")
    rp.set_defaults(func=_report_path)

    doc = sub.add_parser("instruments-doc", help="write docs/instruments.md from the YAML files")
    doc.add_argument("--check", action="store_true", help="only check that the file is current")
    doc.add_argument("--out", default="docs/instruments.md")
    doc.set_defaults(func=_instruments_doc)

    run = sub.add_parser("run", help="run the whole workflow (snakemake) for a config")
    run.add_argument("--config", default="config/config.yaml")
    run.add_argument("--cores", default="all")
    run.set_defaults(func=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(f"balint-analysis: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
