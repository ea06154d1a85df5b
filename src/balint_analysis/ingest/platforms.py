"""Platform adapters: turn a parsed table into records plus standard response metadata.

Each adapter returns a :class:`RawExport` whose ``data`` holds every export column as text and
whose metadata columns say when the response was submitted, whether it was complete and what
kind of response it was (normal, preview, test, spam, imported). See
``shared/reference/export_formats.md`` for the layouts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from balint_analysis.errors import InputError
from balint_analysis.ingest.detect import TextTable

__all__ = ["RawExport", "read_generic", "read_qualtrics", "read_redcap"]

# Qualtrics Status codes (numeric export) and labels (choice-text export), export_formats §1.3.
_QUALTRICS_STATUS = {
    "0": "normal", "IP Address": "normal",
    "1": "preview", "Survey Preview": "preview",
    "2": "test", "Survey Test": "test",
    "4": "imported", "Imported": "imported",
    "8": "spam", "Spam": "spam",
    "9": "preview", "Survey Preview Spam": "preview",
    "12": "spam", "Imported Spam": "spam",
    "16": "normal", "Offline": "normal",
    "17": "preview", "Offline Survey Preview": "preview",
}  # fmt: skip
_TRUE = {"1", "true", "True", "TRUE"}


@dataclass
class RawExport:
    """One export's records as text with standard metadata columns.

    ``data`` columns: every export column (strings), plus ``row`` (the row number a spreadsheet
    shows, header rows counted), ``submitted_at``, ``complete`` and ``response_type``.
    """

    format: str
    variant: str
    header_rows: int
    data: pd.DataFrame
    meta_columns: dict[str, str] = field(default_factory=dict)


def _frame(table: TextTable, header_rows: int) -> pd.DataFrame:
    header = table.records[0]
    _check_duplicate_headers(table.path, header)
    body = table.records[header_rows:]
    df = pd.DataFrame(body, columns=header, dtype="str") if body else pd.DataFrame(
        {c: pd.Series(dtype="str") for c in header}
    )
    df.insert(0, "row", np.arange(header_rows + 1, header_rows + 1 + len(df)))
    return df


def _check_duplicate_headers(path: str, header: list[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen and name.strip():
            raise InputError(
                f"{path}: column '{name}' appears twice in the header; rename one of them in "
                "the survey (or the file) so every column is unique."
            )
        seen.add(name)


def read_qualtrics(table: TextTable) -> RawExport:
    """Qualtrics data-table export: 3 header rows (current) or 2 (legacy ``V1,V2,...``)."""
    header = table.records[0]
    if header[:3] == ["V1", "V2", "V3"]:
        # Legacy: row 2 holds the real names; data from row 3.
        names = [n or h for h, n in zip(header, table.records[1], strict=False)]
        table = TextTable(table.path, table.encoding, table.delimiter,
                          [names, *table.records[1:]])
        df, variant, header_rows = _frame(table, 2), "legacy", 2
        df = df.rename(columns={"ResponseID": "ResponseId"})
    else:
        third = table.records[2] if len(table.records) > 2 else []
        for cell in third:
            if cell.strip():
                try:
                    json.loads(cell)
                except json.JSONDecodeError:
                    raise InputError(
                        f"{table.path}: row 3 is not Qualtrics' ImportId row; export the data "
                        "table with 'Use numeric values' and all three header rows."
                    ) from None
        df, variant, header_rows = _frame(table, 3), "current", 3
    status = df["Status"] if "Status" in df else pd.Series("0", index=df.index)
    kind = status.str.strip().map(_QUALTRICS_STATUS).fillna("unknown status")
    if "DistributionChannel" in df:
        kind = kind.where(df["DistributionChannel"].str.strip() != "preview", "preview")
    finished = df["Finished"].str.strip().isin(_TRUE) if "Finished" in df else True
    when_col = next((c for c in ("RecordedDate", "EndDate", "StartDate") if c in df), None)
    submitted = df[when_col].str.strip() if when_col else ""
    df = df.assign(submitted_at=submitted, complete=finished, response_type=kind)
    meta = {"complete": "Finished", "response_type": "Status", "submitted_at": when_col or ""}
    return RawExport("qualtrics", variant, header_rows, df, meta)


def read_redcap(table: TextTable) -> RawExport:
    """REDCap raw-data CSV export (one header row of variable names)."""
    header = table.records[0]
    if header and header[0] == "Variable / Field Name":
        raise InputError(
            f"{table.path}: this is a REDCap data dictionary, not data. Export the records "
            "with 'CSV / Microsoft Excel (raw data)'."
        )
    if "Complete?" in header or "Record ID" in header:
        raise InputError(
            f"{table.path}: this is a REDCap *labels* export. Export 'CSV / Microsoft Excel "
            "(raw data)' instead: labels are not unique and change when the project is edited."
        )
    df = _frame(table, 1)
    complete_cols = [c for c in df.columns if c.endswith("_complete")]
    if complete_cols:
        # A form status of 2 is 'Complete'; 0 Incomplete and 1 Unverified are not submitted.
        complete = (df[complete_cols].apply(lambda s: s.str.strip()) == "2").all(axis=1)
    else:
        complete = pd.Series(True, index=df.index)
    stamp_cols = [c for c in df.columns if c.endswith("_timestamp")]
    if stamp_cols:
        stamps = df[stamp_cols[-1]].str.strip()
        complete = complete & (stamps != "[not completed]")
        submitted = stamps.where(stamps != "[not completed]", "")
    else:
        submitted = pd.Series("", index=df.index)
    df = df.assign(submitted_at=submitted, complete=complete, response_type="normal")
    meta = {"complete": ";".join(complete_cols), "submitted_at": ";".join(stamp_cols)}
    return RawExport("redcap", "raw", 1, df, meta)


def read_generic(table: TextTable) -> RawExport:
    """A plain table: one header row, every row a complete normal response."""
    df = _frame(table, 1)
    df = df.assign(submitted_at="", complete=True, response_type="normal")
    return RawExport("generic", "csv", 1, df)
