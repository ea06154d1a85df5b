"""Score instruments: items -> scale scores and categories; flags; reliability; item descriptives.

All computations are vectorised over participants × timepoints (NumPy on the item matrix; no
per-row Python loops). Rules, per scale of an instrument definition
(:mod:`balint_analysis.instruments`):

1. items come from the columns ``<instrument>__<item>`` that ingest mapped from the export
   (column template or explicit item→column map in the config); an item whose column is absent
   was not administered and counts as unanswered;
2. range check: a value that is not one of the instrument's answer codes (every integer from
   ``min`` to ``max``, or the declared ``values``, e.g. the CBI's 0/25/50/75/100) is set missing
   with a warning (validation normally catches it first);
3. reverse-keyed items: ``x_rev = (min + max) - x``, relative to the definition's coding;
4. missing items: the scale is scored when at least ``Scale.min_answered`` items are answered
   (the instrument's published rule, e.g. the CBI's per-scale counts, else the project
   convention: 80% of the items, rounded up), as the mean of the answered items; a ``sum``
   scale is that mean times the number of items (prorating), a ``percent`` scale maps the mean
   linearly onto 0–100 (WHO-5 percentage = raw × 4);
5. category: the published band the score falls in. Bands are closed below (``min``) unless
   the definition says ``above`` (open below): a prorated 26.6 on a scale whose "high" band
   starts at 27 is "moderate".

Flags (e.g. PHQ-9 item 9 > 0) are evaluated per response and only *counted* per group ×
timepoint (:func:`flag_counts`, ``flags.csv``); no per-person flag leaves this module.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd

from balint_analysis.distributions import f_isf
from balint_analysis.errors import InputError
from balint_analysis.instruments import Instrument, Scale

__all__ = [
    "FLAG_COLUMNS",
    "SCORE_COLUMNS",
    "answer_dtypes",
    "categorise",
    "cronbach_alpha",
    "flag_counts",
    "item_descriptives",
    "item_matrix",
    "reliability",
    "reverse",
    "scale_items",
    "score_matrix",
    "score_parts",
    "score_responses",
]

SCORE_COLUMNS = ["participant", "group", "timepoint", "instrument", "scale", "score", "n_items",
                 "n_answered", "category"]  # fmt: skip
FLAG_COLUMNS = ["instrument", "flag", "group", "timepoint", "n_responses", "n_flagged"]


def answer_dtypes(instruments: Mapping[str, Instrument]) -> dict[str, str]:
    """The narrowest exact dtype of each item column ``<id>__<item>``: ``Int8`` (one byte a
    cell and one for its missing mask, instead of float64's eight) when every answer code of
    the instrument fits, else ``Int16``; an instrument with wider codes is left out.

    Exact: the processed answers are the instrument's integer codes or missing, and
    :func:`item_matrix` turns them into the same floats as from a float64 column.
    """
    dtypes = {}
    for inst_id, inst in instruments.items():
        codes = np.asarray(inst.allowed_values)
        for name, info in (("Int8", np.iinfo(np.int8)), ("Int16", np.iinfo(np.int16))):
            if codes.size and info.min <= codes.min() and codes.max() <= info.max:
                dtypes.update({f"{inst_id}__{i}": name for i in inst.items})
                break
    return dtypes


def item_matrix(responses: pd.DataFrame, instrument: Instrument) -> np.ndarray:
    """The instrument's raw answers as a float matrix ``(rows, n_items)``; NaN = unanswered.

    Columns ``<id>__<item>`` absent from ``responses`` are items not administered (all NaN).
    Values that are not valid answer codes are set missing, with a warning naming the count.
    The matrix is column-major: each item is written as one contiguous column.

    Raises
    ------
    InputError
        When not a single item column of the instrument is present.
    """
    names = [f"{instrument.id}__{i}" for i in instrument.items]
    present = [j for j, c in enumerate(names) if c in responses.columns]
    if not present:
        raise InputError(
            f"scoring: no item column of {instrument.name} ('{names[0]}' …) in the responses; "
            f"is '{instrument.id}' mapped in the config's instruments?"
        )
    values = np.empty((len(responses), instrument.n_items), order="F")
    values[:, [j for j in range(instrument.n_items) if j not in present]] = np.nan
    allowed = np.asarray(instrument.allowed_values, dtype=float)
    outside = 0
    # Column by column: the answers (narrow codes) never pass through a second float matrix.
    for j in present:
        column = responses[names[j]]
        if not pd.api.types.is_numeric_dtype(column.dtype):
            column = pd.to_numeric(column, errors="coerce")
        values[:, j] = column.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isin(values[:, j], allowed) & ~np.isnan(values[:, j])
        if bad.any():
            outside += int(bad.sum())
            values[bad, j] = np.nan
    if outside:
        warnings.warn(
            f"{instrument.id}: {outside} item value(s) outside the answer codes "
            f"{list(instrument.allowed_values)} set missing before scoring.",
            stacklevel=2,
        )
    return values


def reverse(values: np.ndarray, instrument: Instrument) -> np.ndarray:
    """``(min + max) - x``: reversing twice is the identity."""
    return (instrument.response_min + instrument.response_max) - values


def _keyed(values: np.ndarray, instrument: Instrument, scale: Scale) -> np.ndarray:
    """The scale's columns of ``values`` in the scoring direction."""
    idx = np.asarray(scale.items) - 1
    cols = values[:, idx]
    if scale.reverse:
        flip = np.isin(np.asarray(scale.items), scale.reverse)
        cols = np.where(flip, reverse(cols, instrument), cols)
    return cols


def score_matrix(
    values: np.ndarray, instrument: Instrument, scale: Scale
) -> tuple[np.ndarray, np.ndarray]:
    """Score one scale from a raw item matrix (module docstring, rules 3–4).

    Returns
    -------
    (score, n_answered)
        Float scores (NaN when fewer than ``scale.min_answered`` items were answered) and the
        number of the scale's items answered, per row.
    """
    cols = _keyed(values, instrument, scale)
    answered = (~np.isnan(cols)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(cols, axis=1) / answered
    k = len(scale.items)
    if scale.method == "sum":
        score = mean * k
    elif scale.method == "percent":
        lo, hi = instrument.response_min, instrument.response_max
        score = (mean - lo) / (hi - lo) * 100.0
    else:
        score = mean
    return np.where(answered >= scale.min_answered, score, np.nan), answered


def categorise(scores: pd.Series, scale: Scale) -> pd.Series:
    """Published cut-off category of each score (missing when no score or no cut-offs)."""
    column = _category_column(scores.to_numpy(dtype=float), scale)
    return pd.Series(column, index=scores.index).astype("str")


def _category_column(score: np.ndarray, scale: Scale) -> pd.Categorical:
    """The cut-off category of each score as a categorical (a code per row, not a text)."""
    names = list(dict.fromkeys(band.label for band in scale.categories))
    codes = np.full(len(score), -1 if not names else 0, dtype=np.int8)
    for band in scale.categories[1:]:
        inside = score >= band.lower if band.inclusive else score > band.lower
        codes[inside] = names.index(band.label)
    codes[np.isnan(score)] = -1
    return pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype="str"))


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
        ``scores.csv``: one row per participant × timepoint × scale (instruments and scales
        in definition order, rows in input order within a scale) with ``score`` (NaN when too
        few items were answered), ``n_items``, ``n_answered`` and ``category``.
    """
    frames = list(score_parts(responses, instruments))
    if not frames:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    labels = dict.fromkeys(["instrument", "scale", "category"], "str")  # texts, as categorise
    return pd.concat(frames, ignore_index=True)[SCORE_COLUMNS].astype(labels)


def score_parts(responses: pd.DataFrame,
                instruments: dict[str, Instrument]) -> Iterator[pd.DataFrame]:  # fmt: skip
    """The rows of :func:`score_responses`, one scale at a time (``SCORE_COLUMNS``, in order).

    ``prepare`` writes ``scores.csv`` part by part: the long table of every scale (rows × scales
    rows) is never held whole. The labels ``instrument``, ``scale`` and ``category`` are
    categoricals (a code per row: the writer formats each label once).
    """
    ident = responses[["participant", "group", "timepoint"]].reset_index(drop=True)
    first = np.zeros(len(ident), dtype=np.int8)

    def label(text: str) -> pd.Categorical:
        return pd.Categorical.from_codes(first, categories=pd.Index([text], dtype="str"))

    for inst_id, inst in instruments.items():
        values = item_matrix(responses, inst)
        for scale in inst.scales.values():
            score, answered = score_matrix(values, inst, scale)
            part = ident.assign(
                instrument=label(inst_id),
                scale=label(scale.id),
                score=score,
                n_items=len(scale.items),
                n_answered=answered.astype(np.int64),
                category=_category_column(score, scale),
            )
            yield part[SCORE_COLUMNS]


def flag_counts(
    responses: pd.DataFrame,
    instruments: dict[str, Instrument],
    timepoints: list[str],
    groups: list[str],
) -> pd.DataFrame:
    """Safety flags counted per instrument × flag × group × timepoint (``flags.csv``).

    A response is flagged when any of the flag's items is answered within ``[min, max]``;
    ``n_responses`` counts responses with at least one of those items answered. Only counts
    leave this function: no participant, no row.
    """
    rows = []
    for inst_id, inst in instruments.items():
        if not inst.flags:
            continue
        values = item_matrix(responses, inst)
        for flag in inst.flags.values():
            x = values[:, np.asarray(flag.items) - 1]
            lo = -np.inf if flag.min is None else flag.min
            hi = np.inf if flag.max is None else flag.max
            hit = ((x >= lo) & (x <= hi)).any(axis=1)
            seen = (~np.isnan(x)).any(axis=1)
            frame = pd.DataFrame({"group": responses["group"].to_numpy(),
                                  "timepoint": responses["timepoint"].to_numpy(),
                                  "n_responses": seen, "n_flagged": hit})  # fmt: skip
            sums = frame.groupby(["group", "timepoint"]).sum()
            for g in groups:
                for tp in timepoints:
                    n, k = sums.loc[(g, tp)] if (g, tp) in sums.index else (0, 0)
                    rows.append((inst_id, flag.id, g, tp, int(n), int(k)))
    return pd.DataFrame(rows, columns=FLAG_COLUMNS)


def scale_items(responses: pd.DataFrame, instrument: Instrument, scale: Scale) -> pd.DataFrame:
    """The scale's items as a float DataFrame in the scoring direction (reverse items reversed)."""
    keyed = _keyed(item_matrix(responses, instrument), instrument, scale)
    return pd.DataFrame(keyed, index=responses.index,
                        columns=[f"{instrument.id}__{i}" for i in scale.items])  # fmt: skip


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
    return _alpha(items.dropna().to_numpy(dtype=float), confidence)


def _alpha(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, int]:
    """:func:`cronbach_alpha` of the complete cases ``values`` (rows x items)."""
    n, k = values.shape
    if n < 3 or k < 2:
        return (np.nan, np.nan, np.nan, int(n))
    item_var = values.var(axis=0, ddof=1).sum()
    total_var = values.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return (np.nan, np.nan, np.nan, int(n))
    alpha = k / (k - 1) * (1 - item_var / total_var)
    df1, df2 = n - 1, (n - 1) * (k - 1)
    tail = (1 - confidence) / 2
    low = 1 - (1 - alpha) * f_isf(tail, df1, df2)
    high = 1 - (1 - alpha) * f_isf(1 - tail, df1, df2)
    return (float(alpha), float(low), float(high), int(n))


def reliability(
    responses: pd.DataFrame, instruments: dict[str, Instrument], timepoints: list[str]
) -> pd.DataFrame:
    """Cronbach's alpha with 95% CI per scale per timepoint (``reliability.csv``).

    Single-item scales get NaN (alpha needs two items).
    """
    rows = []
    # Each timepoint's rows found once (not by comparing every row's text per scale).
    codes, labels = pd.factorize(responses["timepoint"])
    at = {tp: codes == labels.get_loc(tp) if tp in labels else np.zeros(len(codes), dtype=bool)
          for tp in timepoints}  # fmt: skip
    for inst_id, inst in instruments.items():
        found: dict[tuple[str, str], tuple] = {}
        columns = [c for c in (f"{inst_id}__{i}" for i in inst.items) if c in responses.columns]
        for tp in timepoints:
            # One timepoint's rows at a time: a third of the float matrix of every row. Values
            # outside the codes are named by the scoring's own warning, not once more here.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = item_matrix(responses.loc[at[tp], columns], inst)
            for scale in inst.scales.values():
                items = _keyed(values, inst, scale)
                # The complete cases of the timepoint, in row order, column-major: the array
                # DataFrame.dropna().to_numpy() gave (the same sums, to the bit).
                complete = ~np.isnan(items).any(axis=1)
                # Selected column by column (``items`` is column-major): Fortran order.
                found[(scale.id, tp)] = _alpha(items.T.compress(complete, axis=1).T)
            del values
        for scale in inst.scales.values():
            for tp in timepoints:
                alpha, low, high, n = found[(scale.id, tp)]
                rows.append((inst_id, scale.id, tp, n, alpha, low, high))
    return pd.DataFrame(
        rows, columns=["instrument", "scale", "timepoint", "n", "alpha", "ci_low", "ci_high"]
    )


def _item_moments(value: np.ndarray, key: np.ndarray, groups: int,
                  ends: tuple[int, int]) -> tuple:  # fmt: skip
    """Per group code of ``key``: answers ``n``, their mean and SD (ddof 1), and the shares
    of ``n`` at the two ``ends`` (floor, ceiling); NaN where there is nothing to divide by.

    Answers that are all whole numbers of a narrow range (codes) are counted per group and
    value in one pass, and the moments computed exactly from the counts (integer sums, one
    rounding each): the correctly rounded mean, and the variance, that pandas' grouped
    mean and variance approximate (its mean is the same to the bit). Other answers are
    grouped by pandas.
    """
    answered = ~np.isnan(value)
    present = value[answered]
    low = float(present.min()) if present.size else 0.0
    span = float(present.max()) - low if present.size else 0.0
    if span <= 1024 and np.array_equal(present, np.trunc(present)):
        width = int(span) + 1
        cells = key[answered] * width + (present - low).astype(np.int64)
        counts = np.bincount(cells, minlength=groups * width).reshape(groups, width)
        n = counts.sum(axis=1)
        mean, sd = np.full(groups, np.nan), np.full(groups, np.nan)
        codes = [int(low) + k for k in range(width)]
        for g in range(groups):
            size = int(n[g])
            if size == 0:
                continue
            total = sum(int(c) * v for c, v in zip(counts[g], codes, strict=True))
            squares = sum(int(c) * v * v for c, v in zip(counts[g], codes, strict=True))
            mean[g] = total / size  # Python's int division: correctly rounded
            if size > 1:
                sd[g] = math.sqrt((size * squares - total * total) / (size * (size - 1)))
        at = [counts[:, int(e - low)] if 0 <= e - low < width else np.zeros(groups, np.int64)
              for e in ends]  # fmt: skip
    else:
        grouped = pd.Series(value).groupby(key, sort=False)
        every = range(groups)
        n = np.bincount(key[answered], minlength=groups)
        mean = grouped.mean().reindex(every).to_numpy()
        sd = grouped.std().reindex(every).to_numpy()
        at = [np.bincount(key[value == e], minlength=groups) for e in ends]
    with np.errstate(invalid="ignore", divide="ignore"):
        return n, mean, sd, [a / n for a in at]


def item_descriptives(
    responses: pd.DataFrame, instruments: dict[str, Instrument], timepoints: list[str]
) -> pd.DataFrame:
    """Per item and timepoint: n answered, mean, SD, share missing, share at floor/ceiling.

    Raw answers (before reversing), administered items only.
    """
    frames = []
    # The timepoints as codes once for every item (a row without one is in no group).
    codes, labels = pd.factorize(responses["timepoint"])
    seen = codes >= 0
    key = codes[seen]
    total = np.bincount(key, minlength=len(labels))
    for inst_id, inst in instruments.items():
        cols = [f"{inst_id}__{i}" for i in inst.items if f"{inst_id}__{i}" in responses.columns]
        if not cols:
            continue
        # One item at a time (never a long table of all items: rows x items), grouped by the
        # timepoint codes found once for every item.
        per_item = []
        for col in cols:
            value = pd.to_numeric(responses[col], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan)[seen]  # fmt: skip
            n, mean, sd, shares = _item_moments(value, key, len(labels),
                                                (inst.response_min, inst.response_max))
            agg = pd.DataFrame({
                "n": n, "mean": mean, "sd": sd, "total": total,
                "floor_share": shares[0], "ceiling_share": shares[1],
            }, index=pd.MultiIndex.from_product([[col], labels],
                                                names=["column", "timepoint"]))  # fmt: skip
            per_item.append(agg)
        stats_ = pd.concat(per_item)
        grid = pd.MultiIndex.from_product([cols, timepoints], names=["column", "timepoint"])
        stats_ = stats_.reindex(grid).reset_index()
        stats_["n"] = stats_["n"].fillna(0).astype(np.int64)
        stats_["missing_share"] = (stats_["total"] - stats_["n"]) / stats_["total"]
        stats_["instrument"] = inst_id
        stats_["item"] = stats_["column"].str.rsplit("__", n=1).str[1].astype(np.int64)
        frames.append(stats_)
    columns = ["instrument", "item", "timepoint", "n", "mean", "sd", "missing_share",
               "floor_share", "ceiling_share"]  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]
