"""Google Forms CSV and Microsoft Forms ``.xlsx`` exports, and generic tables.

Layouts: ``tests/fixtures/exports/README.md`` ("Google Forms", "Binary fixtures").

Neither forms platform stores partial responses; both put respondent e-mail/name columns in the
export, which ingest drops like every column the config does not name.
"""

from __future__ import annotations

import dataclasses
import re

import pandas as pd

from balint_analysis.ingest.base import RawExport, frame
from balint_analysis.ingest.detect import TextTable

__all__ = ["read_generic", "read_google_forms", "read_microsoft_forms"]

_GMT = re.compile(r"\s*GMT[+-]\d{1,2}(:?\d{2})?\s*$")


def _google_time(values: pd.Series) -> pd.Series:
    """``2024/03/04 8:19:03 AM GMT+1`` (Forms download) or a sheet-locale time → ISO text."""
    text = values.str.strip().str.replace(_GMT, "", regex=True)
    parsed = pd.to_datetime(text, format="%Y/%m/%d %I:%M:%S %p", errors="coerce")
    fallback = pd.to_datetime(text.where(parsed.isna()), format="mixed", errors="coerce")
    parsed = parsed.fillna(fallback)
    return parsed.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("").astype("str")


def read_google_forms(table: TextTable) -> RawExport:
    """Google Forms CSV: first column ``Timestamp`` (possibly localised), every row submitted."""
    raw = frame(table, 1)
    df = raw.data
    stamp = df.columns[1]  # column 0 is `row`
    df = df.assign(submitted_at=_google_time(df[stamp]))
    return dataclasses.replace(raw, format="google_forms", variant=table.container.replace(
        "text", "csv"), data=df, meta_columns={"submitted_at": stamp})


def read_microsoft_forms(table: TextTable) -> RawExport:
    """Microsoft Forms workbook: ``ID, Start time, Completion time, Email, Name, ...``."""
    raw = frame(table, 1)
    df = raw.data
    lower = {c.lower(): c for c in df.columns}
    when = lower.get("completion time")
    submitted = df[when].str.strip() if when else ""
    df = df.assign(submitted_at=submitted)
    if when and "start time" in lower:
        start = pd.to_datetime(df[lower["start time"]], errors="coerce", format="mixed")
        end = pd.to_datetime(df[when], errors="coerce", format="mixed")
        seconds = (end - start).dt.total_seconds()
        df["duration_s"] = seconds.map(lambda s: "" if pd.isna(s) else f"{s:g}").astype("str")
    return dataclasses.replace(raw, format="microsoft_forms", variant=table.container.replace(
        "text", "csv"), data=df, meta_columns={"submitted_at": when or ""})


def read_generic(table: TextTable) -> RawExport:
    """A plain table (CSV/TSV, a worksheet, a ``.sav``): one header row, all rows complete."""
    raw = frame(table, 1)
    variant = {"\t": "tsv", ";": "csv (semicolon)"}.get(table.delimiter, "csv")
    if table.container != "text":
        variant = table.container
    return dataclasses.replace(raw, variant=variant)
