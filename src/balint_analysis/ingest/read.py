"""Read the configured exports and the roster into the tidy ingest layout.

:func:`load_table` reads any supported container, a platform adapter
(:mod:`~balint_analysis.ingest.platforms`) turns it into a :class:`RawExport`, and
:func:`read_export` / :func:`read_roster` keep only the columns the analysis needs, listing the
dropped ones by name; :func:`ingest` does this for every file the config names.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from balint_analysis.config import ExportSpec, StudyConfig
from balint_analysis.errors import InputError
from balint_analysis.faults import names_file
from balint_analysis.ingest.base import ADAPTER_META, RawExport
from balint_analysis.ingest.binary import read_sav, read_xlsx
from balint_analysis.ingest.detect import TextTable, detect_container, detect_format, read_table
from balint_analysis.ingest.excel_damage import serial_times_to_iso
from balint_analysis.ingest.items import comma_to_dot, find_column, map_items
from balint_analysis.ingest.platforms import ADAPTERS, read_generic
from balint_analysis.ingest.redcap import apply_dictionary, instrument_status
from balint_analysis.io import release_freed_memory, sha256
from balint_analysis.privacy import classify_dropped_columns

__all__ = ["IngestResult", "ingest", "load_table", "read_export", "read_roster"]

META = ["source", "row", "participant_id", "timepoint", "group", "site", "submitted_at",
        "complete", "response_type", "duration_s", "quality", "incomplete_forms"]  # fmt: skip
ROSTER_FIXED = ["participant_id", "group", "cluster", "sessions"]
#: Files smaller than this in total are read in turn even with ``n_jobs`` > 1: starting the
#: worker processes (~0.15 s) would cost more than it saves.
PARALLEL_MIN_BYTES = 16 * 2**20

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


@names_file  # out of memory while reading: the one line names this file
def load_table(path: str, what: str, *, format: str = "auto", encoding: str | None = None,
               delimiter: str | None = None, decimal: str | None = None,
               sheet: str | int | None = None) -> TextTable:  # fmt: skip
    """Read any supported container (text, ``.xlsx``, ``.sav``) into a :class:`TextTable`."""
    data = _load_bytes(path, what)
    container = detect_container(data)
    suffix = Path(path).suffix.lower()
    if suffix in (".sav", ".zsav") and container != "sav":
        raise InputError(f"{path}: named .sav but not an SPSS data file (it does not start with "
                         "SPSS's '$FL2' mark). Export it again from SPSS or the survey platform.")
    if suffix == ".xlsx" and container != "xlsx":
        raise InputError(f"{path}: named .xlsx but not an Excel workbook. Export it again, or "
                         "rename it to what it is (.csv?).")
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


def _require_column(path: str, raw: RawExport, name: str, key: str) -> str:
    """The export column a config key names (directly or through an alias), or one line."""
    dups = raw.notes.get("duplicate_headers", [])
    if name in dups:
        raise InputError(
            f"{path}: column '{name}' (named by `{key}`) appears more than once in the header; "
            "rename one of them in the survey or the file so the config names one column."
        )
    found = find_column(raw, name)
    if found is not None:
        return found
    columns = [c for c in raw.data.columns if c != "row"]
    close = difflib.get_close_matches(name, columns, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise InputError(f"{path}: no column '{name}' (named by `{key}` in the config).{hint}")


def _platform_table(spec: ExportSpec) -> tuple[TextTable, RawExport, str, bool]:
    table = load_table(spec.path, "exports[].path", format=spec.format,
                       encoding=spec.encoding, delimiter=spec.delimiter, decimal=spec.decimal,
                       sheet=spec.sheet)  # fmt: skip
    detected = spec.format in ("auto", None, "spss", "excel")
    fmt = detect_format(table) if detected else spec.format
    raw: RawExport = ADAPTERS[fmt](table)
    if spec.dictionary:
        if raw.forms is None:
            raise InputError(
                f"{spec.path}: `exports[].dictionary` is for REDCap exports, but this file reads "
                f"as {fmt}. Remove the key or set `format: redcap`."
            )
        raw = apply_dictionary(raw, load_table(spec.dictionary, "exports[].dictionary"))
    return table, raw, fmt, detected


def read_export(spec: ExportSpec, config: StudyConfig,
                item_codes: bool = False) -> tuple[pd.DataFrame, dict]:  # fmt: skip
    """Read one export into the tidy ingest layout; return it with what was detected.

    ``item_codes``: the item columns as categoricals of their texts (for a hand-over that
    converts each distinct answer once, :func:`balint_analysis.handover.hand_over`)."""
    table, raw, fmt, detected = _platform_table(spec)
    df = raw.data
    id_col = _require_column(spec.path, raw, spec.id, "exports[].id")
    ids = df[id_col].str.strip()
    items = map_items(spec, config, raw, table, as_codes=item_codes)
    kind = df["response_type"].copy()
    complete, submitted = df["complete"], df["submitted_at"]
    incomplete_forms = None
    if raw.forms is not None:
        status = instrument_status(raw, spec.path, items.by_instrument, spec.forms,
                                   items.answered)  # fmt: skip
        complete, submitted = status.complete, status.submitted_at
        kind = kind.where(status.response_type == "", status.response_type)
        incomplete_forms = status.incomplete
    if raw.answered_means_complete and items.values:
        complete = complete & items.answered
    if spec.test_ids:
        kind = kind.where(~ids.isin([str(t) for t in spec.test_ids]), "test")
    out = pd.DataFrame({"source": spec.path, "row": df["row"], "participant_id": ids})
    used = {id_col, "row"}
    tp_col = group_col = ""
    if spec.timepoint:
        out["timepoint"] = spec.timepoint
    else:
        tp_col = _require_column(spec.path, raw, spec.timepoint_column,
                                 "exports[].timepoint_column")  # fmt: skip
        raw_tp = df[tp_col].str.strip()
        out["timepoint"] = raw_tp.map(lambda v: spec.timepoint_values.get(v, v))
        used.add(tp_col)
    if spec.group_column:
        group_col = _require_column(spec.path, raw, spec.group_column, "exports[].group_column")
        out["group"] = df[group_col].str.strip()
        used.add(group_col)
    meta = {"submitted_at": submitted, "complete": complete, "response_type": kind}
    for col in ADAPTER_META:
        out[col] = meta.get(col, df[col])
    if incomplete_forms is not None and incomplete_forms.ne("").any():
        out["incomplete_forms"] = incomplete_forms
    out["submitted_at"], serial_times = serial_times_to_iso(out["submitted_at"])
    column_map = {"participant_id": id_col, "timepoint": tp_col, "group": group_col,
                  **raw.meta_columns, **items.source}  # fmt: skip
    if raw.forms is not None and status.forms:
        forms = list(dict.fromkeys(status.forms.values()))
        column_map["complete"] = ";".join(f"{f}_complete" for f in forms)
        stamps = [f"{f}_timestamp" for f in forms if f in raw.forms.timestamp]
        column_map["submitted_at"] = ";".join(stamps)
    used |= set(items.source.values())
    out = pd.concat([out, pd.DataFrame(items.values, index=out.index)], axis=1)
    dropped = [c for c in df.columns if c not in used and c not in ADAPTER_META]
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
    if raw.forms is not None and raw.forms.status:
        info["redcap_forms"] = {"from": raw.forms.source, **status.forms}
    if items.recoded:
        info["recoded_by_value_labels"] = sorted(items.recoded)
    if items.no_answer:
        info["no_answer_codes_set_blank"] = items.no_answer
    if items.mapped:
        info["choice_text_mapped"] = items.mapped
    if serial_times:
        info["excel_serial_times"] = serial_times
    if spec.answer_codes:
        info["answer_codes"] = {"setting": "position" if spec.answer_codes == "position"
                                else "mapping", "cells_decoded": items.decoded}  # fmt: skip
    return out, info


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
    wanted = {"participant_id": spec.id, "group": spec.group, "cluster": spec.cluster,
              "sessions": spec.sessions}  # fmt: skip
    out = pd.DataFrame(index=data.index)
    out["row"] = data["row"]
    for name, col in wanted.items():
        if col is None:
            out[name] = pd.Series(pd.NA, index=data.index, dtype="str")
            continue
        key = "id" if name == "participant_id" else name
        out[name] = data[_require_column(spec.path, raw, col, f"participants.{key}")].str.strip()
    for cov in config.analysis.covariates:
        values = data[_require_column(spec.path, raw, cov, "analysis.covariates")].str.strip()
        out[cov] = comma_to_dot(values) if table.decimal == "," else values
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


def _integer_codes(dtypes: list) -> str | None:
    """``"all"`` when every dtype is a nullable integer (answers narrowed to exact codes),
    ``"some"`` when only some are, else ``None``."""
    codes = [isinstance(d, pd.api.extensions.ExtensionDtype) and d.name in ("Int8", "Int16")
             for d in dtypes]  # fmt: skip
    return ("all" if all(codes) else "some") if any(codes) else None


def _stackable(column: pd.Series, codes: str | None) -> pd.Series:
    """An export's column as :func:`_stack` concatenates it: integer codes as floats when
    any export holds codes in it (``codes``: :func:`_integer_codes` of the column)."""
    return column.astype("float64") if codes and _integer_codes([column.dtype]) else column


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat(frames, ignore_index=True)``, ``META`` columns first, built one column at a
    time and emptying ``frames`` as it goes: the exports and their stacked copy are never
    held whole side by side (each column is concatenated as ``concat`` does, a frame without
    it counting as missing there)."""
    if not frames:
        return pd.concat(frames)  # as before: nothing to stack is an error
    names = list(dict.fromkeys(c for f in frames for c in f.columns))
    names = [c for c in META if c in names] + [c for c in names if c not in META]
    columns = {}
    for name in names:
        dtypes = [f[name].dtype for f in frames if name in f.columns]
        codes = _integer_codes(dtypes)
        # Codes are stacked as the floats they stand for, as ``concat`` stacks float answers.
        if len(dtypes) == len(frames):  # in every export: stacked as Series (one-column
            # frames of wide exports cost more than the stacking)
            columns[name] = pd.concat([_stackable(f[name], codes) for f in frames],
                                      ignore_index=True)  # fmt: skip
        else:  # a frame without the column counts as missing there, as in ``concat``
            columns[name] = pd.concat([_stackable(f[name], codes).to_frame()
                                       if name in f.columns else f.iloc[:, :0]
                                       for f in frames], ignore_index=True)[name]  # fmt: skip
        if codes == "all":  # every export held exact codes: so does the stacked column
            widest = max((d.itemsize, d.name) for d in dtypes)[1]
            columns[name] = columns[name].astype(widest)
        for f in frames:
            if name in f.columns:
                del f[name]
    frames.clear()
    # copy=False: the stacked columns as they are (a dict is otherwise copied, consolidated).
    return pd.DataFrame(columns, columns=names, copy=False)


def ingest(
    config: StudyConfig,
    hand_over: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    n_jobs: int = 1,
    roster_hand_over: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> IngestResult:
    """Read all exports and the roster named by the config.

    ``hand_over`` is applied to each export's frame as soon as it is read, its item columns
    as categoricals of their texts (``read_inputs``: the text form validation receives), so
    one export's raw frame is held at a time rather than all of them next to their stacked
    copy; ``roster_hand_over`` to the roster's.

    ``n_jobs`` > 1: the files (:data:`PARALLEL_MIN_BYTES` or more in all) are read in that
    many forked worker processes that die with this one
    (:func:`balint_analysis.workers.map_in_processes`), largest file first; a worker holds
    one raw export at a time and sends back its handed-over frame. The result, and the
    error raised when files are unusable (that of the first one in config order), are those
    of reading them one after another; the hand-overs must then be picklable.
    """
    tasks = list(range(len(config.exports) + 1))  # the exports, then the roster
    paths = [spec.path for spec in config.exports] + [config.roster.path if config.roster else ""]
    sizes = [_size(p) for p in paths]
    if sum(sizes) < PARALLEL_MIN_BYTES:
        n_jobs = 1
    if n_jobs > 1:
        order = sorted(tasks, key=lambda i: -sizes[i])
        results = _read_in_processes(config, (hand_over, roster_hand_over), order, n_jobs)
        for result in results:  # config order: the error reading them in turn would give
            if isinstance(result, BaseException):
                raise result
        roster, roster_info = results.pop()
    else:
        results = [_read_file(config, i, (hand_over, None), keep_errors=False)
                   for i in tasks[:-1]]  # fmt: skip
    frames, infos = [frame for frame, _ in results], [info for _, info in results]
    results.clear()
    responses = _stack(frames)
    if n_jobs <= 1:  # the roster after the stacking, which let go of the exports' frames
        roster, roster_info = _read_file(config, tasks[-1], (None, roster_hand_over),
                                         keep_errors=False)  # fmt: skip
    return IngestResult(responses, roster, {"files": infos, "roster": roster_info})


def _read_file(config: StudyConfig, index: int, hand_overs: tuple,
               keep_errors: bool = True) -> tuple | BaseException:  # fmt: skip
    """Export ``index`` (the roster when ``index`` is past the exports), read and handed over
    (``hand_overs``: the exports', the roster's, or None); with ``keep_errors`` an unusable
    file's error is returned rather than raised (a worker hands it to the parent, which
    raises the first one in config order)."""
    hand_over, roster_hand_over = hand_overs
    try:
        if index == len(config.exports):
            roster, info = read_roster(config)
            if roster is not None and roster_hand_over:
                roster = roster_hand_over(roster)
            return roster, info
        # With a hand-over, answers as categoricals: each distinct answer converted once.
        frame, info = read_export(config.exports[index], config, item_codes=bool(hand_over))
        if hand_over:
            frame = hand_over(frame)
        release_freed_memory()  # the export's text records, before the next one is read
        return frame, info
    except (InputError, OSError, MemoryError, ValueError) as exc:
        if not keep_errors:
            raise
        return exc


def _read_in_processes(config: StudyConfig, hand_overs: tuple, order: list[int],
                       n_jobs: int) -> list:  # fmt: skip
    """``_read_file`` of each task in forked workers, in the given ``order`` (largest file
    first: the workers finish together); the results in task order."""
    from balint_analysis.workers import map_in_processes

    done = map_in_processes(_read_file, [(config, i, hand_overs) for i in order], n_jobs,
                            what="reading the exports", alone="read the files one at a time")
    results: list = [None] * len(order)
    for i, result in zip(order, done, strict=True):
        results[i] = result
    return results


def _size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:  # a missing file is reported by its reader
        return 0
