"""Which config keys each workflow stage reads: its params, and so what a key change re-runs.

Snakemake re-runs a job when its ``params`` change. Every rule therefore receives, as one
``config`` param, exactly the config keys its stage reads (:func:`stage_config`), and the stage
builds its typed view from those alone (:func:`balint_analysis.config.load_stage_config`): a
stage that reads a key it did not declare fails instead of silently going stale. The key table
below is thus both the documentation of reruns and their mechanism; ``tests/test_reruns.py``
changes every documented key and checks that Snakemake's dry run plans exactly the jobs the
table implies.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from balint_analysis.config_schema import dotted_value

__all__ = ["DOWNSTREAM", "STAGE_KEYS", "first_stages", "jobs_for_key", "stage_config",
           "with_downstream"]

#: The ``missing_data`` keys the imputation jobs read (``plausible_delta_sd`` words the report).
_IMPUTATION_KEYS = tuple(f"missing_data.{k}" for k in ("imputations", "chunk_size", "seed",
                                                       "max_delta_sd", "n_deltas"))

#: Config keys (dotted paths; a section means all of its keys) each stage reads.
STAGE_KEYS: dict[str, tuple[str, ...]] = {
    # ingest, validate, pseudonymise, score
    "prepare": (
        "cohort", "design", "participants", "exports", "instruments", "instrument_definitions",
        "analysis.covariates", "analysis.covariate_levels", "analysis.strict", "validation",
        "privacy",
    ),
    "model": (
        "design", "participants", "instruments", "instrument_definitions", "analysis.primary",
        "analysis.primary_timepoint", "analysis.covariates", "analysis.covariate_levels",
        "analysis.alpha",
    ),
    # The report documents the whole configuration it analysed (its provenance section).
    "report": (
        "cohort", "title", "synthetic", "design", "participants", "exports", "instruments",
        "instrument_definitions", "analysis", "validation", "privacy", "missing_data",
    ),
    # Multiple imputation: one job per chunk of imputations (all outcomes), then the pooling.
    "missing_chunk": (
        "design", "participants", "instruments", "instrument_definitions", "analysis.primary",
        "analysis.covariates", "analysis.covariate_levels", "analysis.alpha",
        *_IMPUTATION_KEYS, "missing_data.refit_outcomes",
    ),
    "missing_gather": (
        "design", "participants", "instruments", "instrument_definitions",
        "analysis.covariates", "analysis.covariate_levels", "analysis.alpha",
        *_IMPUTATION_KEYS,
    ),
    "power_chunk": ("power", "analysis.alpha"),
    "power_gather": ("title", "power", "analysis.alpha"),
}  # fmt: skip

#: Jobs a stage's new outputs re-run in turn.
DOWNSTREAM: dict[str, tuple[str, ...]] = {
    "prepare": ("model", "missing_chunk", "missing_gather", "report"),
    "model": ("report",),
    "report": (),
    "missing_chunk": ("missing_gather",),
    "missing_gather": ("report",),
    "power_chunk": ("power_gather",),
    "power_gather": (),
}


def stage_config(config: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The part of a (defaults-filled) config that ``stage`` reads, as a nested mapping.

    A declared key the config leaves out (an optional section such as ``participants`` or
    ``synthetic``) is present as ``None``, so the stage can tell "not configured" from "not
    declared". Key order follows the config file.
    """
    out: dict[str, Any] = {}
    for dotted in STAGE_KEYS[stage]:
        value = dotted_value(config, dotted)
        *parents, leaf = dotted.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = copy.deepcopy(value)
    return out


def first_stages(key: str) -> set[str]:
    """Stages whose declared keys cover ``key`` (``analysis.alpha``, ``exports[0].path``)."""
    bare = key.split("[", 1)[0]
    return {
        stage
        for stage, keys in STAGE_KEYS.items()
        if any(bare == k or bare.startswith(k + ".") or k.startswith(bare + ".") for k in keys)
    }


def jobs_for_key(key: str) -> set[str]:
    """Every job a change of ``key`` re-runs: the stages reading it and everything after."""
    return with_downstream(first_stages(key))


def with_downstream(stages: set[str]) -> set[str]:
    """``stages`` and every stage after them (:data:`DOWNSTREAM`, transitively)."""
    jobs: set[str] = set()
    todo = list(stages)
    while todo:
        stage = todo.pop()
        if stage not in jobs:
            jobs.add(stage)
            todo.extend(DOWNSTREAM[stage])
    return jobs
