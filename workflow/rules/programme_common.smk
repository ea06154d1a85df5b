# A programme (config/programme/<name>.yaml): its configuration, validation and helpers.
# The Snakefile includes this file and rules/programme.smk instead of the cohort rules.
import os
import re
import sys
import threading

from snakemake.exceptions import WorkflowError
from snakemake_interface_executor_plugins.settings import ExecMode

from balint_analysis.config_schema import run_config
from balint_analysis.errors import InputError
from balint_analysis.faults import unwritable_folder
from balint_analysis.programme.config import load_programme
from balint_analysis.programme.stage import POOLED_FILES, ProgrammePaths
from balint_analysis.project import DEFAULT_CONFIG, CohortPaths
from balint_analysis.runlock import executes_jobs, hold_cohort

try:
    # Exactly the programme's config file (bounded like a cohort's), then every cohort config
    # it names: one line naming the key or the file.
    PROGRAMME = load_programme(
        run_config(config, workflow.overwrite_configfiles, DEFAULT_CONFIG)
    )
except InputError as exc:
    raise WorkflowError(str(exc)) from None
config.clear()
config.update(PROGRAMME.raw)

PROGRAMME_PATHS = ProgrammePaths(PROGRAMME.name)
COHORTS = {c.cohort: c for c in PROGRAMME.cohorts}
# Locally --cores is shared out between the cohorts; on a cluster (SLURM profile) each cohort
# job is its own allocation of 4 cores.
try:
    _TOTAL_CORES = None if workflow.non_local_exec else workflow.cores
except WorkflowError:
    _TOTAL_CORES = None
COHORT_THREADS = (
    4 if _TOTAL_CORES is None else min(4, max(1, _TOTAL_CORES // len(COHORTS)))
)
# One run per programme at a time (each cohort's own run holds that cohort's lock).
EXECUTES_JOBS = executes_jobs(
    workflow.exec_mode == ExecMode.DEFAULT,
    workflow.output_settings.dryrun,
    sys.argv[1:],
)
if EXECUTES_JOBS:
    try:
        PROGRAMME_LOCK = hold_cohort(PROGRAMME_PATHS.lock_name)
    except InputError as exc:
        raise WorkflowError(str(exc)) from None


def cohort_output_folders():
    """Each cohort's output folder, an input of the pooled stage: a cohort re-run on its own
    replaces files in it (the folder's time changes), so the next programme run pools again.
    A run creates the missing ones, so that the pooled stage's inputs are the same before and
    after its first run (Snakemake re-runs a job whose set of inputs changed); a dry run
    creates nothing (the pooled stage is planned anyway when a cohort has none)."""
    folders = []
    for cohort in COHORTS:
        folder = CohortPaths(cohort).processed
        if EXECUTES_JOBS:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # an unwritable project stops with one line when the run starts
        if folder.is_dir():
            folders.append(str(folder))
    return folders


def pooled(name):
    return str(PROGRAMME_PATHS.processed / name)


def programme_log(name):
    return str(PROGRAMME_PATHS.logs / name)


def announce_results():
    if os.environ.get("BALINT_ANNOUNCED_BY_CLI"):
        return
    if PROGRAMME_PATHS.report.exists():
        print(
            f"Report: {PROGRAMME_PATHS.report.resolve()}", file=sys.stderr, flush=True
        )


def stop_on_unwritable_outputs():
    """One line when an output folder cannot be written (see rules/common.smk)."""
    folders = [
        PROGRAMME_PATHS.processed,
        PROGRAMME_PATHS.interim,
        PROGRAMME_PATHS.report.parent,
        PROGRAMME_PATHS.logs,
    ]
    problem = unwritable_folder(folders)
    if problem:
        print(f"balint-analysis: {problem}", file=sys.stderr, flush=True)
        raise SystemExit(1)


def release_scheduler_timers():
    """Let Snakemake exit as soon as the last job is done (see rules/common.smk)."""
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()
