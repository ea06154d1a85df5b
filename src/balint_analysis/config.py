"""One typed, validated view of a cohort's configuration.

The workflow validates a cohort config against ``workflow/schemas/config.schema.yaml`` before
any rule runs (:mod:`balint_analysis.config_schema`, which also fills the schema's defaults —
the only place defaults are defined); :func:`load_config` adds the checks a JSON schema cannot
express (the primary outcome exists, an instrument's columns are mapped). Each workflow stage
sees only the keys it declared (:func:`load_stage_config`, :mod:`balint_analysis.stages`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from balint_analysis.config_schema import apply_defaults, check_schema, dotted_value, read_yaml
from balint_analysis.errors import InputError
from balint_analysis.instruments import Instrument, load_file, load_instrument

__all__ = [
    "AnalysisSpec",
    "NotInStageParams",
    "check_schema",
    "Design",
    "ExportSpec",
    "RosterSpec",
    "StudyConfig",
    "ValidationSpec",
    "item_columns",
    "load_config",
    "load_stage_config",
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
    #: Answer codes/positions: None (undeclared), "position" or a code -> value mapping.
    answer_codes: str | Mapping[str, float] | None = None
    #: REDCap data dictionary of the export (form membership of its fields).
    dictionary: str | None = None
    #: REDCap: instrument id -> the form holding its items (when the column order is unclear).
    forms: Mapping[str, str] = field(default_factory=dict)


# The typed views carry no defaults: those are defined once, in the config schema.


@dataclass(frozen=True)
class ValidationSpec:
    """``validation:``: participant-code matching across waves and careless-responding flags."""

    code_matching: str
    code_pattern: str | None
    max_distance: int
    longstring_share: float
    min_seconds_per_item: float


@dataclass(frozen=True)
class AnalysisSpec:
    primary: str
    covariates: tuple[str, ...]
    #: Categorical covariates: roster column -> its declared levels (the first is the
    #: reference); every other covariate is numeric.
    covariate_levels: Mapping[str, tuple[str, ...]]
    alpha: float
    min_cell_size: int
    strict: bool
    #: ``analysis.primary_timepoint``, resolved: the post-baseline timepoint of the primary
    #: comparison (the config's default: the first after baseline, the end of the groups).
    primary_timepoint: str

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
    roster: RosterSpec | None
    key_env: str
    allow_demo_key: bool
    synthetic_seed: int | None
    synthetic_preset: str | None
    validation: ValidationSpec
    raw: Mapping[str, Any] = field(repr=False)
    #: ``privacy.rotated_key_fingerprint``: the fingerprint of a new key adopted on purpose.
    rotated_key_fingerprint: str | None = None

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


def read_config(path: str | Path) -> StudyConfig:
    """Read a config YAML file, check it against the schema and return its typed view.

    Raises
    ------
    InputError
        One line naming the file or key: unreadable file, broken YAML, a schema violation, a
        ``TODO`` left by ``balint-analysis init``, or a semantic problem.
    """
    raw = read_yaml(path)
    try:
        check_schema(raw)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    return load_config(raw)


def load_config(raw: Mapping[str, Any]) -> StudyConfig:
    """The typed view of a whole cohort config (schema defaults filled in, every check run)."""
    return _build(apply_defaults(raw), stage=None)


def load_stage_config(raw: Mapping[str, Any], stage: str) -> StudyConfig:
    """The typed view of the config keys one workflow stage received as its params.

    ``raw`` already carries the defaults (it is cut from the whole config by
    :func:`balint_analysis.stages.stage_config`); a key the stage did not declare is a
    :class:`NotInStageParams` placeholder that fails loudly when used.
    """
    return _build(dict(raw), stage=stage)


class NotInStageParams:
    """Stands for a config key a workflow stage did not declare in its params.

    Any use (comparison, truth value, iteration, attribute, formatting) raises ``KeyError``:
    a stage that reads an undeclared key would not be re-run when that key changes. (An
    identity test, ``value is None``, cannot be intercepted; it is simply False.) Copying and
    pickling keep the placeholder.
    """

    __slots__ = ("key", "stage")

    def __init__(self, key: str, stage: str | None) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "stage", stage)

    def _fail(self, *args: object, **kwargs: object) -> Any:
        raise KeyError(
            f"stage '{self.stage}' read config key '{self.key}', which is not among its params; "
            "declare it in balint_analysis.stages.STAGE_KEYS"
        )

    def __repr__(self) -> str:
        return f"<config key {self.key} not in the params of stage {self.stage}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # protocol lookups (copy, pickle) behave normally
        return self._fail()

    __bool__ = __eq__ = __ne__ = __iter__ = __len__ = __str__ = __format__ = _fail
    __hash__ = __lt__ = __gt__ = __le__ = __ge__ = __getitem__ = __contains__ = _fail
    __float__ = __int__ = __index__ = __round__ = __neg__ = __abs__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _fail
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __pow__ = _fail


def _get(raw: Mapping[str, Any], dotted: str, stage: str | None) -> Any:
    """The value at ``dotted``; absent: ``None`` in a whole config (optional keys; required
    ones were checked by the schema), a :class:`NotInStageParams` in a stage's params (a key
    the stage declared but the config leaves out is present there as ``None``)."""
    return dotted_value(raw, dotted, None if stage is None else NotInStageParams(dotted, stage))


def _declared(value: Any) -> bool:
    return not isinstance(value, NotInStageParams)


def _rotated_key_fingerprint(privacy: Any) -> Any:
    """``privacy.rotated_key_fingerprint``, ``None`` when the (declared) section leaves it out."""
    if not _declared(privacy):
        return privacy
    return (privacy or {}).get("rotated_key_fingerprint")


def _build(raw: dict, stage: str | None) -> StudyConfig:
    def get(key: str) -> Any:
        return _get(raw, key, stage)

    design: Any = get("design")
    if _declared(design):
        design = Design(
            timepoints=tuple(str(t) for t in design["timepoints"]),
            intervention=str(design["intervention"]),
            control=None if design.get("control") is None else str(design["control"]),
            randomised=bool(design["randomised"]),
        )
        if design.control is not None and design.control == design.intervention:
            raise InputError("config: design.control must differ from design.intervention.")
    columns: Any = get("instruments")
    instruments: Any = columns
    if _declared(columns):
        columns = dict(columns)
        custom = {}
        for p in get("instrument_definitions") or []:
            inst = load_file(p)
            custom[inst.id] = inst
        instruments = {i: custom.get(i) or load_instrument(i) for i in columns}
    exports: Any = get("exports")
    if _declared(exports):
        exports = tuple(_export(e, design) for e in exports)
    analysis = AnalysisSpec(
        primary=get("analysis.primary"),
        covariates=_tuple(get("analysis.covariates")),
        covariate_levels=_levels(get("analysis.covariate_levels")),
        alpha=_float(get("analysis.alpha")),
        min_cell_size=_int(get("analysis.min_cell_size")),
        strict=_bool(get("analysis.strict")),
        primary_timepoint=_primary_timepoint(get("analysis.primary_timepoint"), design),
    )
    if _declared(analysis.primary) and _declared(instruments):
        _check_primary(analysis, instruments)
    roster: Any = get("participants")
    if _declared(roster):
        roster = RosterSpec(**roster) if roster else None
    if stage is None:
        _check_covariates(analysis.covariates, roster)
        _check_covariate_levels(analysis)
    if stage is None and (roster is None or roster.group is None):
        missing = [e.path for e in exports if not e.group_column]
        if missing:
            raise InputError(
                f"config: no group for participants of {missing[0]}: give participants.group "
                "(a roster) or exports[].group_column."
            )
    validation: Any = get("validation")
    if _declared(validation):
        matching, careless = validation["code_matching"], validation["careless"]
        validation = ValidationSpec(
            code_matching=str(matching["method"]),
            code_pattern=matching.get("pattern"),
            max_distance=int(matching["max_distance"]),
            longstring_share=float(careless["longstring_share"]),
            min_seconds_per_item=float(careless["min_seconds_per_item"]),
        )
    synthetic: Any = get("synthetic")
    cfg = StudyConfig(
        cohort=_str(get("cohort")),
        title=_str(get("title")),
        design=design,
        exports=exports,
        instrument_columns=columns,
        instruments=instruments,
        analysis=analysis,
        roster=roster,
        key_env=_str(get("privacy.key_env")),
        allow_demo_key=_bool(get("privacy.allow_demo_key")),
        rotated_key_fingerprint=_rotated_key_fingerprint(get("privacy")),
        synthetic_seed=(synthetic or {}).get("seed") if _declared(synthetic) else synthetic,
        synthetic_preset=(synthetic or {}).get("preset") if _declared(synthetic) else synthetic,
        validation=validation,
        raw=raw,
    )
    if _declared(exports) and _declared(instruments):
        for export in exports:
            for inst_id in export.instruments:
                if inst_id not in instruments:
                    raise InputError(
                        f"config: exports[{export.path}].instruments names '{inst_id}', which "
                        "is not listed under the top-level instruments."
                    )
            for inst_id in instruments:
                cfg.columns_for(export, inst_id)  # fail early on a malformed mapping
    return cfg


def _check_covariates(covariates: tuple[str, ...], roster: RosterSpec | None) -> None:
    """Covariates are roster columns, and never a direct identifier (it would be carried,
    unpseudonymised, into the processed data)."""
    from balint_analysis.identifiers import classify_dropped_columns

    if covariates and roster is None:
        raise InputError(
            f"config: analysis.covariates {list(covariates)} are roster columns, but this cohort "
            "has no roster (`participants:`); add one, or remove the covariates."
        )
    for cov in covariates:
        kind = classify_dropped_columns([cov])
        if kind["identifier"] or kind["free_text"]:
            raise InputError(
                f"config: analysis.covariates: '{cov}' looks like a direct identifier or free "
                "text; it would be carried into the processed data. Remove it."
            )


def _check_covariate_levels(analysis: AnalysisSpec) -> None:
    """Declared levels belong to a listed covariate and differ beyond upper/lower case (a
    roster value is matched to its level ignoring case and surrounding spaces)."""
    for cov, levels in analysis.covariate_levels.items():
        if cov not in analysis.covariates:
            raise InputError(
                f"config: analysis.covariate_levels declares levels of '{cov}', which is not "
                "listed in analysis.covariates; add it there or remove its levels."
            )
        folded = [level.strip().casefold() for level in levels]
        if len(set(folded)) != len(folded) or "" in folded:
            raise InputError(
                f"config: analysis.covariate_levels: the levels of '{cov}' must be distinct "
                "and non-empty (upper/lower case and spaces are ignored when matching)."
            )


def _primary_timepoint(value: Any, design: Any) -> Any:
    """``analysis.primary_timepoint``, resolved against ``design.timepoints``: absent means the
    first post-baseline timepoint; a baseline or unknown timepoint is refused in one line."""
    if not _declared(value) or not _declared(design):
        return value
    later = list(design.timepoints[1:])
    if value is None:
        return later[0]
    if str(value) not in later:
        raise InputError(
            f"config: analysis.primary_timepoint '{value}' is not a post-baseline timepoint of "
            f"design.timepoints; choose one of {later} (default {later[0]}, the first after "
            "baseline)."
        )
    return str(value)


def _check_primary(analysis: AnalysisSpec, instruments: Mapping[str, Instrument]) -> None:
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


def _typed(convert: Any) -> Any:
    def cast(value: Any) -> Any:
        return value if isinstance(value, NotInStageParams) else convert(value)

    return cast


_str, _int, _float, _bool = _typed(str), _typed(int), _typed(float), _typed(bool)
_tuple = _typed(lambda v: tuple(str(x) for x in (v or ())))
_levels = _typed(lambda v: {str(k): tuple(str(x) for x in levels)
                            for k, levels in (v or {}).items()})


def _all_outcomes(instruments: Mapping[str, Instrument]) -> list[str]:
    return [f"{i}.{s}" for i, inst in instruments.items() for s in inst.scales]


def _export(e: Mapping[str, Any], design: Design | NotInStageParams) -> ExportSpec:
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
        dictionary=e.get("dictionary"),
        forms=dict(e.get("forms") or {}),
    )
    named = [spec.timepoint] if spec.timepoint else list(spec.timepoint_values.values())
    if isinstance(design, NotInStageParams):
        return spec
    unknown = [t for t in named if t not in design.timepoints]
    if unknown:
        raise InputError(
            f"config: exports[{spec.path}]: timepoint '{unknown[0]}' is not one of "
            f"design.timepoints {list(design.timepoints)}."
        )
    return spec
