"""The ``surveymonkey`` layout: every wave a SurveyMonkey "All individual responses" CSV.

Layout as in the real export ``2022_anc.csv`` of the public GitHub repository
``ajturner/dc-elections`` (folder ``src/assets``, commit ``e8a238e``;
``tests/fixtures/exports/README.md``): **two header rows**, no BOM,
comma, ``\\n`` line ends (as stored in that file), minimal quoting. Row 1: ``Respondent ID,
Collector ID, Start Date, End Date, IP Address, Email Address, First Name, Last Name, Custom
Data 1``, then each question's text above its **first** column only (the row-1 cells over a
matrix's further columns are empty). Row 2: empty under the metadata, ``Open-Ended Response``
under a text question, the statement of each matrix column (``MBI item 1`` … — never the
copyrighted wording). Data from row 3, **newest response first** (the real file lists
responses by descending date and Respondent ID). ``Respondent ID`` 12 digits, increasing with
the time of the response; ``Collector ID`` 9 digits (one web-link collector per wave); dates
``YYYY-MM-DD HH:MM:SS`` as in the real file; the web-link collector records the IP address and
leaves e-mail, names and custom data empty.

Questions (blocks counted from 1 after the metadata; the pipeline addresses a one-column
question as ``Q<n>`` and the k-th column of a matrix as ``Q<n>_<k>``): ``Q1`` "Your study code
(from your invitation letter)" (single text box: the roster id), ``Q2`` … one matrix per
instrument (``Q2_1`` … ``Q2_22`` the MBI-HSS in the demo battery), last a comment box.

Answers: the pre and post waves are exported as **numerical values = the option's position**
``1…k`` (MBI 0–6 as 1–7, PSS 0–4 as 1–5, CBI 0/25/50/75/100 as 1–5, WHO-5 0–5 as 1–6;
config ``answer_codes: position``); the follow-up as **actual answer text**, the labels of the
instrument definition's ``response_labels`` (an option the definition leaves unlabelled, JSE
2–6, shows its number). Blank = skipped. SurveyMonkey's CSV has no column
telling a partial from a complete response (the ``response_status`` of its API is not in the
export), so only complete responses are written.

Problems: ``pre_surveymonkey.csv`` — a ``duplicate_submission`` (an earlier complete response
of a participant who answered again; the later one, higher in the file, is kept) and an
``out_of_range`` position ``k + 1`` (a "Not applicable" column added to a matrix);
``post_surveymonkey.csv`` — ``no_participant_id`` (the code box left empty: the person's only
post response) and ``unknown_participant`` (a code not in the roster);
``followup_surveymonkey.csv`` — a ``duplicate_submission`` and ``not_a_choice`` (the text of
that "Not applicable" column in an item).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from balint_analysis.simulate.coding import Coding
from balint_analysis.simulate.exports import (
    COMMENT_TEXT,
    INSTRUMENT_LAYOUT,
    answer_cells,
    draw_comments,
    draw_durations,
    draw_ips,
    fmt_times,
    roster_table,
    template_columns,
    to_csv_bytes,
    visible,
    window_start,
    window_times,
)
from balint_analysis.simulate.model import Answers
from balint_analysis.simulate.params import TIMEPOINTS
from balint_analysis.simulate.platforms.common import (
    EXCLUDED,
    ITEM_MISSING,
    Built,
    Context,
    ExportFile,
    alternative_cells,
    answered_cell,
    csv_facts,
    earlier_duplicate,
    new_rows,
    problem,
    resolve,
)

__all__ = ["CONVENTIONS", "FILES", "META", "build", "question_columns"]

FILES = ("pre_surveymonkey.csv", "post_surveymonkey.csv", "followup_surveymonkey.csv")
META = ("Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address",
        "Email Address", "First Name", "Last Name", "Custom Data 1")  # fmt: skip
IDENTIFIERS = ("IP Address", "Email Address", "First Name", "Last Name", "Custom Data 1")
CODE_TEXT = "Your study code (from your invitation letter)"
OPEN = "Open-Ended Response"
NOT_APPLICABLE = "Not applicable"
TEXT_WAVE = 2
"""The wave exported with actual answer text (the others: numerical values)."""
POSITION, LABEL = Coding("position"), Coding("label")
CONVENTIONS = {
    "row": "the row a spreadsheet shows: two header rows, first response row 3; a quoted line "
    "break inside a comment does not start a new row",
    "duplicates": "per participant x timepoint the latest complete submission (later End Date) "
    "is kept; SurveyMonkey lists the newest response first, so the kept row is ABOVE the "
    "rejected one",
    "answer_codes": "pre and post: SurveyMonkey numerical values = the option's position 1..k "
    "(MBI 0-6 as 1-7, CBI 0/25/50/75/100 as 1-5; config answer_codes: position); follow-up: "
    "actual answer text = the instrument definition's response_labels",
    "columns": "metadata by their row-1 name; questions counted from 1 after the metadata: Q1 "
    "the study code, Q<n>_<k> the k-th column of matrix question n, the last question the "
    "comment",
    "partial_responses": "SurveyMonkey's CSV has no completeness column: only complete responses "
    "are written",
}


def question_columns(answers: dict[str, Answers]) -> tuple[str, dict[str, str], str]:
    """The code column, instrument id → item column template (``Q<n>_{i}``), the comment
    column."""
    templates = {k: f"Q{n}_{{i}}" for n, k in enumerate(answers, start=2)}
    return "Q1", templates, f"Q{len(answers) + 2}"


def build(ctx: Context) -> Built:
    """Write the three SurveyMonkey exports and the roster (module docstring)."""
    code, templates, comment = question_columns(ctx.answers)
    columns = {k: template_columns(templates[k], a.instrument.n_items)
               for k, a in ctx.answers.items()}  # fmt: skip
    found: list[list[dict[str, Any]]] = [[], [], []]
    tables = [_wave(ctx, t, columns, code, comment) for t in range(3)]
    collectors = ctx.rng.integers(400_000_000, 500_000_000, 3)
    if ctx.params.inject_problems:
        tables[0], found[0] = _duplicate(ctx, tables[0], columns, code, comment, POSITION)
        found[0].append(_bad_answer(ctx, tables[0], columns, POSITION))
        tables[1], found[1] = _bad_codes(ctx, tables[1], columns, code)
        tables[2], found[2] = _duplicate(ctx, tables[2], columns, code, comment, LABEL)
        found[2].append(_bad_answer(ctx, tables[2], columns, LABEL))
    files = []
    for t, name in enumerate(FILES):
        table = _stamp(ctx, tables[t], int(collectors[t]), t)
        table, problems = resolve(table, found[t], file=name, id_column=code, first_row=3)
        coding = LABEL if t == TEXT_WAVE else POSITION
        entry = {"format": "surveymonkey", "timepoint": TIMEPOINTS[t], "id": code}
        if coding is POSITION:
            entry["answer_codes"] = "position"
        files.append(ExportFile(
            name, table, problems, _bytes(table, ctx.answers, code, comment), columns, code,
            coding, csv_facts(header_rows=2), IDENTIFIERS, (comment,), entry, templates,
        ))  # fmt: skip
    return Built(files, roster_table(ctx.people, ctx.identities), ctx.people)


def _wave(ctx: Context, t: int, columns: dict[str, list[str]], code: str,
          comment: str) -> pd.DataFrame:  # fmt: skip
    """Clean responses of wave ``t`` (ids and dates are stamped after the problems)."""
    rng = ctx.rng
    rows = np.flatnonzero(ctx.responded[:, t])
    m = len(rows)
    end = window_times(ctx.params, rng, t, m).astype(np.int64)
    duration = draw_durations(rng, m, 600.0)
    table: dict[str, Any] = {name: np.full(m, "") for name in META}
    table["IP Address"] = draw_ips(rng, m)
    table[code] = ctx.people["participant_id"].to_numpy()[rows]
    coding = LABEL if t == TEXT_WAVE else POSITION
    table |= answer_cells(ctx.answers, ctx.blanks, rows, t, columns, coding)
    table[comment] = draw_comments(rng, m, 0.15)
    out = pd.DataFrame(table, dtype=str)
    out["_end"], out["_start"] = end, end - duration
    out["_pid"], out["_t"], out["_accept"] = rows, t, True
    out["_uid"] = np.arange(m)
    return out


def _duplicate(
    ctx: Context, table: pd.DataFrame, columns: dict[str, list[str]], code: str, comment: str,
    coding: Coding,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:  # fmt: skip
    """An earlier complete response (fresh answers, no comment) of one participant."""
    rng = ctx.rng
    start = window_start(ctx.params, int(table.at[0, "_t"]))
    late = np.flatnonzero(table["_start"].to_numpy() >= start + 86400)
    row = int(late[rng.integers(len(late))])
    end = int(rng.integers(start + 3600, int(table.at[row, "_start"]) - 600))
    values = {"_end": end, "_start": end - int(rng.integers(300, 900)), comment: ""}
    note = "an earlier complete response; the later one (higher in the file) is kept"
    earlier, found = earlier_duplicate(table, row, ctx.answers, columns, coding, id_column=code,
                                       note=note, values=values)  # fmt: skip
    return pd.concat([table, earlier], ignore_index=True), [found]


def _bad_answer(ctx: Context, table: pd.DataFrame, columns: dict[str, list[str]],
                coding: Coding) -> dict[str, Any]:  # fmt: skip
    """A "Not applicable" column added to the first matrix: position k + 1, or its text."""
    rng = ctx.rng
    inst_id = next(iter(ctx.answers))
    n_options = len(ctx.answers[inst_id].instrument.allowed_values)
    ok = np.flatnonzero(table["_accept"].astype(bool).to_numpy())
    row = int(ok[rng.integers(len(ok))])
    col = answered_cell(rng, table, row, columns[inst_id])
    note = "a 'Not applicable' column added to the matrix"
    if coding is POSITION:  # a position with no option behind it under answer_codes: position
        found = problem(
            "out_of_range",
            row,
            col,
            str(n_options + 1),
            ITEM_MISSING,
            true_value=str(table.at[row, col]),
            note=note,
            reason="answer code without a value under answer_codes",
        )
    else:
        found = problem("not_a_choice", row, col, NOT_APPLICABLE, ITEM_MISSING,
                        true_value=str(table.at[row, col]), note=note)  # fmt: skip
    table.at[row, col] = found["value"]
    return found


def _bad_codes(ctx: Context, table: pd.DataFrame, columns: dict[str, list[str]],
               code: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:  # fmt: skip
    """An empty code box (the person's only response) and a code not in the roster."""
    rng = ctx.rng
    row = int(rng.integers(len(table)))
    table.at[row, code] = ""
    table.at[row, "_accept"] = False
    found = [problem("no_participant_id", row, code, "", EXCLUDED,
                     note="the study code box was left empty")]  # fmt: skip
    n = len(ctx.people)
    width = len(ctx.people["participant_id"].iat[0]) - 1
    stranger = f"P{n + int(rng.integers(1, 90)):0{width}d}"
    donor = int(rng.integers(n))
    extra = new_rows(table.iloc[[row]], 1, len(table))
    cells = {code: stranger} | alternative_cells(ctx.answers, donor, columns, POSITION)
    extra.loc[0, list(cells)] = list(cells.values())
    t = int(table.at[row, "_t"])
    end = int(window_times(ctx.params, rng, t, 1).astype(np.int64)[0])
    extra.loc[0, ["_end", "_start", "_pid", "_accept"]] = [end, end - 540, -1, False]
    found.append(problem("unknown_participant", len(table), code, stranger, EXCLUDED,
                         note="a study code that is not in the roster"))  # fmt: skip
    return pd.concat([table, extra], ignore_index=True), found


def _stamp(ctx: Context, table: pd.DataFrame, collector: int, t: int) -> pd.DataFrame:
    """Dates, respondent ids (increasing with time), collector; newest response first."""
    table = table.sort_values(["_end", "_uid"], ascending=False, kind="stable").copy()
    base = 118_000_000_000 + t * 200_000_000
    ids = base + np.cumsum(ctx.rng.integers(20_000, 400_000, len(table)))  # oldest first
    table["Respondent ID"] = ids[::-1].astype(str)
    table["Collector ID"] = str(collector)
    table["Start Date"] = fmt_times(table["_start"].to_numpy(dtype="datetime64[s]"))
    table["End Date"] = fmt_times(table["_end"].to_numpy(dtype="datetime64[s]"))
    return table


def _bytes(table: pd.DataFrame, answers: dict[str, Answers], code: str, comment: str) -> bytes:
    """Two header rows (question text over a block's first column; row-2 sub-labels), data."""
    first = list(META) + [CODE_TEXT]
    second = [""] * len(META) + [OPEN]
    for inst_id, a in answers.items():
        layout = INSTRUMENT_LAYOUT[inst_id]
        first += [layout.question] + [""] * (a.instrument.n_items - 1)
        second += [layout.statement.format(i=i) for i in range(1, a.instrument.n_items + 1)]
    first.append(COMMENT_TEXT)
    second.append(OPEN)
    if len(first) != visible(table).shape[1]:
        raise AssertionError("SurveyMonkey header does not match the columns")
    return to_csv_bytes(table, [first, second])
