"""Realistic data problems injected into the clean exports (recorded in ``truth.json``).

``pre_qualtrics.csv`` (each row excluded unless stated):

* ``preview`` ×2: ``Status=1``, ``DistributionChannel=preview``, random answers. One is a
  pre-launch preview without ``ExternalReference``; the other carries the id of a real
  participant and is recorded *after* that participant's real response, so a pipeline that
  applied the duplicate rule before dropping previews would keep the wrong row.
* ``unfinished`` ×1: ``Finished=0``, ``Progress`` 30–79, items after the progress point blank,
  ``RecordedDate`` a week after the start (Qualtrics closes partial responses); that
  participant has no other baseline response.
* ``duplicate_submission`` ×1: an **earlier complete** submission of a participant who
  submitted again later (independent re-answering of the same survey). Rule: the pipeline keeps
  the latest complete submission per participant × timepoint and rejects the earlier one.
* ``out_of_range`` ×1: ``response_max + 1`` (``7`` on a 0–6 MBI item) — item set missing.
* ``text_in_numeric`` ×1: ``N/A`` in an item of the last instrument (WHO-5 in the default
  design) — item set missing.

``post_redcap.csv``:

* ``incomplete_form`` ×1: ``burnout_survey_complete=0``, timestamp ``[not completed]``, only the
  first items answered (the participant's only row for that event).
* ``unknown_participant`` ×1: a ``record_id`` that is not in the roster (complete form, event
  ``post_arm_1``).
* ``unmapped_event`` ×1: a complete form in event ``screening_arm_1`` for a roster participant.
* ``out_of_range`` ×1: ``99`` in an MBI item — item set missing.

``followup_limesurvey.csv``:

* ``not_submitted`` ×1: a response abandoned part-way: empty ``submitdate`` (LimeSurvey's
  "incomplete"), ``lastpage`` the last page submitted, the answers of the later pages and the
  comment blank, ``datestamp`` the time of the last page (the participant's only follow-up
  row).
* ``out_of_range`` ×1: ``response_max + 1`` in an item of the last instrument (``6`` on a 0–5
  WHO-5 item: a code outside the question's answer options, as a response edited by hand in
  the response browser or imported from a VV file leaves it) — item set missing.

Identifiers and free text (Qualtrics ``IPAddress``, ``Recipient*``, ``Location*``, ``Q5_TEXT``;
REDCap ``comments``; LimeSurvey ``COMMENT``; the roster's ``email``) are not problems of a row;
``truth.json`` lists them per file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from balint_analysis.simulate.coding import CODES
from balint_analysis.simulate.exports import (
    COMMENT_TAG,
    LIMESURVEY_COMMENT,
    LIMESURVEY_ID,
    REDCAP_EVENTS,
    REDCAP_FORM,
    fmt_times,
    item_columns,
    platform_columns,
    response_ids,
    window_times,
)
from balint_analysis.simulate.model import Answers
from balint_analysis.simulate.params import TIMEPOINTS, SimulationParams
from balint_analysis.simulate.platforms.common import (
    EXCLUDED,
    ITEM_MISSING,
    answered_cell,
    earlier_duplicate,
    new_rows,
    problem,
    resolve,
)

__all__ = ["finalise", "inject_limesurvey", "inject_qualtrics", "inject_redcap"]

SCREENING_EVENT = "screening_arm_1"
EVENT_RANK = {SCREENING_EVENT: 0} | {e: t for t, e in REDCAP_EVENTS.items()}
PARTIAL_CLOSE_DAYS = 7


def _times(values: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[s]")


def _items(answers: dict[str, Answers], platform: str) -> list[str]:
    return [c for cols in platform_columns(answers, platform).values() for c in cols]


def _set(table: pd.DataFrame, row: int, values: dict[str, Any]) -> None:
    for column, value in values.items():
        table.at[row, column] = value


def _unfinished(
    rng: np.random.Generator, table: pd.DataFrame, row: int, items: list[str]
) -> dict[str, Any]:
    """Abandon ``row`` at a random progress point; Qualtrics closes it a week later."""
    progress = int(rng.integers(30, 80))
    keep = len(items) * progress // 100
    start = _times(table.at[row, "StartDate"])
    spent = int(table.at[row, "Duration (in seconds)"]) * progress // 100
    table.loc[row, items[keep:] + [COMMENT_TAG]] = ""
    closed = start + np.timedelta64(PARTIAL_CLOSE_DAYS * 86400, "s")
    _set(table, row, {
        "Progress": str(progress),
        "Finished": "0",
        "Duration (in seconds)": str(spent),
        "EndDate": str(fmt_times(start + np.timedelta64(spent, "s"))),
        "RecordedDate": str(fmt_times(closed)),
        "_accept": False,
    })  # fmt: skip
    note = f"Progress {progress}; items after {items[keep - 1]} blank"
    return problem("unfinished", row, "Finished", "0", EXCLUDED, note=note)


def _earlier_duplicate(
    params: SimulationParams,
    rng: np.random.Generator,
    table: pd.DataFrame,
    row: int,
    answers: dict[str, Answers],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """An earlier complete submission (fresh answers) of the participant of ``row``."""
    window = np.datetime64(params.survey_start[0], "s")
    lead = (_times(table.at[row, "StartDate"]) - window).astype(np.int64)
    start = window + np.timedelta64(int(lead * rng.uniform(0.2, 0.9)), "s")
    duration = int(max(120, round(float(rng.lognormal(np.log(480.0), 0.35)))))
    # finished at least a minute before the later submission started (lead >= 7 h)
    gap = (_times(table.at[row, "StartDate"]) - start).astype(np.int64)
    duration = min(duration, int(gap) - 60)
    end = start + np.timedelta64(duration, "s")
    values = {
        "StartDate": str(fmt_times(start)),
        "EndDate": str(fmt_times(end)),
        "RecordedDate": str(fmt_times(end + np.timedelta64(1, "s"))),
        "Duration (in seconds)": str(duration),
        "ResponseId": str(response_ids(rng, 1)[0]),
        COMMENT_TAG: "",
    }
    note = "earlier complete submission; the latest complete submission of the participant is kept"
    return earlier_duplicate(table, row, answers, platform_columns(answers, "qualtrics"), CODES,
                             id_column="ExternalReference", note=note, values=values)  # fmt: skip


def _previews(
    params: SimulationParams,
    rng: np.random.Generator,
    table: pd.DataFrame,
    row: int,
    items: list[str],
    answers: dict[str, Answers],
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Two preview responses: before launch (no id), and after the real response of ``row``."""
    previews = new_rows(table.iloc[[row]], 2, len(table) + 1)
    launch = np.datetime64(params.survey_start[0], "s")
    first = launch - np.timedelta64(3 * 86400 - int(rng.integers(9 * 3600, 17 * 3600)), "s")
    second = _times(table.at[row, "RecordedDate"]) + np.timedelta64(
        int(rng.integers(600, 7200)), "s"
    )
    start = np.array([first, second])
    duration = rng.integers(40, 120, 2)
    end = start + duration.astype("timedelta64[s]")
    empty = ["", ""]
    meta = {
        "StartDate": fmt_times(start), "EndDate": fmt_times(end), "Status": ["1", "1"],
        "IPAddress": empty, "Progress": ["100", "100"],
        "Duration (in seconds)": duration.astype(str), "Finished": ["1", "1"],
        "RecordedDate": fmt_times(end + np.timedelta64(1, "s")),
        "ResponseId": response_ids(rng, 2), "RecipientLastName": empty,
        "RecipientFirstName": empty, "RecipientEmail": empty,
        "ExternalReference": ["", str(table.at[row, "ExternalReference"])],
        "LocationLatitude": empty, "LocationLongitude": empty,
        "DistributionChannel": ["preview", "preview"], COMMENT_TAG: ["test", ""],
    }  # fmt: skip
    for column, values in meta.items():
        previews[column] = np.asarray(values, dtype=str)
    random_answers = [
        np.asarray(a.instrument.allowed_values)[
            rng.integers(0, len(a.instrument.allowed_values), (2, a.instrument.n_items))]
        for a in answers.values()
    ]  # fmt: skip
    previews[items] = np.concatenate(random_answers, axis=1).astype(str)
    previews["_pid"] = [-1, int(table.at[row, "_pid"])]
    previews["_accept"] = False
    notes = ["before launch", "carries the id of a participant whose real response was "
             "recorded earlier"]  # fmt: skip
    found = [
        problem("preview", len(table) + 1 + k, "Status", "1", EXCLUDED,
                note=f"DistributionChannel=preview; {notes[k]}")
        for k in range(2)
    ]  # fmt: skip
    return previews, found


def inject_qualtrics(
    params: SimulationParams,
    rng: np.random.Generator,
    table: pd.DataFrame,
    answers: dict[str, Answers],
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Add preview, unfinished, duplicate and invalid-value problems to the baseline export."""
    table = table.reset_index(drop=True).copy()
    table["_uid"] = np.arange(len(table))
    if len(table) < 5:
        raise ValueError("need at least 5 baseline responses to inject the Qualtrics problems.")
    items = _items(answers, "qualtrics")
    pick = rng.choice(len(table), 5, replace=False)
    dup = int(pick[np.argmax(table["StartDate"].to_numpy()[pick])])
    unfinished, preview_of, bad_range, bad_text = (int(p) for p in pick if p != dup)

    problems = [_unfinished(rng, table, unfinished, items)]
    earlier, found = _earlier_duplicate(params, rng, table, dup, answers)
    problems.append(found)
    previews, found_previews = _previews(params, rng, table, preview_of, items, answers)
    problems += found_previews

    first, last = list(answers)[0], list(answers)[-1]
    for row, inst_id, value, kind in (
        (bad_range, first, str(answers[first].instrument.response_max + 1), "out_of_range"),
        (bad_text, last, "N/A", "text_in_numeric"),
    ):
        columns = item_columns(inst_id, answers[inst_id].instrument.n_items, platform="qualtrics")
        column = answered_cell(rng, table, row, columns)
        truth = str(table.at[row, column])
        problems.append(problem(kind, row, column, value, ITEM_MISSING, true_value=truth))
        table.at[row, column] = value
    return pd.concat([table, earlier, previews], ignore_index=True), problems


def inject_redcap(
    params: SimulationParams,
    rng: np.random.Generator,
    table: pd.DataFrame,
    people: pd.DataFrame,
    answers: dict[str, Answers],
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Add incomplete-form, unknown-record, unmapped-event and out-of-range problems."""
    table = table.reset_index(drop=True).copy()
    table["_uid"] = np.arange(len(table))
    items = _items(answers, "redcap")
    post = np.flatnonzero(table["_t"].to_numpy() == 1)
    if len(post) < 2:
        raise ValueError("need at least 2 post responses to inject the REDCap problems.")
    incomplete = int(post[rng.integers(len(post))])
    others = np.setdiff1d(np.arange(len(table)), [incomplete])
    bad_range = int(others[rng.integers(len(others))])
    problems = []

    keep = int(rng.integers(5, 25))
    table.loc[incomplete, items[keep:] + ["comments"]] = ""
    table.loc[incomplete, [f"{REDCAP_FORM}_timestamp", f"{REDCAP_FORM}_complete"]] = [
        "[not completed]",
        "0",
    ]
    table.at[incomplete, "_accept"] = False
    note = f"timestamp [not completed]; items after {items[keep - 1]} blank"
    problems.append(problem("incomplete_form", incomplete, f"{REDCAP_FORM}_complete", "0",
                            EXCLUDED, note=note))  # fmt: skip

    n_total = len(people)
    width = len(people["participant_id"].iat[0]) - 1
    stranger = f"P{n_total + int(rng.integers(1, 90)):0{width}d}"
    donor, screened = (int(i) for i in rng.choice(n_total, 2, replace=False))
    extra = new_rows(table.iloc[[0]], 2, len(table))
    screen_start = np.datetime64(params.survey_start[0], "s") - np.timedelta64(14 * 86400, "s")
    stamps = [
        str(fmt_times(window_times(params, rng, 1, 1))[0]),
        str(fmt_times(screen_start + np.timedelta64(int(rng.integers(9 * 3600, 17 * 3600)), "s"))),
    ]
    extra["record_id"] = [stranger, str(people["participant_id"].iat[screened])]
    extra["redcap_event_name"] = ["post_arm_1", SCREENING_EVENT]
    extra[f"{REDCAP_FORM}_timestamp"] = stamps
    extra["comments"] = ["", ""]
    extra[f"{REDCAP_FORM}_complete"] = ["2", "2"]
    extra[items] = np.stack(
        [np.concatenate([a.alternative[p] for a in answers.values()]) for p in (donor, screened)]
    ).astype(str)
    extra["_pid"], extra["_t"], extra["_accept"] = [-1, screened], [1, -1], False
    problems += [
        problem("unknown_participant", len(table), "record_id", stranger, EXCLUDED,
                note="record id not in the roster"),
        problem("unmapped_event", len(table) + 1, "redcap_event_name", SCREENING_EVENT, EXCLUDED,
                note="event not in timepoint_values"),
    ]  # fmt: skip

    inst_id = list(answers)[0]
    column = answered_cell(
        rng, table, bad_range,
        item_columns(inst_id, answers[inst_id].instrument.n_items, platform="redcap"),
    )  # fmt: skip
    problems.append(problem("out_of_range", bad_range, column, "99", ITEM_MISSING,
                            true_value=str(table.at[bad_range, column])))  # fmt: skip
    table.at[bad_range, column] = "99"
    return pd.concat([table, extra], ignore_index=True), problems


def inject_limesurvey(
    params: SimulationParams,
    rng: np.random.Generator,
    table: pd.DataFrame,
    answers: dict[str, Answers],
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Add a not-submitted (abandoned) response and an out-of-range answer code."""
    table = table.reset_index(drop=True).copy()
    table["_uid"] = np.arange(len(table))
    if len(table) < 2:
        raise ValueError("need at least 2 follow-up responses to inject the LimeSurvey problems.")
    abandoned, bad_range = (int(i) for i in rng.choice(len(table), 2, replace=False))
    problems = []

    # LimeSurvey saves a page's answers when the participant moves on: abandoning the page of
    # instrument j (j >= 1, so at least one instrument is answered) keeps instruments [:j].
    names = list(answers)
    j = int(rng.integers(1, len(names))) if len(names) > 1 else 1
    later = _items({k: answers[k] for k in names[j:]}, "limesurvey")
    last_kept = _items({k: answers[k] for k in names[:j]}, "limesurvey")[-1]
    start = _times(table.at[abandoned, "startdate"])
    spent = int(
        (_times(table.at[abandoned, "submitdate"]) - start).astype(np.int64) * j // len(names)
    )
    table.loc[abandoned, later + [LIMESURVEY_COMMENT]] = ""
    _set(table, abandoned, {
        "submitdate": "",
        "lastpage": str(1 + j),
        "datestamp": str(fmt_times(start + np.timedelta64(max(spent, 60), "s"))),
        "_accept": False,
    })  # fmt: skip
    problems.append(
        problem("not_submitted", abandoned, "submitdate", "", EXCLUDED,
                note=f"lastpage {1 + j}; items after {last_kept} blank")
    )  # fmt: skip

    inst_id = names[-1]
    value = str(answers[inst_id].instrument.response_max + 1)
    column = answered_cell(
        rng, table, bad_range,
        item_columns(inst_id, answers[inst_id].instrument.n_items, platform="limesurvey"),
    )  # fmt: skip
    problems.append(
        problem("out_of_range", bad_range, column, value, ITEM_MISSING,
                true_value=str(table.at[bad_range, column]))
    )  # fmt: skip
    table.at[bad_range, column] = value
    return table, problems


def finalise(
    table: pd.DataFrame, problems: list[dict[str, Any]], *, platform: str, file: str
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Sort rows as the platform exports them, number them, resolve problem rows.

    Row numbers are what a spreadsheet shows for the record: header rows counted, so the
    first Qualtrics record is row 4 and the first REDCap or LimeSurvey record row 2 (a record
    with a quoted line break inside a cell is still one row). LimeSurvey responses get their
    ``id`` here: 1, 2, … in ``startdate`` order.
    """
    if "_uid" not in table.columns:
        table = table.assign(_uid=np.arange(len(table)))
    if platform == "qualtrics":
        table = table.sort_values(["RecordedDate", "ResponseId"], kind="stable")
        first = 4
    elif platform == "limesurvey":
        table = table.sort_values(["startdate", "_uid"], kind="stable")
        table["id"] = [str(k) for k in range(1, len(table) + 1)]
        first = 2
    else:
        rank = table["redcap_event_name"].map(EVENT_RANK)
        table = table.assign(_rank=rank).sort_values(["record_id", "_rank"], kind="stable")
        table = table.drop(columns="_rank")
        first = 2
    id_column = {"qualtrics": "ExternalReference", "limesurvey": LIMESURVEY_ID}.get(
        platform, "record_id"
    )
    timepoint = _redcap_timepoint if platform == "redcap" else None
    return resolve(table, problems, file=file, id_column=id_column, first_row=first,
                   timepoint=timepoint, reasons=False)  # fmt: skip


def _redcap_timepoint(table: pd.DataFrame, k: int) -> str:
    """The design timepoint of a mapped event, else the event name (``screening_arm_1``)."""
    event = str(table.at[k, "redcap_event_name"])
    return {e: TIMEPOINTS[t] for t, e in REDCAP_EVENTS.items()}.get(event, event)
