"""SoSci Survey data downloads: the CSV (UTF-16 or UTF-8, tab-separated), R data file and .sav.

Layout (seen in public downloads and the vendor's variable documentation): one header row,
``CASE, SERIAL, REF, QUESTNNR, MODE, STARTED``, then the items named by question id and item
(``PS01_01``), then ``TIME001`` … per page, ``TIME_SUM, MAILSENT, LASTDATA, FINISHED,
Q_VIEWER, LASTPAGE, MAXPAGE, MISSING, MISSREL, TIME_RSI, DEG_TIME`` (later versions; older ones
lack some). Rules:

* complete: ``FINISHED`` is 1 (``T``/``TRUE`` in the R data file); without that column, the
  response reached ``MAXPAGE``;
* ``MODE`` ``interview`` is a real response; ``pretest``, ``debug``, ``admin``, ``orgtest``
  and other modes are tests;
* negative codes in items mean no answer: ``-9`` not answered, ``-1`` … ``-3`` the residual
  options ("can't answer"), ``-8`` faulty data — they become blank and are counted;
* scale answers are stored as **positions** 1 … k whatever the labels shown, so the export
  needs ``exports[].answer_codes`` (``position``: position k = the instrument's k-th value);
* submission time ``LASTDATA``, duration ``TIME_SUM``; a relative speed index ``TIME_RSI``
  above 2 (the vendor's threshold for implausibly fast completion) is a quality flag.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from balint_analysis.ingest.base import RawExport, frame, per_value, stripped, truthy
from balint_analysis.ingest.detect import TextTable

__all__ = ["MISSING_CODES", "read_sosci"]

#: SoSci's codes for "no answer" in item variables.
MISSING_CODES = frozenset({"-9", "-8", "-1", "-2", "-3"})
_REAL = {"interview", ""}


def read_sosci(table: TextTable) -> RawExport:
    """SoSci Survey download → records with completion, test mode, time and quality flags."""
    raw = frame(table, 1)
    df = raw.data
    upper = {c.upper(): c for c in df.columns}

    def col(name: str, default: str | None = None) -> pd.Series | str | None:
        return stripped(df[upper[name]]) if name in upper else default

    if "FINISHED" in upper:
        complete = truthy(df[upper["FINISHED"]])  # truthy strips the cells itself
    elif "LASTPAGE" in upper and "MAXPAGE" in upper:
        last = pd.to_numeric(col("LASTPAGE"), errors="coerce")
        complete = last.ge(pd.to_numeric(col("MAXPAGE"), errors="coerce"))
    else:
        complete = pd.Series(True, index=df.index)
    mode = col("MODE")
    kind = (pd.Series("normal", index=df.index) if mode is None
            else per_value(mode, lambda m: "normal" if m.lower() in _REAL else "test"))  # fmt: skip
    quality = pd.Series("", index=df.index, dtype="str")
    rsi = col("TIME_RSI")
    if rsi is not None:
        fast = pd.to_numeric(per_value(rsi, lambda v: v.replace(",", ".")), errors="coerce") > 2
        quality = quality.where(~fast, "SoSci relative speed index > 2")
    df = df.assign(
        submitted_at=col("LASTDATA", ""),
        complete=complete,
        response_type=kind.astype("str"),
        duration_s=col("TIME_SUM", ""),
        quality=quality,
    )
    variant = table.container if table.container != "text" else (
        "csv (UTF-16)" if table.encoding.startswith("utf-16") else "csv / R data file")
    meta = {"complete": upper.get("FINISHED", ""), "response_type": upper.get("MODE", ""),
            "submitted_at": upper.get("LASTDATA", "")}  # fmt: skip
    return dataclasses.replace(raw, format="sosci", variant=variant, data=df, meta_columns=meta,
                               coding="positions", missing_codes=MISSING_CODES)  # fmt: skip
