"""One typed, validated view of a cohort's configuration.

The workflow validates ``config/config.yaml`` against ``workflow/schemas/config.schema.yaml``
before any rule runs; :func:`load_config` adds the checks a JSON schema cannot express (the
primary outcome exists, an instrument's columns are mapped) and resolves defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from balint_analysis.errors import InputError
from balint_analysis.instruments import Instrument, load_file, load_instrument

__all__ = [
    "AnalysisSpec",
    "check_schema",
    "Design",
    "ExportSpec",
    "RosterSpec",
    "StudyConfig",
    "ValidationSpec",
    "item_columns",
    "load_config",
    "read_config",
]

_TEMPLATE = re.compile(r"\{i(:[0-9]*d)?\}")


@dataclass(frozen=True)
class Design:
    timepoints: tuple[str, ...]
    intervention: str
    control: str | None = None
    randomised: bool = False

    @property
    def baseline(self) -> str:
        return self.timepoints[0]

    @property
    def groups(self) -> tuple[str, ...]:
        return (self.intervention,) if self.control is None else (self.intervention, self.control)

    @property
    def single_arm(self) -> bool:
        return self.control is None


@dataclass(frozen=True)
class RosterSpec:
    path: str
    id: str
    group: str | None = None
    cluster: str | None = None
    sessions: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    sheet: str | int | None = None


@dataclass(frozen=True)
class ExportSpec:
    path: str
    id: str
    format: str = "auto"
    timepoint: str | None = None
    timepoint_column: str | None = None
    timepoint_values: Mapping[str, str] = field(default_factory=dict)
    group_column: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    instruments: Mapping[str, Any] = field(default_factory=dict)
    decimal: str | None = None
    sheet: str | int | None = None
    test_ids: tuple[str, ...] = ()
    #: LimeSurvey answer codes: None (undeclared), "position" or a code -> value mapping.
    answer_codes: str | Mapping[str, float] | None = None


@dataclass(frozen=True)
class ValidationSpec:
    """``validation:``: participant-code matching across waves and careless-responding flags."""

    code_matching: str = "exact"
    code_pattern: str | None = None
    max_distance: int = 1
    longstring_share: float = 1.0
    min_seconds_per_item: float = 2.0


@dataclass(frozen=True)
class AnalysisSpec:
    primary: str
    covariates: tuple[str, ...] = ()
    alpha: float = 0.05
    min_cell_size: int = 5
    strict: bool = False

    @property
    def primary_instrument(self) -> str:
        return self.primary.split(".", 1)[0]

    @property
    def primary_scale(self) -> str:
        return self.primary.split(".", 1)[1]


@dataclass(frozen=True)
class StudyConfig:
    cohort: str
    title: str
    design: Design
    exports: tuple[ExportSpec, ...]
    instrument_columns: Mapping[str, Any]
    instruments: Mapping[str, Instrument]
    analysis: AnalysisSpec
    roster: RosterSpec | None = None
    key_env: str = "BALINT_ID_KEY"
    allow_demo_key: bool = False
    synthetic_seed: int | None = None
    synthetic_preset: str | None = None
    validation: ValidationSpec = field(default_factory=ValidationSpec)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def columns_for(self, export: ExportSpec, instrument_id: str) -> dict[int, str]:
        """Item number -> export column for one instrument in one export."""
        mapping = export.instruments.get(instrument_id, self.instrument_columns[instrument_id])
        return item_columns(mapping, self.instruments[instrument_id])


def item_columns(mapping: str | Mapping[Any, str], instrument: Instrument) -> dict[int, str]:
    """Resolve a column template (``"MBI_{i}"``, ``"pss_{i:02d}"``) or an explicit map.

    An explicit map may name a subset of items (e.g. a short form); items it omits are simply
    not administered.
    """
    if isinstance(mapping, str):
        if not _TEMPLATE.search(mapping):
            raise InputError(
                f"config: instruments.{instrument.id}: template '{mapping}' has no '{{i}}' "
                "placeholder for the item number."
            )
        return {i: mapping.format(i=i) for i in instrument.items}
    out: dict[int, str] = {}
    for key, column in mapping.items():
        try:
            item = int(key)
        except (TypeError, ValueError):
            raise InputError(
                f"config: instruments.{instrument.id}: '{key}' is not an item number."
            ) from None
        if not 1 <= item <= instrument.n_items:
            raise InputError(
                f"config: instruments.{instrument.id}: item {item} does not exist "
                f"(items 1..{instrument.n_items})."
            )
        out[item] = str(column)
    return dict(sorted(out.items()))


def check_schema(raw: Mapping[str, Any], schema_path: str | Path) -> None:
    """Validate a config mapping against the JSON schema; the first problem as one line.

    Raises
    ------
    InputError
        Naming the offending key, e.g. ``config key 'analysis.alpha': 2 is greater than or
        equal to the maximum of 1``.
    """
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise InputError(f"config key '{key}': {err.message}.")


def read_config(path: str | Path) -> StudyConfig:
    """Read a config YAML file and return its typed view (no JSON-schema defaults applied)."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the configuration ({exc.strerror}).") from exc
    return load_config(raw)


def load_config(raw: Mapping[str, Any]) -> StudyConfig:
    """Build the typed view from a config mapping (as Snakemake passes it to scripts)."""
    design_raw = raw["design"]
    design = Design(
        timepoints=tuple(design_raw["timepoints"]),
        intervention=str(design_raw["intervention"]),
        control=design_raw.get("control"),
        randomised=bool(design_raw.get("randomised", False)),
    )
    if design.control is not None and design.control == design.intervention:
        raise InputError("config: design.control must differ from design.intervention.")

    custom = {}
    for p in raw.get("instrument_definitions", []) or []:
        inst = load_file(p)
        custom[inst.id] = inst
    instruments: dict[str, Instrument] = {}
    for inst_id in raw["instruments"]:
        instruments[inst_id] = custom.get(inst_id) or load_instrument(inst_id)

    exports = tuple(_export(e, design) for e in raw["exports"])
    analysis_raw = raw["analysis"]
    analysis = AnalysisSpec(
        primary=analysis_raw["primary"],
        covariates=tuple(analysis_raw.get("covariates", []) or []),
        alpha=float(analysis_raw.get("alpha", 0.05)),
        min_cell_size=int(analysis_raw.get("min_cell_size", 5)),
        strict=bool(analysis_raw.get("strict", False)),
    )
    inst = instruments.get(analysis.primary_instrument)
    if inst is None or analysis.primary_scale not in inst.scales:
        raise InputError(
            f"config: analysis.primary '{analysis.primary}' is not a scale of an administered "
            f"instrument; choose one of {sorted(_all_outcomes(instruments))}."
        )
    source = inst.scales[analysis.primary_scale].derived_from
    if source:
        raise InputError(
            f"config: analysis.primary '{analysis.primary}' is a rescaling of "
            f"'{inst.id}.{source}' and is not tested separately; use '{inst.id}.{source}'."
        )
    roster = None
    if raw.get("participants"):
        roster = RosterSpec(**raw["participants"])
    if roster is None or roster.group is None:
        missing = [e.path for e in exports if not e.group_column]
        if missing:
            raise InputError(
                f"config: no group for participants of {missing[0]}: give participants.group "
                "(a roster) or exports[].group_column."
            )
    privacy = raw.get("privacy", {}) or {}
    val = raw.get("validation") or {}
    matching = val.get("code_matching") or {}
    careless = val.get("careless") or {}
    validation = ValidationSpec(
        code_matching=str(matching.get("method", "exact")),
        code_pattern=matching.get("pattern"),
        max_distance=int(matching.get("max_distance", 1)),
        longstring_share=float(careless.get("longstring_share", 1.0)),
        min_seconds_per_item=float(careless.get("min_seconds_per_item", 2.0)),
    )
    synthetic = raw.get("synthetic") or {}
    cfg = StudyConfig(
        cohort=str(raw["cohort"]),
        title=str(raw["title"]),
        design=design,
        exports=exports,
        instrument_columns=dict(raw["instruments"]),
        instruments=instruments,
        analysis=analysis,
        roster=roster,
        key_env=privacy.get("key_env", "BALINT_ID_KEY"),
        allow_demo_key=bool(privacy.get("allow_demo_key", False)),
        synthetic_seed=synthetic.get("seed"),
        synthetic_preset=synthetic.get("preset"),
        validation=validation,
        raw=raw,
    )
    for export in exports:
        for inst_id in export.instruments:
            if inst_id not in instruments:
                raise InputError(
                    f"config: exports[{export.path}].instruments names '{inst_id}', which is "
                    "not listed under the top-level instruments."
                )
        for inst_id in instruments:
            cfg.columns_for(export, inst_id)  # fail early on a malformed mapping
    return cfg


def _all_outcomes(instruments: Mapping[str, Instrument]) -> list[str]:
    return [f"{i}.{s}" for i, inst in instruments.items() for s in inst.scales]


def _export(e: Mapping[str, Any], design: Design) -> ExportSpec:
    spec = ExportSpec(
        path=str(e["path"]),
        id=str(e["id"]),
        format=e.get("format", "auto"),
        timepoint=e.get("timepoint"),
        timepoint_column=e.get("timepoint_column"),
        timepoint_values=dict(e.get("timepoint_values", {}) or {}),
        group_column=e.get("group_column"),
        encoding=e.get("encoding"),
        delimiter=e.get("delimiter"),
        instruments=dict(e.get("instruments", {}) or {}),
        decimal=e.get("decimal"),
        sheet=e.get("sheet"),
        test_ids=tuple(str(t) for t in e.get("test_ids", []) or []),
        answer_codes=e.get("answer_codes"),
    )
    named = [spec.timepoint] if spec.timepoint else list(spec.timepoint_values.values())
    unknown = [t for t in named if t not in design.timepoints]
    if unknown:
        raise InputError(
            f"config: exports[{spec.path}]: timepoint '{unknown[0]}' is not one of "
            f"design.timepoints {list(design.timepoints)}."
        )
    return spec
