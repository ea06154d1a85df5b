# The run's configuration, its validation and small path helpers shared by the rules.
import os
import sys
import threading

from snakemake.exceptions import WorkflowError
from snakemake_interface_executor_plugins.settings import ExecMode

from balint_analysis.cluster import watch_controller
from balint_analysis.config import load_config
from balint_analysis.config_schema import (
    apply_defaults,
    check_schema,
    load_schema,
    run_config,
)
from balint_analysis.errors import InputError
from balint_analysis.faults import unwritable_folder
from balint_analysis.power import power_settings
from balint_analysis.missing import missing_settings, planned_outcomes
from balint_analysis.identifiers import env_key_fingerprint
from balint_analysis.project import DEFAULT_CONFIG, CohortPaths, raw_input_paths
from balint_analysis.runlock import executes_jobs, hold_cohort
from balint_analysis.stages import stage_config

try:
    # Exactly the cohort's config file (config/config.yaml, the demo, only when no
    # --configfile is given) plus the schema's defaults: never another cohort's keys.
    _given = run_config(config, workflow.overwrite_configfiles, DEFAULT_CONFIG)
    # One line naming the key, then what a JSON schema cannot express.
    _schema = workflow.source_path("../schemas/config.schema.yaml")
    check_schema(_given, _schema)
    _full = apply_defaults(_given, load_schema(_schema))
    STUDY = load_config(_full)
    # Bounded (chunk jobs, replicates x cells) here, before rules/power.smk plans one job per
    # chunk: every Snakemake start plans them, even a dry run of the main analysis.
    POWER = power_settings(_full)
    # Likewise the imputation jobs (rules/missing.smk): one per chunk (all outcomes), bounded.
    MISSING = missing_settings(_full, len(planned_outcomes(STUDY.instruments)))
except InputError as exc:
    raise WorkflowError(str(exc)) from None
config.clear()
config.update(_full)

COHORT = STUDY.cohort
# One run per cohort: a second one stops here with one line, before Snakemake would take the
# first run's unfinished outputs for a crash's (balint_analysis.runlock). Jobs parse this file
# again and must not take the lock (their run holds it); dry runs and --unlock/--list need none.
if executes_jobs(
    workflow.exec_mode == ExecMode.DEFAULT,
    workflow.output_settings.dryrun,
    sys.argv[1:],
):
    try:
        COHORT_LOCK = hold_cohort(COHORT)  # held until this Snakemake process ends
    except InputError as exc:
        raise WorkflowError(str(exc)) from None
    # With the SLURM executor a controller that is gone would leave the run waiting forever.
    watch_controller(
        lambda: getattr(workflow.executor_plugin, "name", None),
        lambda line: stop_unanswered_run(line),  # defined below
    )
# Pseudonymisation re-runs when the key changes: its fingerprint (never the key) is a param.
KEY_FINGERPRINT = env_key_fingerprint(
    STUDY.key_env, allow_demo_key=STUDY.allow_demo_key
)


# Output locations, from the one definition the CLI also uses.
PATHS = CohortPaths(COHORT)
REPORT = str(PATHS.report)
POWER_PAGE = str(PATHS.power_page)


def processed(name):
    return str(PATHS.processed / name)


def interim(name):
    return str(PATHS.interim / name)


def log_file(name):
    return str(PATHS.logs / name)


def raw_inputs():
    """Every raw file the analysis reads: exports, roster, custom instrument definitions."""
    return raw_input_paths(config)


def announce_results():
    """Print where the results are: the last line of every successful run (`balint-analysis
    run` prints it itself, also after a run with nothing to do)."""
    if os.environ.get("BALINT_ANNOUNCED_BY_CLI"):
        return
    for label, path in (("Report", PATHS.report), ("Power analysis", PATHS.power_page)):
        if path.exists():
            print(f"{label}: {path.resolve()}", file=sys.stderr, flush=True)


def stop_unanswered_run(line):
    """End this Snakemake process now: with its SLURM jobs' states unknowable it would wait
    forever (SIGINT and SIGTERM make it wait for them). Its own file locks go first, so the
    next run needs no --unlock."""
    print(f"balint-analysis: {line}", file=sys.stderr, flush=True)
    if workflow.persistence is not None:
        workflow.persistence.unlock()
    os._exit(1)


def stop_on_unwritable_outputs():
    """Before the first job: one line when an output folder cannot be written (read-only file
    system, no permission, full disk). Snakemake would otherwise stop with a traceback of its
    own while clearing the first job's outputs. Not run by a dry run, which writes nothing.
    """
    folders = [PATHS.processed, PATHS.interim, PATHS.report.parent, PATHS.logs]
    problem = unwritable_folder(folders)
    if problem:
        print(f"balint-analysis: {problem}", file=sys.stderr, flush=True)
        raise SystemExit(1)


def release_scheduler_timers():
    """Let Snakemake exit as soon as the last job is done.

    Its job-rate limiter (default 100 jobs per 1 s) starts a non-daemon 1-second
    threading.Timer on every scheduling pass, and the interpreter waits for those at exit:
    about 1 s added to every run that executes a job. The run is over when onsuccess/onerror
    fire, so the pending re-evaluations are cancelled. (`--max-jobs-per-timespan 1000/1ms`
    would be the flag's way, but Snakemake 9 parses "1ms" as one minute.)
    """
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()
