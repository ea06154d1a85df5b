"""The in-memory hand-over between ingest and validation equals a CSV written and read back."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from balint_analysis.handover import csv_round_trip as _csv_round_trip
from balint_analysis.handover import text_round_trip as _text_round_trip

# A lone carriage return is written unquoted by pandas' CSV writer and read back as a line
# break: the CSV round trip itself breaks on it (the in-memory hand-over keeps it, see below).
# Lone surrogates (no UTF-8 form) are left out: the CSV round trip cannot write them at all.
PLAIN = st.text(alphabet=st.characters(codec="utf-8", blacklist_characters="\r\x00"),
                max_size=12)
SPECIAL = st.sampled_from(["NA", "nan", " ", "1,5", 'q"u', "a\nb", "=1+1", "-99"])
TEXT = st.one_of(st.none(), st.just(""), PLAIN, SPECIAL)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(TEXT, TEXT, st.booleans(), st.integers(2, 10**6)), max_size=8))
def test_text_hand_over_equals_the_csv_round_trip(rows):
    frame = pd.DataFrame(rows, columns=["participant_id", "mbi_hss__1", "complete", "row"])
    frame["participant_id"] = frame["participant_id"].astype("str")
    via_csv = _csv_round_trip(frame, dtype=str, keep_default_na=False, na_values=[""])
    if "row" in via_csv and len(via_csv):
        via_csv["row"] = via_csv["row"].astype(int)
    fast = _text_round_trip(frame)
    if len(frame):
        pd.testing.assert_frame_equal(fast, via_csv, check_dtype=False)
        assert fast.isna().equals(via_csv.isna())


def test_a_carriage_return_in_a_cell_survives_the_hand_over():
    frame = pd.DataFrame({"row": [2], "participant_id": ["A\rB"], "complete": [True]})
    out = _text_round_trip(frame)
    assert out.loc[0, "participant_id"] == "A\rB" and out.loc[0, "complete"] == "True"


ANSWER = st.one_of(st.none(), st.sampled_from(["", "0", "1", "4", "-1", "2.5", "1e2", "300",
                                                "nan", "N/A", " 3", "-0"]))  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.tuples(ANSWER, ANSWER, ANSWER, st.booleans(),
                               st.one_of(st.none(), st.floats(-5, 5))), max_size=8))
def test_the_export_hand_over_equals_numbers_read_from_the_text_round_trip(rows):
    """``read_inputs``' per-export hand-over converts each distinct answer once; it gives what
    reading the numbers from the text round trip gives (dtype, values, columns left text)."""
    from balint_analysis.handover import hand_over as _hand_over
    from balint_analysis.validate.items import numbers_where_exact

    frame = pd.DataFrame(rows, columns=["mbi_hss__1", "mbi_hss__2", "pss10__1", "complete",
                                        "duration_s"])  # fmt: skip
    for col in ("mbi_hss__1", "mbi_hss__2", "pss10__1"):
        frame[col] = frame[col].astype("str")
    frame.insert(0, "row", range(2, 2 + len(frame)))
    narrow = {"mbi_hss__1": "Int8", "mbi_hss__2": "Int8", "pss10__1": "Int16"}
    expected = numbers_where_exact(_text_round_trip(frame), narrow)
    fused = _hand_over(frame, narrow)
    assert list(fused.dtypes) == list(expected.dtypes)
    pd.testing.assert_frame_equal(fused, expected, check_exact=True)
    # Answers read as categoricals of their texts (``read_export(item_codes=True)``), also
    # with a category no row holds: the same hand-over.
    codes = frame.astype({c: "category" for c in narrow})
    codes["pss10__1"] = codes["pss10__1"].cat.add_categories(["unused text"])
    pd.testing.assert_frame_equal(_hand_over(codes, narrow), expected, check_exact=True)


CODE = st.one_of(st.none(), st.integers(-128, 127))


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.tuples(CODE, CODE, TEXT), max_size=8))
def test_answers_held_as_codes_are_handed_over_as_the_csv_round_trip_reads_them(rows):
    """An answer column already in its narrow dtype is passed on as it is: exactly the column
    written as CSV, read back and narrowed, whatever else the table holds."""
    from balint_analysis.handover import csv_bytes_round_trip, narrowed

    frame = pd.DataFrame(rows, columns=["mbi_hss__1", "pss10__1", "participant_id"])
    frame = frame.astype({"mbi_hss__1": "Int8", "pss10__1": "Int16", "participant_id": "str"})
    narrow = {"mbi_hss__1": "Int8", "pss10__1": "Int16"}
    fast = _csv_round_trip(frame, narrow=narrow, dtype={"participant_id": str})
    if not len(frame):
        return
    whole = csv_bytes_round_trip(frame, dtype={"participant_id": str})
    expected = whole.assign(**{c: narrowed(whole[c], t) for c, t in narrow.items()})
    pd.testing.assert_frame_equal(fast, expected, check_exact=True)


def test_the_score_step_sees_in_memory_what_it_reads_back_from_responses_csv(tmp_path):
    """prepare scores the pseudonymised table from memory (``as_read_back``): the values
    ``score_stage`` reads from the written ``responses.csv`` — a group label "01" as the
    number 1, a formula-like text neutralised, "nan" missing, answers as their codes."""
    from types import SimpleNamespace

    import numpy as np

    from balint_analysis.instruments import load_instrument
    from balint_analysis.io import write_csv
    from balint_analysis.pipeline import _SCORED_TEXT, _scored, as_read_back
    from balint_analysis.scoring import answer_dtypes

    cfg = SimpleNamespace(instruments={"cbi": load_instrument("cbi")})
    narrow = answer_dtypes(cfg.instruments)
    rows = 6
    frame = pd.DataFrame({
        "participant": ["0a1", "0a1", "nan", "b2", "=x", "b2"],
        "timepoint": ["pre", "post", "pre", "pre", "post", "post"],
        "group": ["01", "01", "02", "02", "02", "01"],
        "source": "x.csv", "row": np.arange(rows),
        **{c: pd.array([1, None, 3, 0, 2, 1][: rows], dtype=t) for c, t in narrow.items()},
    })  # fmt: skip
    write_csv(frame, tmp_path / "responses.csv")
    from_file = pd.read_csv(tmp_path / "responses.csv", usecols=_scored,
                            dtype={**narrow, **_SCORED_TEXT})  # fmt: skip
    in_memory = as_read_back(frame, cfg)
    pd.testing.assert_frame_equal(in_memory, from_file, check_exact=True)
    assert list(in_memory["group"][:3]) == [1, 1, 2] and in_memory["participant"][4] == "'=x"
