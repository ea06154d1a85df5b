"""LimeSurvey response exports (export_formats §3): ``CODE[SQ001]`` columns, ``submitdate``."""

from __future__ import annotations

from balint_analysis.ingest.base import RawExport, frame
from balint_analysis.ingest.detect import TextTable

__all__ = ["read_limesurvey"]

#: Completed responses in surveys without date stamps carry this sentinel submit date.
SENTINEL = "1980-01-01 00:00:00"


def read_limesurvey(table: TextTable) -> RawExport:
    """LimeSurvey CSV (or its ``.sav``/``.xlsx``): complete when ``submitdate`` is filled.

    The submission time is ``submitdate`` unless it is the 1980-01-01 sentinel of surveys
    without date stamps, in which case ``datestamp`` (if any) is used.
    """
    raw = frame(table, 1)
    df = raw.data
    lower = {c.lower(): c for c in df.columns}
    submit_col = lower.get("submitdate")
    submit = df[submit_col].str.strip() if submit_col else None
    if submit is None:
        complete = True
        when = ""
    else:
        complete = submit != ""
        sentinel = submit.str.startswith("1980-01-01")
        stamp = df[lower["datestamp"]].str.strip() if "datestamp" in lower else ""
        when = submit.where(~sentinel, stamp)
    duration = df[lower["interviewtime"]] if "interviewtime" in lower else ""
    df = df.assign(submitted_at=when, complete=complete, duration_s=duration)
    variant = table.container if table.container != "text" else "csv"
    meta = {"complete": submit_col or "", "submitted_at": submit_col or ""}
    return RawExport("limesurvey", variant, 1, df, meta, raw.notes)
