"""The I/O edge of a programme run: each cohort's own workflow, the pooled stage, the report.

``workflow/rules/programme.smk`` plans one job per cohort (:func:`cohort_job`: the cohort's own
``balint-analysis run`` as a child process, which reuses its outputs when nothing changed and
holds that cohort's lock), then :func:`pool_job` (``meta.csv``, the two-stage meta-analysis,
the one-stage model, ``cohorts.json``) and :func:`report_job`. Each job is one line on error,
never a traceback (:func:`balint_analysis.pipeline.run_stage` semantics).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from balint_analysis.errors import InputError
from balint_analysis.programme.config import PROGRAMME_FOLDER, Programme, load_programme
from balint_analysis.project import CohortPaths

__all__ = [
    "COHORT_FILES",
    "POOLED_FILES",
    "ProgrammePaths",
    "cohort_job",
    "pool_job",
    "read_cohort_outputs",
    "report_job",
    "run_programme_job",
]

#: The cohort outputs the pooled stage reads (read-only; fingerprinted in ``cohorts.json``).
COHORT_FILES = ("effects.csv", "scores.csv", "participants.csv", "flow.json", "models.json",
                "pseudonymisation.json")  # fmt: skip

#: The pooled stage's files in ``data/processed/programmes/<name>/``, by output name.
POOLED_FILES = {"meta": "meta.csv", "meta_analysis": "meta_analysis.csv",
                "leave_one_out": "leave_one_out.csv", "ipd": "ipd.csv",
                "cohorts": "cohorts.json"}  # fmt: skip


class ProgrammePaths:
    """Output locations of one programme, relative to its project directory."""

    def __init__(self, name: str, root: str | Path = ".") -> None:
        self.name = name
        self.root = Path(root)

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed" / PROGRAMME_FOLDER / self.name

    @property
    def interim(self) -> Path:
        return self.root / "data" / "interim" / PROGRAMME_FOLDER / self.name

    @property
    def report(self) -> Path:
        return self.root / "reports" / PROGRAMME_FOLDER / self.name / "report.html"

    @property
    def logs(self) -> Path:
        return self.root / "logs" / PROGRAMME_FOLDER / self.name

    @property
    def lock_name(self) -> str:
        """The run-lock name (:func:`balint_analysis.runlock.hold_cohort`)."""
        return f"{PROGRAMME_FOLDER}/{self.name}"

    def cohort_summary(self, cohort: str) -> Path:
        """The cohort job's declared output (never the cohort's own outputs, which Snakemake
        would delete before the job runs)."""
        return self.interim / "cohorts" / f"{cohort}.json"


def _last_lines(text: str, n: int = 3) -> list[str]:
    """The child's own one-line messages (``balint-analysis …``), else its last lines."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    own = [ln for ln in lines if ln.startswith("balint-analysis") and "project directory" not in ln]
    return own[-n:] or lines[-n:]


def cohort_job(cohort: str, config: str, out: Mapping[str, Any], *, cores: int,
               log: str | None, root: str | Path = ".") -> None:  # fmt: skip
    """Run one cohort's own workflow (``balint-analysis run --config <config>``) and write its
    summary JSON (``out["summary"]``).

    The child's output goes to ``log``; when it fails, its own one-line messages are repeated
    in the :class:`InputError`, with the log's path.
    """
    from balint_analysis.io import write_json

    cmd = [sys.executable, "-m", "balint_analysis.cli", "run", "--config", config,
           "--directory", str(root), "--cores", str(max(1, cores))]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "BALINT_ANNOUNCED_BY_CLI"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        Path(log).write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        why = " / ".join(_last_lines(done.stderr + done.stdout)) or "no message"
        raise InputError(f"cohort '{cohort}' ({config}) did not complete: {why} (full "
                         f"output: {log}); fix the cohort, then run the programme again.")
    write_json(cohort_summary(cohort, config, root), out["summary"])


def cohort_summary(cohort: str, config: str, root: str | Path = ".") -> dict[str, Any]:
    """What the programme records of a cohort run: its config and the fingerprints (SHA-256)
    of the outputs the pooled stage reads."""
    from balint_analysis.io import sha256

    paths = CohortPaths(cohort, root)
    missing = [n for n in COHORT_FILES if not (paths.processed / n).is_file()]
    if missing:
        raise InputError(f"cohort '{cohort}': its run wrote no {paths.processed / missing[0]}; "
                         f"run `balint-analysis run --config {config}` to see why.")
    return {"cohort": cohort, "config": config,
            "outputs": {n: sha256(paths.processed / n) for n in COHORT_FILES}}  # fmt: skip


def read_cohort_outputs(cohort: str, root: str | Path = ".") -> dict[str, Any]:
    """A cohort's outputs as the pooled stage uses them: frames and parsed JSON."""
    import pandas as pd

    folder = CohortPaths(cohort, root).processed
    out: dict[str, Any] = {}
    for name in COHORT_FILES:
        path = folder / name
        if not path.is_file():
            raise InputError(f"cohort '{cohort}': {path} is missing; run the programme again "
                             "so that the cohort's workflow writes it.")  # fmt: skip
        key = name.rsplit(".", 1)[0]
        if name.endswith(".json"):
            out[key] = json.loads(path.read_text(encoding="utf-8"))
        else:
            out[key] = pd.read_csv(path, dtype={"participant": str, "group": str,
                                                "cluster": str, "timepoint": str})
    return out


def pool_job(programme: Programme, out: Mapping[str, Any], *, root: str | Path = ".") -> None:
    """The pooled stage: ``meta.csv``, the meta-analyses, the one-stage model, ``cohorts.json``."""
    from balint_analysis.io import sha256, write_csv, write_json
    from balint_analysis.programme.pooling import pool_programme

    outputs = {c.cohort: read_cohort_outputs(c.cohort, root) for c in programme.cohorts}
    fingerprints = {c.cohort: {n: sha256(CohortPaths(c.cohort, root).processed / n)
                               for n in COHORT_FILES} for c in programme.cohorts}  # fmt: skip
    pooled = pool_programme(programme, outputs, fingerprints)
    for name in ("meta", "meta_analysis", "leave_one_out", "ipd"):
        write_csv(pooled[name], out[name], float_digits=10)
    write_json(pooled["cohorts"], out["cohorts"])


def report_job(programme: Programme, inp: Mapping[str, Any], out: Mapping[str, Any]) -> None:
    """The programme report, ``reports/programmes/<name>/report.html``."""
    from balint_analysis.io import atomic_write
    from balint_analysis.programme.pooling import report_settings
    from balint_analysis.programme.report import render_programme_report

    instruments: dict[str, Any] = {}
    for c in programme.cohorts:
        instruments.update(c.instruments)
    folder = Path(inp["meta"]).parent
    html = render_programme_report(folder, settings=report_settings(programme, instruments))
    atomic_write(out["html"], lambda tmp: tmp.write_text(html, encoding="utf-8"))


def _stop(message: str, log: str | None) -> None:
    if log:
        try:
            with open(log, "a", encoding="utf-8") as handle:
                print(message, file=handle)
        except OSError:
            pass
    print(message, file=sys.__stderr__, flush=True)
    raise SystemExit(1) from None


def run_programme_job(job: Any, step: str) -> None:
    """Run programme step ``step`` (``cohort``, ``pool``, ``report``) as a workflow job.

    ``job`` is the ``snakemake`` object of a ``workflow/scripts/programme_*.py`` wrapper. The
    cohort step's param is the cohort's config path only (adding a cohort to the programme
    must not re-run the others); the pooled steps' param is the programme config (the job
    re-reads the cohort configs it names). A problem with the input or a fault of the
    machine is one line and status 1.
    """
    from balint_analysis.faults import fault_line
    from balint_analysis.pipeline import finish_job

    log = job.log[0] if job.log else None
    try:
        inp, out = dict(job.input.items()), dict(job.output.items())
        if step == "cohort":
            cohort_job(job.wildcards.cohort, job.params.cohort_config, out, cores=job.threads,
                       log=log)  # fmt: skip
        elif step == "pool":
            pool_job(load_programme(job.params.programme), out)
        else:
            report_job(load_programme(job.params.programme), inp, out)
    except InputError as exc:
        _stop(f"balint-analysis programme {step}: {exc}", log)
    except (OSError, MemoryError, ValueError) as exc:
        line = fault_line(exc, f"the outputs of programme step {step}")
        if line is None:
            raise
        _stop(f"balint-analysis programme {step}: {line}", log)
    finish_job()

