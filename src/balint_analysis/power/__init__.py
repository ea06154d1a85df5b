"""Simulation-based power analysis for planning the next Balint cohort.

The package holds only the settings (:mod:`.settings`, read by the workflow at every Snakemake
start, so it imports nothing heavy); the simulation and analysis live in :mod:`.simulation`
and the HTML page in :mod:`.page`. Names of :mod:`.simulation` are re-exported lazily.
"""

from __future__ import annotations

from typing import Any

from balint_analysis.power.settings import (
    GRID_SOURCES,
    MAX_POWER_CHUNKS,
    MAX_POWER_FITS,
    MECHANISMS,
    check_power_budget,
    chunk_replicates,
    default_grid,
    mechanism_panel_cells,
    power_settings,
)

__all__ = [
    "GRID_SOURCES",
    "MAX_POWER_CHUNKS",
    "MAX_POWER_FITS",
    "MECHANISMS",
    "analyse_replicate",
    "check_power_budget",
    "chunk_replicates",
    "default_grid",
    "dropout_probability",
    "expand_grid",
    "grid_cells",
    "mechanism_panel_cells",
    "power_settings",
    "run_chunk",
    "simulate_complete",
    "simulate_replicate",
    "summarise",
    "wilson_interval",
]

_LAZY = {"analyse_replicate", "dropout_probability", "expand_grid", "grid_cells", "run_chunk",
         "simulate_complete", "simulate_replicate", "summarise", "wilson_interval",
         "RESULT_COLUMNS", "GRID_KEYS"}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from balint_analysis.power import simulation

        return getattr(simulation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
