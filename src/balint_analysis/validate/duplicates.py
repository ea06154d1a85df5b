"""Duplicate submissions: all but the latest answered one per participant x timepoint are
rejected, each naming the row kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from balint_analysis.validate.accounting import REJECTED_COLUMNS, ROW_EXCLUDED
from balint_analysis.validate.items import item_columns

__all__ = ["duplicate_submissions"]


def _latest_last(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """A row order with each participant x timepoint's rows together, by answered, time
    (missing first) and position within them, and each row's participant x timepoint key
    in that order; from codes of the distinct participants and timepoints (a sort comparing
    strings row by row took most of the step). ``None`` where a participant or timepoint is
    missing or the times are not plain date-times.

    The pairs come in the order their codes give, not sorted by text: which row of a pair is
    kept depends only on the order within it.
    """
    when = rows["_when"]
    if (rows["participant_id"].isna().any() or rows["timepoint"].isna().any()
            or when.dtype.kind != "M" or getattr(when.dtype, "tz", None) is not None):  # fmt: skip
        return None
    participant = pd.factorize(rows["participant_id"])[0].astype(np.int64)
    timepoint, timepoints = pd.factorize(rows["timepoint"])
    key = participant * max(len(timepoints), 1) + timepoint
    times = when.to_numpy().view(np.int64)  # a missing time is the smallest: first
    order = np.lexsort((rows["_pos"].to_numpy(), times, rows["_answered"].to_numpy(), key))
    return order, key[order]


def duplicate_submissions(df: pd.DataFrame, excluded: set | None = None) -> pd.DataFrame:
    """Reject all but the latest answered submission per participant × timepoint, among the
    rows of ``df`` whose labels are not in ``excluded`` (already rejected)."""
    answered = np.zeros(len(df), dtype=bool)
    for col in item_columns(df):  # column by column: no rows x items table of flags
        answered |= df[col].notna().to_numpy()
    # Only the columns the decision and the reason use, of the rows not yet rejected: a copy
    # of the whole table (every answer) was made for this.
    keep = ~df.index.isin(list(excluded or ()))
    slim = df.loc[keep, ["participant_id", "timepoint", "source", "row"]]
    when = pd.to_datetime(df.loc[keep, "submitted_at"], errors="coerce", format="mixed")
    order = slim.assign(_answered=answered[keep], _when=when, _pos=np.arange(len(slim)))
    by_codes = _latest_last(order)
    if by_codes is not None:
        rank, key = by_codes
        order = order.iloc[rank]
        # All but the last row of each participant x timepoint (its rows are adjacent).
        dup = pd.Series(np.append(key[:-1] == key[1:], False) if len(key) else key == 0,
                        index=order.index)  # fmt: skip
    else:
        order = order.sort_values(["participant_id", "timepoint", "_answered", "_when", "_pos"],
                                  na_position="first")  # fmt: skip
        dup = order.duplicated(["participant_id", "timepoint"], keep="last")
    if not dup.any():
        return pd.DataFrame(columns=[*REJECTED_COLUMNS, "_index", "_row_level"])
    losers = order[dup]
    # Only the kept rows of a duplicated participant: an index over all of them took ~1 s.
    kept = order[~dup]
    kept = kept[kept["participant_id"].isin(losers["participant_id"])].set_index(
        ["participant_id", "timepoint"])
    keys = list(zip(losers["participant_id"], losers["timepoint"], strict=True))
    kept_rows = [f"{Path(kept.loc[k, 'source']).name} row {kept.loc[k, 'row']}" for k in keys]
    return pd.DataFrame(
        {
            "source": losers["source"].to_numpy(),
            "row": losers["row"].to_numpy(),
            "column": "participant_id",
            "reason": [f"duplicate submission (kept the latest: {k})" for k in kept_rows],
            "action": ROW_EXCLUDED,
            "value": "",
            "_index": losers.index.to_numpy(),
            "_row_level": True,
        }
    )
