"""Power-analysis settings: the grid, its sources, the job budget and the chunking.

Read by the workflow at every Snakemake start, so this module imports nothing heavy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "GRID_SOURCES",
    "MAX_POWER_CHUNKS",
    "MAX_POWER_FITS",
    "MECHANISMS",
    "check_power_budget",
    "chunk_replicates",
    "default_grid",
    "mechanism_panel_cells",
    "power_settings",
]

#: Drop-out mechanisms of the ``attrition_mechanism`` axis (documented in :mod:`.simulation`).
MECHANISMS = ("MCAR", "MAR", "MNAR")


def default_grid() -> dict[str, list[Any]]:
    """The default planning grid (the config schema's ``power.grid`` defaults; effects are
    standardised, d in baseline-SD units)."""
    from balint_analysis.config_schema import load_schema

    grid = load_schema()["properties"]["power"]["properties"]["grid"]["properties"]
    return {key: list(node["default"]) for key, node in grid.items()}


#: Where the defaults come from (shown on the power page).
GRID_SOURCES = [
    "Effect sizes: Cheng et al. 2019 (MBI emotional exhaustion, Balint n=70 vs 140, post-test "
    "Hedges g = -0.29) and Lemogne et al. 2020 (empathy change scores, d about 0.27) put "
    "realistic Balint effects around d = 0.3; 0.5 is an optimistic planning value and 0.8 "
    "marks what a small study could detect at all.",
    "Pre-post correlations: Shahini et al. 2022 imply r = 0.19-0.75 across arms and subscales; "
    "0.6 is a typical value for burnout scales over a few months.",
    "ICC of 0.02-0.12 for group-delivered psychological interventions (reanalysis of two RCTs, "
    "PMC2797475); Balint groups have 8-12 members.",
]


def power_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``power:`` section of a config, schema defaults filled in.

    Keys: ``grid`` (every grid key, defaults from the schema), ``replicates`` per cell,
    ``chunk_size`` replicates per job, ``seed``, ``alpha`` (default: ``analysis.alpha``),
    ``mar_odds_ratio``, ``mnar_delta``, ``mechanism_panel`` and ``n_chunks``.
    """
    from balint_analysis.config_schema import apply_defaults, load_schema

    schema = load_schema()
    section = apply_defaults({"power": dict(config.get("power") or {})}, schema)["power"]
    analysis_alpha = (config.get("analysis") or {}).get(
        "alpha", schema["properties"]["analysis"]["properties"]["alpha"]["default"]
    )
    settings = {
        "grid": {k: list(v) for k, v in section["grid"].items()},
        "replicates": int(section["replicates"]),
        "chunk_size": int(section["chunk_size"]),
        "seed": int(section["seed"]),
        "alpha": float(section.get("alpha", analysis_alpha)),
        "mar_odds_ratio": float(section["mar_odds_ratio"]),
        "mnar_delta": float(section["mnar_delta"]),
        "mechanism_panel": dict(section["mechanism_panel"]),
    }
    settings["n_chunks"] = math.ceil(settings["replicates"] / settings["chunk_size"])
    check_power_budget(settings)
    return settings


#: Most chunk jobs a power analysis may plan: Snakemake holds every job of the DAG in memory
#: (even for a dry run of the main analysis), and 10**12 chunks took 24 GB before the kernel
#: killed it. 2,000 jobs plan in seconds.
MAX_POWER_CHUNKS = 2_000

#: Most simulated trials (replicates x cells) a power analysis may fit: the default grid and
#: its mechanism panel (50 cells x 200 replicates) are 10,000; a million is days of computing
#: on a laptop.
MAX_POWER_FITS = 1_000_000


def check_power_budget(settings: Mapping[str, Any]) -> None:
    """Refuse power settings whose jobs or fits exceed the limits, before any job is planned.

    Raises
    ------
    InputError
        One line with the limit and the fix.
    """
    from balint_analysis.errors import InputError

    if settings["n_chunks"] > MAX_POWER_CHUNKS:
        raise InputError(
            f"config key 'power.chunk_size': {settings['replicates']:,} replicates in chunks of "
            f"{settings['chunk_size']:,} are {settings['n_chunks']:,} jobs, more than the "
            f"{MAX_POWER_CHUNKS:,} the workflow plans; raise power.chunk_size to at least "
            f"{math.ceil(settings['replicates'] / MAX_POWER_CHUNKS):,}."
        )
    cells = math.prod(len(values) for values in settings["grid"].values())
    cells += len(mechanism_panel_cells(settings["grid"], settings.get("mechanism_panel")))
    fits = cells * settings["replicates"]
    if fits > MAX_POWER_FITS:
        raise InputError(
            f"config key 'power.replicates': {settings['replicates']:,} replicates x {cells:,} "
            f"grid cells are {fits:,} simulated trials, more than the limit of "
            f"{MAX_POWER_FITS:,}; lower power.replicates to at most "
            f"{MAX_POWER_FITS // cells:,} or use fewer values in power.grid (or "
            f"power.mechanism_panel)."
        )


def mechanism_panel_cells(
    grid: Mapping[str, Any], panel: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The mechanism panel's extra cells: one design under each drop-out mechanism.

    The design is ``panel['n_per_arm']`` and ``panel['effect_d']`` with the middle value of
    every other grid axis; a mechanism whose cell the grid already holds is not repeated.
    Extra cells come after the grid's cells, so adding the panel never changes the grid cells'
    numbers (nor their seeds).
    """
    if not panel or not panel.get("mechanisms"):
        return []
    design = {key: values[len(values) // 2] for key, values in grid.items()
              if key != "attrition_mechanism"}  # fmt: skip
    design.update(n_per_arm=int(panel["n_per_arm"]), effect_d=float(panel["effect_d"]))
    in_grid = design["n_per_arm"] in grid["n_per_arm"] and design["effect_d"] in grid["effect_d"]
    return [
        {**design, "attrition_mechanism": mechanism}
        for mechanism in MECHANISMS
        if mechanism in panel["mechanisms"]
        and not (in_grid and mechanism in grid["attrition_mechanism"])
    ]


def chunk_replicates(settings: Mapping[str, Any], chunk: int) -> range:
    """The replicate numbers handled by one chunk job."""
    start = chunk * settings["chunk_size"]
    return range(start, min(start + settings["chunk_size"], settings["replicates"]))
