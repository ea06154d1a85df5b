"""Missing data: multiple imputation under MAR, δ-adjusted and jump-to-reference scenarios,
Rubin's rules with Barnard-Rubin df, and tipping points ("Could drop-out explain the result?").

The package imports only the settings eagerly (:mod:`.settings`, read by the workflow at every
Snakemake start); the statistics (:mod:`.analysis`, :mod:`.pooling`, :mod:`.tipping`) and the
workflow glue (:mod:`.stage`) are re-exported lazily.
"""

from __future__ import annotations

from typing import Any

from balint_analysis.missing.settings import (
    MAX_MISSING_JOBS,
    check_missing_budget,
    chunk_imputations,
    delta_grid_sd,
    missing_settings,
    outcome_index,
    planned_outcomes,
)

__all__ = [
    "MAX_MISSING_JOBS",
    "MISSING_DATA_COLUMNS",
    "PER_IMPUTATION_COLUMNS",
    "SCENARIOS",
    "TIPPING_COLUMNS",
    "check_missing_budget",
    "chunk_imputations",
    "delta_grid_sd",
    "impute_and_analyse",
    "missing_settings",
    "outcome_index",
    "planned_outcomes",
    "pool_imputations",
    "rubin_pool",
    "tipping_points",
]

_LAZY = {
    "SCENARIOS": "analysis",
    "PER_IMPUTATION_COLUMNS": "analysis",
    "impute_and_analyse": "analysis",
    "rubin_pool": "pooling",
    "pool_imputations": "pooling",
    "MISSING_DATA_COLUMNS": "tipping",
    "TIPPING_COLUMNS": "tipping",
    "tipping_points": "tipping",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
