"""Duplicate submissions: the order on codes keeps the rows the text sort kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from balint_analysis.validate import duplicates

ROW = st.tuples(
    st.sampled_from(["P1", "P2", "p1", "0712", "Ä"]),  # participant
    st.sampled_from(["pre", "post"]),  # timepoint
    st.one_of(st.none(), st.sampled_from(["2024-03-01 10:00", "2024-03-01 09:00",
                                          "2024-02-29T23:59:59", "not a date"])),  # fmt: skip
    st.booleans(),  # answered
)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(ROW, max_size=12), excluded=st.sets(st.integers(0, 11), max_size=3))
def test_the_order_on_codes_rejects_the_rows_the_text_sort_rejects(rows, excluded):
    frame = pd.DataFrame({
        "participant_id": [r[0] for r in rows], "timepoint": [r[1] for r in rows],
        "submitted_at": pd.Series([r[2] for r in rows], dtype=object),
        "source": "a.csv", "row": np.arange(2, 2 + len(rows)),
        "mbi_hss__1": pd.array([1 if r[3] else None for r in rows], dtype="Int8"),
    })  # fmt: skip
    fast = duplicates.duplicate_submissions(frame, set(excluded))
    real = duplicates._latest_last
    try:
        duplicates._latest_last = lambda rows: None  # the sort_values path
        slow = duplicates.duplicate_submissions(frame, set(excluded))
    finally:
        duplicates._latest_last = real
    key = ["_index", "reason"]
    pd.testing.assert_frame_equal(
        fast.sort_values(key).reset_index(drop=True)[key].astype(str),
        slow.sort_values(key).reset_index(drop=True)[key].astype(str))
