"""Careless-responding and platform quality flags: reported in ``careless.csv``, never deleted.

* ``longstring``: the longest run of identical consecutive answers within one instrument
  (``careless::longstring``; a missing answer breaks the run). Flagged when the run covers at
  least ``longstring_share`` of the instrument's items and the instrument mixes keying
  directions (reverse-keyed items or scales scored in opposite directions), where a straight
  line cannot be a consistent answer.
* ``too fast``: completion time below ``min_seconds_per_item`` × items administered, when the
  platform records a duration.
* platform flags (Qualtrics reCAPTCHA / RelevantID / ballot-box stuffing).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from balint_analysis.instruments import Instrument

__all__ = ["FLAG_COLUMNS", "careless_flags", "longstring"]

FLAG_COLUMNS = ["source", "row", "timepoint", "group", "flag", "instrument", "value",
                "threshold"]  # fmt: skip


def longstring(values: np.ndarray) -> np.ndarray:
    """Longest run of identical consecutive non-missing values in each row of a 2-D array."""
    n, k = values.shape
    return _longest_runs((values[:, j] for j in range(k)), n)


def _longest_runs(columns: Iterable[np.ndarray], n: int) -> np.ndarray:
    """:func:`longstring` of the 2-D array whose columns ``columns`` yields in order, one
    column at a time (an instrument's answers never copied into one float matrix)."""
    best = np.zeros(n, dtype=np.int64)
    previous = run = None
    for column in columns:
        if previous is None:
            run = np.where(np.isnan(column), 0, 1)
            best = run.copy()
        else:
            same = (column == previous) & ~np.isnan(column)
            run = np.where(same, run + 1, np.where(np.isnan(column), 0, 1))
            best = np.maximum(best, run)
        previous = column
    return best


def _mixed_keying(inst: Instrument) -> bool:
    scales = inst.scales.values()
    return any(s.reverse for s in scales) or len({s.direction for s in scales}) > 1


def careless_flags(valid: pd.DataFrame, instruments: dict[str, Instrument], *,
                   longstring_share: float, min_seconds_per_item: float) -> pd.DataFrame:
    """One row per flag raised on an accepted response (columns :data:`FLAG_COLUMNS`)."""
    parts = []
    base = valid[["source", "row", "timepoint"]].assign(
        group=valid.get("group", pd.NA)
    )

    def add(mask: np.ndarray, flag: str, instrument: str, value, threshold: str) -> None:
        if mask.any():
            part = base[mask].assign(flag=flag, instrument=instrument, threshold=threshold)
            part["value"] = np.asarray(value)[mask] if np.ndim(value) else value
            parts.append(part)

    n_items = 0
    for inst_id, inst in instruments.items():
        cols = [c for c in valid.columns if c.startswith(f"{inst_id}__")]
        cols.sort(key=lambda c: int(c.rsplit("__", 1)[1]))
        n_items += len(cols)
        if not cols or not _mixed_keying(inst):
            continue
        ls = _longest_runs((valid[c].to_numpy(dtype=float, na_value=np.nan) for c in cols),
                           len(valid))  # fmt: skip
        need = int(np.ceil(longstring_share * len(cols)))
        add(ls >= need, "longstring", inst_id, ls, f">= {need} of {len(cols)} items")
    if "duration_s" in valid and n_items:
        seconds = pd.to_numeric(valid["duration_s"], errors="coerce").to_numpy(dtype=float)
        limit = min_seconds_per_item * n_items
        add(seconds < limit, "too fast", "", seconds, f"< {limit:g} s ({n_items} items)")
    if "quality" in valid:
        quality = valid["quality"].fillna("").astype("str")
        # Each distinct cell split once (a column repeats a few flag combinations).
        for flag in sorted({f for q in quality.unique() for f in q.split(";") if f}):
            add(quality.str.contains(flag, regex=False).to_numpy(), flag, "", "", "platform")
    if not parts:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    out = pd.concat(parts, ignore_index=True)[FLAG_COLUMNS]
    return out.sort_values(["source", "row", "flag"], kind="stable").reset_index(drop=True)
