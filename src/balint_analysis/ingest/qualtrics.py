"""Qualtrics data-table exports: current (3 header rows), legacy (2) and numeric/choice text.

See ``export_formats.md`` §1. A Qualtrics ``.sav`` or ``.xlsx`` has one header row of export
tags and the same metadata columns; it goes through the same rules.
"""

from __future__ import annotations

import json

import pandas as pd

from balint_analysis.errors import InputError
from balint_analysis.ingest.base import RawExport, frame, truthy
from balint_analysis.ingest.detect import TextTable

__all__ = ["read_qualtrics"]

# Status codes (numeric export) and labels (choice-text export), export_formats §1.3.
_STATUS = {
    "0": "normal", "ip address": "normal",
    "1": "preview", "survey preview": "preview",
    "2": "test", "survey test": "test",
    "4": "imported", "imported": "imported",
    "8": "spam", "spam": "spam",
    "9": "preview", "survey preview spam": "preview",
    "12": "spam", "imported spam": "spam",
    "16": "normal", "offline": "normal",
    "17": "preview", "offline survey preview": "preview",
    "32": "normal", "ex": "normal",
    "40": "spam", "ex spam": "spam",
    "48": "normal", "ex offline": "normal",
}  # fmt: skip
_CHOICE_TEXT_STATUS = {"ip address", "survey preview", "survey test", "imported", "spam"}


def read_qualtrics(table: TextTable) -> RawExport:
    """Qualtrics export → records plus response metadata (preview/test/spam, finished)."""
    header = table.records[0]
    if table.container != "text":
        raw, variant = frame(table, 1), table.container
    elif header[:3] == ["V1", "V2", "V3"]:
        # Legacy: row 2 holds the real names (row 1 has V1..V10 for metadata); data from row 3.
        names = [n or h for h, n in zip(header, table.records[1], strict=False)]
        raw, variant = frame(table, 2, header=names), "legacy"
        raw.data = raw.data.rename(columns={"ResponseID": "ResponseId"})
    else:
        third = table.records[2] if len(table.records) > 2 else []
        for cell in third:
            if cell.strip():
                try:
                    json.loads(cell)
                except json.JSONDecodeError:
                    raise InputError(
                        f"{table.path}: row 3 is not Qualtrics' ImportId row; export the data "
                        "table with all three header rows (or set `format:` for this file)."
                    ) from None
        raw, variant = frame(table, 3), "current"
    df = raw.data
    status = df["Status"].str.strip() if "Status" in df else pd.Series("0", index=df.index)
    kind = status.str.lower().map(_STATUS).fillna("unknown status")
    if "DistributionChannel" in df:
        channel = df["DistributionChannel"].str.strip().str.lower()
        kind = kind.where(~channel.isin(["preview", "test"]), channel)
    finished = truthy(df["Finished"]) if "Finished" in df else pd.Series(True, index=df.index)
    when_col = next((c for c in ("RecordedDate", "EndDate", "StartDate") if c in df), None)
    quality = _quality_flags(df)
    df = df.assign(
        submitted_at=df[when_col].str.strip() if when_col else "",
        complete=finished,
        response_type=kind,
        duration_s=df.get("Duration (in seconds)", ""),
        quality=quality,
    )
    if status.str.lower().isin(_CHOICE_TEXT_STATUS).any():
        variant += " (choice text)"
    meta = {"complete": "Finished", "response_type": "Status", "submitted_at": when_col or ""}
    return RawExport("qualtrics", variant, raw.header_rows, df, meta, raw.notes)


def _quality_flags(df: pd.DataFrame) -> pd.Series:
    """Qualtrics' own fraud/bot fields as flags (export_formats §6: flag, do not drop)."""
    flags = pd.Series("", index=df.index, dtype="str")

    def add(mask: pd.Series, label: str) -> None:
        nonlocal flags
        flags = flags.where(~mask, flags + ";" + label)

    if "Q_RecaptchaScore" in df:
        score = pd.to_numeric(df["Q_RecaptchaScore"], errors="coerce")
        add(score < 0.5, "reCAPTCHA score < 0.5")
    if "Q_RelevantIDDuplicate" in df:
        add(truthy(df["Q_RelevantIDDuplicate"]), "RelevantID duplicate")
    if "Q_RelevantIDFraudScore" in df:
        add(pd.to_numeric(df["Q_RelevantIDFraudScore"], errors="coerce") >= 30,
            "RelevantID fraud score >= 30")  # fmt: skip
    if "Q_BallotBoxStuffing" in df:
        add(truthy(df["Q_BallotBoxStuffing"]), "ballot-box stuffing")
    return flags.str.lstrip(";")
