"""The ``sosci`` layout: every wave from SoSci Survey, in three of its download formats.

Evidence (``tests/fixtures/exports/README.md``, "SoSci Survey"):
``chrisharrisUU/when_biases_beget_biases`` ``Data/Exp3_data.csv`` and ``herwinvw/VisualProsody``
``RuntimeAndExperiment/study/pilot/`` and ``experiment2/`` (data, R-data and SPSS-syntax
downloads of one survey); vendor help on
``-9``/``-1``/``-8``, ``MODE``, ``CASE``. One project, three questionnaires (``QUESTNNR``
``pre``/``post``/``fu``); ``CASE`` numbers interviews in start order across the project, with
gaps (interviews without data are not downloaded).

Columns: ``CASE, SERIAL, REF, QUESTNNR, MODE, STARTED``, the items ``MB01_01`` … ``MB01_22``,
``PS01_01`` … ``PS01_10``, ``CB01_01`` … ``CB01_19``, ``WH01_01`` … ``WH01_05`` (question id +
two-digit item; the OLBI ``OL01``, ProQOL ``PQ01``, JSE ``JS01``), the text input ``ID01_01``
(the study code = roster id), ``TIME001`` … one per page (page 1 the code, one page per
instrument, the final page), ``TIME_SUM, MAILSENT, LASTDATA, FINISHED, Q_VIEWER, LASTPAGE,
MAXPAGE, MISSING, MISSREL, TIME_RSI, DEG_TIME``. Scale answers are the option **positions**
``1…k`` (MBI 0–6 as 1–7, CBI 0…100 as 1–5; config ``answer_codes: position``); ``-9`` = shown
but not answered, ``-1`` = the residual "can't say" option (both item non-response); items on
pages never reached are empty. ``MODE`` is ``interview`` for respondents, ``pretest``/``debug``
for test runs. ``FINISHED`` 1/0; an unfinished interview has ``LASTPAGE = MAXPAGE`` = the last
page reached, below the last page (as the real files show; ``MAXPAGE`` is the hindmost page
*handled*, not the questionnaire's length).

``pre_sosci.csv``
    The "data_*.csv" download: **UTF-16LE with BOM**, tab-separated, **CRLF**, every field
    quoted; dates ``YYYY-MM-DD HH:MM:SS``.
``post_sosci.sav``
    The SPSS download: items numeric ``F3.0`` with value labels on the end points, ``-1 "Can't
    say"`` and ``-9 "Not answered"``, ``-9`` and ``-1`` declared user-missing; ``STARTED``,
    ``LASTDATA``, ``MAILSENT`` SPSS date-times; ``FINISHED`` labelled ``0 Canceled``, ``1
    Finished``; the header's creation time fixed for deterministic bytes.
``followup_sosci.csv``
    The R-data download (read by SoSci's ``import_*.r``): UTF-8 without BOM, tab-separated,
    ``\\n``, the header and text values quoted, numbers, dates and logicals bare, ``FINISHED`` and
    ``Q_VIEWER`` written ``T``/``F``.

Problems: pre — a ``test_response`` (``MODE`` ``pretest`` before launch, code ``test``), an
``unfinished`` interview (``FINISHED`` 0; the participant's only pre interview) and a
``duplicate_submission`` (an earlier complete interview; the later is kept); post — a
``test_response`` (``MODE`` ``debug``, started after a participant's real interview and typed
with that participant's code) and an ``unfinished`` interview; follow-up — a
``duplicate_submission`` and an ``unfinished`` interview.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from balint_analysis.simulate.coding import Coding
from balint_analysis.simulate.exports import (
    INSTRUMENT_LAYOUT,
    answer_cells,
    fmt_times,
    platform_columns,
    roster_table,
    to_csv_bytes,
    visible,
    window_start,
    window_times,
)
from balint_analysis.simulate.params import TIMEPOINTS
from balint_analysis.simulate.platforms.common import (
    EXCLUDED,
    Built,
    Context,
    ExportFile,
    csv_facts,
    earlier_duplicate,
    new_rows,
    problem,
    resolve,
    templates,
)

__all__ = ["CODE", "CONVENTIONS", "FILES", "build"]

FILES = ("pre_sosci.csv", "post_sosci.sav", "followup_sosci.csv")
QUESTNNR = ("pre", "post", "fu")
CODE = "ID01_01"
HEAD = ("CASE", "SERIAL", "REF", "QUESTNNR", "MODE", "STARTED")
TAIL = ("TIME_SUM", "MAILSENT", "LASTDATA", "FINISHED", "Q_VIEWER", "LASTPAGE", "MAXPAGE",
        "MISSING", "MISSREL", "TIME_RSI", "DEG_TIME")  # fmt: skip
TEXT = ("SERIAL", "REF", "QUESTNNR", "MODE", CODE)
DATES = ("STARTED", "MAILSENT", "LASTDATA")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
RESIDUAL_RATE = 0.004
"""Share of answers given as the residual option ``-1`` ("can't say")."""
CODING = Coding("position", missing=("-9", "-1"))
LABELS = {
    "CASE": "Interview number (ongoing)", "SERIAL": "Serial number (if provided)",
    "REF": "Reference (if provided in link)",
    "QUESTNNR": "Questionnaire that has been used in the interview", "MODE": "Interview mode",
    "STARTED": "Time the interview has started", CODE: "Study code: [01]",
    "TIME_SUM": "Time spent overall (except outliers)",
    "MAILSENT": "Time when the invitation mailing was sent (non-anonymous recipients, only)",
    "LASTDATA": "Time when the data was most recently updated",
    "FINISHED": "Status (has the interview been finished?)",
    "Q_VIEWER": "Did the respondent only view the questionnaire, omitting mandatory questions?",
    "LASTPAGE": "Last page that the participant has handled in the questionnaire",
    "MAXPAGE": "Hindmost page handled by the participant",
    "MISSING": "Missing answers in percent", "MISSREL": "Missing answers (weighted by relevance)",
    "TIME_RSI": "Relative speed index", "DEG_TIME": "Degradation points for being very fast",
}  # fmt: skip
CONVENTIONS = {
    "row": "the row a spreadsheet shows: header row 1, first interview row 2; in the .sav the "
    "k-th case is row k + 1 (the variable names count as row 1, as the pipeline numbers it)",
    "answer_codes": "scale answers are SoSci option positions 1..k (MBI 0-6 as 1-7, CBI "
    "0/25/50/75/100 as 1-5; config answer_codes: position); -9 = shown, not answered; -1 = the "
    "residual 'can't say' option; both are item non-response (declared user-missing in the "
    ".sav); items on pages never reached are empty",
    "duplicates": "per participant x timepoint the latest complete interview (later LASTDATA) "
    "is kept",
    "tests_and_unfinished": "MODE interview = a respondent, pretest/debug = a test run "
    "(rejected); FINISHED 1/0 (T/F in the R-data CSV), unfinished interviews rejected",
}


@dataclass(frozen=True)
class _Form:
    """The questionnaire: instrument id → item columns, all item columns in order, pages (the
    code page, one per instrument, the final page)."""

    columns: dict[str, list[str]]
    items: list[str]
    pages: int


def build(ctx: Context) -> Built:
    """Write the three SoSci downloads and the roster (module docstring)."""
    columns = platform_columns(ctx.answers, "sosci")
    form = _Form(columns, [c for cols in columns.values() for c in cols], len(ctx.answers) + 2)
    tables = [_wave(ctx, t, form) for t in range(3)]
    found: list[list[dict[str, Any]]] = [[], [], []]
    if ctx.params.inject_problems:
        tables[0], found[0] = _test_run(ctx, tables[0], form, "pretest")
        found[0].append(_unfinished(ctx, tables[0], form))
        tables[0], dup = _duplicate(ctx, tables[0], form)
        found[0].append(dup)
        tables[1], found[1] = _test_run(ctx, tables[1], form, "debug")
        found[1].append(_unfinished(ctx, tables[1], form))
        tables[2], dup = _duplicate(ctx, tables[2], form)
        found[2] = [dup, _unfinished(ctx, tables[2], form)]
    case = int(ctx.rng.integers(5, 20))
    files = []
    for t, name in enumerate(FILES):
        table = tables[t].sort_values(["_start", "_uid"], kind="stable").copy()
        gaps = ctx.rng.geometric(0.75, len(table))  # 1 mostly: CASE has gaps
        table["CASE"] = (case + np.cumsum(gaps)).astype(str)
        case = int(table["CASE"].iloc[-1])
        table["STARTED"] = fmt_times(table["_start"].to_numpy(dtype="datetime64[s]"))
        table["LASTDATA"] = fmt_times(table["_end"].to_numpy(dtype="datetime64[s]"))
        if t == 2:  # the R-data download writes logicals
            table["FINISHED"] = table["FINISHED"].map({"1": "T", "0": "F"})
            table["Q_VIEWER"] = "F"
            for p in found[t]:
                if p["column"] == "FINISHED":
                    p["value"] = "F"
        table, problems = resolve(table, found[t], file=name, id_column=CODE, first_row=2)
        data, facts = _WRITERS[t](table, ctx, columns)
        entry = {"format": "sosci", "timepoint": TIMEPOINTS[t], "id": CODE,
                 "answer_codes": "position"}  # fmt: skip
        files.append(ExportFile(name, table, problems, data, columns, CODE, CODING, facts,
                                (), (), entry, templates(ctx.answers, "sosci")))  # fmt: skip
    return Built(files, roster_table(ctx.people, ctx.identities), ctx.people)


def _page_times(rng: np.random.Generator, sizes: list[int], m: int) -> np.ndarray:
    """``(m, pages)`` seconds: the code page, one page per instrument, the final page."""
    code = np.maximum(3, np.rint(rng.lognormal(np.log(20.0), 0.4, m)))
    items = [np.maximum(k, np.rint(k * rng.lognormal(np.log(4.0), 0.3, m))) for k in sizes]
    final = rng.integers(2, 12, m)
    return np.column_stack([code, *items, final]).astype(np.int64)


def _wave(ctx: Context, t: int, form: _Form) -> pd.DataFrame:
    """Clean, finished interviews of wave ``t`` (``CASE`` and dates are stamped at the end)."""
    rng = ctx.rng
    rows = np.flatnonzero(ctx.responded[:, t])
    m = len(rows)
    end = window_times(ctx.params, rng, t, m).astype(np.int64)
    times = _page_times(rng, [a.instrument.n_items for a in ctx.answers.values()], m)
    table: dict[str, Any] = {c: np.full(m, "") for c in HEAD}
    table["QUESTNNR"], table["MODE"] = np.full(m, QUESTNNR[t]), np.full(m, "interview")
    table |= answer_cells(ctx.answers, ctx.blanks, rows, t, form.columns, CODING, blank="-9")
    residual = rng.random((m, len(form.items))) < RESIDUAL_RATE
    for j, col in enumerate(form.items):
        table[col] = np.where(residual[:, j] & (table[col] != "-9"), "-1", table[col])
    table[CODE] = ctx.people["participant_id"].to_numpy()[rows]
    for p in range(form.pages):
        table[f"TIME{p + 1:03d}"] = times[:, p].astype(str)
    table |= {c: np.full(m, "") for c in TAIL}
    out = pd.DataFrame(table, dtype=str)
    out["_end"], out["_start"] = end, end - times.sum(axis=1)
    out["_pid"], out["_t"], out["_accept"] = rows, t, True
    out["_uid"] = np.arange(m)
    _summary(rng, out, np.arange(m), form.items, form.pages, finished=True)
    return out


def _summary(rng: np.random.Generator, table: pd.DataFrame, k: int | np.ndarray,
             items: list[str], pages: int, *, finished: bool) -> None:  # fmt: skip
    """``TIME_SUM, FINISHED, Q_VIEWER, LASTPAGE, MAXPAGE, MISSING, MISSREL, TIME_RSI,
    DEG_TIME`` of row ``k`` (or of every row in ``k``, at once) from its page times and
    answers. One speed index is drawn per row, in row order."""
    index = np.atleast_1d(k)
    times = table.loc[index, [f"TIME{p:03d}" for p in range(1, pages + 1)]].to_numpy(dtype=str)
    filled = times != ""
    spent = np.where(filled, times, "0").astype(np.int64).sum(axis=1)
    seen = filled.sum(axis=1)
    cells = table.loc[index, items].to_numpy(dtype=str)
    missing = np.rint(100 * np.isin(cells, ["-9", ""]).mean(axis=1)).astype(np.int64)
    rsi = np.round(rng.lognormal(0.0, 0.3, len(index)), 2)
    degraded = np.rint(np.maximum(0.0, rsi - 1.5) * 40).astype(np.int64)
    text = [f"{v:.2f}".rstrip("0").rstrip(".") for v in rsi]
    table.loc[index, list(TAIL)] = np.column_stack([
        spent.astype(str), np.full(len(index), ""), np.full(len(index), ""),
        np.full(len(index), "1" if finished else "0"), np.full(len(index), "0"),
        seen.astype(str), seen.astype(str), missing.astype(str), missing.astype(str),
        np.asarray(text, dtype=str), degraded.astype(str),
    ])  # fmt: skip


def _test_run(ctx: Context, table: pd.DataFrame, form: _Form,
              mode: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:  # fmt: skip
    """A researcher's test interview: ``pretest`` before launch (code ``test``), or ``debug``
    after a participant's real interview, typed with that participant's code."""
    rng = ctx.rng
    row = int(rng.integers(len(table)))
    extra = new_rows(table.iloc[[row]], 1, len(table))
    for inst_id, a in ctx.answers.items():
        picks = rng.integers(1, len(a.instrument.allowed_values) + 1, a.instrument.n_items)
        extra.loc[0, form.columns[inst_id]] = picks.astype(str)
    t = int(table.at[row, "_t"])
    if mode == "pretest":
        start = window_start(ctx.params, t) - 2 * 86400 + int(rng.integers(9 * 3600, 17 * 3600))
        extra.loc[0, [CODE, "_pid"]] = ["test", -1]
        note = "a pretest run before launch"
    else:
        start = int(table.at[row, "_end"]) + int(rng.integers(600, 7200))
        note = "a debug run after the participant's real interview, typed with their code"
    spent = int(table.at[row, "_end"]) - int(table.at[row, "_start"])
    extra.loc[0, ["MODE", "_start", "_end", "_accept"]] = [mode, start, start + spent // 3, False]
    _summary(rng, extra, 0, form.items, form.pages, finished=True)
    found = [problem("test_response", len(table), "MODE", mode, EXCLUDED, note=note)]
    return pd.concat([table, extra], ignore_index=True), found


def _unfinished(ctx: Context, table: pd.DataFrame, form: _Form) -> dict[str, Any]:
    """Abandon a clean interview after the page of instrument ``j`` (``LASTPAGE = j + 1``)."""
    rng = ctx.rng
    single = ~table["_pid"].duplicated(keep=False).to_numpy()
    clean = np.flatnonzero(table["_accept"].astype(bool).to_numpy() & single)
    row = int(clean[rng.integers(len(clean))])  # the participant's only interview of the wave
    names = list(form.columns)
    j = int(rng.integers(1, len(names))) if len(names) > 1 else 0
    later = [c for k in names[j:] for c in form.columns[k]]
    pages = form.pages
    table.loc[row, later] = ""
    table.loc[row, [f"TIME{p:03d}" for p in range(j + 2, pages + 1)]] = ""
    spent = sum(int(table.at[row, f"TIME{p:03d}"]) for p in range(1, j + 2))
    table.at[row, "_end"] = int(table.at[row, "_start"]) + spent
    table.at[row, "_accept"] = False
    _summary(rng, table, row, form.items, pages, finished=False)
    return problem(
        "unfinished",
        row,
        "FINISHED",
        "0",
        EXCLUDED,
        note=f"LASTPAGE = MAXPAGE = {j + 1} of {pages}; later items empty",
    )


def _duplicate(ctx: Context, table: pd.DataFrame, form: _Form) -> tuple[
        pd.DataFrame, dict[str, Any]]:  # fmt: skip
    """An earlier complete interview (fresh answers) of a participant who answered again."""
    rng = ctx.rng
    launch = window_start(ctx.params, int(table.at[0, "_t"]))
    ok = table["_accept"].astype(bool).to_numpy() & (table["_start"].to_numpy() > launch + 86400)
    late = np.flatnonzero(ok)
    row = int(late[rng.integers(len(late))])
    end = int(rng.integers(launch + 3600, int(table.at[row, "_start"]) - 600))
    spent = int(table.at[row, "_end"]) - int(table.at[row, "_start"])
    earlier, found = earlier_duplicate(
        table, row, ctx.answers, form.columns, CODING, id_column=CODE,
        values={"_end": end, "_start": end - spent},
        note="an earlier complete interview; the later is kept")  # fmt: skip
    _summary(rng, earlier, 0, form.items, form.pages, finished=True)
    return pd.concat([table, earlier], ignore_index=True), found


def _data_csv(table: pd.DataFrame, ctx: Context, columns: dict[str, list[str]]) -> tuple[
        bytes, dict[str, Any]]:  # fmt: skip
    """The ``data_*.csv`` download: UTF-16LE + BOM, tabs, CRLF, every field quoted."""
    data = to_csv_bytes(
        table,
        delimiter="\t",
        lineterminator="\r\n",
        quoting=csv.QUOTE_ALL,
        encoding="utf-16-le",
        bom=True,
    )
    facts = csv_facts(encoding="utf-16-le", bom=True, delimiter="\\t", line_ending="\\r\\n",
                      quote_all=True, download='SoSci "data_*.csv" (CSV, UTF-16)')  # fmt: skip
    return data, facts


def _r_csv(table: pd.DataFrame, ctx: Context, columns: dict[str, list[str]]) -> tuple[
        bytes, dict[str, Any]]:  # fmt: skip
    """The R-data download: UTF-8, tabs, ``\\n``; header and text quoted, the rest bare."""
    data = visible(table)

    def quote(value: str) -> str:
        return '"' + value.replace('"', '""') + '"'

    lines = ["\t".join(quote(c) for c in data.columns)]
    text = [c in TEXT for c in data.columns]
    for record in data.itertuples(index=False, name=None):
        lines.append("\t".join(quote(v) if is_text and v else v
                               for v, is_text in zip(record, text, strict=True)))  # fmt: skip
    facts = csv_facts(delimiter="\\t", header_rows=1, download='SoSci "rdata_*.csv" (GNU R)',
                      quoting="header and text values quoted; numbers, dates, logicals bare",
                      logical="T/F")  # fmt: skip
    return ("\n".join(lines) + "\n").encode("utf-8"), facts


def _sav(table: pd.DataFrame, ctx: Context, columns: dict[str, list[str]]) -> tuple[
        bytes, dict[str, Any]]:  # fmt: skip
    """The SPSS download via pyreadstat, with a fixed creation time in the header."""
    import pyreadstat

    data = visible(table)
    typed = {}
    for col in data.columns:
        if col in TEXT:
            typed[col] = data[col].astype(object)
        elif col in DATES:
            typed[col] = pd.to_datetime(data[col].replace("", None), format="%Y-%m-%d %H:%M:%S")
        else:
            typed[col] = pd.to_numeric(data[col].replace("", None), errors="coerce")
    frame = pd.DataFrame(typed)
    labels, value_labels, missing, formats = dict(LABELS), {}, {}, {}
    for p in (c for c in data.columns if c.startswith("TIME0")):
        labels[p] = f"Time spent on page {int(p[4:])}"
    for inst_id, a in ctx.answers.items():
        inst, layout = a.instrument, INSTRUMENT_LAYOUT[inst_id]
        allowed = inst.allowed_values
        ends = {1.0: inst.response_labels.get(allowed[0], "1"),
                float(len(allowed)): inst.response_labels.get(allowed[-1], str(len(allowed))),
                -1.0: "Can't say", -9.0: "Not answered"}  # fmt: skip
        for i, col in enumerate(columns[inst_id], start=1):
            labels[col] = f"{layout.question}: {layout.statement.format(i=i)}"
            value_labels[col], missing[col], formats[col] = ends, [-9.0, -1.0], "F3.0"
    value_labels["FINISHED"] = {0.0: "Canceled", 1.0: "Finished"}
    formats |= {"CASE": "F8.0", "FINISHED": "F1.0", "TIME_RSI": "F8.2"}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "post.sav")
        pyreadstat.write_sav(
            frame,
            path,
            column_labels=labels,
            variable_value_labels=value_labels,
            missing_ranges=missing,
            variable_format=formats,
            file_label="Balint groups (synthetic), questionnaire post",
        )
        with open(path, "rb") as fh:
            raw = bytearray(fh.read())
    day = np.datetime64(ctx.params.survey_start[1], "D") + ctx.params.survey_days + 2
    year, month, mday = str(day).split("-")
    month_name = MONTHS[int(month) - 1]  # English, whatever the locale (as SPSS writes it)
    raw[92:109] = f"{mday} {month_name} {year[2:]}18:00:00".encode("ascii")
    facts = {"container": "sav", "encoding": "utf-8", "header_rows": 1, "first_data_row": 2,
             "user_missing": {"items": [-9, -1]},
             "value_labels": "items: 1 and k (the end points), -1 Can't say, -9 Not answered; "
             "FINISHED: 0 Canceled, 1 Finished",
             "system_missing": "items on pages never reached"}  # fmt: skip
    return bytes(raw), facts


_WRITERS = (_data_csv, _sav, _r_csv)
