"""LimeSurvey response exports: code, full-text or "code and text" headings; CSV, R data file, .sav.

The export dialog writes the system columns under their codes (``id, submitdate, lastpage,
startlanguage, seed, startdate, datestamp``), their full labels (``Response ID, Date
submitted, Last page, Start language, Seed, Date started, Date last action`` — also the R data
file export), both (``submitdate. Date submitted``), or older labels (``Completed, Last page
seen``, LimeSurvey 1.x/2.0). A response is incomplete when it has no submit date, or, where
the export has no submit-date column, when it stopped before the last page reached by anyone.
The 1980-01-01 sentinel is a submit date of a survey without date stamps, not a real time.

Column identity is the question code (``PSS[SQ001]``; ``PSS_SQ001`` in a ``.sav``). With
"code and text" headings the code before ``". "`` is an alias of the column; full-text
headings have no codes, so their items are addressed by the heading text.
"""

from __future__ import annotations

import dataclasses
import re

import pandas as pd

from balint_analysis.ingest.base import RawExport, frame
from balint_analysis.ingest.detect import TextTable

__all__ = ["SYSTEM_LABELS", "read_limesurvey"]

#: Completed responses in surveys without date stamps carry this sentinel submit date.
SENTINEL = "1980-01-01 00:00:00"

#: System column code → the labels other heading styles use for it (lower case).
SYSTEM_LABELS = {
    "id": ("response id",),
    "submitdate": ("date submitted", "completed"),
    "lastpage": ("last page", "last page seen"),
    "startlanguage": ("start language",),
    "startdate": ("date started",),
    "datestamp": ("date last action",),
    "interviewtime": ("total time",),
    "ipaddr": ("ip address",),
}
_CODE_AND_TEXT = re.compile(r"^([A-Za-z][A-Za-z0-9_]*(?:\s?\[[^\]]*\])?)\.\s")


def _system_columns(columns: list[str], aliases: dict[str, str]) -> dict[str, str]:
    """System code → the export's column, whatever the heading style."""
    by_name: dict[str, str] = {}
    for col in columns:
        by_name.setdefault(col.strip().lower(), col)
    for alias, col in aliases.items():
        by_name.setdefault(alias.lower(), col)
    found = {}
    for code, labels in SYSTEM_LABELS.items():
        for name in (code, *labels):
            if name in by_name:
                found[code] = by_name[name]
                break
    return found


def read_limesurvey(table: TextTable) -> RawExport:
    """LimeSurvey CSV (or its ``.sav``/``.xlsx``): complete when it has a submit date."""
    raw = frame(table, 1)
    df = raw.data
    columns = [c for c in df.columns if c != "row"]
    aliases = {}
    for col in columns:
        match = _CODE_AND_TEXT.match(col)
        if match:
            aliases[match.group(1)] = col
    system = _system_columns(columns, aliases)
    submit_col = system.get("submitdate")
    stamp = df[system["datestamp"]].str.strip() if "datestamp" in system else ""
    if submit_col:
        submit = df[submit_col].str.strip()
        complete = submit != ""
        when = submit.where(~submit.str.startswith("1980-01-01"), stamp)
    elif "lastpage" in system:
        pages = pd.to_numeric(df[system["lastpage"]], errors="coerce")
        complete = pages.eq(pages.max()) & pages.notna()
        when = stamp
    else:
        complete, when = True, stamp
    duration = df[system["interviewtime"]] if "interviewtime" in system else ""
    df = df.assign(submitted_at=when, complete=complete, duration_s=duration)
    if table.container != "text":
        variant = table.container
    elif aliases:
        variant = "code and text headings"
    elif {"submitdate", "lastpage"} & {c.lower() for c in columns}:
        variant = "code headings"
    else:
        variant = "full headings"
    meta = {"complete": submit_col or system.get("lastpage", ""),
            "submitted_at": submit_col or system.get("datestamp", "")}  # fmt: skip
    # Full-answer exports write N/A for a question shown but not answered.
    return dataclasses.replace(raw, format="limesurvey", variant=variant, data=df,
                               meta_columns=meta, aliases=aliases,
                               missing_codes=frozenset({"N/A"}))  # fmt: skip
