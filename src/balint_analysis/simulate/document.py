"""Assemble ``truth.json``: everything a test needs to know about a synthetic cohort.

Top-level keys: ``generator, model_version, seed, preset, conventions`` (row numbering,
duplicate rule, reverse keying, units), ``true_effects`` (``instrument.scale`` →
``{timepoint: θ}``), ``params``, ``design``, ``variance_components``, ``cluster_effects``,
``effects`` (latent and realised effects, see :mod:`~balint_analysis.simulate.truth`),
``files`` (SHA-256, encoding, BOM, line ending, quoting, header rows, record count, identifier
and free-text columns with their number of filled cells), ``expected_flow`` (rows
in/accepted/rejected and invalidated items per export, participants observed per group and
timepoint), ``problems`` (one entry per
injected problem: file, row, column, kind, participant, timepoint, value, true value, action)
and ``missing_items`` (blank items in accepted rows).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

from balint_analysis.simulate import truth
from balint_analysis.simulate.exports import (
    COMMENT_TAG,
    LIMESURVEY_COMMENT,
    LIMESURVEY_FILE,
    LIMESURVEY_ID,
    QUALTRICS_FILE,
    REDCAP_FILE,
    ROSTER_FILE,
    TRUTH_SCORES_FILE,
    item_columns,
)
from balint_analysis.simulate.model import Answers, Latent
from balint_analysis.simulate.outcomes import outcomes
from balint_analysis.simulate.params import CONTROL, INTERVENTION, TIMEPOINTS, SimulationParams
from balint_analysis.simulate.problems import EXCLUDED

__all__ = ["MODEL_VERSION", "dumps", "truth_document"]

MODEL_VERSION = 3
"""Bumped whenever the same (params, seed) would give different bytes."""

CONVENTIONS = {
    "row": "the row a spreadsheet shows for the record: header rows counted (first Qualtrics "
    "record = row 4, first REDCap or LimeSurvey record = row 2); a quoted line break inside a "
    "cell does not start a new row",
    "duplicates": "per participant x timepoint the latest complete submission is kept",
    "reverse_keyed": "reverse-keyed items (PSS-10 4, 5, 7, 8; CBI 13) are written as answered; "
    "scoring must reverse them",
    "units": "scores and effects in units of the published scale score: sums for MBI-HSS, PSS-10 "
    "and the WHO-5 total, 0-100 means for the CBI, 0-100 for the WHO-5 percentage",
    "answer_codes": "CBI items are exported as the survey's recode values 0/25/50/75/100 (not "
    "1-5); all other items as their integer codes; LimeSurvey answer options carry these "
    "numeric codes (not the default AO01-style codes)",
    "effect": "difference in mean change from baseline, balint minus control, among "
    "participants with the score at both timepoints",
    "expected_score": "accepted rows only; invalid items and blanks missing; mean of answered "
    "items (x n_items for sums, x 100 / (max - min) for percentages) when the scale's "
    "min_answered items are answered (80% rounded up; CBI 3/4/3); unrounded",
}
IDENTIFIERS = {
    ROSTER_FILE: ["email"],
    QUALTRICS_FILE: [
        "IPAddress",
        "RecipientLastName",
        "RecipientFirstName",
        "RecipientEmail",
        "LocationLatitude",
        "LocationLongitude",
    ],
    REDCAP_FILE: ["redcap_survey_identifier"],
    LIMESURVEY_FILE: [],
}
FREE_TEXT = {
    ROSTER_FILE: [],
    QUALTRICS_FILE: [COMMENT_TAG],
    REDCAP_FILE: ["comments"],
    LIMESURVEY_FILE: [LIMESURVEY_COMMENT],
}
HEADER_ROWS = {ROSTER_FILE: 1, QUALTRICS_FILE: 3, REDCAP_FILE: 1, LIMESURVEY_FILE: 1}
PLATFORM = {QUALTRICS_FILE: "qualtrics", REDCAP_FILE: "redcap", LIMESURVEY_FILE: "limesurvey"}
ID_COLUMN = {
    QUALTRICS_FILE: "ExternalReference",
    REDCAP_FILE: "record_id",
    LIMESURVEY_FILE: LIMESURVEY_ID,
}
#: (BOM, line ending, every field quoted, extra empty line at the end) of files that differ
#: from the default (no BOM, ``\n``, minimal quoting, none).
LAYOUT = {LIMESURVEY_FILE: (True, "\\r\\n", True, True)}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_facts(name: str, table: pd.DataFrame, data: bytes) -> dict[str, Any]:
    def filled(columns: list[str]) -> dict[str, int]:
        return {c: int((table[c] != "").sum()) for c in columns}

    bom, line_ending, quote_all, empty_last_line = LAYOUT.get(name, (False, "\\n", False, False))
    return {
        "sha256": _sha(data),
        "encoding": "utf-8",
        "bom": bom,
        "delimiter": ",",
        "line_ending": line_ending,
        "quote_all": quote_all,
        "empty_last_line": empty_last_line,
        "header_rows": HEADER_ROWS[name],
        "first_data_row": HEADER_ROWS[name] + 1,
        "records": len(table),
        "identifier_columns": filled(IDENTIFIERS[name]),
        "free_text_columns": filled(FREE_TEXT[name]),
    }


def _flow(
    table: pd.DataFrame, found: list[dict[str, Any]], invalid: list[tuple[int, str]]
) -> dict[str, Any]:
    accepted = int(table["_accept"].astype(bool).sum())
    excluded: dict[str, int] = {}
    for p in found:
        if p["action"] == EXCLUDED:
            excluded[p["kind"]] = excluded.get(p["kind"], 0) + 1
    return {
        "rows_in": len(table),
        "rows_accepted": accepted,
        "rows_rejected": len(table) - accepted,
        "rejected_by_kind": excluded,
        "items_invalidated": len(invalid),
    }


def _missing_items(
    tables: dict[str, pd.DataFrame], answers: dict[str, Answers]
) -> list[dict[str, Any]]:
    """Blank item cells of accepted rows (item non-response the scoring rule handles)."""
    out = []
    for name, table in tables.items():
        keep = table[table["_accept"].astype(bool)]
        for inst_id, a in answers.items():
            for col in item_columns(inst_id, a.instrument.n_items, platform=PLATFORM[name]):
                blank = keep[keep[col] == ""]
                out += [
                    {
                        "file": name,
                        "row": int(row),
                        "column": col,
                        "participant_id": str(pid),
                        "timepoint": TIMEPOINTS[int(t)],
                    }
                    for row, pid, t in zip(
                        blank["_row"], blank[ID_COLUMN[name]], blank["_t"], strict=True
                    )
                ]
    return sorted(out, key=lambda m: (m["file"], m["row"], m["column"]))


def truth_document(
    *,
    params: SimulationParams,
    seed: int,
    people: pd.DataFrame,
    latent: Latent,
    answers: dict[str, Answers],
    tidy: pd.DataFrame,
    roster: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    problems: dict[str, list[dict[str, Any]]],
    invalid: dict[str, list[tuple[int, str]]],
    accepted: np.ndarray,
    files: dict[str, bytes],
) -> dict[str, Any]:
    """The content of ``truth.json`` (module docstring)."""
    treated = people["treated"].to_numpy()
    observed = {
        g: {tp: int(accepted[mask, t].sum()) for t, tp in enumerate(TIMEPOINTS)}
        for g, mask in ((INTERVENTION, treated), (CONTROL, ~treated))
    }
    facts = {ROSTER_FILE: _file_facts(ROSTER_FILE, roster, files[ROSTER_FILE])}
    facts |= {name: _file_facts(name, table, files[name]) for name, table in tables.items()}
    facts[TRUTH_SCORES_FILE] = {"sha256": _sha(files[TRUTH_SCORES_FILE])}
    return {
        "generator": "balint_analysis.simulate",
        "model_version": MODEL_VERSION,
        "seed": seed,
        "preset": params.name,
        "conventions": CONVENTIONS,
        "true_effects": {
            s.key: dict(zip(TIMEPOINTS[1:], [truth._r(e) for e in s.effect], strict=True))
            for s in outcomes(params)
        },
        "params": truth.params_dict(params),
        **truth.model_truth(params, people, latent),
        "effects": truth.effects(params, tidy),
        "files": facts,
        "expected_flow": {
            "files": {
                name: _flow(table, problems[name], invalid[name]) for name, table in tables.items()
            },
            "roster": {
                "participants": len(people),
                "by_group": {INTERVENTION: int(treated.sum()), CONTROL: int((~treated).sum())},
            },
            "observed": observed,
        },
        "problems": [p for name in tables for p in problems[name]],
        "missing_items": _missing_items(tables, answers),
    }


def dumps(doc: dict[str, Any]) -> bytes:
    """``truth.json`` bytes: 2-space indent, UTF-8, trailing newline."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
