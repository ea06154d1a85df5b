"""Profile one workflow stage with cProfile on a simulated cohort.

Usage: ``python benchmarks/profile_stage.py model --participants 2000 [--top 30]``. Simulates
the cohort into a temporary directory, runs the workflow up to the stage's inputs (Snakemake,
not profiled), then runs the stage in-process under cProfile (the same
``balint_analysis.pipeline`` function the rule's script calls, outputs to the temporary
directory) and prints the top functions by cumulative and by own time. ``--keep DIR`` keeps the
working directory, ``--prof FILE`` writes the raw profile (for snakeviz / pstats).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from suite.cohorts import params_for, remove, workdir, write_workdir  # noqa: E402
from suite.measure import run_cmd, slurm_shim_env, snakemake  # noqa: E402

COHORT = "bench"
PROC = f"data/processed/{COHORT}/"
# Stage -> (inputs, outputs) as the rules name them (workflow/rules/*.smk).
FILES = {
    "prepare": ({}, {n: PROC + f"{n}.csv" for n in ("responses", "participants", "rejected",
                                                    "careless", "scores", "reliability", "flags")}
                | {"pseudonymisation": PROC + "pseudonymisation.json", "flow": PROC + "flow.json",
                   "item_stats": PROC + "items.csv"}),
    "score": ({"responses": PROC + "responses.csv"},
              {"scores": PROC + "scores.csv", "reliability": PROC + "reliability.csv",
               "item_stats": PROC + "items.csv", "flags": PROC + "flags.csv"}),
    "model": ({"scores": PROC + "scores.csv", "participants": PROC + "participants.csv",
               "reliability": PROC + "reliability.csv"},
              {n: PROC + f"{n}.csv" for n in ("effects", "emmeans", "sensitivity", "clinical",
                                           "cutoffs", "dose")}
              | {"models": PROC + "models.json", "model_dir": PROC + "models"}),
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=sorted(FILES))
    ap.add_argument("--participants", type=int, default=2000)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--keep", type=Path)
    ap.add_argument("--prof", type=Path)
    args = ap.parse_args(argv)

    import os

    import yaml

    from balint_analysis.config import load_config
    from balint_analysis.pipeline import STAGES

    work = args.keep or workdir("profile")
    write_workdir(work, params_for(args.participants), COHORT, seed=args.participants)
    inputs, outputs = FILES[args.stage]
    if inputs:
        run_cmd(snakemake("--cores", "2", *inputs.values()), work, slurm_shim_env())
    os.chdir(work)
    cfg = load_config(yaml.safe_load(Path("config/config.yaml").read_text(encoding="utf-8")))
    prof = cProfile.Profile()
    prof.enable()
    STAGES[args.stage](cfg, inputs, outputs)
    prof.disable()
    os.chdir(HERE)
    if args.prof:
        prof.dump_stats(args.prof)
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    if not args.keep:
        remove(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
