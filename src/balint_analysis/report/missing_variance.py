"""Whether a δ scenario's variances were refitted, in plain words, for the drop-out section.

``missing_data.csv`` and ``tipping.csv`` say per row (column ``variance_components``) whether the
δ-shifted analyses re-estimated the model's variance components at each δ (``refitted``) or kept
those of the missing-at-random analysis (``held_at_mar``). Held variances give the standard error
of the missing-at-random analysis at every δ, which can be too small or too large (refitted, it
moved demo tipping points either way, some by more than half), so a tipping point from them is
only approximate. Outputs written before the column existed are read as
``held_at_mar``, which is what they computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from balint_analysis.report.text import ScaleInfo, is_missing

__all__ = ["HELD_FOOTNOTE", "held_at_mar", "held_caveat", "outcome_held", "variance_sentence"]

#: Footnote of the tipping-point table, for rows whose δ analyses held the MAR variances.
HELD_FOOTNOTE = (
    "Approximate: the standard error at each δ is that of the missing-at-random analysis (the "
    "model's variances were not re-estimated at each δ). It can be too small or too large, so "
    "the true tipping point may lie closer to zero or further from it than shown."
)


def held_at_mar(row: Mapping[str, Any] | None) -> bool:
    """True when a ``tipping.csv`` / ``missing_data.csv`` row kept the MAR variance components
    (also when the column is absent); False for ``refitted`` and for no row at all."""
    if row is None:
        return False
    value = row.get("variance_components")
    return is_missing(value) or str(value).strip() != "refitted"


def outcome_held(tipping: pd.DataFrame, inst: str, scale: str) -> bool | None:
    """Whether any δ tipping point of the outcome held the MAR variances (None: no δ rows)."""
    if not len(tipping) or "scenario" not in tipping:
        return None
    sel = tipping[(tipping["instrument"] == inst) & (tipping["scale"] == scale)
                  & tipping["scenario"].astype(str).str.startswith("delta")]  # fmt: skip
    if not len(sel):
        return None
    return any(held_at_mar(r) for r in sel.to_dict("records"))


def held_caveat() -> str:
    """The primary outcome's caveat when its tipping point held the MAR variances."""
    return ("This is approximate: the standard error at each δ is that of the missing-at-random "
            "analysis, so the true tipping point may lie closer to zero or further from it.")


def _names(infos: Sequence[ScaleInfo]) -> str:
    labels = [i.label.lower() for i in infos]
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"


def variance_sentence(refitted: Sequence[ScaleInfo], held: Sequence[ScaleInfo]) -> str:
    """The methods text on the variances at each δ ("" when no outcome has δ analyses)."""
    if not held and not refitted:
        return ""
    if not held:
        return ("At each δ the model's variances were estimated afresh, so the standard errors "
                "and tipping points allow for the shifted answers.")  # fmt: skip
    approx = ("the standard error at each δ is that of the missing-at-random analysis (the "
              "model's variances were not re-estimated, to save computing time); it can be too "
              "small or too large, so those tipping points are approximate and may lie closer "
              "to zero or further from it.")  # fmt: skip
    if not refitted:
        return f"For every outcome {approx}"
    others = _names(held) if len(held) <= 2 else "the other outcomes"
    return (f"For {_names(refitted)} the model's variances were estimated afresh at each δ; for "
            f"{others} {approx}")
