"""A programme's configuration: which cohorts to pool and how (``config/programme/<name>.yaml``).

A programme config has one top-level key, ``programme`` (schema:
``workflow/schemas/programme.schema.yaml``, keys documented in ``docs/programme.md``). Each of
its cohorts is analysed by its own cohort config, exactly as a cohort run would; the
programme only reads their outputs. Loading is bounded like a cohort config's (file size,
alias expansion) and every problem is one line naming the key or the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from balint_analysis.config_schema import apply_defaults, check_schema, load_schema, read_yaml
from balint_analysis.errors import InputError
from balint_analysis.project import raw_input_paths, workflow_dir

__all__ = [
    "PROGRAMME_FOLDER",
    "Programme",
    "ProgrammeCohort",
    "is_programme",
    "load_programme",
    "programme_schema_path",
    "read_programme",
]

#: Outputs of programme ``<name>`` go to ``data/processed/<folder>/<name>/``,
#: ``data/interim/<folder>/<name>/`` and ``reports/<folder>/<name>/``.
PROGRAMME_FOLDER = "programmes"


@dataclass(frozen=True)
class ProgrammeCohort:
    """One cohort of a programme: its config, labels and what its own run reads."""

    config: str
    cohort: str
    site: str
    year: int | None
    country: str | None
    title: str
    randomised: bool
    timepoints: tuple[str, ...]
    intervention: str
    control: str | None
    min_cell_size: int
    raw_inputs: tuple[str, ...]
    instrument_versions: Mapping[str, str] = field(repr=False)
    #: The cohort's instrument definitions (labels and directions for the report).
    instruments: Mapping[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Programme:
    """The typed view of a programme config (schema defaults filled in)."""

    name: str
    title: str
    cohorts: tuple[ProgrammeCohort, ...]
    outcomes: tuple[str, ...] | None
    primary_outcome: str | None
    primary_timepoint: str | None
    pool_standardised: bool
    alpha: float
    min_cell_size: int
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def disclosure_k(self) -> int:
        """The smallest number of people a programme statistic may describe: the largest of
        the programme's and every cohort's ``min_cell_size`` (the strictest rule wins)."""
        return max([self.min_cell_size, *(c.min_cell_size for c in self.cohorts)])

    def settings(self) -> dict[str, Any]:
        """The programme section as a plain mapping (the report's and the rules' params)."""
        return dict(self.raw["programme"])


def programme_schema_path() -> Path:
    """``workflow/schemas/programme.schema.yaml``."""
    return workflow_dir() / "schemas" / "programme.schema.yaml"


def is_programme(config: Mapping[str, Any]) -> bool:
    """Whether a loaded config file is a programme config (its top-level key ``programme``)."""
    return isinstance(config, Mapping) and "programme" in config


def read_programme(path: str | Path, root: str | Path = ".") -> Programme:
    """Read, check and type a programme config file.

    Raises
    ------
    InputError
        One line naming the file and the key: unreadable or oversized file, broken YAML, a
        schema violation, a cohort config that is missing or invalid, two entries naming the
        same cohort.
    """
    raw = read_yaml(path)
    try:
        return load_programme(raw, root=root)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def load_programme(raw: Mapping[str, Any], *, root: str | Path = ".",
                   schema_path: str | Path | None = None) -> Programme:  # fmt: skip
    """The typed view of a programme config mapping; each cohort config is read and checked.

    ``root`` is the project directory the cohort config paths are relative to.

    Raises
    ------
    InputError
        As :func:`read_programme`.
    """
    from balint_analysis.config import read_config

    schema_file = schema_path or programme_schema_path()
    check_schema(raw, schema_file)
    full = apply_defaults(raw, load_schema(schema_file))
    section = full["programme"]
    cohorts, seen = [], {}
    for i, entry in enumerate(section["cohorts"]):
        where = f"config key 'programme.cohorts[{i}].config'"
        path = Path(root) / entry["config"]
        if not path.is_file():
            raise InputError(f"{where}: {entry['config']} does not exist; give the path of a "
                             "cohort config relative to the project directory.")  # fmt: skip
        try:
            cfg = read_config(path)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        if cfg.cohort in seen:
            raise InputError(f"{where}: cohort '{cfg.cohort}' is already pooled as "
                             f"programme.cohorts[{seen[cfg.cohort]}]; list each cohort once.")
        if cfg.cohort == PROGRAMME_FOLDER:
            raise InputError(f"{where}: a cohort named '{PROGRAMME_FOLDER}' would share its "
                             "output folder with the programmes'; rename the cohort.")
        seen[cfg.cohort] = i
        cohorts.append(ProgrammeCohort(
            config=entry["config"], cohort=cfg.cohort, site=entry["site"],
            year=entry.get("year"), country=entry.get("country"), title=cfg.title,
            randomised=cfg.design.randomised, timepoints=cfg.design.timepoints,
            intervention=cfg.design.intervention, control=cfg.design.control,
            min_cell_size=int(cfg.analysis.min_cell_size),
            raw_inputs=tuple(raw_input_paths(cfg.raw)),
            instrument_versions={k: v.version for k, v in cfg.instruments.items()},
            instruments=dict(cfg.instruments),
        ))  # fmt: skip
    primary = section.get("primary_outcome")
    outcomes = section.get("outcomes")
    _check_outcomes(cohorts, outcomes, primary)
    if primary and outcomes and primary not in outcomes:
        raise InputError(f"config key 'programme.primary_outcome': {primary} is not among "
                         "programme.outcomes; add it there or choose one of them.")
    return Programme(
        name=section["name"], title=section["title"], cohorts=tuple(cohorts),
        outcomes=tuple(outcomes) if outcomes else None, primary_outcome=primary,
        primary_timepoint=section.get("primary_timepoint"),
        pool_standardised=bool(section["pool_standardised"]), alpha=float(section["alpha"]),
        min_cell_size=int(section["min_cell_size"]), raw=full,
    )  # fmt: skip


def _check_outcomes(cohorts: list[ProgrammeCohort], outcomes: list[str] | None,
                    primary: str | None) -> None:  # fmt: skip
    """Every outcome the programme names is scored by at least one of its cohorts."""
    known = {f"{inst_id}.{scale}" for c in cohorts for inst_id, inst in c.instruments.items()
             for scale in inst.scales}  # fmt: skip
    named = [("programme.outcomes", o) for o in outcomes or []]
    named += [("programme.primary_outcome", primary)] if primary else []
    for key, outcome in named:
        if outcome not in known:
            raise InputError(f"config key '{key}': {outcome} is not an outcome of any of the "
                             f"programme's cohorts; choose among {', '.join(sorted(known))}.")
