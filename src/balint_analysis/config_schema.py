"""The config schema at work: defaults, one-line errors, ``TODO`` markers and the run's config.

``workflow/schemas/config.schema.yaml`` is the one place that defines every config key and its
default. This module applies those defaults (:func:`apply_defaults`), turns the first schema
violation or a ``TODO`` left by ``balint-analysis init`` into one line naming the key
(:func:`check_schema`), and decides which configuration a Snakemake run analyses
(:func:`run_config`): exactly the cohort's file plus the defaults, never another cohort's keys.
"""

from __future__ import annotations

import copy
import math
import reprlib
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from balint_analysis.errors import InputError

__all__ = [
    "TODO",
    "MAX_YAML_BYTES",
    "MAX_YAML_VALUES",
    "apply_defaults",
    "check_expansion",
    "check_schema",
    "deep_update",
    "dotted_value",
    "load_schema",
    "load_yaml_file",
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


#: Largest YAML file read (bytes), checked before parsing: a cohort config or an instrument
#: definition is a few kB, so a bigger file is a mistake (an export listed as a config).
MAX_YAML_BYTES = 1_000_000

#: Most values (mappings, lists and scalars) a YAML file may hold once its aliases (``*name``)
#: are followed. Parsing shares aliased blocks, but every later walk (schema check, defaults,
#: copies) expands them: nine nested aliases of nine items ("billion laughs") are 10**9
#: values, which ran ~80 s to a MemoryError. Counting stops at the limit, in milliseconds.
MAX_YAML_VALUES = 100_000

#: Deepest nesting accepted; deeper YAML would exhaust Python's recursion in the walks.
MAX_YAML_DEPTH = 50


def check_expansion(value: Any, source: str | Path) -> None:
    """Refuse a parsed YAML value that expands to too many values or nests too deeply.

    Visits at most :data:`MAX_YAML_VALUES` values, so an alias bomb is refused at once.

    Raises
    ------
    InputError
        One line naming ``source`` and the fix.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_YAML_VALUES:
            raise InputError(
                f"{source}: the YAML expands to more than {MAX_YAML_VALUES:,} values once its "
                "aliases (*name) are followed; write the values out instead of repeating "
                "aliased blocks."
            )
        if depth > MAX_YAML_DEPTH:
            raise InputError(f"{source}: the YAML nests deeper than {MAX_YAML_DEPTH} levels; "
                             "a configuration needs a few.")  # fmt: skip
        if isinstance(node, Mapping):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def load_yaml_file(path: str | Path, what: str = "configuration") -> Any:
    """The parsed content of a YAML file a user supplied, read in bounded time and memory.

    The size (:data:`MAX_YAML_BYTES`) is checked before parsing and the alias expansion
    (:func:`check_expansion`) right after; messages name the file and never quote it.

    Raises
    ------
    InputError
        The file cannot be read, is too big, is not YAML or expands too far.
    """
    try:
        with open(path, "rb") as handle:  # read at most one byte past the limit
            data = handle.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror}).") from None
    if len(data) > MAX_YAML_BYTES:
        raise InputError(f"{path}: larger than {MAX_YAML_BYTES // 1_000_000} MB, too big for a "
                         f"{what} (a YAML file of a few kB); is it the right file?")  # fmt: skip
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: cannot read the {what} (not UTF-8 text).") from None
    try:
        raw = yaml.load(text, Loader=_loader())  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InputError(f"{path}: not a valid YAML {what}{where}: {problem}.") from None
    except RecursionError:
        raise InputError(f"{path}: the YAML nests too deeply for a {what}.") from None
    check_expansion(raw, path)
    return raw


def read_yaml(path: str | Path) -> dict:
    """A config file's mapping; a missing, oversized or broken file is one line naming it.

    Raises
    ------
    InputError
        The file cannot be read, is not YAML, expands too far (:func:`load_yaml_file`), or is
        not a mapping.
    """
    raw = load_yaml_file(path)
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
        Naming the offending key, e.g. ``config key 'analysis.alpha': 2 is outside the
        allowed range: give a number >= 1e-06 and <= 0.5 (…)``.
    """
    import jsonschema

    check_expansion(raw, "the configuration")  # before any walk that would expand aliases
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
    for path, value in _walk(raw):  # NaN passes every bound of a JSON schema (no comparison holds)
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"config key '{_dotted(path)}': {value} is not a finite "
                             "number; give one within the key's range (config/README.md).")


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
        return (f"{_short(err.instance)} names folders: use letters, digits, '-' and '_' only "
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
        return f"{_short(err.instance)} is not one of {', '.join(map(str, err.validator_value))}"
    if err.validator in _BOUNDS:
        return _bound_message(err)
    if err.validator == "maxItems":
        return f"{len(err.instance)} values; at most {err.validator_value} are allowed"
    if err.validator == "maxLength":
        return f"{len(err.instance)} characters; at most {err.validator_value} are allowed"
    if err.validator == "maxProperties":
        return f"{len(err.instance)} entries; at most {err.validator_value} are allowed"
    if err.validator == "pattern":
        return f"{_short(err.instance)} does not have the form {err.validator_value}"
    if err.validator == "type":
        return f"{_short(err.instance)} is not of type {err.validator_value!r}"
    return err.message if len(err.message) <= 300 else f"{err.message[:300]}…"


#: Bound keywords of a JSON schema and how each reads in a message.
_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _short(value: Any) -> str:
    """``repr`` of a config value cut to a readable length (a value may be a long list)."""
    shortened = reprlib.Repr()
    shortened.maxstring, shortened.maxother, shortened.maxlist, shortened.maxdict = 60, 60, 6, 4
    return shortened.repr(value)


def _bound_message(err: Any) -> str:
    """``1e-320 is outside the allowed range: give a number > 0 and <= 0.5``, the range
    taken from every bound the key's schema declares."""
    sides = [f"{_BOUNDS[k]} {err.schema[k]}" for k in _BOUNDS if k in err.schema]
    why = err.schema.get("x-bounds")  # the schema's reason for the range, when it gives one
    return (f"{_short(err.instance)} is outside the allowed range: give a number "
            f"{' and '.join(sides)}" + (f" ({why})" if why else ""))


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
        No ``--configfile`` and no default config file; a config file too big or expanding
        too far (:func:`check_expansion`).
    """
    if configfiles:
        for path in configfiles:  # Snakemake parsed them: only the bounds are left to check
            if Path(path).is_file() and Path(path).stat().st_size > MAX_YAML_BYTES:
                raise InputError(f"{path}: larger than {MAX_YAML_BYTES // 1_000_000} MB, too "
                                 "big for a configuration; is it the right file?")  # fmt: skip
        check_expansion(given, configfiles[-1])
        return dict(given)
    if not Path(default).is_file():
        raise InputError(
            f"no configuration: give one with --configfile config/<cohort>.yaml (the default "
            f"{default} does not exist in {Path.cwd()})."
        )
    return deep_update(read_yaml(default), given)
