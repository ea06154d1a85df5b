"""REDCap raw longitudinal CSV export, the demo layout's post wave.

Layout: ``tests/fixtures/exports/README.md``, "REDCap" (raw longitudinal CSV with survey
fields).

``post_redcap.csv``
    The post wave. UTF-8 without BOM (as the REDCap API writes), comma, ``\\n``. One header
    row: ``record_id, redcap_event_name, redcap_survey_identifier, burnout_survey_timestamp,
    mbi_1`` … ``mbi_22, pss_01`` … ``pss_10, cbi_01`` … ``cbi_19, who5_1`` … ``who5_5,
    comments, burnout_survey_complete`` (CBI radio-button codes defined as 0, 25, 50, 75, 100
    in the data dictionary). A longitudinal project: the survey is designated to event
    ``post_arm_1`` (the only event mapped to a design timepoint; the injected problems add a
    ``screening_arm_1`` row). Rows sorted by record then event, as REDCap exports them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from balint_analysis.simulate.exports import (
    REDCAP_EVENTS,
    REDCAP_FORM,
    answer_cells,
    draw_comments,
    fmt_times,
    platform_columns,
    window_times,
)
from balint_analysis.simulate.model import Answers
from balint_analysis.simulate.params import SimulationParams

__all__ = ["redcap_table"]


def redcap_table(
    params: SimulationParams,
    rng: np.random.Generator,
    people: pd.DataFrame,
    answers: dict[str, Answers],
    blanks: dict[str, np.ndarray],
    responded: np.ndarray,
) -> pd.DataFrame:
    """Clean REDCap rows: one per participant × post-baseline event answered."""
    columns = platform_columns(answers, "redcap")
    parts = []
    for t, event in REDCAP_EVENTS.items():
        rows = np.flatnonzero(responded[:, t])
        m = len(rows)
        stamp = fmt_times(window_times(params, rng, t, m))
        table = {
            "record_id": people["participant_id"].to_numpy()[rows],
            "redcap_event_name": np.full(m, event),
            "redcap_survey_identifier": np.full(m, ""),
            f"{REDCAP_FORM}_timestamp": stamp,
        }
        table |= answer_cells(answers, blanks, rows, t, columns)
        table["comments"] = draw_comments(rng, m, 0.15)
        table[f"{REDCAP_FORM}_complete"] = np.full(m, "2")
        part = pd.DataFrame(table, dtype=str)
        part["_pid"], part["_t"], part["_accept"] = rows, t, True
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
