"""Outcomes shown descriptively: derived scales, and scored scales without model rows.

A scale marked ``derived_from: <scale>`` in its instrument definition (e.g. WHO-5 ``percentage``
= ``total`` × 4) carries the same information as its source scale: the report shows its
observed mean (SD) per group × timepoint from ``scores.csv`` with the note "same information as
<source>, not tested separately", and ignores any effect or estimated-means rows for it. A scale
that is in ``scores.csv`` but has no effect/estimated-means rows is shown the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from balint_analysis.config import StudyConfig
from balint_analysis.report.disclosure import STATISTIC_LABEL, n_label
from balint_analysis.report.tables import numeric, suppressed
from balint_analysis.report.text import fmt, scale_info, tp_label

__all__ = ["derived_from", "descriptive_section", "scored_outcomes", "split_outcomes"]


def derived_from(config: StudyConfig, instrument: str, scale: str) -> str | None:
    """The source scale id when the definition marks ``scale`` as derived, else ``None``."""
    inst = config.instruments.get(instrument)
    s = inst.scales.get(scale) if inst is not None else None
    src = getattr(s, "derived_from", None) if s is not None else None
    return str(src) if src else None


def scored_outcomes(config: StudyConfig, scores: pd.DataFrame) -> list[tuple[str, str]]:
    """``(instrument, scale)`` pairs with at least one score in ``scores.csv``, config order."""
    if not len(scores) or not {"instrument", "scale", "score"} <= set(scores.columns):
        return []
    has = scores[numeric(scores["score"]).notna()][["instrument", "scale"]].drop_duplicates()
    found = {(str(i), str(s)) for i, s in has.itertuples(index=False)}
    ordered = [(i, s) for i, inst in config.instruments.items() for s in inst.scales]
    return [x for x in ordered if x in found] + sorted(x for x in found if x not in ordered)


def split_outcomes(
    config: StudyConfig, modelled: Sequence[tuple[str, str]], scores: pd.DataFrame
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """All outcomes in report order, and the subset whose effects are tested.

    The primary outcome is always treated as tested (its headline depends on it).
    """
    primary = (config.analysis.primary_instrument, config.analysis.primary_scale)
    shown = list(modelled) + [x for x in scored_outcomes(config, scores) if x not in modelled]
    # keep derived / unmodelled scales next to their instrument's other scales (stable sort)
    pairs = [(i, s) for i, inst in config.instruments.items() for s in inst.scales]
    pos = {x: k for k, x in enumerate(pairs)}
    shown = shown[:1] + sorted(shown[1:], key=lambda x: pos.get(x, len(pos)))
    tested = [
        x for x in shown
        if x == primary or (x in modelled and derived_from(config, *x) is None)
    ]  # fmt: skip
    return shown, tested


def _table(
    sel: pd.DataFrame,
    arms: Sequence[tuple[str, str, str]],
    timepoints: Sequence[str],
    min_cell: int,
) -> list[dict[str, Any]]:
    rows = []
    for label, name, _ in arms:
        cells = []
        for t in timepoints:
            v = numeric(
                sel.loc[(sel["group"].astype(str) == label) & (sel["timepoint"].astype(str) == t),
                        "score"]
            ).dropna()  # fmt: skip
            if not len(v):
                cells.append({"mean": "—", "ci": "", "n": "—"})
            elif suppressed(len(v), min_cell):
                cells.append({"mean": STATISTIC_LABEL, "ci": "", "n": n_label(len(v), min_cell)})
            else:
                sd = fmt(v.std(ddof=1)) if len(v) > 1 else "—"
                cells.append({"mean": fmt(v.mean()), "ci": f"SD {sd}", "n": str(len(v))})
        rows.append({"name": name[:1].upper() + name[1:], "cells": cells})
    return rows


def descriptive_section(
    config: StudyConfig,
    instrument: str,
    scale: str,
    scores: pd.DataFrame,
    arms: Sequence[tuple[str, str, str]],
    index: int,
) -> dict[str, Any]:
    """A results-section entry (same keys as ``outcome_section``) with observed means only."""
    info = scale_info(config, instrument, scale)
    tps = list(config.design.timepoints)
    min_cell = config.analysis.min_cell_size
    src = derived_from(config, instrument, scale)
    sel = (
        scores[(scores["instrument"] == instrument) & (scores["scale"] == scale)]
        if len(scores)
        else scores
    )
    if src:
        src_label = scale_info(config, instrument, src).label
        note = f"Same information as {src_label}, not tested separately."
        what = f"{info.label} is a linear transformation of {src_label[:1].lower()}{src_label[1:]}"
        sentences = [f"{what}: only its observed averages are shown. {note}"]
    else:
        note = "No model was fitted for this outcome; observed averages only."
        sentences = [note]
    return {
        "id": f"outcome-{instrument}-{scale}".replace("_", "-").replace(".", "-"),
        "info": info,
        "title": f"{info.label} ({info.short_instrument})",
        "role": "derived" if src else "descriptive",
        "rows": [],
        "failed": [],
        "reason": "",
        "sentences": sentences,
        "certainty": "",
        "emmeans": [],
        "descriptive": _table(sel, arms, tps, min_cell) if len(sel) else [],
        "note": note,
        "timepoints": [tp_label(t) for t in tps],
        "figure": None,
        "figure_desc": "",
        "n_hidden": 0,
        "models": [],
        "fit_notes": [],
        "meta_d": "",
        "df_method": "",
        "level": f"{100 * (1 - config.analysis.alpha):g}%",
    }
