# Config validation and small path helpers shared by the rules.
import threading

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from balint_analysis.config import check_schema, load_config
from balint_analysis.errors import InputError
from balint_analysis.power import power_settings

try:
    # One line naming the key, then what a JSON schema cannot express (the primary outcome
    # exists, column maps resolve).
    check_schema(config, workflow.source_path("../schemas/config.schema.yaml"))
    STUDY = load_config(config)
except InputError as exc:
    raise WorkflowError(str(exc)) from None
validate(config, schema="../schemas/config.schema.yaml")  # fills schema defaults

COHORT = STUDY.cohort


def processed(name):
    return f"data/processed/{COHORT}/{name}"


def interim(name):
    return f"data/interim/{COHORT}/{name}"


def raw_inputs():
    """Every raw file the analysis reads: exports, roster, custom instrument definitions."""
    files = [e["path"] for e in config["exports"]]
    if config.get("participants"):
        files.append(config["participants"]["path"])
    files.extend(config.get("instrument_definitions", []))
    return files


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
