"""What every platform adapter returns, and the helpers they share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from balint_analysis.errors import InputError
from balint_analysis.ingest.detect import TextTable
from balint_analysis.ingest.records import ColumnRecords

__all__ = ["FormLayout", "RawExport", "frame", "unique_header"]

#: Metadata columns every adapter adds to ``RawExport.data``.
ADAPTER_META = ("submitted_at", "complete", "response_type", "site", "duration_s", "quality")


@dataclass
class FormLayout:
    """Which REDCap form holds each column, and each form's status and survey time per row.

    ``form_of`` maps a column (a field, or a checkbox column ``var___code``) to its form;
    ``status`` holds each form's ``<form>_complete`` cells (``2`` = Complete; blank = the form
    is not designated to the row's event or repeat); ``timestamp`` each survey form's
    ``<form>_timestamp`` cells; ``repeating`` the forms that appear as
    ``redcap_repeat_instrument``; ``source`` where the membership came from (``dictionary``
    or ``column order``).
    """

    form_of: dict[str, str]
    status: dict[str, pd.Series]
    timestamp: dict[str, pd.Series]
    repeat_instrument: pd.Series | None
    repeating: frozenset[str]
    source: str


@dataclass
class RawExport:
    """One export's records as text with standard metadata columns.

    ``data`` columns: every export column (strings), plus ``row`` (the row number a spreadsheet
    shows, header rows counted), ``submitted_at`` (ISO text or empty), ``complete`` (bool),
    ``response_type`` (``normal``, ``preview``, ``test``, ``spam``, ``imported``, ``other
    form``), ``site`` (REDCap data access group, else empty), ``duration_s`` (seconds, text,
    or empty) and ``quality`` (``;``-joined platform quality flags such as a low reCAPTCHA
    score).

    Column identity is the platform's stable variable name (Qualtrics export tag, REDCap field
    name, LimeSurvey question code, SPSS/SoSci variable name, SurveyMonkey ``Q<n>_<k>``);
    ``labels`` keeps each column's question text, ``aliases`` other stable names a config may
    use (Qualtrics ImportIds such as ``QID2_1``, LimeSurvey codes of "code and text"
    headings). ``forms`` is the REDCap form layout. ``coding`` says what numeric answers
    mean: ``values`` (the survey's own codes) or ``positions`` (1 = the first answer option:
    SoSci Survey scales, SurveyMonkey "numerical value" cells), which need ``answer_codes``.
    ``answered_means_complete``: the platform records no completion, so a response that
    answers no item of the configured instruments is an abandoned one (SurveyMonkey).
    """

    format: str
    variant: str
    header_rows: int
    data: pd.DataFrame
    meta_columns: dict[str, str] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    forms: FormLayout | None = None
    coding: str = "values"
    answered_means_complete: bool = False
    #: Item cells that mean "no answer" on this platform (SoSci ``-9``, ``-1``).
    missing_codes: frozenset[str] = frozenset()


def unique_header(path: str, header: list[str]) -> tuple[list[str], list[str]]:
    """Make header names unique (``name``, ``name.2``, ...); return them and the duplicates.

    Duplicates happen (two identically titled Google Forms questions); they are renamed and
    reported rather than silently mangled. A config that names a duplicated column is refused
    later by :func:`balint_analysis.ingest.read_export`.
    """
    seen: dict[str, int] = {}
    out, dups = [], []
    for raw in header:
        name = raw.strip().lstrip("\ufeff")
        if not name:
            name = f"(unnamed column {len(out) + 1})"
        if name in seen:
            seen[name] += 1
            dups.append(name)
            out.append(f"{name}.{seen[name]}")
        else:
            seen[name] = 1
            out.append(name)
    return out, sorted(set(dups))


def frame(table: TextTable, header_rows: int, header: list[str] | None = None,
          labels: list[str] | None = None) -> RawExport:  # fmt: skip
    """Records after ``header_rows`` header rows as a text frame with spreadsheet row numbers.

    Raises
    ------
    InputError
        When there are no data rows.
    """
    names, dups = unique_header(table.path, header or table.records[0])
    body = table.records[header_rows:]
    if not body:
        raise InputError(
            f"{table.path}: the file has its header row(s) but no responses. Export the "
            "responses again (check the export's date or completion filter)."
        )
    if isinstance(body, ColumnRecords):  # the parsed columns as they are, not copied
        df = pd.DataFrame({n: pd.array(c, dtype="str", copy=False)
                           for n, c in zip(names, body.columns, strict=True)},
                          columns=names, copy=False)  # fmt: skip
    else:
        df = pd.DataFrame(body, columns=names, dtype="str")
    positions = table.positions or list(range(1, len(table.records) + 1))
    df.insert(0, "row", np.asarray(positions[header_rows:], dtype=np.int64))
    df = df.assign(submitted_at="", complete=True, response_type="normal", site="",
                   duration_s="", quality="")  # fmt: skip
    texts = dict(table.notes.get("labels", {}))
    if labels:
        texts.update({n: t.strip() for n, t in zip(names, labels, strict=False) if t.strip()})
    return RawExport("generic", "", header_rows, df, notes={"duplicate_headers": dups},
                     labels=texts)  # fmt: skip


_TRUE = {"1", "true", "yes", "y", "t"}


def per_value(values: pd.Series, fn, dtype: str | None = "str") -> pd.Series:
    """``fn`` applied to each distinct value of a column once (export columns repeat a few
    values over thousands of rows); missing cells stay missing."""
    index, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.array([fn(u) for u in uniques] + [np.nan], dtype=object)
    return pd.Series(table[index], index=values.index, dtype=dtype)


def stripped(values: pd.Series) -> pd.Series:
    """The column's text without surrounding spaces."""
    return per_value(values, lambda v: str(v).strip())


def truthy(values: pd.Series) -> pd.Series:
    """``1``/``True``/``T``/``yes`` (any case) → True."""
    out = per_value(values, lambda v: str(v).strip().lower() in _TRUE, dtype=None)
    return out.fillna(False).astype(bool)
