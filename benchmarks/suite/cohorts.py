"""Workloads drawn with the package's simulator, written as a Snakemake working directory."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

DEMO_SEED = 20261125  # the committed demo cohort (`make demo-data`)


def params_for(participants: int, *, name: str = "bench"):
    """Two arms of ``participants / 2``, Balint groups of about 10 (the simulator needs 8–12),
    the national-survey battery: MBI-HSS, CBI, ProQOL 5 and JSE-HP, 91 items."""
    from balint_analysis.simulate.params import (
        SURVEY_SCALE_CORRELATION,
        SURVEY_SCALES,
        SimulationParams,
    )

    per_arm = max(participants // 2, 8)
    return SimulationParams(name=name, n_per_arm=per_arm, n_balint_groups=max(per_arm // 10, 1),
                            scales=SURVEY_SCALES,
                            scale_correlation=SURVEY_SCALE_CORRELATION)  # fmt: skip


def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"balint-bench-{prefix}-"))


def write_workdir(work: Path, params, cohort: str, seed: int = DEMO_SEED) -> Path:
    """Simulate a cohort into ``work/data/raw/<cohort>`` and its config into ``work/config``.

    ``params=None``: the demo preset. In-process: the benchmark driver uses :func:`generate`.
    """
    from balint_analysis.simulate import PRESETS, simulate_cohort, write_cohort, write_config

    sim = simulate_cohort(params or PRESETS["demo"], seed=seed)
    data = Path("data") / "raw" / cohort
    write_cohort(sim, work / data)
    write_config(sim, data, work / "config" / "config.yaml", cohort_name=cohort)
    return work


def generate(work: Path, participants: int, cohort: str, seed: int = DEMO_SEED):
    """Simulate into ``work`` in a subprocess (``participants=0``: the demo preset).

    A subprocess, so the driver never holds a cohort: a forked child starts with its parent's
    resident set, which would otherwise show up in the children's peak RSS.
    """
    from suite.measure import PY, run_cmd

    return run_cmd([PY, str(Path(__file__)), str(work), "--participants", str(participants),
                    "--cohort", cohort, "--seed", str(seed)], Path(__file__).parent)  # fmt: skip


def remove(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """``python cohorts.py OUT --participants N --cohort NAME``: used to time generation alone."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--participants", type=int, default=0, help="0: the demo preset")
    ap.add_argument("--cohort", default="bench")
    ap.add_argument("--seed", type=int, default=DEMO_SEED)
    args = ap.parse_args(argv)
    params = params_for(args.participants) if args.participants else None
    write_workdir(args.out, params, args.cohort, seed=args.seed)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
