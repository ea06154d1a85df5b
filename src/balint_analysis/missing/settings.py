"""Multiple-imputation settings: the δ grid, the chunking and the job budget.

Read by the workflow at every Snakemake start (rules/missing.smk plans one job per chunk of
imputations, each covering every outcome), so this module imports nothing heavy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "MAX_MISSING_JOBS",
    "check_missing_budget",
    "chunk_imputations",
    "delta_grid_sd",
    "missing_settings",
    "outcome_index",
    "planned_outcomes",
]

#: Most imputation jobs (chunks) the workflow plans: Snakemake holds every job of the
#: DAG in memory, also for a dry run of the main analysis (the power analysis' limit).
MAX_MISSING_JOBS = 2_000


def delta_grid_sd(max_delta_sd: float, n_deltas: int) -> list[float]:
    """The δ grid in baseline-SD units: ``n_deltas`` evenly spaced values from ``-max_delta_sd``
    to ``+max_delta_sd``, 0 (the MAR analysis) always included, each rounded to 10 decimals so
    the same settings give the same grid on every machine.

    Examples
    --------
    >>> delta_grid_sd(1.0, 5)
    [-1.0, -0.5, 0.0, 0.5, 1.0]
    >>> delta_grid_sd(0.5, 2)
    [-0.5, 0.0, 0.5]
    """
    step = 2 * max_delta_sd / (n_deltas - 1)
    values = {round(-max_delta_sd + k * step, 10) for k in range(n_deltas)} | {0.0}
    return sorted(v + 0.0 for v in values)  # + 0.0: no -0.0 in the grid


def missing_settings(config: Mapping[str, Any], n_outcomes: int = 1) -> dict[str, Any]:
    """The ``missing_data:`` section of a config, schema defaults filled in.

    Keys: ``imputations`` (M; 0 = off), ``chunk_size``, ``seed``, ``max_delta_sd``,
    ``n_deltas``, ``plausible_delta_sd``, ``refit_outcomes`` (whose δ scenarios are refitted,
    :mod:`.refit`), ``grid_sd`` (:func:`delta_grid_sd`) and ``n_chunks``
    (the chunk jobs; each analyses its imputations of every outcome). ``n_outcomes`` (the
    outcomes planned) is named in the job-budget message (:func:`check_missing_budget`).
    """
    from balint_analysis.config_schema import apply_defaults, load_schema

    section = apply_defaults({"missing_data": dict(config.get("missing_data") or {})},
                             load_schema())["missing_data"]  # fmt: skip
    settings = {
        "imputations": int(section["imputations"]),
        "chunk_size": int(section["chunk_size"]),
        "seed": int(section["seed"]),
        "max_delta_sd": float(section["max_delta_sd"]),
        "n_deltas": int(section["n_deltas"]),
        "plausible_delta_sd": float(section["plausible_delta_sd"]),
        "refit_outcomes": str(section["refit_outcomes"]),
    }
    settings["grid_sd"] = delta_grid_sd(settings["max_delta_sd"], settings["n_deltas"])
    settings["n_chunks"] = math.ceil(settings["imputations"] / settings["chunk_size"])
    check_missing_budget(settings, n_outcomes)
    return settings


def check_missing_budget(settings: Mapping[str, Any], n_outcomes: int) -> None:
    """Refuse settings that would plan more than :data:`MAX_MISSING_JOBS` imputation jobs
    (one per chunk; with the schema's bounds, at most 1,000 imputations, this cannot happen,
    but the bound stays next to the planning it protects).

    Raises
    ------
    InputError
        One line with the limit and the fix.
    """
    from balint_analysis.errors import InputError

    jobs = settings["n_chunks"]
    if jobs > MAX_MISSING_JOBS:
        raise InputError(
            f"config key 'missing_data.chunk_size': {settings['imputations']:,} imputations "
            f"of {n_outcomes:,} outcomes in chunks of {settings['chunk_size']:,} are "
            f"{jobs:,} jobs, more than the {MAX_MISSING_JOBS:,} the workflow plans; raise "
            f"missing_data.chunk_size to at least "
            f"{math.ceil(settings['imputations'] / MAX_MISSING_JOBS):,}."
        )


def chunk_imputations(settings: Mapping[str, Any], chunk: int) -> range:
    """The imputation numbers (0-based) drawn by one chunk job."""
    start = chunk * settings["chunk_size"]
    return range(start, min(start + settings["chunk_size"], settings["imputations"]))


def planned_outcomes(instruments: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (instrument, scale) the model stage analyses, known from the config alone: the
    scales of the configured instruments, except derived ones (a WHO-5 percentage carries its
    source's effect and is not re-tested). Sorted, so job names are stable."""
    return sorted(
        (instrument_id, scale_id)
        for instrument_id, instrument in instruments.items()
        for scale_id, scale in instrument.scales.items()
        if not scale.derived_from
    )


def outcome_index(outcomes: Sequence[tuple[str, str]], instrument: str, scale: str) -> int:
    """The outcome's position in :func:`planned_outcomes`: its imputation seeds are
    ``SeedSequence([seed, outcome_index, m])``."""
    return list(outcomes).index((instrument, scale))
