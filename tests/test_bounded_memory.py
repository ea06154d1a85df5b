"""Ingest and the hand-over between prepare's steps in bounded memory, with unchanged results
(issue 14, "Memory at scale"; the 3 x 1 M-row figures are benchmark W5, benchmarks/README.md)."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from balint_analysis.ingest.detect import read_table
from balint_analysis.io import floats_as_text
from balint_analysis.pipeline import _csv_round_trip


def _export(rows: int, items: int = 40) -> bytes:
    """A Qualtrics-like export: id, time stamp and answers coded 10/35/60/85/110 (codes of
    more than one character: one string object per cell unless equal cells are shared)."""
    rng = np.random.default_rng(7)
    header = "id,submitted," + ",".join(f"Q{i}" for i in range(items))
    lines = [f"P{r:06d},2026-01-01 10:{r % 60:02d}:00,"
             + ",".join(str(25 * v + 10) for v in rng.integers(0, 5, items))
             for r in range(rows)]  # fmt: skip
    return ("\ufeff" + "\n".join([header, *lines]) + "\n").encode("utf-8")


def test_reading_an_export_takes_a_few_times_its_size_not_twenty():
    data = _export(20_000)
    tracemalloc.start()
    try:
        table = read_table(data, "pre.csv")
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(table.records) == 20_001 and table.records[0][:2] == ["id", "submitted"]
    # Before: ~17x the file held and ~23x at the peak (a StringIO of the text at 4 bytes per
    # character; a separate string object for every answer cell).
    assert held < 6 * len(data), held / len(data)
    assert peak < 8 * len(data), peak / len(data)


def test_equal_cells_share_one_string_and_rows_keep_their_line_numbers():
    data = b'\xef\xbb\xbf\xef\xbb\xbfid;q1\r\n\r\nA;110\r\n"B\nB";110\r\n;\r\nC;35\r\n'
    table = read_table(data, "x.csv")
    assert table.records == [["id", "q1"], ["A", "110"], ["B\nB", "110"], ["C", "35"]]
    assert table.positions == [1, 3, 4, 6]  # records counted: a blank one, an empty one skipped
    assert table.records[1][1] is table.records[2][1]
    assert table.delimiter == ";" and table.encoding == "utf-8-sig"


FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, -0.0, 1.0, 2.5, 1e6, 123456.5, 1e-7]))  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(values=st.lists(FLOATS, min_size=1, max_size=30), repeat=st.integers(1, 40))
def test_floats_written_as_text_are_byte_identical(values, repeat):
    frame = pd.DataFrame({"a": values * repeat, "b": [v * 3 for v in values] * repeat,
                          "t": ["x"] * (len(values) * repeat)})  # fmt: skip
    frame["i"] = np.arange(len(frame))
    options = {"index": False, "lineterminator": "\n", "float_format": "%.6g"}
    assert floats_as_text(frame).to_csv(**options) == frame.to_csv(**options)


def _whole_table_round_trip(frame, **read_options):
    """The hand-over as it was: the whole table through one CSV text."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n", float_format="%.6g")
    buffer.seek(0)
    return pd.read_csv(buffer, **read_options)


CELLS = st.one_of(st.none(), st.just(""), st.sampled_from(["P1", "007", "1.5", "NA", "a,b"]),
                  st.text(alphabet="ab 1\n\"", max_size=4))  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(CELLS, st.one_of(st.none(), st.integers(0, 6)),
                               st.one_of(st.none(), FLOATS), st.booleans(), CELLS),
                     min_size=0, max_size=12))  # fmt: skip
def test_the_column_by_column_hand_over_equals_the_whole_table_round_trip(rows):
    frame = pd.DataFrame(rows, columns=["participant_id", "mbi_hss__1", "duration_s",
                                        "complete", "timepoint"])  # fmt: skip
    frame["mbi_hss__1"] = frame["mbi_hss__1"].astype("float64")
    options = {"dtype": {"participant_id": str, "timepoint": str}}
    expected = _whole_table_round_trip(frame, **options)
    got = _csv_round_trip(frame, **options)
    pd.testing.assert_frame_equal(got, expected)


def test_a_column_mixing_numbers_and_text_is_written_whole():
    """``read_csv`` types a column per chunk of rows: numbers and text mixed could come back
    as numbers in one chunk and text in another, so only the whole column gives its values."""
    from balint_analysis.handover import column_from_uniques
    from balint_analysis.pipeline import _csv_bytes_round_trip

    mixed = pd.Series(["5", "x", None, "5"], dtype="str")
    assert column_from_uniques(mixed, "a", "a_", _csv_bytes_round_trip, False) is None
    text = pd.Series(["P1", None, "P1", "1_0x"], dtype="str")
    got = column_from_uniques(text, "a", "a_", _csv_bytes_round_trip, False)
    assert got is not None and got.isna().tolist() == [False, True, False, False]
    forced = column_from_uniques(mixed, "a", "a_", _csv_bytes_round_trip, True, dtype=str)
    assert forced.tolist()[:2] == ["5", "x"]
