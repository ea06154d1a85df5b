"""What the platform writers share: the :class:`ExportFile` record, problems, duplicates, rows.

Every layout builder returns one :class:`ExportFile` per written export: the finalised table
(string cells plus the hidden bookkeeping columns ``_pid``, ``_t``, ``_accept``, ``_uid``,
``_row``), the problems injected into it (already resolved to file/row/column, the entries of
``truth.json``), the exact bytes, how the item columns are named and coded, and the file's
format facts. :mod:`balint_analysis.simulate.truth` and
:mod:`balint_analysis.simulate.document` need nothing else to state the expected accounting.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from balint_analysis.simulate.coding import Coding
from balint_analysis.simulate.exports import INSTRUMENT_LAYOUT
from balint_analysis.simulate.model import Answers
from balint_analysis.simulate.params import TIMEPOINTS, SimulationParams

__all__ = [
    "Built",
    "Context",
    "EXCLUDED",
    "ITEM_MISSING",
    "REASONS",
    "ExportFile",
    "alternative_cells",
    "answered_cell",
    "csv_facts",
    "earlier_duplicate",
    "new_rows",
    "pipeline_reason",
    "problem",
    "resolve",
    "self_generated_codes",
    "templates",
]

#: The pipeline's actions (``validate.accounting``): a rejected row, an invalidated item.
EXCLUDED, ITEM_MISSING = "row excluded", "item set missing"
#: The pipeline's reason (``rejected.csv``, ``flow.json``) for each problem kind.
REASONS: dict[str, str] = {
    "test_response": "preview, test or spam response",
    "unfinished": "incomplete response (not finished / form not complete)",
    "no_participant_id": "no participant id",
    "unknown_participant": "participant not in the roster",
    "duplicate_submission": "duplicate submission",
    "out_of_range": "value outside the allowed answers of this item",
    "text_in_numeric": "not a number",
    "not_a_choice": "not a number",
}


@dataclass(frozen=True)
class Context:
    """What a layout builder gets: the drawn cohort and the generator to continue with.

    ``people`` (:func:`~balint_analysis.simulate.model.draw_people`), ``identities`` (names and
    e-mail addresses), ``answers`` (per instrument), ``blanks`` (item non-response) and
    ``responded`` (``(participants, timepoints)``) are shared by every layout, so the same
    ``(params, seed)`` gives the same people and answers whatever the layout.
    """

    params: SimulationParams
    rng: np.random.Generator
    people: pd.DataFrame
    identities: pd.DataFrame
    answers: dict[str, Answers]
    blanks: dict[str, np.ndarray]
    responded: np.ndarray


@dataclass
class ExportFile:
    """One written export and everything the truth needs to know about it.

    Attributes
    ----------
    name
        File name.
    table
        Records in file order as strings, with the bookkeeping columns.
    problems
        Resolved problems (``truth.json`` ``problems`` entries), sorted by row.
    data
        The exact bytes written.
    columns
        Instrument id → its item columns in this file (as the pipeline addresses them).
    id_column
        The column holding the participant id.
    coding
        How item cells are coded (the demo's exports:
        :data:`~balint_analysis.simulate.coding.CODES`).
    facts
        Format facts for ``truth.json`` ``files`` (encoding, header rows, …), in output order.
    identifiers, free_text
        Identifier and free-text columns (the pipeline must drop them).
    config
        This file's ``exports[]`` entry in a generated config, without ``path``.
    templates
        Instrument id → item column template of this file (for the config).
    """

    name: str
    table: pd.DataFrame
    problems: list[dict[str, Any]]
    data: bytes
    columns: dict[str, list[str]]
    id_column: str
    coding: Coding
    facts: dict[str, Any]
    identifiers: tuple[str, ...] = ()
    free_text: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Built:
    """What a layout builder returns: its exports in writing order, the roster (``None``
    without one) and the participants as the exports name them (ids and group labels)."""

    files: list[ExportFile]
    roster: pd.DataFrame | None
    people: pd.DataFrame


def csv_facts(*, encoding: str = "utf-8", bom: bool = False, delimiter: str = ",",
              line_ending: str = "\\n", quote_all: bool = False, empty_last_line: bool = False,
              header_rows: int = 1, **extra: Any) -> dict[str, Any]:  # fmt: skip
    """Format facts of a text export, in the order ``truth.json`` has always listed them."""
    return {
        "encoding": encoding,
        "bom": bom,
        "delimiter": delimiter,
        "line_ending": line_ending,
        "quote_all": quote_all,
        "empty_last_line": empty_last_line,
        "header_rows": header_rows,
        "first_data_row": header_rows + 1,
    } | extra


def templates(answers: dict[str, Answers], platform: str) -> dict[str, str]:
    """Instrument id → the platform's column template (:data:`INSTRUMENT_LAYOUT`)."""
    return {k: INSTRUMENT_LAYOUT[k].columns[platform] for k in answers}


def alternative_cells(
    answers: dict[str, Answers], pid: int, columns: dict[str, list[str]], coding: Coding
) -> dict[str, str]:
    """Item cells of a second, independent answering of the survey by participant ``pid``."""
    out = {}
    for inst_id, a in answers.items():
        values = coding.encode(a.instrument, a.alternative[pid])
        out |= dict(zip(columns[inst_id], values.tolist(), strict=True))
    return out


def new_rows(template: pd.DataFrame, n: int, start_uid: int) -> pd.DataFrame:
    """``n`` copies of the first row of ``template`` with fresh ``_uid`` s."""
    rows = template.iloc[[0] * n].reset_index(drop=True).copy()
    rows["_uid"] = np.arange(start_uid, start_uid + n)
    return rows


def problem(kind: str, uid: int, column: str | None, value: str, action: str,
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    """An injected problem before its row number is known (``_uid`` identifies the row)."""
    return {"kind": kind, "_uid": int(uid), "column": column, "value": value,
            "action": action} | extra  # fmt: skip


def answered_cell(rng: np.random.Generator, table: pd.DataFrame, row: int, columns: list[str],
                  missing: tuple[str, ...] = ("",)) -> str:  # fmt: skip
    """A random item column of ``row`` that holds an answer."""
    filled = [c for c in columns if table.at[row, c] not in missing]
    return filled[int(rng.integers(len(filled)))]


def pipeline_reason(p: dict[str, Any]) -> str:
    """The pipeline's reason for problem ``p``: its own ``reason``, else :data:`REASONS`."""
    return p["reason"] if "reason" in p else REASONS[p["kind"]]


def earlier_duplicate(
    table: pd.DataFrame,
    row: int,
    answers: dict[str, Answers],
    columns: dict[str, list[str]],
    coding: Coding,
    *,
    id_column: str,
    note: str,
    values: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """An earlier complete submission of the participant of ``row`` and its problem.

    The new row (``_uid`` = ``len(table)``, not yet appended) copies ``row`` with the
    participant's alternative answers (a second, independent answering) coded by ``coding``,
    then ``values`` (times, blanked comment, …), and is not accepted; the problem, a
    ``duplicate_submission`` on ``id_column``, names ``row`` as the kept one. Draws no random
    numbers.
    """
    earlier = new_rows(table.iloc[[row]], 1, len(table))
    cells = alternative_cells(answers, int(table.at[row, "_pid"]), columns, coding)
    earlier.loc[0, list(cells)] = list(cells.values())
    values = values | {"_accept": False}
    earlier.loc[0, list(values)] = list(values.values())
    found = problem("duplicate_submission", len(table), id_column, str(table.at[row, id_column]),
                    EXCLUDED, kept_uid=row, note=note)  # fmt: skip
    return earlier, found


def _timepoint(table: pd.DataFrame, k: int) -> str:
    t = int(table.at[k, "_t"])
    return TIMEPOINTS[t] if t >= 0 else ""


def resolve(
    table: pd.DataFrame,
    found: list[dict[str, Any]],
    *,
    file: str,
    id_column: str,
    first_row: int,
    timepoint: Callable[[pd.DataFrame, int], str] | None = None,
    reasons: bool = True,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Number the rows of an already ordered table and turn problems into ``truth.json`` entries.

    Row numbers are what a spreadsheet shows for the record, header rows counted: the first
    record is ``first_row``. Each entry: ``file, row, column, kind, participant_id, timepoint,
    value[, true_value], action, reason[, note][, kept_row]``, sorted by row and column.
    ``timepoint(table, k)`` names the timepoint of row ``k`` (``None``: the design timepoint
    of ``_t``, empty for ``-1``). ``reason`` is in the pipeline's words
    (:func:`pipeline_reason`); with ``reasons=False`` it is left out (the demo's ``truth.json``
    has none).
    """
    timepoint = timepoint or _timepoint
    table = table.reset_index(drop=True)
    table["_row"] = np.arange(first_row, first_row + len(table))
    position = {uid: k for k, uid in enumerate(table["_uid"].tolist())}
    out = []
    for p in found:
        k = position[p["_uid"]]
        q = {
            "file": file,
            "row": int(table.at[k, "_row"]),
            "column": p["column"],
            "kind": p["kind"],
            "participant_id": str(table.at[k, id_column]),
            "timepoint": timepoint(table, k),
            "value": p["value"],
        }
        q |= {key: p[key] for key in ("true_value",) if key in p}
        q["action"] = p["action"]
        if reasons:
            q["reason"] = pipeline_reason(p)
        q |= {key: p[key] for key in ("note",) if key in p}
        if "kept_uid" in p:
            q["kept_row"] = int(table.at[position[p["kept_uid"]], "_row"])
        out.append(q)
    out.sort(key=lambda q: (q["row"], q["column"] or ""))
    return table, out


def self_generated_codes(rng: np.random.Generator, n: int, min_distance: int = 3) -> np.ndarray:
    """``n`` self-generated identification codes like ``AN12K`` (two letters, a day 01–31, a
    letter), pairwise at least ``min_distance`` substitutions apart, so no code is within one
    typing error (substitution or transposition) of another."""
    letters = np.asarray(list(string.ascii_uppercase))
    codes: list[str] = []
    while len(codes) < n:
        a, b, c = letters[rng.integers(0, 26, 3)]
        code = f"{a}{b}{int(rng.integers(1, 32)):02d}{c}"
        if all(sum(x != y for x, y in zip(code, other, strict=True)) >= min_distance
               for other in codes):  # fmt: skip
            codes.append(code)
    return np.asarray(codes)
