"""SurveyMonkey "All individual responses" CSV/XLSX exports (expanded columns).

Layout (seen in public exports): **two header rows**. Row 1 holds the metadata names
``Respondent ID, Collector ID, Start Date, End Date, IP Address, Email Address, First Name,
Last Name, Custom Data 1`` and then each question's text, written only above the first of the
question's columns (the cells to its right are empty); row 2 is empty under the metadata and
holds ``Response`` (one choice), ``Open-Ended Response`` (text) or the statement/option of each
further column. Data start in row 3.

SurveyMonkey gives its columns no variable names, so they are named here after the survey's
question numbers: ``Q<n>`` for a one-column question, ``Q<n>_<k>`` for the k-th column of the
n-th question (questions counted from 1 after the metadata columns); the question text (plus
the statement) is kept as the column's label. "Numerical value" cells hold the **position** of
the chosen answer (1 = the first option), which ``exports[].answer_codes`` must translate;
"actual answer text" cells are mapped through the instrument's answer labels.

The export records no completion: a response that answers none of the configured
instruments' items is an abandoned one. Time: ``End Date``; duration ``End − Start``.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from balint_analysis.ingest.base import RawExport, frame
from balint_analysis.ingest.detect import TextTable

__all__ = ["column_names", "read_surveymonkey"]

_PLAIN = {"", "response", "open-ended response"}


def column_names(first: list[str], second: list[str]) -> tuple[list[str], list[str]]:
    """The ``Q<n>`` / ``Q<n>_<k>`` names and the labels of a SurveyMonkey header."""
    first = [c.strip().lstrip("\ufeff") for c in first]
    second = [c.strip() for c in second] + [""] * (len(first) - len(second))
    n_meta = next((i for i, c in enumerate(second) if c), len(first))
    starts = [i for i in range(n_meta, len(first)) if first[i] or i == n_meta]
    names, labels = list(first[:n_meta]), list(first[:n_meta])
    for q, start in enumerate(starts, start=1):
        end = starts[q] if q < len(starts) else len(first)
        question = first[start]
        for k, col in enumerate(range(start, end), start=1):
            names.append(f"Q{q}" if end - start == 1 else f"Q{q}_{k}")
            sub = second[col]
            labels.append(question if sub.lower() in _PLAIN else f"{question} - {sub}".strip())
    return names, labels


def _iso(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values.str.strip(), format="mixed", errors="coerce")
    return parsed.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("").astype("str"), parsed


def read_surveymonkey(table: TextTable) -> RawExport:
    """SurveyMonkey export → records named ``Q<n>_<k>``, submission time and duration."""
    names, labels = column_names(table.records[0], table.records[1])
    raw = frame(table, 2, header=names, labels=labels)
    df = raw.data
    submitted, end = _iso(df["End Date"]) if "End Date" in df else ("", None)
    duration: pd.Series | str = ""
    if end is not None and "Start Date" in df:
        _, start = _iso(df["Start Date"])
        seconds = (end - start).dt.total_seconds()
        duration = seconds.map(lambda s: "" if pd.isna(s) else f"{s:g}").astype("str")
    df = df.assign(submitted_at=submitted, duration_s=duration)
    variant = "expanded, 2 header rows" if table.container == "text" else table.container
    return dataclasses.replace(raw, format="surveymonkey", variant=variant, data=df,
                               meta_columns={"submitted_at": "End Date"}, coding="positions",
                               answered_means_complete=True)  # fmt: skip
