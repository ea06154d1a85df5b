"""Qualtrics "data table" CSV (numeric values), the demo layout's baseline.

Layout: ``tests/fixtures/exports/README.md``, ``qualtrics/current.csv`` (current "data table"
CSV with numeric values).

``pre_qualtrics.csv``
    UTF-8 **without BOM** (the current Qualtrics exporter; the qualtRics sample has none), comma,
    ``\\n`` line ends. Three header rows: export tags; human text (``"<question> - MBI item 1"``:
    MBI wording is copyrighted and never written); ``{"ImportId":...}`` JSON per cell (dates
    carry ``timeZone``). Columns: the 17 default metadata columns ``StartDate`` …
    ``UserLanguage``, then ``MBI_1`` … ``MBI_22``, ``PSS_1`` … ``PSS_10``, ``CBI_1`` …
    ``CBI_19``, ``WHO5_1`` … ``WHO5_5``, then the free-text ``Q5_TEXT``. CBI items hold the
    **recode values 0/25/50/75/100** that the survey designer set in Qualtrics ("Recode
    values"), i.e. the CBI's published item scores, not the 1–5 choice positions, so the
    built-in ``cbi`` definition applies as is; WHO-5 items hold 0–5. (The ``survey`` battery
    writes ``MBI``, ``CBI``, ``PROQOL_1`` … ``PROQOL_30`` and ``JSE_1`` … ``JSE_20`` instead:
    the instruments of the parameters, in their order, see :data:`INSTRUMENT_LAYOUT`.) The
    participant id is in ``ExternalReference``. Rows are in ``RecordedDate`` order, as
    Qualtrics lists them.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from balint_analysis.simulate.exports import (
    COMMENT_QID,
    COMMENT_TAG,
    COMMENT_TEXT,
    INSTRUMENT_LAYOUT,
    answer_cells,
    draw_comments,
    draw_durations,
    draw_ips,
    fmt_times,
    item_columns,
    platform_columns,
    response_ids,
    window_times,
)
from balint_analysis.simulate.model import Answers
from balint_analysis.simulate.params import SimulationParams

__all__ = ["QUALTRICS_COLUMNS", "QUALTRICS_META", "qualtrics_header", "qualtrics_table"]

QUALTRICS_META: tuple[tuple[str, str, str, bool], ...] = (
    # (export tag, row-2 text, row-3 ImportId, carries a time zone)
    ("StartDate", "Start Date", "startDate", True),
    ("EndDate", "End Date", "endDate", True),
    ("Status", "Response Type", "status", False),
    ("IPAddress", "IP Address", "ipAddress", False),
    ("Progress", "Progress", "progress", False),
    ("Duration (in seconds)", "Duration (in seconds)", "duration", False),
    ("Finished", "Finished", "finished", False),
    ("RecordedDate", "Recorded Date", "recordedDate", True),
    ("ResponseId", "Response ID", "_recordId", False),
    ("RecipientLastName", "Recipient Last Name", "recipientLastName", False),
    ("RecipientFirstName", "Recipient First Name", "recipientFirstName", False),
    ("RecipientEmail", "Recipient Email", "recipientEmail", False),
    ("ExternalReference", "External Data Reference", "externalDataReference", False),
    ("LocationLatitude", "Location Latitude", "locationLatitude", False),
    ("LocationLongitude", "Location Longitude", "locationLongitude", False),
    ("DistributionChannel", "Distribution Channel", "distributionChannel", False),
    ("UserLanguage", "User Language", "userLanguage", False),
)
QUALTRICS_COLUMNS: tuple[str, ...] = tuple(m[0] for m in QUALTRICS_META)
"""The 17 default Qualtrics metadata columns, in export order."""


def qualtrics_header(params: SimulationParams, answers: dict[str, Answers]) -> list[list[str]]:
    """The three Qualtrics header rows: export tags, human text, ImportId JSON."""
    tags, texts, ids = [], [], []
    for tag, text, import_id, zoned in QUALTRICS_META:
        obj = {"ImportId": import_id} | ({"timeZone": params.time_zone} if zoned else {})
        tags.append(tag)
        texts.append(text)
        ids.append(json.dumps(obj, separators=(",", ":")))
    for inst_id, a in answers.items():
        layout = INSTRUMENT_LAYOUT[inst_id]
        question, statement, qid = layout.question, layout.statement, layout.qid
        for i, name in enumerate(
            item_columns(inst_id, a.instrument.n_items, platform="qualtrics"), start=1
        ):
            tags.append(name)
            texts.append(f"{question} - {statement.format(i=i)}")
            ids.append(json.dumps({"ImportId": f"{qid}_{i}"}, separators=(",", ":")))
    tags.append(COMMENT_TAG)
    texts.append(COMMENT_TEXT)
    ids.append(json.dumps({"ImportId": COMMENT_QID}, separators=(",", ":")))
    return [tags, texts, ids]


def qualtrics_table(
    params: SimulationParams,
    rng: np.random.Generator,
    people: pd.DataFrame,
    identities: pd.DataFrame,
    answers: dict[str, Answers],
    blanks: dict[str, np.ndarray],
    responded: np.ndarray,
) -> pd.DataFrame:
    """One clean Qualtrics row per participant who answered at baseline (before problems)."""
    rows = np.flatnonzero(responded[:, 0])
    m = len(rows)
    start = window_times(params, rng, 0, m)
    duration = draw_durations(rng, m, 480.0)
    end = start + duration.astype("timedelta64[s]")
    by_email = rng.random(m) < 0.75
    ip = draw_ips(rng, m)
    located = rng.random(m) < 0.85
    lat = np.char.mod("%.4f", 52.2297 + rng.normal(0.0, 0.6, m))
    lon = np.char.mod("%.4f", 21.0122 + rng.normal(0.0, 1.0, m))
    ids = response_ids(rng, m)
    comments = draw_comments(rng, m, 0.2)
    who = identities.iloc[rows]
    table = {
        "StartDate": fmt_times(start),
        "EndDate": fmt_times(end),
        "Status": np.full(m, "0"),
        "IPAddress": ip,
        "Progress": np.full(m, "100"),
        "Duration (in seconds)": duration.astype(str),
        "Finished": np.full(m, "1"),
        "RecordedDate": fmt_times(end + np.timedelta64(1, "s")),
        "ResponseId": ids,
        "RecipientLastName": np.where(by_email, who["last"].to_numpy(), ""),
        "RecipientFirstName": np.where(by_email, who["first"].to_numpy(), ""),
        "RecipientEmail": np.where(by_email, who["email"].to_numpy(), ""),
        "ExternalReference": people["participant_id"].to_numpy()[rows],
        "LocationLatitude": np.where(located, lat, ""),
        "LocationLongitude": np.where(located, lon, ""),
        "DistributionChannel": np.where(by_email, "email", "anonymous"),
        "UserLanguage": np.full(m, "EN"),
    }
    table |= answer_cells(answers, blanks, rows, 0, platform_columns(answers, "qualtrics"))
    table[COMMENT_TAG] = comments
    out = pd.DataFrame(table, dtype=str)
    out["_pid"], out["_t"], out["_accept"] = rows, 0, True
    return out
