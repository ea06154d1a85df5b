"""Instrument definitions: YAML data files plus the loader that validates them.

Each ``*.yaml`` file beside this module defines one instrument version (items, subscales,
reverse-keyed items, scoring method, missing-item rule, cut-offs). A cohort can bring its own
definition file through the config; it is validated by the same schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from balint_analysis.errors import InputError

__all__ = ["Category", "Instrument", "Scale", "builtin_ids", "load_instrument", "load_file"]


@dataclass(frozen=True)
class Category:
    """One published cut-off band: ``min <= score <= max`` (either bound may be open)."""

    label: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Scale:
    """A scored subscale (or the single total of a one-score instrument)."""

    id: str
    label: str
    items: tuple[int, ...]
    method: str
    direction: str
    reverse: tuple[int, ...] = ()
    categories: tuple[Category, ...] = ()
    cutoff_source: str = ""

    @property
    def higher_is_worse(self) -> bool:
        return self.direction == "higher_is_worse"


@dataclass(frozen=True)
class Instrument:
    """A validated instrument definition."""

    id: str
    name: str
    citation: str
    licence: str
    item_texts_shippable: bool
    response_min: int
    response_max: int
    n_items: int
    min_answered_share: float
    scales: dict[str, Scale] = field(default_factory=dict)
    version: str = ""
    response_labels: dict[int, str] = field(default_factory=dict)
    missing_rule_source: str = ""
    path: str = ""

    @property
    def items(self) -> tuple[int, ...]:
        return tuple(range(1, self.n_items + 1))

    def scale_range(self, scale_id: str) -> tuple[float, float]:
        """The possible score range of a scale under its scoring method."""
        scale = self.scales[scale_id]
        if scale.method == "sum":
            k = len(scale.items)
            return (self.response_min * k, self.response_max * k)
        return (float(self.response_min), float(self.response_max))


@cache
def _schema() -> dict:
    text = resources.files(__package__).joinpath("instrument.schema.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def builtin_ids() -> list[str]:
    """Ids of the instruments shipped with the package."""
    files = resources.files(__package__).iterdir()
    return sorted(
        f.name.removesuffix(".yaml")
        for f in files
        if f.name.endswith(".yaml") and f.name != "instrument.schema.yaml"
    )


def load_file(path: str | Path) -> Instrument:
    """Load and validate one instrument definition file.

    Raises
    ------
    InputError
        One line naming the file and the offending key when the definition is malformed.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read instrument definition ({exc.strerror}).") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc}).") from exc
    return _parse(raw, str(path))


def _parse(raw: object, origin: str) -> Instrument:
    try:
        jsonschema.validate(raw, _schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise InputError(f"{origin}: instrument definition key '{where}': {exc.message}.") from exc
    assert isinstance(raw, dict)
    lo, hi = raw["response_scale"]["min"], raw["response_scale"]["max"]
    n_items = raw["items"]
    scales: dict[str, Scale] = {}
    for sid, s in raw["scales"].items():
        items, reverse = tuple(s["items"]), tuple(s.get("reverse", []))
        bad = [i for i in items if i > n_items] + [r for r in reverse if r not in items]
        if bad:
            raise InputError(
                f"{origin}: instrument definition key 'scales/{sid}': item(s) {bad} are not "
                f"items 1..{n_items} of this scale."
            )
        cut = s.get("cutoffs") or {}
        scales[sid] = Scale(
            id=sid,
            label=s["label"],
            items=items,
            method=s["method"],
            direction=s["direction"],
            reverse=reverse,
            categories=tuple(Category(**c) for c in cut.get("categories", [])),
            cutoff_source=cut.get("source", ""),
        )
    if lo >= hi:
        raise InputError(f"{origin}: instrument definition key 'response_scale': min >= max.")
    return Instrument(
        id=raw["id"],
        name=raw["name"],
        citation=raw["citation"].strip(),
        licence=raw["licence"].strip(),
        item_texts_shippable=raw["item_texts_shippable"],
        response_min=lo,
        response_max=hi,
        n_items=n_items,
        min_answered_share=float(raw["missing_rule"]["min_answered_share"]),
        scales=scales,
        version=raw.get("version", ""),
        response_labels={
            int(k): str(v) for k, v in raw["response_scale"].get("labels", {}).items()
        },
        missing_rule_source=raw["missing_rule"].get("source", ""),
        path=origin,
    )


@cache
def load_instrument(instrument_id: str) -> Instrument:
    """Load a built-in instrument by id (e.g. ``"mbi_hss"``)."""
    if instrument_id not in builtin_ids():
        known = ", ".join(builtin_ids())
        raise InputError(f"Unknown instrument '{instrument_id}'. Built in: {known}.")
    res = resources.files(__package__).joinpath(f"{instrument_id}.yaml")
    return _parse(yaml.safe_load(res.read_text("utf-8")), f"instruments/{instrument_id}.yaml")
