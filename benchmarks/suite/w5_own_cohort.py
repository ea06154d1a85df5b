"""W5: a researcher's own cohort — ``init`` and ``check`` on a large folder, and export layouts.

The W2-sized cohort (participants × 3 timepoints × the 91-item battery, ~20,000 rows per
export) is written three times by the simulator: in the demo's layout (Qualtrics, REDCap and
LimeSurvey CSVs), as SurveyMonkey exports (two header rows, option positions / answer text) and
as SoSci Survey downloads (a UTF-16 CSV, a ``.sav``, an R data file). Timed, as a user runs
them (the CLI, Python start-up included):

* ``balint-analysis init data/raw/<cohort>/`` on each folder (three exports and a roster);
* ``balint-analysis check --config …`` on each cohort's finished config (the one the simulator
  writes: what ``init``'s config becomes once its TODOs are answered);

and in process, ingest + validation (what ``prepare`` and ``check`` do before anything is
written) of each layout, with its ratio to the demo layout's CSV. Then the large-exports run
(:mod:`suite.w5_large`): the ``prepare`` job on three exports of a million rows each.
"""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

from suite import w5_large
from suite.cohorts import remove, workdir
from suite.measure import PY, REPO, Figure, median, run_cmd, timed

LAYOUTS = ("demo", "surveymonkey", "sosci")
KEY = {"BALINT_ID_KEY": "benchmark-key-0123456789abcdef-w5-not-secret"}
GENERATE = """
import sys
sys.path.insert(0, {bench!r})
from suite.cohorts import params_for
from balint_analysis.simulate import simulate_cohort, write_cohort, write_config
sim = simulate_cohort(params_for({n}), seed=1, layout={layout!r})
write_cohort(sim, "data/raw/{layout}", layout={layout!r})
write_config(sim, "data/raw/{layout}", "config/{layout}.yaml", cohort_name={layout!r},
             layout={layout!r})
"""


def _read_and_validate(work: Path, layout: str) -> None:
    import os

    from balint_analysis.config import read_config
    from balint_analysis.pipeline import read_inputs
    from balint_analysis.validate import validate

    here = os.getcwd()
    os.chdir(work)
    try:
        cfg = read_config(f"config/{layout}.yaml")
        responses, roster, info = read_inputs(cfg)
        validate(responses, roster, cfg, info)
    finally:
        os.chdir(here)


def run(opts) -> list[Figure]:
    import os

    n = opts.w2_participants
    work = workdir("w5")
    env = {**(opts.env or os.environ), **KEY}
    cli = [PY, "-m", "balint_analysis.cli"]
    figs: list[Figure] = []
    w = f"W5 ({n:,} participants)"
    try:
        for layout in LAYOUTS:
            code = GENERATE.format(bench=str(REPO / "benchmarks"), n=n, layout=layout)
            subprocess.run([PY, "-c", code], cwd=work, check=True, capture_output=True)
        with (work / "data/raw/demo/pre_qualtrics.csv").open(encoding="utf-8-sig") as fh:
            rows = sum(1 for _ in csv.reader(fh)) - 3  # records, not lines: comments span lines
        inits = {layout: [run_cmd([*cli, "init", f"data/raw/{layout}", "--cohort",
                                   f"init_{layout}", "--force"], work, env)
                          for _ in range(opts.repeat)] for layout in LAYOUTS}  # fmt: skip
        for layout, runs in inits.items():
            figs.append(Figure(w, f"init, {layout} layout ({rows:,}-row exports)", "s",
                               [r.wall for r in runs], target="<= 5 s", limit=5.0,
                               loads=[r.load for r in runs]))  # fmt: skip
        for layout in LAYOUTS:
            runs = [run_cmd([*cli, "check", "--config", f"config/{layout}.yaml"], work, env)
                    for _ in range(opts.repeat)]  # fmt: skip
            figs.append(Figure(w, f"check, {layout} layout", "s", [r.wall for r in runs],
                               target="<= 15 s", limit=15.0, loads=[r.load for r in runs]))
        # Interleaved (demo, surveymonkey, sosci, demo, …) so that drift in the machine's
        # load affects every layout alike; the ratio is of the medians.
        times: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
        for _ in range(max(opts.repeat, 5)):
            for layout in LAYOUTS:
                times[layout] += timed(lambda layout=layout: _read_and_validate(work, layout), 1)
        base = median(times["demo"])
        for layout in LAYOUTS:
            figs.append(Figure(w, f"ingest + validate, {layout} layout (in process)", "s",
                               times[layout]))  # fmt: skip
            if layout != "demo":
                figs.append(Figure(w, f"{layout} / demo layout (Qualtrics, REDCap, LimeSurvey "
                                   "CSVs), ingest + validate", "x",
                                   [median(times[layout]) / base], target="<= 1.2x",
                                   limit=1.2))  # fmt: skip
    finally:
        remove(work)
    return figs + w5_large.run(opts)
