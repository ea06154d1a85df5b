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
from balint_analysis.ingest.answer_codes import (
    code_table,
    decode_answer_codes,
    refuse_undeclared_codes,
)
from balint_analysis.ingest.base import ADAPTER_META, RawExport
from balint_analysis.ingest.binary import read_sav, read_xlsx
from balint_analysis.ingest.detect import TextTable, detect_container, detect_format, read_table
from balint_analysis.ingest.excel_damage import serial_times_to_iso
from balint_analysis.ingest.platforms import ADAPTERS, read_generic
from balint_analysis.io import sha256
from balint_analysis.privacy import classify_dropped_columns

__all__ = ["IngestResult", "ingest", "item_column", "load_table", "read_export", "read_roster"]

META = ["source", "row", "participant_id", "timepoint", "group", "site", "submitted_at",
        "complete", "response_type", "duration_s", "quality"]  # fmt: skip
ROSTER_FIXED = ["participant_id", "group", "cluster", "sessions"]
_COMMA_DECIMAL = r"^\s*(-?\d+),(\d+)\s*$"


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
    data = p.read_bytes()
    if not data:
        raise InputError(f"{path}: the file is empty (0 bytes). Export the data again.")
    return data


def load_table(path: str, what: str, *, format: str = "auto", encoding: str | None = None,
               delimiter: str | None = None, decimal: str | None = None,
               sheet: str | int | None = None) -> TextTable:  # fmt: skip
    """Read any supported container (text, ``.xlsx``, ``.sav``) into a :class:`TextTable`."""
    data = _load_bytes(path, what)
    container = detect_container(data)
    if format == "spss" and container != "sav":
        raise InputError(f"{path}: `format: spss` but this is not an SPSS .sav file.")
    if format in ("excel", "microsoft_forms") and container != "xlsx":
        raise InputError(f"{path}: `format: {format}` but this is not an .xlsx workbook.")
    if container == "sav":
        return read_sav(path)
    if container == "xlsx":
        return read_xlsx(data, path, sheet)
    if container == "xls":
        raise InputError(
            f"{path}: old Excel 97-2003 (.xls) workbook. Save it as .xlsx (or CSV UTF-8)."
        )
    return read_table(data, path, encoding=encoding, delimiter=delimiter, decimal=decimal)


def _require_column(path: str, columns: list[str], name: str, key: str,
                    duplicates: list[str] = ()) -> None:  # fmt: skip
    if name in duplicates:
        raise InputError(
            f"{path}: column '{name}' (named by `{key}`) appears more than once in the header; "
            "rename one of them in the survey or the file so the config names one column."
        )
    if name in columns:
        return
    close = difflib.get_close_matches(name, columns, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise InputError(f"{path}: no column '{name}' (named by `{key}` in the config).{hint}")


def _comma_to_dot(values: pd.Series) -> pd.Series:
    return values.str.replace(_COMMA_DECIMAL, r"\1.\2", regex=True)


def read_export(spec: ExportSpec, config: StudyConfig) -> tuple[pd.DataFrame, dict]:
    """Read one export into the tidy ingest layout; return it with what was detected."""
    table = load_table(spec.path, "exports[].path", format=spec.format,
                       encoding=spec.encoding, delimiter=spec.delimiter, decimal=spec.decimal,
                       sheet=spec.sheet)  # fmt: skip
    detected = spec.format in ("auto", None, "spss", "excel")
    fmt = detect_format(table) if detected else spec.format
    raw: RawExport = ADAPTERS[fmt](table)
    df = raw.data
    columns = list(df.columns)
    dups = raw.notes.get("duplicate_headers", [])
    _require_column(spec.path, columns, spec.id, "exports[].id", dups)
    ids = df[spec.id].str.strip()
    kind = df["response_type"]
    if spec.test_ids:
        kind = kind.where(~ids.isin([str(t) for t in spec.test_ids]), "test")
    out = pd.DataFrame({"source": spec.path, "row": df["row"], "participant_id": ids})
    if spec.timepoint:
        out["timepoint"] = spec.timepoint
    else:
        _require_column(spec.path, columns, spec.timepoint_column, "exports[].timepoint_column",
                        dups)  # fmt: skip
        raw_tp = df[spec.timepoint_column].str.strip()
        out["timepoint"] = raw_tp.map(lambda v: spec.timepoint_values.get(v, v))
    if spec.group_column:
        _require_column(spec.path, columns, spec.group_column, "exports[].group_column", dups)
        out["group"] = df[spec.group_column].str.strip()
    for col in ADAPTER_META:
        out[col] = kind if col == "response_type" else df[col]
    out["submitted_at"], serial_times = serial_times_to_iso(out["submitted_at"])
    used = {spec.id, spec.timepoint_column, spec.group_column, "row"}
    column_map = {"participant_id": spec.id, "timepoint": spec.timepoint_column or "",
                  "group": spec.group_column or "", **raw.meta_columns}  # fmt: skip
    items: dict[str, pd.Series] = {}
    recoded: dict[str, dict[str, str]] = {}
    decoded = 0
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
        by_label = {str(v).strip().lower(): str(k) for k, v in inst.response_labels.items()}
        codes = code_table(spec.answer_codes, inst) if spec.answer_codes else None
        for item, col in mapping.items():
            _require_column(spec.path, columns, col, f"instruments.{inst_id}", dups)
            values = df[col]
            if table.decimal == ",":
                values = _comma_to_dot(values)
            recode = _recode_by_value_labels(table.notes.get("value_labels", {}).get(col),
                                             by_label)  # fmt: skip
            if recode:
                values = values.map(lambda v, r=recode: r.get(v, v)).astype("str")
                recoded[col] = recode
            if codes:
                values, n = decode_answer_codes(values, codes)
                decoded += n
            items[item_column(inst_id, item)] = values
            column_map[item_column(inst_id, item)] = col
            used.add(col)
    if not spec.answer_codes and items:
        refuse_undeclared_codes(spec.path, {column_map[k]: v for k, v in items.items()})
    out = pd.concat([out, pd.DataFrame(items, index=out.index)], axis=1)
    dropped = [c for c in columns if c not in used and c not in ADAPTER_META]
    info = {
        "source": spec.path,
        "kind": "export",
        "format": fmt,
        "format_detected": detected,
        "variant": raw.variant,
        "container": table.container,
        "encoding": table.encoding,
        "delimiter": table.delimiter,
        "decimal": table.decimal,
        "header_rows": raw.header_rows,
        "sha256": sha256(spec.path),
        "rows_in": len(out),
        "dropped_columns": classify_dropped_columns(dropped),
        "column_map": column_map,
    }
    info.update(_notes(table, raw))
    if recoded:
        info["recoded_by_value_labels"] = sorted(recoded)
    if serial_times:
        info["excel_serial_times"] = serial_times
    if spec.answer_codes:
        info["answer_codes"] = {"setting": "position" if spec.answer_codes == "position"
                                else "mapping", "cells_decoded": decoded}  # fmt: skip
    return out, info


def _recode_by_value_labels(labels: dict[str, str] | None,
                            by_label: dict[str, str]) -> dict[str, str]:  # fmt: skip
    """SPSS value labels → the instrument's codes, when every label is one of its answers.

    A ``.sav`` coding MBI answers 1-7 labelled ``Never`` ... ``Every day`` is recoded to the
    definition's 0-6 through the labels. Returns ``{}`` when the labels do not all match or the
    codes already agree.
    """
    if not labels or not by_label:
        return {}
    mapping = {code: by_label.get(str(text).strip().lower()) for code, text in labels.items()}
    if None in mapping.values() or all(code == new for code, new in mapping.items()):
        return {}
    return mapping  # type: ignore[return-value]


def _notes(table: TextTable, raw: RawExport) -> dict:
    """Detection notes worth showing: sheet, duplicate headers, SPSS user-missing, mojibake."""
    notes: dict = {}
    if table.notes.get("sheet"):
        notes["sheet"] = table.notes["sheet"]
    if raw.notes.get("duplicate_headers"):
        notes["duplicate_headers"] = raw.notes["duplicate_headers"]
    if table.notes.get("user_missing"):
        notes["user_missing_set_blank"] = table.notes["user_missing"]
    if table.notes.get("mojibake_suspected"):
        notes["mojibake_suspected"] = True
    return notes


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
    table = load_table(spec.path, "participants.path", encoding=spec.encoding,
                       delimiter=spec.delimiter, decimal=spec.decimal,
                       sheet=spec.sheet)  # fmt: skip
    raw = read_generic(table)
    data = raw.data
    columns = list(data.columns)
    dups = raw.notes.get("duplicate_headers", [])
    wanted = {"participant_id": spec.id, "group": spec.group, "cluster": spec.cluster,
              "sessions": spec.sessions}  # fmt: skip
    out = pd.DataFrame(index=data.index)
    out["row"] = data["row"]
    for name, col in wanted.items():
        if col is None:
            out[name] = pd.Series(pd.NA, index=data.index, dtype="str")
            continue
        key = "id" if name == "participant_id" else name
        _require_column(spec.path, columns, col, f"participants.{key}", dups)
        out[name] = data[col].str.strip()
    for cov in config.analysis.covariates:
        _require_column(spec.path, columns, cov, "analysis.covariates", dups)
        values = data[cov].str.strip()
        out[cov] = _comma_to_dot(values) if table.decimal == "," else values
    used = {c for c in wanted.values() if c} | set(config.analysis.covariates) | {"row"}
    dropped = [c for c in columns if c not in used and c not in ADAPTER_META]
    info = {
        "source": spec.path,
        "kind": "roster",
        "container": table.container,
        "encoding": table.encoding,
        "delimiter": table.delimiter,
        "decimal": table.decimal,
        "sha256": sha256(spec.path),
        "rows_in": len(out),
        "dropped_columns": classify_dropped_columns(dropped),
    }
    info.update(_notes(table, raw))
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
