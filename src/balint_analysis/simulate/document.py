"""Assemble ``truth.json``: everything a test needs to know about a synthetic cohort.

Top-level keys: ``generator, model_version, seed, preset`` (``layout`` too, for a layout other
than ``demo``), ``conventions`` (row numbering, duplicate rule, reverse keying, units, answer
codes), ``true_effects`` (``instrument.scale`` → ``{timepoint: θ}``), ``params``, ``design``,
``variance_components``, ``cluster_effects``, ``effects`` (latent and realised effects, see
:mod:`~balint_analysis.simulate.truth`), ``files`` (SHA-256, the format facts — encoding, BOM,
delimiter, line ending, quoting, header rows, or the workbook sheet / SPSS missing-value
declarations —, record count, identifier and free-text columns with their number of filled
cells; outside the demo layout also the answer coding — ``code``, ``position`` or ``label`` —
and the platform's missing codes), ``expected_flow`` (rows in/accepted/rejected per export
with the rejections by problem kind — and, outside the demo layout, by the pipeline's reason,
with the count of item non-response cells — and the invalidated items; participants per group
in the roster, or enrolled from the exports without one; participants observed per group and
timepoint), ``problems`` (one entry per injected problem: file, row,
column, kind, participant, timepoint, value, true value, action; outside the demo also the
pipeline's reason) and ``missing_items`` (item non-response in accepted rows: blank cells, and
the platform's missing codes such as SoSci ``-9``/``-1``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

from balint_analysis.simulate import truth
from balint_analysis.simulate.exports import ROSTER_FILE, TRUTH_SCORES_FILE
from balint_analysis.simulate.model import Answers, Latent
from balint_analysis.simulate.outcomes import outcomes
from balint_analysis.simulate.params import TIMEPOINTS, SimulationParams
from balint_analysis.simulate.platforms.common import (
    EXCLUDED,
    ExportFile,
    csv_facts,
    pipeline_reason,
)

__all__ = ["CONVENTIONS", "MODEL_VERSION", "dumps", "truth_document"]

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
ROSTER_FACTS = {"identifiers": ("email",), "free_text": ()}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_facts(
    table: pd.DataFrame, data: bytes, facts: dict[str, Any], identifiers: tuple[str, ...],
    free_text: tuple[str, ...],
) -> dict[str, Any]:  # fmt: skip
    def filled(columns: tuple[str, ...]) -> dict[str, int]:
        return {c: int((table[c] != "").sum()) for c in columns}

    return {"sha256": _sha(data), **facts, "records": len(table),
            "identifier_columns": filled(identifiers),
            "free_text_columns": filled(free_text)}  # fmt: skip


def _missing_cells(f: ExportFile, answers: dict[str, Answers]) -> pd.DataFrame:
    """``row, column, value`` of the item non-response cells of the accepted rows of ``f``."""
    keep = f.table[f.table["_accept"].astype(bool)]
    parts = []
    for inst_id in answers:
        for col in f.columns[inst_id]:
            cells = keep[col].to_numpy(dtype=str)
            blank = f.coding.is_missing(cells)
            parts.append(keep.loc[blank, ["_row", f.id_column, "_t"]].assign(
                _column=col, _value=cells[blank]))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def _flow(f: ExportFile, invalid: list[tuple[int, str]], extended: bool,
          answers: dict[str, Answers]) -> dict[str, Any]:  # fmt: skip
    accepted = int(f.table["_accept"].astype(bool).sum())
    excluded: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for p in f.problems:
        if p["action"] == EXCLUDED:
            excluded[p["kind"]] = excluded.get(p["kind"], 0) + 1
            if extended:
                reason = pipeline_reason(p)
                reasons[reason] = reasons.get(reason, 0) + 1
    out: dict[str, Any] = {
        "rows_in": len(f.table),
        "rows_accepted": accepted,
        "rows_rejected": len(f.table) - accepted,
        "rejected_by_kind": excluded,
    }
    if extended:
        out["rejected_by_reason"] = dict(sorted(reasons.items()))
    out["items_invalidated"] = len(invalid)
    if extended:
        cells = _missing_cells(f, answers)["_value"]
        out["items_missing"] = int(len(cells))
        if f.coding.missing:
            out["items_missing_by_code"] = {c: int((cells == c).sum()) for c in f.coding.missing}
    return out


def _missing_items(files: list[ExportFile], answers: dict[str, Answers]) -> list[dict[str, Any]]:
    """Item non-response cells of accepted rows (the scoring rule handles them)."""
    out = []
    for f in files:
        cells = _missing_cells(f, answers)
        for row, pid, t, col, value in cells.itertuples(index=False, name=None):
            entry = {"file": f.name, "row": int(row), "column": col, "participant_id": str(pid),
                     "timepoint": TIMEPOINTS[int(t)]}  # fmt: skip
            if value != "":
                entry["value"] = value
            out.append(entry)
    return sorted(out, key=lambda m: (m["file"], m["row"], m["column"]))


def truth_document(
    *,
    params: SimulationParams,
    seed: int,
    layout: str,
    conventions: dict[str, str],
    timepoints: tuple[str, ...],
    labels: tuple[str, str],
    people: pd.DataFrame,
    latent: Latent,
    answers: dict[str, Answers],
    tidy: pd.DataFrame,
    roster: pd.DataFrame | None,
    exports: list[ExportFile],
    invalid: dict[str, list[tuple[int, str]]],
    accepted: np.ndarray,
    files: dict[str, bytes],
) -> dict[str, Any]:
    """The content of ``truth.json`` (module docstring).

    ``timepoints`` are the design timepoints the layout writes and ``accepted`` is
    ``(participants, len(timepoints))``; ``labels`` the (intervention, control) group labels.
    The ``demo`` layout gives exactly the document of model version 3.
    """
    intervention, control = labels
    treated = people["treated"].to_numpy()
    observed = {
        g: {tp: int(accepted[mask, t].sum()) for t, tp in enumerate(timepoints)}
        for g, mask in ((intervention, treated), (control, ~treated))
    }
    facts: dict[str, Any] = {}
    if roster is not None:
        facts[ROSTER_FILE] = _file_facts(
            roster,
            files[ROSTER_FILE],
            csv_facts(),
            ROSTER_FACTS["identifiers"],
            ROSTER_FACTS["free_text"],
        )
    for f in exports:
        facts[f.name] = _file_facts(f.table, f.data, f.facts, f.identifiers, f.free_text)
        if layout != "demo":
            facts[f.name] |= {"answer_coding": f.coding.kind,
                              "missing_codes": list(f.coding.missing)}  # fmt: skip
    facts[TRUTH_SCORES_FILE] = {"sha256": _sha(files[TRUTH_SCORES_FILE])}
    extended = layout != "demo"
    if roster is not None:
        people_flow: dict[str, Any] = {"roster": {
            "participants": len(people),
            "by_group": {intervention: int(treated.sum()), control: int((~treated).sum())},
        }}  # fmt: skip
    else:
        seen = accepted.any(axis=1)
        people_flow = {
            "roster": None,
            "enrolled": {
                intervention: int((seen & treated).sum()),
                control: int((seen & ~treated).sum()),
            },
        }
    head: dict[str, Any] = {
        "generator": "balint_analysis.simulate",
        "model_version": MODEL_VERSION,
        "seed": seed,
        "preset": params.name,
    }
    if extended:
        head["layout"] = layout
    return head | {
        "conventions": conventions,
        "true_effects": {
            s.key: dict(
                zip(
                    timepoints[1:],
                    [truth._r(e) for e in s.effect[: len(timepoints) - 1]],
                    strict=True,
                )
            )
            for s in outcomes(params)
        },  # fmt: skip
        "params": truth.params_dict(params),
        **truth.model_truth(params, people, latent, labels, timepoints),
        "effects": truth.effects(params, tidy, labels),
        "files": facts,
        "expected_flow": {
            "files": {f.name: _flow(f, invalid[f.name], extended, answers) for f in exports},
            **people_flow,
            "observed": observed,
        },
        "problems": [p for f in exports for p in f.problems],
        "missing_items": _missing_items(exports, answers),
    }


def dumps(doc: dict[str, Any]) -> bytes:
    """``truth.json`` bytes: 2-space indent, UTF-8, trailing newline."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
