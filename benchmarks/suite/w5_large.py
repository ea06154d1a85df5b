"""W5 (large exports): the ``prepare`` job on three exports of a million rows each.

Issue 14 ("Memory at scale"): ingest, validation, pseudonymisation and scoring of three
1,000,000-row exports must stay under 4 GB peak RSS and 3 minutes on 2 cores. The exports are
the demo layout's (Qualtrics, REDCap, LimeSurvey CSVs and a roster), simulated and tiled by
:mod:`suite.large_exports` in a subprocess (never timed). Timed: ``snakemake --cores N
prepare`` cold, as a user's run starts; wall time of the whole command, its CPU time (user +
system, ``wait4``: a figure the machine's load inflates less than the wall time) and its peak
RSS (``wait4``: the largest process of its tree, i.e. the ``prepare`` job), plus the job's own
figures from its ``benchmark:`` file. One run per figure unless ``--repeat`` asks for more
than 3 (a run takes minutes and gigabytes).
"""

from __future__ import annotations

from pathlib import Path

from suite.cohorts import remove, workdir
from suite.measure import PY, Figure, run_cmd, snakemake
from suite.w2_large import jobs

KEY = {"BALINT_ID_KEY": "benchmark-key-0123456789abcdef-0123456789abcdef"}
TIME_TARGET_S = 180.0
RSS_TARGET_MB = 4096.0


def run(opts) -> list[Figure]:
    import os

    rows = opts.w5_large_rows
    if not rows:
        return []
    env = {**(opts.env or os.environ), **KEY}
    generator = Path(__file__).with_name("large_exports.py")
    runs, per_job, gen = [], [], []
    for _ in range(max(opts.repeat - 2, 1)):
        work = workdir("w5-large")
        try:
            gen.append(run_cmd([PY, str(generator), str(work), "--rows", str(rows)],
                               generator.parent))  # fmt: skip
            size = sum(f.stat().st_size for f in (work / "data/raw/large").glob("*_*.csv"))
            runs.append(run_cmd(snakemake("--cores", str(opts.cores), "prepare"), work, env,
                                timeout=opts.w2_timeout))  # fmt: skip
            per_job.append(jobs(work, "large"))
        finally:
            remove(work)
    w = f"W5 (3 x {rows:,}-row exports, {size / 2**20:.0f} MB)"
    loads = [r.load for r in runs]
    note = "stopped by --w2-timeout" if any(r.timed_out for r in runs) else ""
    return [
        Figure(w, "generate exports (simulator + tiling, not timed below)", "s",
               [r.wall for r in gen]),
        Figure(w, "prepare job: ingest + validate + pseudonymise + score (snakemake, cold)",
               "s", [r.wall for r in runs], target=f"<= {TIME_TARGET_S:.0f} s",
               limit=TIME_TARGET_S, loads=loads, note=note),
        Figure(w, "prepare run CPU, user + system (wait4; wall time under load is longer)", "s",
               [r.cpu for r in runs], loads=loads),
        Figure(w, "prepare job peak RSS (wait4, largest process)", "MB",
               [r.rss_mb for r in runs], target=f"<= {RSS_TARGET_MB:.0f} MB",
               limit=RSS_TARGET_MB, loads=loads),
        Figure(w, "prepare job alone (benchmark: s)", "s",
               [j.get("prepare", (float("nan"), 0))[0] for j in per_job]),
    ]  # fmt: skip
