"""Binary containers: Excel ``.xlsx`` worksheets and SPSS ``.sav`` files, read as text tables.

Cells become strings the same way a text export would show them (``3`` not ``3.0``, ISO date
times), so the platform adapters and validation treat every container alike.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import numpy as np
import pandas as pd

from balint_analysis.errors import InputError
from balint_analysis.ingest.detect import TextTable

__all__ = ["MISSING_LABEL", "read_sav", "read_xlsx"]

MISSING_LABEL = re.compile(
    r"(no answer|missing|don'?t know|refused|not applicable|n/?a\b|brak|nie dotyczy)", re.I
)


def _cell(value: object) -> str:
    if value is None or (not isinstance(value, str | list) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if np.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _texts(uniques) -> list[str]:
    """:func:`_cell` of every distinct value of a column, whole numbers and date-times at once
    (a ``.sav`` holds thousands of distinct times and counts)."""
    values = np.asarray(uniques)
    if values.dtype.kind == "f":
        whole = np.isfinite(values) & (np.mod(values, 1) == 0) & (np.abs(values) < 2**53)
        out = np.empty(len(values), dtype=object)
        out[whole] = values[whole].astype(np.int64).astype(str)
        out[~whole] = [_cell(float(v)) for v in values[~whole]]
        return out.tolist()
    if values.dtype.kind == "M":
        return list(pd.DatetimeIndex(values).strftime("%Y-%m-%d %H:%M:%S"))
    return [_cell(u) for u in uniques]


def read_xlsx(data: bytes, path: str, sheet: str | int | None = None) -> TextTable:
    """One worksheet (the first, or ``sheet`` by name or 0-based index) as a text table.

    Raises
    ------
    InputError
        A damaged workbook, an unknown sheet, or an empty sheet.
    """
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, openpyxl InvalidFileException, KeyError, ...
        raise InputError(
            f"{path}: not a readable Excel workbook ({type(exc).__name__}); it may be another "
            "kind of document saved under this name (Word, a zip archive), or it may be "
            "truncated or not really .xlsx. Export it again."
        ) from None
    names = book.sheetnames
    if sheet is None:
        ws = book.worksheets[0]
    elif isinstance(sheet, int) and 0 <= sheet < len(names):
        ws = book.worksheets[sheet]
    elif isinstance(sheet, str) and sheet in names:
        ws = book[sheet]
    else:
        raise InputError(f"{path}: no worksheet {sheet!r}; set `sheet:` to one of {names}.")
    rows = [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
    book.close()
    positions = [n for n, r in enumerate(rows, start=1) if any(c.strip() for c in r)]
    records = [rows[n - 1] for n in positions]
    if not records:
        others = [n for n in names if n != ws.title]
        hint = (f" The workbook's other sheets: {others}; set `sheet:`." if others
                else " Export the data again.")  # fmt: skip
        raise InputError(f"{path}: worksheet '{ws.title}' is empty.{hint}")
    width = max(len(r) for r in records)
    while width and not any(len(r) >= width and r[width - 1] for r in records):
        width -= 1
    records = [(r + [""] * width)[:width] for r in records]
    return TextTable(path=path, encoding="xlsx", delimiter="", records=records,
                     container="xlsx", positions=positions, notes={"sheet": ws.title})  # fmt: skip


def read_sav(path: str) -> TextTable:
    """An SPSS ``.sav``: user-missing codes (and codes labelled as missing) become blank.

    Read with ``user_missing=True`` so the codes are seen, then blanked here and counted per
    column in ``notes["user_missing"]``; value labels are kept in ``notes["value_labels"]``.

    Raises
    ------
    InputError
        When pyreadstat cannot read the file.
    """
    import pyreadstat

    try:
        df, meta = pyreadstat.read_sav(path, user_missing=True)
    except Exception as exc:  # pyreadstat raises its own ReadstatError / PyreadstatError
        raise InputError(
            f"{path}: not a readable SPSS .sav file ({str(exc).splitlines()[0][:120]}). "
            "Export it again from SPSS/the survey platform."
        ) from None
    counts: dict[str, int] = {}
    columns: dict[str, list[str]] = {}
    declared: dict[str, list[str]] = {}
    for col in df.columns:
        series = df[col]
        missing = pd.Series(False, index=df.index)
        numeric = pd.to_numeric(series, errors="coerce")
        for rng in meta.missing_ranges.get(col, []):
            lo, hi = rng["lo"], rng["hi"]
            if isinstance(lo, str):
                missing |= series.astype("str") == lo
                declared.setdefault(col, []).append(lo)
            else:
                missing |= numeric.between(lo, hi)
                declared.setdefault(col, []).append(_cell(lo) if lo == hi else f"{lo:g}..{hi:g}")
        for code, label in (meta.variable_value_labels.get(col) or {}).items():
            if MISSING_LABEL.search(str(label)) and not isinstance(code, str):
                missing |= numeric == code
                declared.setdefault(col, []).append(_cell(code))
        if missing.any():
            counts[col] = int(missing.sum())
        index, uniques = pd.factorize(series, use_na_sentinel=True)
        text = np.array([*_texts(uniques), ""], dtype=object)[index]
        columns[col] = np.where(missing.to_numpy(), "", text).tolist()
    header = list(df.columns)
    body = [list(r) for r in zip(*(columns[c] for c in header), strict=True)] if len(df) else []
    labels = {c: {_cell(k): str(v) for k, v in m.items()}
              for c, m in (meta.variable_value_labels or {}).items()}  # fmt: skip
    texts = {c: str(t) for c, t in (meta.column_names_to_labels or {}).items() if t}
    return TextTable(path=path, encoding=meta.file_encoding or "sav", delimiter="",
                     records=[header, *body], container="sav",
                     notes={"user_missing": counts, "value_labels": labels,
                            "missing_declared": declared, "labels": texts})  # fmt: skip
