"""Load instrument definitions: the built-in YAML files and a cohort's own, validated alike.

Each file is checked against ``instrument.schema.yaml`` and then by the extra rules of
:func:`_parse` (item numbers, ranges, cut-off bands); a malformed definition is one line naming
the file and the offending key.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from balint_analysis.errors import InputError
from balint_analysis.instruments.definition import Category, Flag, Instrument, Scale

__all__ = ["SCHEMA_FILE", "builtin_ids", "load_file", "load_instrument"]

SCHEMA_FILE = "instrument.schema.yaml"


#: libyaml's parser when PyYAML was built with it (5-10x faster than the pure-Python one).
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a safe loader


@cache
def _validator() -> jsonschema.Draft202012Validator:
    """The definition schema's validator, checked once (``jsonschema.validate`` re-checks the
    schema against its metaschema on every call, which cost more than the parsing)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text("utf-8")
    schema = _load_yaml(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def builtin_ids() -> list[str]:
    """Ids of the instruments shipped with the package."""
    files = resources.files(__package__).iterdir()
    return sorted(
        f.name.removesuffix(".yaml")
        for f in files
        if f.name.endswith(".yaml") and f.name != SCHEMA_FILE
    )


def load_file(path: str | Path) -> Instrument:
    """Load and validate one instrument definition file.

    Raises
    ------
    InputError
        One line naming the file and the offending key when the definition is malformed.
    """
    from balint_analysis.config_schema import MAX_YAML_BYTES, check_expansion

    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_YAML_BYTES:  # checked before parsing
        raise InputError(f"{path}: larger than {MAX_YAML_BYTES // 1_000_000} MB, too big for an "
                         "instrument definition; check `instrument_definitions` in the config.")
    try:
        raw = _load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read instrument definition ({exc.strerror}).") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file, so not an instrument definition "
                         f"(YAML); check `instrument_definitions` in the config.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "unreadable"
        raise InputError(f"{path}: not valid YAML{where} ({problem}); check that "
                         "`instrument_definitions` lists instrument definition files.") from None
    check_expansion(raw, path)  # an alias bomb is refused before the schema check walks it
    return _parse(raw, str(path))


def _kind(value: Any) -> str:
    """What a YAML value is, in words (never the value: it may be a roster's content)."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool) or value is None:
        return "true/false or empty"
    if isinstance(value, int | float):
        return "a number"
    return f"text of {len(str(value))} characters"


def _schema_problem(exc: jsonschema.ValidationError) -> str:
    """A schema error in words taken from the schema, never from the file's values."""
    rule, expected = exc.validator, exc.validator_value
    if rule == "required":
        return exc.message  # names the schema's property: "'items' is a required property"
    if rule == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        fix = ("" if exc.absolute_path else "; is it an instrument definition? Check "
               "`instrument_definitions` in the config")
        return f"must be of type {wanted}, but is {_kind(exc.instance)}{fix}"
    if rule == "enum":
        return f"must be one of {', '.join(map(repr, expected))}"
    if rule == "additionalProperties" and isinstance(exc.instance, dict):
        known = list(exc.schema.get("properties", {}))
        unknown = [k for k in exc.instance if k not in known]
        return (f"{len(unknown)} unknown key(s); the keys allowed here are "
                f"{', '.join(known) or 'none'}")  # fmt: skip
    if rule == "pattern":
        return f"must match the pattern {expected!r}"
    return f"breaks the definition schema's rule {rule} {expected!r}"[:200]


def _notes(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    return tuple(" ".join(str(v).split()) for v in items)


def _fail(origin: str, key: str, message: str) -> InputError:
    return InputError(f"{origin}: instrument definition key '{key}': {message}")


def _min_answered(rule: dict, k: int, default_share: float) -> int:
    if "min_answered" in rule:
        return int(rule["min_answered"])
    share = float(rule.get("min_answered_share", default_share))
    return max(1, math.ceil(share * k - 1e-9))


def _categories(origin: str, sid: str, cut: dict) -> tuple[Category, ...]:
    cats = tuple(Category(**c) for c in cut.get("categories", []))
    for j, c in enumerate(cats):
        if c.min is not None and c.above is not None:
            raise _fail(origin, f"scales/{sid}/cutoffs/categories/{j}",
                        "give either min or above, not both.")  # fmt: skip
        if j > 0 and c.min is None and c.above is None:
            raise _fail(origin, f"scales/{sid}/cutoffs/categories/{j}",
                        "every band but the first needs a lower bound (min or above).")  # fmt: skip
    lowers = [c.lower for c in cats]
    if lowers != sorted(lowers) or len(set(lowers)) != len(lowers):
        raise _fail(origin, f"scales/{sid}/cutoffs/categories",
                    "bands must be listed in ascending order of their lower bounds.")  # fmt: skip
    return cats


def _parse(raw: object, origin: str) -> Instrument:
    # What jsonschema.validate reports (best_match), without its per-call metaschema check.
    error = jsonschema.exceptions.best_match(_validator().iter_errors(raw))
    try:
        if error is not None:
            raise error
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise InputError(f"{origin}: instrument definition key '{where}': "
                         f"{_schema_problem(exc)}.") from None
    assert isinstance(raw, dict)
    resp = raw["response_scale"]
    lo, hi = resp["min"], resp["max"]
    if lo >= hi:
        raise _fail(origin, "response_scale", "min must be below max.")
    values = tuple(sorted(resp.get("values", [])))
    if values and (values[0] != lo or values[-1] != hi):
        raise _fail(origin, "response_scale/values", f"must run from min {lo} to max {hi}.")
    n_items = raw["items"]
    rule = raw["missing_rule"]
    share = float(rule["min_answered_share"])
    scales: dict[str, Scale] = {}
    for sid, s in raw["scales"].items():
        items, reverse = tuple(s["items"]), tuple(s.get("reverse", []))
        bad = [i for i in items if i > n_items] + [r for r in reverse if r not in items]
        if bad:
            raise _fail(origin, f"scales/{sid}",
                        f"item(s) {bad} are not items 1..{n_items} of this scale.")  # fmt: skip
        own_rule = s.get("missing_rule") or {}
        need = _min_answered(own_rule, len(items), share)
        if need > len(items):
            raise _fail(origin, f"scales/{sid}/missing_rule",
                        f"min_answered {need} exceeds the scale's {len(items)} items.")  # fmt: skip
        cut = s.get("cutoffs") or {}
        scales[sid] = Scale(
            id=sid,
            label=s["label"],
            items=items,
            method=s["method"],
            direction=s["direction"],
            reverse=reverse,
            categories=_categories(origin, sid, cut),
            cutoff_source=cut.get("source", ""),
            min_answered=need,
            missing_rule_source=own_rule.get("source", rule["source"]),
            verified=bool(s.get("verified", True)),
            cutoffs_verified=bool(cut.get("verified", True)),
            notes=_notes(s.get("notes")),
            cutoff_notes=_notes(cut.get("notes")),
            derived_from=s.get("derived_from"),
        )
    for sid, scale in scales.items():
        if scale.derived_from is not None and scale.derived_from not in scales:
            raise InputError(
                f"{origin}: instrument definition key 'scales/{sid}/derived_from': "
                f"'{scale.derived_from}' is not a scale of this instrument."
            )
    flags = {
        fid: Flag(id=fid, label=f["label"], items=tuple(f["items"]), min=f.get("min"),
                  max=f.get("max"), source=f["source"], action=f.get("action", ""))
        for fid, f in (raw.get("flags") or {}).items()
    }  # fmt: skip
    for fid, f in flags.items():
        if any(i > n_items for i in f.items):
            raise _fail(origin, f"flags/{fid}/items", f"items must be 1..{n_items}.")
    inst = Instrument(
        id=raw["id"],
        name=raw["name"],
        citation=" ".join(raw["citation"].split()),
        licence=" ".join(raw["licence"].split()),
        item_texts_shippable=raw["item_texts_shippable"],
        response_min=lo,
        response_max=hi,
        n_items=n_items,
        min_answered_share=share,
        scales=scales,
        version=raw.get("version", ""),
        response_labels={int(k): str(v) for k, v in resp.get("labels", {}).items()},
        missing_rule_source=rule["source"],
        path=origin,
        response_values=values,
        flags=flags,
        verified=bool(raw.get("verified", True)),
        notes=_notes(raw.get("notes")),
        language=raw.get("language", ""),
    )
    for sid, s in raw["scales"].items():
        if "range" in s and tuple(float(x) for x in s["range"]) != tuple(
            float(x) for x in inst.scale_range(sid)
        ):
            raise _fail(origin, f"scales/{sid}/range",
                        f"{s['range']} does not match method '{s['method']}' on "
                        f"{lo}..{hi}: {list(inst.scale_range(sid))}.")  # fmt: skip
    return inst


@cache
def load_instrument(instrument_id: str) -> Instrument:
    """Load a built-in instrument by id (e.g. ``"mbi_hss"``)."""
    if instrument_id not in builtin_ids():
        known = ", ".join(builtin_ids())
        raise InputError(f"Unknown instrument '{instrument_id}'. Built in: {known}.")
    res = resources.files(__package__).joinpath(f"{instrument_id}.yaml")
    return _parse(_load_yaml(res.read_text("utf-8")), f"instruments/{instrument_id}.yaml")
