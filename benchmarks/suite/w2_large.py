"""W2: a large cohort through the whole workflow, timed per stage.

Each repetition simulates ``participants`` (two arms, Balint groups of ~10, 3 timepoints, the
simulator's national-survey battery MBI-HSS 22 + CBI 19 + ProQOL 5 30 + JSE-HP 20 = 91 items,
ten scored outcomes) into a fresh temporary directory in a subprocess (generation: timed
separately, not part of the workflow), then runs ``snakemake --cores N`` cold. Per-stage wall
time and peak RSS come from the ``benchmark:`` directive of every rule
(``benchmarks/jobs/<cohort>/<rule>.tsv`` in the working directory: Snakemake's own measurement
of the job, script start-up and imports included).
"""

from __future__ import annotations

import csv
from pathlib import Path

from suite.cohorts import generate, remove, workdir
from suite.measure import Figure, run_cmd, snakemake

#: Rules of the workflow; ``prepare`` is ingest + validate + pseudonymise + score in one job.
STAGES = ("prepare", "model", "report")
COHORT = "bench"
WHOLE_TARGET_S = 60.0


def jobs(work: Path, cohort: str = COHORT) -> dict[str, tuple[float, float]]:
    """Rule -> (seconds, max RSS MB) from the benchmark files Snakemake wrote."""
    out = {}
    for tsv in sorted((work / "benchmarks" / "jobs" / cohort).glob("*.tsv")):
        with tsv.open(encoding="utf-8") as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        rss = row.get("max_rss", "NA")
        peak = float(rss) if rss not in ("NA", "-", "") else float("nan")
        out[tsv.stem] = (float(row["s"]), peak)
    return out


def run(opts) -> list[Figure]:
    n = opts.w2_participants
    gen, whole, per_job = [], [], []
    note = ""
    for i in range(opts.repeat):
        work = workdir("w2")
        try:
            gen.append(generate(work, n, COHORT))
            run = run_cmd(snakemake("--cores", str(opts.cores)), work, opts.env,
                          timeout=opts.w2_timeout)  # fmt: skip
            whole.append(run)
            per_job.append(jobs(work))
        finally:
            remove(work)
        if run.timed_out:
            done = ", ".join(per_job[-1]) or "none"
            note = (f"stopped after {opts.w2_timeout:.0f} s (--w2-timeout); finished jobs: "
                    f"{done}; not repeated")  # fmt: skip
            break
        if i == 0 and run.wall > 5 * WHOLE_TARGET_S:
            note = f"first run took > 5x the {WHOLE_TARGET_S:.0f} s target: not repeated"
            break
    w = f"W2 ({n:,} participants)"
    figs = [Figure(w, "generate cohort (simulator, not in workflow)", "s", [r.wall for r in gen],
                   loads=[r.load for r in gen]),
            Figure(w, "generate cohort peak RSS", "MB", [r.rss_mb for r in gen])]  # fmt: skip
    for stage in STAGES:
        if all(stage in j for j in per_job):
            figs.append(Figure(w, f"stage {stage}", "s", [j[stage][0] for j in per_job]))
            figs.append(Figure(w, f"stage {stage} peak RSS", "MB",
                               [j[stage][1] for j in per_job]))  # fmt: skip
    if not any(stage in j for j in per_job for stage in STAGES):
        figs.append(Figure(w, "per-stage times", "s", [], note="no benchmark files found"))
    ivs = [j.get("prepare", (float("nan"), 0))[0] for j in per_job]
    job_rss = [max((v[1] for v in j.values()), default=float("nan")) for j in per_job]
    figs += [
        Figure(w, "ingest + validate + score (job prepare, which also pseudonymises)", "s", ivs,
               target="<= 20 s", limit=20.0),
        Figure(w, "whole workflow (cold)", "s", [r.wall for r in whole], target="<= 60 s",
               limit=WHOLE_TARGET_S, loads=[r.load for r in whole], note=note),
        Figure(w, "peak RSS, largest process (wait4)", "MB", [r.rss_mb for r in whole],
               target="<= 2048 MB", limit=2048.0),
        Figure(w, "peak RSS, largest job (benchmark: max_rss)", "MB", job_rss,
               target="<= 2048 MB", limit=2048.0),
    ]  # fmt: skip
    return figs
