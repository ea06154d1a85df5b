"""LimeSurvey response export (CSV, question codes, answer codes), the demo's follow-up.

Layout: ``tests/fixtures/exports/README.md``, "LimeSurvey" (CSV writer facts, columns).

``followup_limesurvey.csv``
    The follow-up wave, a LimeSurvey response export ("CSV", headings "question code",
    responses "answer codes"): **UTF-8 with BOM**, every field quoted, **CRLF** line ends
    (line breaks inside a comment stay ``\\n``), an extra empty line at the end. One header
    row: the system columns ``id, submitdate, lastpage, startlanguage, seed, startdate,
    datestamp`` (date stamps on; no ``token``: an open survey without a participant table, so
    no ``ipaddr``/``refurl`` either), then the participant's study code in the short-text
    question ``PCODE`` ("Your study code, from your invitation letter"), then one **array
    question per instrument** with the default subquestion codes: ``MBI[SQ001]`` …
    ``MBI[SQ022]``, ``PSS[SQ001]`` … ``PSS[SQ010]``, ``CBI[SQ001]`` … ``CBI[SQ019]``,
    ``WHO5[SQ001]`` … ``WHO5[SQ005]``, then the long free-text question ``COMMENT``. The
    designer gave the answer options **numeric codes** (MBI 0–6, PSS 0–4, CBI 0/25/50/75/100,
    WHO-5 0–5), so the values are the instrument's codes; LimeSurvey's default ``AO01``-style
    answer codes are not supported by the pipeline yet (export them as numeric codes, or
    recode). One page per question group (code, one per instrument, comment): ``lastpage``
    is the number of pages for submitted responses. ``id`` counts responses in ``startdate``
    order; a submitted response has ``submitdate = datestamp``, an abandoned one an empty
    ``submitdate`` and the answers of the pages it submitted.
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd

from balint_analysis.simulate.exports import (
    LIMESURVEY_COMMENT,
    LIMESURVEY_ID,
    LIMESURVEY_TIMEPOINT,
    answer_cells,
    draw_comments,
    draw_durations,
    fmt_times,
    platform_columns,
    to_csv_bytes,
    window_times,
)
from balint_analysis.simulate.model import Answers
from balint_analysis.simulate.params import SimulationParams

__all__ = ["limesurvey_pages", "limesurvey_table", "to_limesurvey_bytes"]


def limesurvey_pages(n_instruments: int) -> int:
    """Pages of the LimeSurvey follow-up: the code, one per instrument, the comment."""
    return n_instruments + 2


def limesurvey_table(
    params: SimulationParams,
    rng: np.random.Generator,
    people: pd.DataFrame,
    answers: dict[str, Answers],
    blanks: dict[str, np.ndarray],
    responded: np.ndarray,
) -> pd.DataFrame:
    """Clean LimeSurvey rows: one submitted response per participant answering at follow-up.

    ``id`` is left empty here: :func:`balint_analysis.simulate.problems.finalise` numbers the
    responses in ``startdate`` order once the injected rows are in.
    """
    t = LIMESURVEY_TIMEPOINT
    rows = np.flatnonzero(responded[:, t])
    m = len(rows)
    submitted = window_times(params, rng, t, m)
    duration = draw_durations(rng, m, 540.0)
    start = submitted - duration.astype("timedelta64[s]")
    stamp = fmt_times(submitted)
    table = {
        "id": np.full(m, ""),
        "submitdate": stamp,
        "lastpage": np.full(m, str(limesurvey_pages(len(answers)))),
        "startlanguage": np.where(rng.random(m) < 0.85, "pl", "en"),
        "seed": rng.integers(1, 2**31 - 1, m).astype(str),
        "startdate": fmt_times(start),
        "datestamp": stamp,
        LIMESURVEY_ID: people["participant_id"].to_numpy()[rows],
    }
    table |= answer_cells(answers, blanks, rows, t, platform_columns(answers, "limesurvey"))
    table[LIMESURVEY_COMMENT] = draw_comments(rng, m, 0.15)
    out = pd.DataFrame(table, dtype=str)
    out["_pid"], out["_t"], out["_accept"] = rows, t, True
    return out


def to_limesurvey_bytes(table: pd.DataFrame) -> bytes:
    """LimeSurvey CSV bytes as its CSV writer makes them: UTF-8 BOM, every field quoted, CRLF,
    an extra empty line at the end; line breaks inside a cell stay ``\\n``."""
    return to_csv_bytes(
        table, lineterminator="\r\n", quoting=csv.QUOTE_ALL, bom=True, trailer="\r\n"
    )
