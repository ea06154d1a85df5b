"""Ingest: read every configured export (and the roster) into one tidy text table.

Only the columns the analysis needs are carried forward (participant id, timepoint, group,
response metadata, instrument items); everything else, direct identifiers and free text first,
is dropped here and listed by name in ``ingest.json``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from balint_analysis.config import ExportSpec, StudyConfig
from balint_analysis.errors import InputError
from balint_analysis.ingest.detect import detect_format, read_table
from balint_analysis.ingest.platforms import RawExport, read_generic, read_qualtrics, read_redcap
from balint_analysis.io import sha256
from balint_analysis.privacy import classify_dropped_columns

__all__ = ["IngestResult", "ingest", "item_column", "read_export", "read_roster"]

_ADAPTERS = {"qualtrics": read_qualtrics, "redcap": read_redcap, "generic": read_generic}
META = ["source", "row", "participant_id", "timepoint", "group", "submitted_at", "complete",
        "response_type"]  # fmt: skip
ROSTER_FIXED = ["participant_id", "group", "cluster", "sessions"]


def item_column(instrument_id: str, item: int) -> str:
    """The tidy name of an item column, e.g. ``mbi_hss__7``."""
    return f"{instrument_id}__{item}"


@dataclass
class IngestResult:
    responses: pd.DataFrame
    roster: pd.DataFrame | None
    info: dict


def _load_bytes(path: str, what: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"{path}: file not found. Fix `{what}` in the config (paths are relative to the "
            f"working directory {Path.cwd()})."
        )
    return p.read_bytes()


def _require_column(path: str, columns: list[str], name: str, key: str) -> None:
    if name in columns:
        return
    close = difflib.get_close_matches(name, columns, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise InputError(f"{path}: no column '{name}' (named by `{key}` in the config).{hint}")


def read_export(spec: ExportSpec, config: StudyConfig) -> tuple[pd.DataFrame, dict]:
    """Read one export into the tidy ingest layout; return it with what was detected."""
    data = _load_bytes(spec.path, "exports[].path")
    table = read_table(data, spec.path, encoding=spec.encoding, delimiter=spec.delimiter)
    fmt = detect_format(table) if spec.format in ("auto", None) else spec.format
    raw: RawExport = _ADAPTERS[fmt](table)
    df = raw.data
    columns = list(df.columns)
    _require_column(spec.path, columns, spec.id, "exports[].id")
    out = pd.DataFrame(
        {
            "source": spec.path,
            "row": df["row"],
            "participant_id": df[spec.id].str.strip(),
            "submitted_at": df["submitted_at"],
            "complete": df["complete"],
            "response_type": df["response_type"],
        }
    )
    if spec.timepoint:
        out["timepoint"] = spec.timepoint
    else:
        _require_column(spec.path, columns, spec.timepoint_column, "exports[].timepoint_column")
        raw_tp = df[spec.timepoint_column].str.strip()
        out["timepoint"] = raw_tp.map(lambda v: spec.timepoint_values.get(v, v))
    if spec.group_column:
        _require_column(spec.path, columns, spec.group_column, "exports[].group_column")
        out["group"] = df[spec.group_column].str.strip()
    used = {spec.id, spec.timepoint_column, spec.group_column, "row"}
    column_map = {"participant_id": spec.id, "timepoint": spec.timepoint_column or "",
                  "group": spec.group_column or "", **raw.meta_columns}  # fmt: skip
    for inst_id, inst in config.instruments.items():
        mapping = config.columns_for(spec, inst_id)
        missing = [col for col in mapping.values() if col not in columns]
        if missing:
            found = len(mapping) - len(missing)
            raise InputError(
                f"{spec.path}: {inst.name}: {len(missing)} of {len(mapping)} item columns not "
                f"found (first missing: '{missing[0]}'; {found} found). Set "
                f"`exports[].instruments.{inst_id}` to this file's column template "
                f"(e.g. '{_suggest_template(missing[0], columns)}') or an item->column map."
            )
        for item, col in mapping.items():
            out[item_column(inst_id, item)] = df[col]
            column_map[item_column(inst_id, item)] = col
            used.add(col)
    dropped = [c for c in columns if c not in used and c not in _ADAPTER_META]
    info = {
        "source": spec.path,
        "kind": "export",
        "format": fmt,
        "variant": raw.variant,
        "encoding": table.encoding,
        "delimiter": table.delimiter,
        "header_rows": raw.header_rows,
        "sha256": sha256(spec.path),
        "rows_in": len(out),
        "dropped_columns": classify_dropped_columns(dropped),
        "column_map": column_map,
    }
    return out, info


_ADAPTER_META = {"submitted_at", "complete", "response_type"}


def _suggest_template(missing: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(missing, columns, n=1, cutoff=0.3)
    if not close:
        return "ITEM_{i}"
    stem = close[0].rstrip("0123456789")
    return stem + "{i}"


def read_roster(config: StudyConfig) -> tuple[pd.DataFrame, dict] | tuple[None, None]:
    """Read the participant roster: id, group, cluster, sessions and covariate columns."""
    spec = config.roster
    if spec is None:
        return None, None
    data = _load_bytes(spec.path, "participants.path")
    table = read_table(data, spec.path, encoding=spec.encoding, delimiter=spec.delimiter)
    raw = read_generic(table).data
    columns = list(raw.columns)
    wanted = {"participant_id": spec.id, "group": spec.group, "cluster": spec.cluster,
              "sessions": spec.sessions}  # fmt: skip
    out = pd.DataFrame(index=raw.index)
    out["row"] = raw["row"]
    for name, col in wanted.items():
        if col is None:
            out[name] = pd.Series(pd.NA, index=raw.index, dtype="str")
            continue
        key = "id" if name == "participant_id" else name
        _require_column(spec.path, columns, col, f"participants.{key}")
        out[name] = raw[col].str.strip()
    for cov in config.analysis.covariates:
        _require_column(spec.path, columns, cov, "analysis.covariates")
        out[cov] = raw[cov].str.strip()
    used = {c for c in wanted.values() if c} | set(config.analysis.covariates) | {"row"}
    dropped = [c for c in columns if c not in used and c not in _ADAPTER_META]
    info = {
        "source": spec.path,
        "kind": "roster",
        "encoding": table.encoding,
        "delimiter": table.delimiter,
        "sha256": sha256(spec.path),
        "rows_in": len(out),
        "dropped_columns": classify_dropped_columns(dropped),
    }
    return out, info


def ingest(config: StudyConfig) -> IngestResult:
    """Read all exports and the roster named by the config."""
    frames, infos = [], []
    for spec in config.exports:
        frame, info = read_export(spec, config)
        frames.append(frame)
        infos.append(info)
    responses = pd.concat(frames, ignore_index=True)
    ordered = [c for c in META if c in responses.columns]
    items = [c for c in responses.columns if c not in META]
    responses = responses[ordered + items]
    roster, roster_info = read_roster(config)
    return IngestResult(responses, roster, {"files": infos, "roster": roster_info})
