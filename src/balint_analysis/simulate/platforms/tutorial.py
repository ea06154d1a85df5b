"""The ``tutorial`` layout: what a small clinic has — a hand-made workbook and an Excel CSV.

Two waves (the simulator's pre and post), no roster, no survey platform. Participants write a
self-generated code (``AN12K``: two letters, a day 01–31, a letter) on each form; the code is
identical across waves for one person, and codes are pairwise at least three substitutions
apart. The group is a column of each file, labelled :data:`INTERVENTION` / :data:`CONTROL`.
Default preset ``tutorial``: MBI-HSS + OLBI, 30 per arm, 3 Balint groups.

``baseline.xlsx``
    A workbook typed in by hand: one sheet ``Responses``, header row 1, one row per returned
    form from row 2 in date order: ``Code, Group, Date`` (a date cell), ``MBI1`` … ``MBI22``,
    ``OLBI1`` … ``OLBI16`` (number cells holding the instruments' codes: MBI 0–6, OLBI 1 =
    strongly agree … 4 = strongly disagree), ``Email`` (fake addresses, ``@example.org``, for
    sending results; PII the pipeline must drop). Blank cell = unanswered. Document properties
    and zip entry times are fixed, so the bytes are deterministic.
``followup.csv``
    The post wave, entered in another sheet and saved as Excel's "CSV UTF-8": UTF-8 **with
    BOM**, ``;``-separated (a comma-decimal locale), CRLF, minimal quoting, own column names
    ``code;group;submitted;mbi_01`` … ``mbi_22;olbi_01`` … ``olbi_16``; ``submitted`` is a
    local date-time ``16.03.2026 14:05``.

Problems (``truth.json``): ``baseline.xlsx`` — a ``duplicate_submission`` (an earlier form of a
participant who handed in another one later; the later row is kept), an ``out_of_range``
number (``response_max + 1`` in an item of the first instrument), a ``text_in_numeric``
``n/a`` in an item of the last instrument, a ``no_participant_id`` row (blank ``Code``; that
person's only baseline form). ``followup.csv`` — a ``duplicate_submission``, an
``out_of_range`` value (``response_min - 1``, a ``0`` on an OLBI item) and a
``no_participant_id`` row. Neither file carries a submission time the pipeline reads, so
"latest" is the later row (rows are in date order).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from typing import Any

import numpy as np
import pandas as pd

from balint_analysis.simulate.coding import CODES
from balint_analysis.simulate.exports import (
    answer_cells,
    fmt_times,
    platform_columns,
    to_csv_bytes,
    visible,
    window_start,
    window_times,
)
from balint_analysis.simulate.params import TIMEPOINTS
from balint_analysis.simulate.platforms.common import (
    EXCLUDED,
    ITEM_MISSING,
    Built,
    Context,
    ExportFile,
    answered_cell,
    csv_facts,
    earlier_duplicate,
    problem,
    resolve,
    self_generated_codes,
    templates,
)

__all__ = ["BASELINE_FILE", "CONTROL", "CONVENTIONS", "FOLLOWUP_FILE", "INTERVENTION", "build"]

INTERVENTION = "Balint group"
CONTROL = "Comparison group"
BASELINE_FILE = "baseline.xlsx"
FOLLOWUP_FILE = "followup.csv"
SHEET = "Responses"
EMAIL_SHARE = 0.7
CONVENTIONS = {
    "row": "the row a spreadsheet shows: header row 1, first record row 2 (the workbook row "
    "Excel numbers; the CSV record)",
    "duplicates": "per participant x timepoint the latest complete submission is kept; the "
    "files hold no submission time the pipeline reads, so the latest is the later row (rows "
    "are in date order)",
    "answer_codes": "items hold the instruments' codes (MBI 0-6; OLBI 1 = strongly agree ... 4 "
    "= strongly disagree, the definition's coding); workbook answers are number cells",
    "participant_id": "self-generated codes (two letters, day 01-31, a letter), identical across "
    "waves for one person and pairwise >= 3 substitutions apart; no roster: the group is each "
    "file's group column (Balint group / Comparison group)",
    "effect": "difference in mean change from baseline, Balint group minus Comparison group, "
    "among participants with the score at both timepoints",
    "units": "scores and effects in units of the published scale score: sums for the MBI-HSS "
    "subscales, item means 1-4 for the OLBI subscales (high = more burnout)",
}


def build(ctx: Context) -> Built:
    """Write ``baseline.xlsx`` and ``followup.csv`` (module docstring); no roster."""
    rng, answers = ctx.rng, ctx.answers
    people = ctx.people.assign(
        participant_id=self_generated_codes(rng, len(ctx.people)),
        group=np.where(ctx.people["treated"].to_numpy(), INTERVENTION, CONTROL),
    )
    sheet_cols, csv_cols = platform_columns(answers, "sheet"), platform_columns(answers, "csv")
    base = _wave(ctx, people, 0, ("Code", "Group", "Date"), sheet_cols)
    base["Email"] = np.where(rng.random(len(base)) < EMAIL_SHARE,
                             ctx.identities["email"].to_numpy()[base["_pid"]], "")  # fmt: skip
    post = _wave(ctx, people, 1, ("code", "group", "submitted"), csv_cols)
    base_found: list[dict[str, Any]] = []
    post_found: list[dict[str, Any]] = []
    if ctx.params.inject_problems:
        base, base_found = _inject(ctx, base, sheet_cols, "Code", 0)
        post, post_found = _inject(ctx, post, csv_cols, "code", 1)
    base, base_problems = _finalise(base, base_found, BASELINE_FILE, "Code")
    post, post_problems = _finalise(post, post_found, FOLLOWUP_FILE, "code")
    base["Date"] = fmt_times(base["_when"].to_numpy(dtype="datetime64[s]")).astype("U10")
    post["submitted"] = [_local(t) for t in post["_when"].to_numpy(dtype="datetime64[s]")]
    files = [
        ExportFile(BASELINE_FILE, base, base_problems, _xlsx_bytes(base, ctx), sheet_cols, "Code",
                   CODES, {"container": "xlsx", "sheet": SHEET, "header_rows": 1,
                           "first_data_row": 2, "cells": "items and numbers as number cells, "
                           "Date as a date cell, text as text cells, unanswered = empty"},
                   ("Email",), (),
                   {"format": "excel", "sheet": SHEET, "timepoint": TIMEPOINTS[0], "id": "Code",
                    "group_column": "Group"}, templates(answers, "sheet")),
        ExportFile(FOLLOWUP_FILE, post, post_problems, _csv_bytes(post), csv_cols, "code", CODES,
                   csv_facts(bom=True, delimiter=";", line_ending="\\r\\n",
                             written_by='Excel "CSV UTF-8 (Comma delimited)"'), (), (),
                   {"format": "generic", "timepoint": TIMEPOINTS[1], "id": "code",
                    "group_column": "group", "delimiter": ";"}, templates(answers, "csv")),
    ]  # fmt: skip
    return Built(files, None, people)


def _wave(ctx: Context, people: pd.DataFrame, t: int, meta: tuple[str, str, str],
          columns: dict[str, list[str]]) -> pd.DataFrame:  # fmt: skip
    """Clean rows of wave ``t``: code, group, a time (filled in at the end), the items."""
    rows = np.flatnonzero(ctx.responded[:, t])
    table = {
        meta[0]: people["participant_id"].to_numpy()[rows],
        meta[1]: people["group"].to_numpy()[rows],
        meta[2]: np.full(len(rows), ""),
    }
    table |= answer_cells(ctx.answers, ctx.blanks, rows, t, columns)
    out = pd.DataFrame(table, dtype=str)
    out["_when"] = window_times(ctx.params, ctx.rng, t, len(rows)).astype(np.int64)
    out["_pid"], out["_t"], out["_accept"] = rows, t, True
    out["_uid"] = np.arange(len(out))
    return out


def _inject(ctx: Context, table: pd.DataFrame, columns: dict[str, list[str]], code: str,
            t: int) -> tuple[pd.DataFrame, list[dict[str, Any]]]:  # fmt: skip
    """A duplicate form, a bad number, (baseline) an ``n/a``, and a form without a code."""
    rng, answers = ctx.rng, ctx.answers
    names = list(answers)
    start = window_start(ctx.params, t)
    late = np.flatnonzero(table["_when"].to_numpy() >= start + 2 * 86400)
    dup = int(late[rng.integers(len(late))])
    others = np.setdiff1d(np.arange(len(table)), [dup])
    picks = [int(i) for i in rng.choice(others, 3, replace=False)]
    bad_range, bad_text, no_code = picks
    when = int(table.at[dup, "_when"])
    gap = int(rng.integers(86400, max(86401, when - start)))
    earlier, found_dup = earlier_duplicate(
        table, dup, answers, columns, CODES, id_column=code, values={"_when": when - gap},
        note="an earlier form of the same person; the later row is kept")  # fmt: skip
    found = [found_dup]
    first, last = answers[names[0]].instrument, answers[names[-1]].instrument
    value = str(first.response_max + 1) if t == 0 else str(last.response_min - 1)
    inst_id = names[0] if t == 0 else names[-1]
    col = answered_cell(rng, table, bad_range, columns[inst_id])
    found.append(problem("out_of_range", bad_range, col, value, ITEM_MISSING,
                         true_value=str(table.at[bad_range, col])))  # fmt: skip
    table.at[bad_range, col] = value
    if t == 0:
        col = answered_cell(rng, table, bad_text, columns[names[-1]])
        found.append(problem("text_in_numeric", bad_text, col, "n/a", ITEM_MISSING,
                             true_value=str(table.at[bad_text, col])))  # fmt: skip
        table.at[bad_text, col] = "n/a"
    table.at[no_code, code] = ""
    table.at[no_code, "_accept"] = False
    found.append(problem("no_participant_id", no_code, code, "", EXCLUDED,
                         note="the code field was left empty; the person's only form of "
                         "this wave"))  # fmt: skip
    return pd.concat([table, earlier], ignore_index=True), found


def _finalise(table: pd.DataFrame, found: list[dict[str, Any]], file: str,
              id_column: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:  # fmt: skip
    table = table.sort_values(["_when", "_uid"], kind="stable")
    return resolve(table, found, file=file, id_column=id_column, first_row=2)


def _local(seconds: np.datetime64) -> str:
    """``16.03.2026 14:05``: the date-time as a comma-decimal-locale Excel writes it."""
    moment = seconds.astype(dt.datetime)
    return moment.strftime("%d.%m.%Y %H:%M")


def _number(value: str) -> int | str | None:
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _xlsx_bytes(table: pd.DataFrame, ctx: Context) -> bytes:
    """The workbook: sheet ``Responses``, bold frozen header, typed cells, fixed timestamps."""
    import openpyxl
    from openpyxl.styles import Font

    data = visible(table)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = SHEET
    sheet.append(list(data.columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for record in data.itertuples(index=False, name=None):
        code, group, date, *items, email = record
        sheet.append([code or None, group, dt.date.fromisoformat(date),
                      *[_number(v) for v in items], email or None])  # fmt: skip
    for row in sheet.iter_rows(min_row=2, min_col=3, max_col=3):
        row[0].number_format = "DD.MM.YYYY"
    saved = _fixed_time(ctx.params.survey_start[0], ctx.params.survey_days + 3)
    book.properties.creator = book.properties.lastModifiedBy = "Clinic office"
    book.properties.created = book.properties.modified = saved
    buf = io.BytesIO()
    book.save(buf)
    return _normalise_zip(buf.getvalue(), saved)


def _fixed_time(day: str, after_days: int) -> dt.datetime:
    return dt.datetime.fromisoformat(day) + dt.timedelta(days=after_days, hours=17)


def _normalise_zip(data: bytes, when: dt.datetime) -> bytes:
    """Rewrite a workbook with every zip entry dated ``when`` and ``dcterms:modified`` =
    ``when`` (openpyxl stamps both with the time of saving)."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode("ascii")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                                 rb"\g<1>" + stamp + rb"\g<2>", content)  # fmt: skip
            fixed = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            dst.writestr(fixed, content)
    return out.getvalue()


def _csv_bytes(table: pd.DataFrame) -> bytes:
    """Excel "CSV UTF-8": BOM, ``;``, CRLF, minimal quoting."""
    return to_csv_bytes(table, delimiter=";", lineterminator="\r\n", bom=True)
