"""W1: the demo cohort end to end, cold and as a no-op re-run, against the start-up floor.

The floor is what any run pays before doing work: Snakemake start-up
(``python -m snakemake --version``) plus one import of the analysis stack. Each repetition
simulates the demo cohort (preset ``demo``, seed 20261125, as ``make demo-data``) into a fresh
temporary directory (not timed), runs the workflow there cold, then once more (no-op).
"""

from __future__ import annotations

from suite.cohorts import generate, remove, workdir
from suite.measure import PY, Figure, median, probe_scontrol, run_cmd, snakemake
from suite.w2_large import STAGES, jobs

#: The stack the issue's floor is defined with (pandas + statsmodels + pingouin + pandera).
STACK = "import pandas, statsmodels.formula.api, pingouin, pandera.pandas"
#: What the workflow's jobs import between them since they dropped statsmodels (fallback only),
#: pingouin, scipy.stats and matplotlib: a stricter floor, reported beside the issue's.
OWN_STACK = "import pandas, pandera.pandas, scipy.special, jinja2"


def run(opts) -> list[Figure]:
    cold, noop, version, stack, own, per_job = [], [], [], [], [], []
    for _ in range(opts.repeat):
        work = workdir("w1")
        try:
            generate(work, 0, "demo")
            cmd = snakemake("--cores", str(opts.cores))
            cold.append(run_cmd(cmd, work, opts.env))
            per_job.append(jobs(work, "demo"))
            noop.append(run_cmd(cmd, work, opts.env))
            version.append(run_cmd([PY, "-m", "snakemake", "--version"], work, opts.env))
            stack.append(run_cmd([PY, "-c", STACK], work))
            own.append(run_cmd([PY, "-c", OWN_STACK], work))
        finally:
            remove(work)
    floor_runs = [v.wall + s.wall for v, s in zip(version, stack, strict=True)]
    floor = median([r.wall for r in version]) + median([r.wall for r in stack])
    cold_med = median([r.wall for r in cold])
    ratio = cold_med / floor
    own_floor = median([r.wall for r in version]) + median([r.wall for r in own])
    w = "W1"
    probe = probe_scontrol()  # the real one, also with --no-slurm-probe
    env = []
    if probe is not None:
        env = [Figure(w, "environment: `scontrol show config` (slurm plugin probe)", "s",
                      [probe.wall], loads=[probe.load],
                      note="paid by every snakemake start-up (import of the SLURM executor "
                      "plugin)" + ("; shimmed for these runs" if opts.env else
                                   "; --no-slurm-probe shims it"))]  # fmt: skip
    return env + [
        Figure(w, "demo cold end to end", "s", [r.wall for r in cold],
               loads=[r.load for r in cold]),
        Figure(w, "demo no-op re-run", "s", [r.wall for r in noop], target="<= 2 s", limit=2.0,
               loads=[r.load for r in noop]),
        Figure(w, "floor: snakemake --version", "s", [r.wall for r in version],
               loads=[r.load for r in version]),
        Figure(w, "floor: stack import", "s", [r.wall for r in stack],
               loads=[r.load for r in stack]),
        Figure(w, "floor (sum of medians)", "s", floor_runs, value=floor),
        Figure(w, "cold / floor", "x", [c.wall / f for c, f in zip(cold, floor_runs, strict=True)],
               target="<= 1.5", limit=1.5, value=ratio,
               note="ratio of medians; runs are per-repetition ratios"),
        Figure(w, "stricter floor: the workflow's own stack import", "s", [r.wall for r in own],
               loads=[r.load for r in own], note=OWN_STACK),
        Figure(w, "cold / stricter floor (snakemake --version + own stack)", "x",
               [c.wall / (v.wall + o.wall) for c, v, o in zip(cold, version, own, strict=True)],
               value=cold_med / own_floor, note="informational: the jobs import less than the "
               "issue's stack, so this floor is lower"),
        Figure(w, "demo cold peak RSS (largest process)", "MB", [r.rss_mb for r in cold]),
    ] + [
        Figure(w, f"demo cold: stage {stage}", "s", [j[stage][0] for j in per_job],
               note="Snakemake benchmark: file (job incl. interpreter start and imports)")
        for stage in STAGES if all(stage in j for j in per_job)
    ]  # fmt: skip
