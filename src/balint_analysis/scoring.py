"""Score instruments: items -> scale scores and categories; reliability; item descriptives.

All computations are vectorised over participants × timepoints. Rules, per scale:

1. reverse-keyed items: ``x_rev = (min + max) - x`` (relative to the definition's coding);
2. missing items: the scale is computed when at least ``min_answered_share`` of its items were
   answered (the instrument's published rule, else the project convention of 80%), as the mean
   of the answered items; a ``sum`` scale is that mean times the number of items (prorating);
3. category: the published cut-off band the score falls in (bands are closed below: a prorated
   26.6 on a scale whose "high" band starts at 27 is "moderate").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from balint_analysis.instruments import Instrument, Scale

__all__ = [
    "SCORE_COLUMNS",
    "categorise",
    "cronbach_alpha",
    "item_descriptives",
    "reliability",
    "scale_items",
    "score_responses",
]

SCORE_COLUMNS = ["participant", "group", "timepoint", "instrument", "scale", "score", "n_items",
                 "n_answered", "category"]  # fmt: skip


def scale_items(responses: pd.DataFrame, instrument: Instrument, scale: Scale) -> pd.DataFrame:
    """The scale's item columns as floats, reverse-keyed items already reversed."""
    cols = {i: f"{instrument.id}__{i}" for i in scale.items}
    missing = [c for c in cols.values() if c not in responses.columns]
    if missing:
        raise ValueError(f"{instrument.id}.{scale.id}: item columns missing: {missing}")
    items = responses[list(cols.values())].astype(float)
    if scale.reverse:
        rev = [cols[i] for i in scale.reverse]
        items[rev] = (instrument.response_min + instrument.response_max) - items[rev]
    return items


def categorise(scores: pd.Series, scale: Scale) -> pd.Series:
    """Published cut-off category of each score (missing when no score or no cut-offs)."""
    if not scale.categories:
        return pd.Series(pd.NA, index=scores.index, dtype="str")
    lows = [(-np.inf if c.min is None else c.min) for c in scale.categories]
    order = np.argsort(lows, kind="stable")
    thresholds = np.asarray(lows, dtype=float)[order][1:]
    labels = np.asarray([scale.categories[i].label for i in order], dtype=object)
    position = np.searchsorted(thresholds, scores.to_numpy(dtype=float), side="right")
    out = pd.Series(labels[position], index=scores.index, dtype="str")
    return out.where(scores.notna())


def score_responses(responses: pd.DataFrame, instruments: dict[str, Instrument]) -> pd.DataFrame:
    """Score every scale of every instrument for each response row.

    Parameters
    ----------
    responses : DataFrame
        ``participant, group, timepoint`` and item columns ``<instrument>__<item>`` (numeric).
    instruments : dict
        Instrument definitions by id.

    Returns
    -------
    DataFrame
        SPEC ``scores.csv``: one row per participant × timepoint × scale with ``score`` (NaN when
        too few items were answered), ``n_items``, ``n_answered`` and ``category``.
    """
    frames = []
    for inst_id, inst in instruments.items():
        for scale in inst.scales.values():
            items = scale_items(responses, inst, scale)
            k = items.shape[1]
            answered = items.notna().sum(axis=1)
            mean = items.mean(axis=1, skipna=True)
            ok = answered >= np.ceil(inst.min_answered_share * k - 1e-9)
            score = (mean * k if scale.method == "sum" else mean).where(ok)
            frames.append(
                pd.DataFrame(
                    {
                        "participant": responses["participant"],
                        "group": responses["group"],
                        "timepoint": responses["timepoint"],
                        "instrument": inst_id,
                        "scale": scale.id,
                        "score": score,
                        "n_items": k,
                        "n_answered": answered.astype(int),
                        "category": categorise(score, scale),
                    }
                )
            )
    if not frames:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[SCORE_COLUMNS]


def cronbach_alpha(
    items: pd.DataFrame, confidence: float = 0.95
) -> tuple[float, float, float, int]:
    """Cronbach's alpha with Feldt's confidence interval, on complete cases.

    Returns
    -------
    (alpha, ci_low, ci_high, n)
        NaN when fewer than 3 complete cases or fewer than 2 items.

    Notes
    -----
    ``alpha = k/(k-1) * (1 - sum(var_i) / var(total))`` with sample variances (ddof=1); CI
    ``1 - (1 - alpha) * F`` with F quantiles on ``(n-1, (n-1)(k-1))`` df (Feldt 1965). Checked
    against :func:`pingouin.cronbach_alpha` (tests/test_scoring.py).
    """
    complete = items.dropna()
    n, k = complete.shape
    if n < 3 or k < 2:
        return (np.nan, np.nan, np.nan, int(n))
    values = complete.to_numpy(dtype=float)
    item_var = values.var(axis=0, ddof=1).sum()
    total_var = values.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return (np.nan, np.nan, np.nan, int(n))
    alpha = k / (k - 1) * (1 - item_var / total_var)
    df1, df2 = n - 1, (n - 1) * (k - 1)
    tail = (1 - confidence) / 2
    low = 1 - (1 - alpha) * stats.f.isf(tail, df1, df2)
    high = 1 - (1 - alpha) * stats.f.isf(1 - tail, df1, df2)
    return (float(alpha), float(low), float(high), int(n))


def reliability(
    responses: pd.DataFrame, instruments: dict[str, Instrument], timepoints: list[str]
) -> pd.DataFrame:
    """Cronbach's alpha with 95% CI per scale per timepoint (SPEC ``reliability.csv``)."""
    rows = []
    for inst_id, inst in instruments.items():
        for scale in inst.scales.values():
            items = scale_items(responses, inst, scale)
            for tp in timepoints:
                alpha, low, high, n = cronbach_alpha(items[responses["timepoint"] == tp])
                rows.append((inst_id, scale.id, tp, n, alpha, low, high))
    return pd.DataFrame(
        rows, columns=["instrument", "scale", "timepoint", "n", "alpha", "ci_low", "ci_high"]
    )


def item_descriptives(
    responses: pd.DataFrame, instruments: dict[str, Instrument], timepoints: list[str]
) -> pd.DataFrame:
    """Per item and timepoint: n answered, mean, SD, share missing, share at floor/ceiling."""
    rows = []
    for inst_id, inst in instruments.items():
        for item in inst.items:
            col = f"{inst_id}__{item}"
            if col not in responses.columns:
                continue
            for tp in timepoints:
                x = responses.loc[responses["timepoint"] == tp, col].astype(float)
                answered = x.dropna()
                total = len(x)
                rows.append(
                    (
                        inst_id, item, tp, len(answered), answered.mean(), answered.std(ddof=1),
                        (total - len(answered)) / total if total else np.nan,
                        (answered == inst.response_min).mean() if len(answered) else np.nan,
                        (answered == inst.response_max).mean() if len(answered) else np.nan,
                    )
                )  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["instrument", "item", "timepoint", "n", "mean", "sd", "missing_share",
                 "floor_share", "ceiling_share"],  # fmt: skip
    )
