"""Ingest and the hand-over between prepare's steps in bounded memory, with unchanged results
(issue 14, "Memory at scale"; the 3 x 1 M-row figures are benchmark W5, benchmarks/README.md)."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balint_analysis.handover import csv_round_trip as _csv_round_trip
from balint_analysis.ingest.detect import read_table
from balint_analysis.io import floats_as_text


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
    # character; a separate string object for every answer cell); then ~6.3x at the peak (the
    # decoded text and its UTF-8 copy held while parsing); then ~4.4x (parsed from the file's
    # own bytes, the text let go first); now ~4.1x, ~2.8x held (pandas' C parser, one array
    # per column filled a few thousand records at a time).
    assert held < 6 * len(data), held / len(data)
    assert peak < 5 * len(data), peak / len(data)


@pytest.mark.parametrize(("data", "encoding", "used"), [
    (b"\xef\xbb\xbf\xef\xbb\xbfid,q1\r\nA,\xc5\x81\r\n", None, "utf-8-sig"),
    (b"\xef\xbb\xbfid,q1\nA,\xc5\x81\n", "utf-8", "utf-8"),  # the mark stays in the text
    (b"\xef\xbb\xbfid,q1\nA,\xc5\x81\n", "UTF8", "UTF8"),
    (b"id,q1\nA,\xc5\x81\n", None, "utf-8"),
    ("id,q1\nA,Ł\n".encode("utf-16"), None, "utf-16"),
    (b"id,q1\nA,\xa3\n", "cp1250", "cp1250"),  # 0xA3: "Ł" in Windows-1250
])  # fmt: skip
def test_records_are_the_same_whichever_bytes_they_are_parsed_from(data, encoding, used):
    """UTF-8 files are parsed from their own bytes (byte-order marks skipped), others from
    their text encoded once: the same records either way."""
    table = read_table(data, "x.csv", encoding=encoding)
    assert table.encoding == used
    assert table.records == [["id", "q1"], ["A", "Ł"]]


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
    from balint_analysis.handover import csv_bytes_round_trip as _csv_bytes_round_trip

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


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(TEXTS, st.one_of(st.none(), FLOATS), TEXTS), min_size=1,
                     max_size=12),
       extra=st.sampled_from([[], ["'=1+1"], ["=1+1", "'=1+1"]]))  # fmt: skip
def test_text_columns_as_categories_are_written_as_the_texts(tmp_path_factory, rows, extra):
    """The score step writes its repeated labels as categories: the same bytes, formula
    cells neutralised in the categories (also when a neutralised text is one already)."""
    from balint_analysis.csv_text import write_frame
    from balint_analysis.io import write_csv

    frame = pd.DataFrame(rows, columns=["participant", "score", "group"])
    frame["score"] = frame["score"].astype("float64")
    frame["group"] = frame["group"].astype("str")
    labels = frame.assign(participant=frame["participant"].astype("category"),
                          group=pd.Categorical(frame["group"], categories=list(dict.fromkeys(
                              [*frame["group"].dropna().unique(), *extra]))))  # fmt: skip
    folder = tmp_path_factory.mktemp("c")
    write_frame(labels, folder / "labels.csv", "%.6g")
    expected = frame.to_csv(index=False, lineterminator="\n", float_format="%.6g").encode()
    assert (folder / "labels.csv").read_bytes() == expected
    write_csv(frame, folder / "text.csv")
    write_csv(labels, folder / "safe.csv")
    assert (folder / "safe.csv").read_bytes() == (folder / "text.csv").read_bytes()


@pytest.mark.parametrize("slack", [1 << 20, 0])
def test_the_writer_gathers_rows_in_chunks_of_bounded_bytes(tmp_path, monkeypatch, slack):
    """Rows of very different widths (a long text, missing first cells) over many chunks,
    cell by cell from padded texts or, when the long text makes padding too costly (no
    slack), byte by byte."""
    from balint_analysis import csv_text

    monkeypatch.setattr(csv_text, "CHUNK_BYTES", 64)
    monkeypatch.setattr(csv_text, "PADDING_SLACK_BYTES", slack)
    padded, pad = [], csv_text._padded_tables

    def spy(columns):
        padded.append(pad(columns))
        return padded[-1]

    monkeypatch.setattr(csv_text, "_padded_tables", spy)
    short = [f"t{i}" if i % 3 else None for i in range(30)]  # many texts besides the long one
    frame = pd.DataFrame({"a": ["x" * 100, None, "", "é,\"q\"", None] + short,
                          "b": [1.5, -0.0, np.nan, 3, 1e-7] * 7,
                          "codes": pd.array([-3, None, 4, 0, 127] * 7, dtype="Int8"),
                          "wide": pd.array([-3000, None, 4, 0, 30000] * 7, dtype="Int16"),
                          "none": pd.array([None] * 35, dtype="Int8")})  # fmt: skip
    csv_text.write_frame(frame, tmp_path / "f.csv", "%.6g")
    expected = frame.to_csv(index=False, lineterminator="\n", float_format="%.6g").encode()
    assert (tmp_path / "f.csv").read_bytes() == expected
    assert (padded[0] is None) == (slack == 0)


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


def test_answers_are_narrowed_only_where_exact_and_written_as_before(tmp_path):
    from balint_analysis.csv_text import write_frame
    from balint_analysis.handover import narrowed

    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "x__1": [1.0, np.nan, 0.0, 25.0],
                          "x__2": [3, 2, 1, -4], "x__3": [np.nan] * 4})  # fmt: skip
    narrow = frame.assign(**{c: narrowed(frame[c], "Int8") for c in ("x__1", "x__2", "x__3")})
    assert narrow.dtypes[1:].tolist() == [pd.Int8Dtype()] * 3
    assert narrow["x__1"].tolist() == [1, pd.NA, 0, 25]
    write_frame(frame, tmp_path / "float.csv", "%.6g")
    write_frame(narrow, tmp_path / "codes.csv", "%.6g")
    assert (tmp_path / "codes.csv").read_bytes() == (tmp_path / "float.csv").read_bytes() == (
        b"id,x__1,x__2,x__3\na,1,3,\nb,,2,\nc,0,1,\nd,25,-4,\n")
    # Not exact: a fraction, -0.0 (written "-0"), beyond the type, text.
    for values in ([1.5, 2.0], [-0.0, 2.0], [300.0, 1.0], ["1", "2"]):
        assert narrowed(pd.Series(values), "Int8").dtype == pd.Series(values).dtype
    assert narrowed(pd.Series([300.0, np.nan]), "Int16").dtype == pd.Int16Dtype()


def _score_config():
    """What score_stage reads of a config: instruments and the design."""
    from types import SimpleNamespace

    from balint_analysis.instruments import load_instrument

    instruments = {i: load_instrument(i) for i in ("mbi_hss", "cbi")}
    design = SimpleNamespace(timepoints=("pre", "post"), groups=("balint", "control"))
    return SimpleNamespace(instruments=instruments, design=design)


def test_the_score_step_holds_answers_as_int8_codes_with_the_same_outputs(tmp_path,
                                                                         monkeypatch):
    """scores.csv, reliability.csv, items.csv and flags.csv from answers read as Int8 codes
    are those from float64 answers, at a lower traced peak (before: 8 bytes a cell)."""
    from balint_analysis import scoring
    from balint_analysis.io import write_csv
    from balint_analysis.pipeline import score_stage

    cfg = _score_config()
    rng = np.random.default_rng(11)
    rows = 6_400
    items = {}
    for inst_id, inst in cfg.instruments.items():
        codes = np.asarray(inst.allowed_values, dtype=float)
        for k in inst.items:
            column = rng.choice(codes, rows)
            column[rng.random(rows) < 0.05] = np.nan
            items[f"{inst_id}__{k}"] = column
    responses = pd.DataFrame({"participant": [f"p{r % 800:05d}" for r in range(rows)],
                              "timepoint": np.where(np.arange(rows) < 800, "pre", "post"),
                              "group": np.where(np.arange(rows) % 2, "balint", "control"),
                              "source": "x.csv", "row": np.arange(rows), **items})  # fmt: skip
    write_csv(responses, tmp_path / "responses.csv")
    assert set(scoring.answer_dtypes(cfg.instruments).values()) == {"Int8"}

    seen = {}
    real_parts = scoring.score_parts

    def spy(frame, instruments):
        seen["dtypes"] = {frame[c].dtype for c in items}
        return real_parts(frame, instruments)

    monkeypatch.setattr(scoring, "score_parts", spy)

    def run(name: str) -> tuple[int, dict[str, bytes]]:
        out = {key: str(tmp_path / f"{name}_{key}.csv")
               for key in ("scores", "reliability", "item_stats", "flags")}  # fmt: skip
        tracemalloc.start()
        try:
            score_stage(cfg, {"responses": str(tmp_path / "responses.csv")}, out)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return peak, {key: Path(path).read_bytes() for key, path in out.items()}

    import balint_analysis.distributions  # noqa: F401  (imported by the step: not traced)

    run("warm-up")  # what the step imports and caches on first use is not counted below
    peak, outputs = run("codes")
    assert seen["dtypes"] == {pd.Int8Dtype()}
    monkeypatch.setattr(scoring, "answer_dtypes", lambda instruments: {})  # as before: float64
    float_peak, float_outputs = run("float")
    assert seen["dtypes"] == {np.dtype("float64")}
    assert outputs == float_outputs
    # ~0.85 here (0.78 at 1,600 rows before the score step's writing and statistics were
    # made faster): the float working copies of one instrument's items, the same in both
    # runs, now hold most of the peak.
    assert peak < 0.9 * float_peak, peak / float_peak


def _worker_dies(*args) -> None:
    import os

    os._exit(3)  # as a worker killed by the system would: no exception, no message


def test_the_score_step_in_two_processes_writes_the_same_files(tmp_path, monkeypatch):
    """threads=2: scores.csv from one forked process, the other outputs from another; the
    bytes of the one-process step. A worker that dies is one line, not a traceback."""
    from balint_analysis import pipeline
    from balint_analysis.errors import InputError
    from balint_analysis.io import write_csv

    cfg = _score_config()
    rng = np.random.default_rng(5)
    rows = 300
    items = {f"{i}__{k}": rng.choice([*inst.allowed_values, np.nan], rows)
             for i, inst in cfg.instruments.items() for k in inst.items}  # fmt: skip
    responses = pd.DataFrame({"participant": [f"p{r % 150:03d}" for r in range(rows)],
                              "timepoint": np.where(np.arange(rows) < 150, "pre", "post"),
                              "group": np.where(np.arange(rows) % 2, "balint", "control"),
                              "source": "x.csv", "row": np.arange(rows), **items})  # fmt: skip
    write_csv(responses, tmp_path / "responses.csv")
    inp = {"responses": str(tmp_path / "responses.csv")}
    written = {}
    for threads in (1, 2):
        out = {key: str(tmp_path / f"{threads}_{key}.csv")
               for key in ("scores", "reliability", "item_stats", "flags")}  # fmt: skip
        pipeline.score_stage(cfg, inp, out, threads=threads)
        written[threads] = {key: Path(path).read_bytes() for key, path in out.items()}
    assert written[2] == written[1] and len(written[1]["scores"]) > 10_000
    monkeypatch.setattr(pipeline, "_write_outputs", _worker_dies)
    with pytest.raises(InputError, match=r"^a process scoring the responses ended unexpectedly"):
        pipeline.score_stage(cfg, inp, out, threads=2)


def test_validation_of_answers_held_as_integer_codes_is_that_of_their_floats(tiny_cohort,
                                                                            monkeypatch):
    """Exact answers are Int8 codes from ingest on (a quarter of float64's memory): the same
    rejections (an out-of-range code, text next to codes in another export), flow, flags,
    accepted values and hand-over as when they were float64."""
    from balint_analysis import scoring
    from balint_analysis.pipeline import read_inputs
    from balint_analysis.validate import validate

    cfg = tiny_cohort["config"]

    def run():
        responses, roster, info = read_inputs(cfg)
        return responses, validate(responses, roster, cfg, info)

    narrow = scoring.answer_dtypes(cfg.instruments)
    responses, codes = run()
    assert responses["mbi_hss__5"].dtype == pd.Int8Dtype()  # holds the out-of-range 7
    assert responses["pss10__3"].dtype == object  # "N/A" in one export, codes in the other
    monkeypatch.setattr(scoring, "answer_dtypes", lambda instruments: {})  # as before
    float_responses, floats = run()
    assert float_responses["mbi_hss__5"].dtype == np.float64
    assert ("MBI_5", "7") in set(zip(codes.rejected["column"], codes.rejected["value"],
                                     strict=True))  # fmt: skip
    pd.testing.assert_frame_equal(codes.rejected, floats.rejected)
    pd.testing.assert_frame_equal(codes.flags, floats.flags)
    assert codes.flow == floats.flow
    items = [c for c in floats.valid if "__" in c]
    assert codes.valid["mbi_hss__1"].dtype == pd.Int8Dtype()
    pd.testing.assert_frame_equal(codes.valid.astype(dict.fromkeys(items, "float64")),
                                  floats.valid)  # fmt: skip
    options = {"dtype": {"participant_id": str, "timepoint": str}, "narrow": narrow}
    pd.testing.assert_frame_equal(_csv_round_trip(codes.valid, **options),
                                  _csv_round_trip(floats.valid, **options))  # fmt: skip


def test_exports_stack_codes_where_every_export_holds_codes_else_the_floats_they_stand_for():
    from balint_analysis.ingest.read import _stack

    def frames(narrow: bool):
        def codes(values, dtype):
            return pd.array(values, dtype=dtype) if narrow else np.array(values, dtype=float)

        return [pd.DataFrame({"row": [2, 3], "a__1": codes([1, None], "Int8"),
                              "b__1": codes([1, 2], "Int8"), "c__1": codes([3, 4], "Int8")}),
                pd.DataFrame({"row": [2], "a__1": codes([300], "Int16"), "b__1": [2.5],
                              "c__1": pd.Series(["x"], dtype="str")}),
                pd.DataFrame({"row": [2]})]  # fmt: skip

    stacked, floats = _stack(frames(True)), _stack(frames(False))
    assert [str(stacked[c].dtype) for c in ("a__1", "b__1", "c__1")] == ["Int16", "float64",
                                                                          "object"]  # fmt: skip
    assert stacked["a__1"].tolist() == [1, pd.NA, 300, pd.NA]
    pd.testing.assert_frame_equal(stacked.astype({"a__1": "float64"}), floats)
