"""Qualtrics data-table exports: three generations of CSV, numeric or choice text, and ``.sav``.

* current: three header rows — export tags, question text, ``{"ImportId": "QID2_1"}`` JSON;
* "Insights" (2016–17): the same three rows, the third written Python-style
  (``{'ImportId': 'QID2-1'}``, not JSON);
* legacy: two header rows — ``V1`` … ``V10`` then export tags, and the names/question text.

Columns are identified by their export tag (row 1; for the legacy ``V1`` … ``V10`` metadata,
the row-2 name): question texts repeat and are cut at ~100 characters, so they are only kept
as labels. ImportIds (``QID2_1``, Insights' ``QID2-1`` also as ``QID2_1``) are aliases a config
may use instead of the tag. A Qualtrics ``.sav`` or ``.xlsx`` has one header row of export tags
and the same metadata columns; it goes through the same rules.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re

import pandas as pd

from balint_analysis.errors import InputError
from balint_analysis.ingest.base import RawExport, frame, truthy
from balint_analysis.ingest.detect import TextTable

__all__ = ["read_qualtrics"]

# Status codes (numeric export) and labels (choice-text export): docs/references.md,
# "Qualtrics response status".
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


def _import_id(cell: str) -> str | None:
    """The ImportId of a row-3 cell: JSON (current) or a Python dict literal (Insights)."""
    text = cell.strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return str(value["ImportId"]) if isinstance(value, dict) and "ImportId" in value else None


def _import_id_aliases(names: list[str], third: list[str]) -> dict[str, str] | None:
    """ImportId → column; ``None`` when row 3 is not an ImportId row."""
    aliases: dict[str, str] = {}
    filled = 0
    for name, cell in zip(names, third, strict=False):
        if not cell.strip():
            continue
        filled += 1
        import_id = _import_id(cell)
        if import_id is None:
            return None
        aliases.setdefault(import_id, name)
        aliases.setdefault(import_id.replace("-", "_"), name)  # Insights: QID2-1 ~ QID2_1
    return aliases if filled else None


def read_qualtrics(table: TextTable) -> RawExport:
    """Qualtrics export → records plus response metadata (preview/test/spam, finished)."""
    header = table.records[0]
    aliases: dict[str, str] = {}
    if table.container != "text":
        raw, variant = frame(table, 1), table.container
    elif header[:3] == ["V1", "V2", "V3"]:
        # Legacy: V1..V10 take their row-2 names; every other column keeps its export tag.
        second = table.records[1]
        names = [n.strip() if re.fullmatch(r"V\d+", h.strip()) and n.strip() else h
                 for h, n in zip(header, second, strict=False)]  # fmt: skip
        raw, variant = frame(table, 2, header=names, labels=second), "legacy"
    else:
        third = table.records[2] if len(table.records) > 2 else []
        found = _import_id_aliases([h.strip().lstrip("\ufeff") for h in header], third)
        if found is None:
            raise InputError(
                f"{table.path}: row 3 is not Qualtrics' ImportId row; export the data table with "
                "all three header rows (or set `format:` for this file)."
            )
        insights = any(c.strip().startswith("{'") for c in third)
        raw = frame(table, 3, labels=table.records[1])
        variant, aliases = ("insights" if insights else "current"), found
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
        duration_s=df.get("Duration (in seconds)", df.get("Duration__in_seconds_", "")),
        quality=quality,
    )
    if status.str.lower().isin(_CHOICE_TEXT_STATUS).any():
        variant += " (choice text)"
    meta = {"complete": "Finished", "response_type": "Status", "submitted_at": when_col or ""}
    return dataclasses.replace(raw, format="qualtrics", variant=variant, data=df,
                               meta_columns=meta, aliases=aliases)  # fmt: skip


def _quality_flags(df: pd.DataFrame) -> pd.Series:
    """Qualtrics' own fraud/bot fields as flags, never a reason to drop (docs/references.md)."""
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
