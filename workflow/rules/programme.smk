# A programme (config/programme/<name>.yaml): each cohort's own workflow, then the pooled stage
# and the programme report. The Snakefile includes this file instead of the cohort rules.
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
from balint_analysis.project import DEFAULT_CONFIG
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
# One run per programme at a time (each cohort's own run holds that cohort's lock).
if executes_jobs(
    workflow.exec_mode == ExecMode.DEFAULT,
    workflow.output_settings.dryrun,
    sys.argv[1:],
):
    try:
        PROGRAMME_LOCK = hold_cohort(PROGRAMME_PATHS.lock_name)
    except InputError as exc:
        raise WorkflowError(str(exc)) from None


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


wildcard_constraints:
    cohort="|".join(re.escape(name) for name in COHORTS),


# One job per cohort, in parallel: the cohort's own run (reusing its outputs when its inputs
# are unchanged). Its declared output is a summary, never the cohort's own outputs.
rule programme_cohort:
    input:
        config=lambda w: COHORTS[w.cohort].config,
        raw=lambda w: COHORTS[w.cohort].raw_inputs,
    output:
        summary=str(PROGRAMME_PATHS.interim / "cohorts" / "{cohort}.json"),
    log:
        programme_log("cohort_{cohort}.log"),
    # The cores shared out between the cohorts (independent runs parallelise perfectly).
    threads: min(4, max(1, (workflow.cores or 4) // len(COHORTS)))
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        cohort_config=lambda w: COHORTS[w.cohort].config,
    script:
        "../scripts/programme_cohort.py"


rule programme_pool:
    input:
        summaries=expand(
            str(PROGRAMME_PATHS.interim / "cohorts" / "{cohort}.json"), cohort=COHORTS
        ),
    output:
        **{key: pooled(name) for key, name in POOLED_FILES.items()},
    log:
        programme_log("pool.log"),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        programme=PROGRAMME.raw,
    script:
        "../scripts/programme_pool.py"


localrules:
    programme_report,


rule programme_report:
    input:
        **{key: pooled(name) for key, name in POOLED_FILES.items()},
    output:
        html=str(PROGRAMME_PATHS.report),
    log:
        programme_log("report.log"),
    params:
        programme=PROGRAMME.raw,
    script:
        "../scripts/programme_report.py"
