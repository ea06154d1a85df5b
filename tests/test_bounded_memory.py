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


# --- item answers stay one table of numbers; outputs written a part at a time -------------

TEXTS = st.one_of(st.none(), st.just(""), st.sampled_from(["P1", "=1+1", "a,b", 'say "hi"', " x"]),
                  st.text(alphabet='ab ,1\n\r"é', max_size=5))  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(TEXTS, st.one_of(st.none(), FLOATS), st.integers(-5, 10**12),
                               st.booleans(), TEXTS), min_size=1, max_size=15),
       split=st.integers(0, 15))  # fmt: skip
def test_the_csv_writer_writes_the_bytes_of_to_csv(tmp_path_factory, rows, split):
    from balint_analysis.csv_text import write_frame
    from balint_analysis.io import write_csv, write_csv_parts

    frame = pd.DataFrame(rows, columns=["participant", "score", "n", "flag", "category"])
    frame["score"] = frame["score"].astype("float64")
    frame["category"] = frame["category"].astype("str")
    folder = tmp_path_factory.mktemp("w")
    expected = frame.to_csv(index=False, lineterminator="\n", float_format="%.6g").encode()
    write_frame(frame, folder / "fast.csv", "%.6g")
    assert (folder / "fast.csv").read_bytes() == expected
    # Parts written one after the other are the stacked table (formula cells neutralised).
    write_csv(frame, folder / "whole.csv")
    parts = [frame.iloc[:split], frame.iloc[split:]]
    write_csv_parts(iter(parts), list(frame.columns), folder / "parts.csv")
    assert (folder / "parts.csv").read_bytes() == (folder / "whole.csv").read_bytes()


def test_item_columns_of_numbers_become_numbers_as_read_and_other_text_stays_text():
    from balint_analysis.validate.items import convert_items, numbers_where_exact

    frame = pd.DataFrame({"source": "pre.csv", "row": [2, 3, 4, 5],
                          "pss10__1": pd.Series(["1", " 2 ", None, "-0"], dtype="str"),
                          "pss10__2": pd.Series(["1", "nan", None, "3"], dtype="str"),
                          "pss10__3": pd.Series(["1", " ", "2", "4"], dtype="str"),
                          "pss10__4": pd.Series(["1", "two", "2", "4"], dtype="str"),
                          "group": pd.Series(["1", "2", "1", "2"], dtype="str")})  # fmt: skip
    read = numbers_where_exact(frame)
    assert read["pss10__1"].dtype == np.float64
    assert np.array_equal(read["pss10__1"], [1.0, 2.0, np.nan, -0.0], equal_nan=True)
    assert np.signbit(read["pss10__1"].iloc[3])  # "-0" is written back as "-0"
    # "nan", a blank and a word are each a problem convert_items reports: kept as text.
    assert [str(read[c].dtype) for c in ("pss10__2", "pss10__3", "pss10__4", "group")] == [
        "str", "str", "str", "str"]  # fmt: skip
    # The same numbers, values and problems as converting the text table in validation.
    from_text, problems_text = convert_items(frame)
    from_numbers, problems_numbers = convert_items(read)
    pd.testing.assert_frame_equal(from_numbers, from_text)
    pd.testing.assert_frame_equal(problems_numbers, problems_text)
    assert problems_text["row"].tolist() == [3, 3] and problems_text["column"].tolist() == [
        "pss10__2", "pss10__4"]  # fmt: skip


def test_validation_keeps_item_numbers_without_a_copy_of_the_answers():
    """Items that are numbers when read are kept as they are: no second table of answers
    (before: a float64 copy of every item column, plus a Python object array per column)."""
    from balint_analysis.validate.items import convert_items

    rng = np.random.default_rng(3)
    rows, items = 50_000, 20
    answers = {f"cbi__{i}": rng.integers(0, 5, rows) * 25.0 for i in range(1, items + 1)}
    frame = pd.DataFrame({"source": "pre.csv", "row": np.arange(2, rows + 2), **answers})
    tracemalloc.start()
    try:
        out, problems = convert_items(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems is None and all(out[c].dtype == np.float64 for c in answers)
    assert np.shares_memory(out["cbi__1"].to_numpy(), frame["cbi__1"].to_numpy())
    item_bytes = rows * items * 8
    assert peak < 0.1 * item_bytes, peak / item_bytes  # before: ~1.1x the items


def test_scores_are_written_a_scale_at_a_time_with_the_bytes_of_the_whole_table(tmp_path,
                                                                               monkeypatch):
    from balint_analysis.instruments import load_instrument
    from balint_analysis.io import write_csv_parts
    from balint_analysis.scoring import SCORE_COLUMNS, score_parts, score_responses

    instruments = {i: load_instrument(i) for i in ("mbi_hss", "cbi")}
    rng = np.random.default_rng(5)
    rows = 2_000
    items = {f"{i}__{k}": rng.integers(0, 5, rows) * step for i, n, step in
             (("mbi_hss", 22, 1.0), ("cbi", 19, 25.0)) for k in range(1, n + 1)}  # fmt: skip
    items["cbi__1"][::9] = np.nan
    responses = pd.DataFrame({"participant": [f"p{r % 700:05d}" for r in range(rows)],
                              "group": np.where(np.arange(rows) % 2, "balint", "control"),
                              "timepoint": "pre", **items})  # fmt: skip

    def traced_peak(write) -> int:
        tracemalloc.start()
        try:
            write()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # Rows are joined a chunk at a time (100,000 rows in a run; small here, as the table).
    monkeypatch.setattr("balint_analysis.csv_text.CHUNK_ROWS", 500)
    # Before: the whole table, written as write_csv did (floats_as_text, then to_csv).
    before = traced_peak(lambda: floats_as_text(score_responses(responses, instruments)).to_csv(
        tmp_path / "whole.csv", index=False, lineterminator="\n", float_format="%.6g"))
    after = traced_peak(lambda: write_csv_parts(score_parts(responses, instruments),
                                                SCORE_COLUMNS, tmp_path / "parts.csv"))  # fmt: skip
    assert (tmp_path / "parts.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    # Before: every scale's rows at once, twice (the parts and their concatenation), and
    # to_csv's text; after: one scale's rows and the item matrix they are scored from.
    assert after < 0.8 * before, after / before  # ~0.7 here


def test_exports_are_stacked_column_by_column_as_concat_stacks_them():
    """Columns missing from an export, text in one export and numbers in another: the same
    table (values and types) as ``pd.concat``, and the exports' frames are emptied on the way."""
    from balint_analysis.ingest.read import META, _stack

    def text(*values):
        return pd.Series(values, dtype="str")

    frames = [
        pd.DataFrame({"source": "a.csv", "row": [2, 3], "participant_id": text("x", None),
                      "cbi__1": [1.0, np.nan], "cbi__2": text("1", "two"),
                      "complete": [True, False]}),
        pd.DataFrame({"source": "b.csv", "row": [2], "participant_id": text("y"),
                      "group": text("g"), "cbi__2": [3.0], "pss10__1": [2.0],
                      "incomplete_forms": text("")}),
        pd.DataFrame({"source": "c.csv", "row": [5, 6], "participant_id": text("z", "w"),
                      "timepoint": text("pre", "pre"), "complete": [True, True]}),
    ]  # fmt: skip
    expected = pd.concat([f.copy() for f in frames], ignore_index=True)
    expected = expected[[c for c in META if c in expected] + [c for c in expected
                                                               if c not in META]]  # fmt: skip
    got = _stack(frames)
    pd.testing.assert_frame_equal(got, expected)
    assert got["cbi__2"].dtype == object and got["cbi__2"].tolist()[:3] == ["1", "two", 3.0]
    assert frames == []
