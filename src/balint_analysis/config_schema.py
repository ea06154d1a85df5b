"""The config schema at work: defaults, one-line errors, ``TODO`` markers and the run's config.

``workflow/schemas/config.schema.yaml`` is the one place that defines every config key and its
default. This module applies those defaults (:func:`apply_defaults`), turns the first schema
violation or a ``TODO`` left by ``balint-analysis init`` into one line naming the key
(:func:`check_schema`), and decides which configuration a Snakemake run analyses
(:func:`run_config`): exactly the cohort's file plus the defaults, never another cohort's keys.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from balint_analysis.errors import InputError

__all__ = [
    "TODO",
    "apply_defaults",
    "check_schema",
    "deep_update",
    "dotted_value",
    "load_schema",
    "read_yaml",
    "run_config",
    "todo_keys",
]

#: Prefix of a value ``balint-analysis init`` could not decide; it fails validation.
TODO = "TODO"


@lru_cache(maxsize=4)
def _schema_cached(path: str) -> dict:
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_loader())


def load_schema(path: str | Path | None = None) -> dict:
    """The config JSON schema (a fresh copy), from ``path`` or the workflow's schema file."""
    if path is None:
        from balint_analysis.project import schema_path

        path = schema_path()
    # Resolved, so the workflow's relative source path and the package's path share one parse.
    return copy.deepcopy(_schema_cached(str(Path(path).resolve())))


def _loader() -> type:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: str | Path) -> dict:
    """A config file's mapping; a missing file or broken YAML is one line naming the file.

    Raises
    ------
    InputError
        The file cannot be read, is not YAML, or is not a mapping.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise InputError(f"{path}: cannot read the configuration ({reason}).") from None
    try:
        raw = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InputError(f"{path}: not a valid YAML configuration{where}: {problem}.") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: the configuration must be a YAML mapping of keys to values.")
    return raw


def _resolve(node: Mapping, root: Mapping) -> Mapping:
    ref = node.get("$ref") if isinstance(node, Mapping) else None
    if not ref:
        return node
    target: Any = root
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    return target


def _creatable(node: Mapping) -> bool:
    """An absent object is created (to hold its defaults) only when it has no required keys."""
    return node.get("type") == "object" and not node.get("required") and "properties" in node


def _fill(value: Any, node: Mapping, root: Mapping) -> Any:
    node = _resolve(node, root)
    if isinstance(value, dict) and "properties" in node:
        for key, sub in node["properties"].items():
            sub = _resolve(sub, root)
            if key not in value:
                if "default" in sub:
                    value[key] = copy.deepcopy(sub["default"])
                elif _creatable(sub):
                    value[key] = {}
            if key in value:
                value[key] = _fill(value[key], sub, root)
    elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
        return [_fill(v, node["items"], root) for v in value]
    return value


def apply_defaults(raw: Mapping[str, Any], schema: Mapping | None = None) -> dict:
    """A copy of ``raw`` with every schema default filled in.

    An absent optional section without required keys (``privacy``, ``validation``, ``power``)
    is created to hold its defaults; a section with required keys (``participants``,
    ``synthetic``) is never invented.
    """
    schema = schema if schema is not None else load_schema()
    return _fill(copy.deepcopy(dict(raw)), schema, schema)


def _walk(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, Mapping):
        for key, sub in value.items():
            yield from _walk(sub, (*path, str(key)))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _walk(sub, (*path, f"[{i}]"))
    else:
        yield path, value


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path).replace(".[", "[")


def dotted_value(config: Mapping[str, Any], dotted: str, missing: Any = None) -> Any:
    """The value at a dotted key (``analysis.alpha``), ``missing`` where the path ends early."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return missing
        node = node[part]
    return node


def todo_keys(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(key, what to choose)`` of every value still starting with ``TODO``."""
    out = []
    for path, value in _walk(raw):
        if isinstance(value, str) and value.strip().upper().startswith(TODO):
            out.append((_dotted(path), value.strip()[len(TODO):].lstrip(" :-") or "set it"))
    return out


def check_schema(raw: Mapping[str, Any], schema_path: str | Path | None = None) -> None:
    """Validate a config mapping against the JSON schema; the first problem as one line.

    A value left as ``TODO: …`` by ``balint-analysis init`` is reported first, with what to
    choose.

    Raises
    ------
    InputError
        Naming the offending key, e.g. ``config key 'analysis.alpha': 2 is greater than or
        equal to the maximum of 1``.
    """
    import jsonschema

    todo = todo_keys(raw)
    if todo:
        key, what = todo[0]
        more = f" ({len(todo) - 1} more TODO after it)" if len(todo) > 1 else ""
        raise InputError(f"config key '{key}' is still TODO: {what}{more}.")
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        err = errors[0]
        key = _dotted(tuple(str(p) if isinstance(p, str) else f"[{p}]" for p in err.absolute_path))
        raise InputError(f"config key '{key or '(top level)'}': {_message(err)}.")


#: The schema's pattern for labels a later stage matches on (design groups, covariate levels).
_NO_FORMULA_START = "\\A[^=+\\-@\\t\\r]"


def _message(err: Any) -> str:
    """The schema error in words a researcher can act on."""
    import difflib

    path = [str(p) for p in err.absolute_path]
    if err.validator == "oneOf" and err.schema.get("oneOf") and all(
        set(alt) == {"required"} for alt in err.schema["oneOf"]
    ):
        options = " or ".join("+".join(alt["required"]) for alt in err.schema["oneOf"])
        return f"give exactly one of {options}"
    if err.validator == "additionalProperties":
        known = list(err.schema.get("properties", {}))
        unknown = [k for k in err.instance if k not in known]
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), known, n=1)
            hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        return (f"unknown key {', '.join(hints)}; the keys here are "
                f"{', '.join(known) or 'instrument ids'}")  # fmt: skip
    if err.validator == "pattern" and path and path[-1] == "cohort":
        return (f"'{err.instance}' names folders: use letters, digits, '-' and '_' only "
                "(e.g. ward7_2026)")  # fmt: skip
    if err.validator == "pattern" and err.validator_value == _NO_FORMULA_START:
        # Processed CSVs neutralise such a cell ('=…), so a later stage would no longer find
        # the label the config names: refused here, in one line.
        what = "a group label" if path[-1] in ("intervention", "control") else "a label"
        return (f"{what} may not start with =, +, - or @ (a spreadsheet would run it as a "
                "formula); rename it in the config and the data")  # fmt: skip
    if err.validator == "oneOf" and len(path) >= 2 and path[-2] == "instruments":
        return (f"{err.instance!r} is neither a column template with {{i}} for the item number "
                "(e.g. 'MBI_{i}', 'mbi_{i:02d}') nor a map {item number: column}")  # fmt: skip
    if err.validator == "minItems" and path and path[-1] == "timepoints":
        return "list at least two timepoints in time order (the first is the baseline)"
    if err.validator == "enum":
        return f"{err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"
    return err.message


def deep_update(base: dict, overrides: Mapping[str, Any]) -> dict:
    """Merge ``overrides`` into ``base`` recursively (Snakemake's ``--config`` semantics)."""
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def run_config(given: Mapping[str, Any], configfiles: list[str], default: str | Path) -> dict:
    """The configuration a workflow run analyses.

    ``given`` is what Snakemake loaded from ``--configfile`` (and ``--config`` overrides);
    with no ``--configfile``, the default config file (the demo) is read and the overrides
    are applied on top. Either way nothing of another config file merges in.

    Raises
    ------
    InputError
        No ``--configfile`` and no default config file.
    """
    if configfiles:
        return dict(given)
    if not Path(default).is_file():
        raise InputError(
            f"no configuration: give one with --configfile config/<cohort>.yaml (the default "
            f"{default} does not exist in {Path.cwd()})."
        )
    return deep_update(read_yaml(default), given)
