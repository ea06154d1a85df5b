import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balint_analysis.errors import InputError
from balint_analysis.ingest import ingest
from balint_analysis.privacy import (
    DEMO_KEY,
    classify_dropped_columns,
    neutralise_formulas,
    pseudonym,
    pseudonymise,
    pseudonymise_ids,
    resolve_key,
)
from balint_analysis.validate import validate


def test_pseudonym_is_keyed_hmac_sha256():
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"P001", hashlib.sha256).hexdigest()[:16]
    assert pseudonym("P001", b"k") == "p" + expected
    assert pseudonym("P001", b"other") != pseudonym("P001", b"k")


@settings(max_examples=80, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), st.sampled_from(["1", "2", " 3", "2.5", "-0", "x",
                                                            "1e3", "99999999999999999999"]),
                                st.text(alphabet="12.e-x ", max_size=4)), max_size=10),
       dtype=st.sampled_from(["str", "object"]))
def test_covariates_become_the_numbers_to_numeric_gives(cells, dtype):
    """Each distinct text converted once: the values and the type ``pd.to_numeric`` gives the
    whole column (a missing cell among integers makes floats, as there)."""
    from balint_analysis.privacy import _numbers

    column = pd.Series(cells, dtype=dtype, name="age")
    got, want = _numbers(column), pd.to_numeric(column, errors="coerce")
    pd.testing.assert_series_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=1, max_size=150),
       ids=st.lists(st.one_of(st.none(), st.text(max_size=12), st.integers(0, 99)), max_size=8))
def test_ids_are_pseudonymised_as_hmac_of_each_id_for_keys_of_any_length(key, ids):
    """The rows' pseudonyms (each distinct id hashed once) are HMAC-SHA256's of each id
    as text, for keys shorter and longer than SHA-256's 64-byte block; missing stays missing."""
    import hashlib
    import hmac

    got = pseudonymise_ids(pd.Series(ids, dtype=object), key)
    expected = [None if v is None
                else "p" + hmac.new(key, str(v).encode(), hashlib.sha256).hexdigest()[:16]
                for v in ids]  # fmt: skip
    assert [None if pd.isna(v) else v for v in got] == expected


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["A", "B", "C", "é"]),
                               st.sampled_from(["pre", "post", "b", "é", "€", "a", "a\0"])),
                     max_size=20))
def test_pseudonymised_rows_are_sorted_stably_by_participant_and_timepoint(rows):
    """Sorted on ranks of the distinct texts: the order ``sort_values(kind="stable")`` gives
    (rows of one participant and timepoint keep their order)."""
    valid = pd.DataFrame(rows, columns=["participant_id", "timepoint"]).assign(
        group="g", source="x.csv", row=range(len(rows)), who5__1=1.0)
    responses, participants = pseudonymise(valid, None, key=b"k")
    ids = pseudonymise_ids(valid["participant_id"], b"k")
    expected = valid.assign(participant=ids).sort_values(["participant", "timepoint"],
                                                         kind="stable")  # fmt: skip
    assert responses["row"].tolist() == expected["row"].tolist()
    assert responses["participant"].tolist() == expected["participant"].tolist()
    assert participants["participant"].tolist() == sorted(set(ids))


def test_categories_starting_a_formula_are_neutralised():
    labels = pd.Series(["=A1", "ok", None, "=A1"], dtype="category")
    out = neutralise_formulas(pd.DataFrame({"group": labels}))["group"]
    assert out.astype(object).where(out.notna(), None).tolist() == ["'=A1", "ok", None, "'=A1"]
    # "=A1" and "'=A1" both declared: neutralised as texts (the categories would merge).
    both = pd.Series(pd.Categorical(["=A1", "'=A1"], categories=["=A1", "'=A1"]))
    assert neutralise_formulas(pd.DataFrame({"g": both}))["g"].tolist() == ["'=A1", "'=A1"]


def test_key_from_environment(monkeypatch):
    monkeypatch.setenv("BA_KEY_T", "s3cret-and-long-enough-0123456789")
    assert resolve_key("BA_KEY_T", allow_demo_key=False) == (
        b"s3cret-and-long-enough-0123456789", False)
    monkeypatch.delenv("BA_KEY_T")
    assert resolve_key("BA_KEY_T", allow_demo_key=True) == (DEMO_KEY.encode(), True)
    with pytest.raises(InputError, match="BA_KEY_T is not set"):
        resolve_key("BA_KEY_T", allow_demo_key=False)


def test_formulas_neutralised_numbers_untouched():
    df = pd.DataFrame({"text": ["=1+1", "+x", "-y", "@z", "ok", None], "n": [-1.5, 2, 3, 4, 5, 6]})
    out = neutralise_formulas(df)
    assert list(out["text"][:5]) == ["'=1+1", "'+x", "'-y", "'@z", "ok"]
    assert pd.isna(out["text"][5])
    assert out["n"].tolist() == df["n"].tolist()


@given(st.text(max_size=20))
def test_no_text_cell_starts_a_formula(value):
    out = neutralise_formulas(pd.DataFrame({"t": [value]}))
    assert not str(out["t"][0]).startswith(("=", "+", "-", "@"))


def test_identifier_classification():
    got = classify_dropped_columns(["IPAddress", "RecipientEmail", "LocationLatitude", "email",
                                    "Q5_TEXT", "comments", "Progress", "first_name"])  # fmt: skip
    assert got["identifier"] == ["IPAddress", "RecipientEmail", "LocationLatitude", "email",
                                 "first_name"]  # fmt: skip
    assert got["free_text"] == ["Q5_TEXT", "comments"]
    assert got["unused"] == ["Progress"]


def test_pseudonymise_stage(tiny_cohort):
    cfg = tiny_cohort["config"]
    result = ingest(cfg)
    v = validate(result.responses, result.roster, cfg, result.info)
    responses, participants = pseudonymise(v.valid, v.roster, key=b"k", covariates=["age"])
    assert "participant_id" not in responses and "participant_id" not in participants
    assert set(responses["participant"]) <= set(participants["participant"])
    assert participants["participant"].str.fullmatch(r"p[0-9a-f]{16}").all()
    assert sorted(participants["cluster"].dropna().unique()) == ["G1"]  # leader's name gone
    assert pd.api.types.is_numeric_dtype(participants["age"])
    text = responses.to_csv() + participants.to_csv()
    assert "P1" not in text.split() and "Smith" not in text


@given(st.lists(st.text(max_size=8), min_size=1, max_size=5))
def test_interim_csv_round_trip_restores_what_was_typed(tmp_path_factory, values):
    """Interim files keep an export's text as typed (``-99`` stays ``-99``, ``'x`` stays ``'x``)."""
    from balint_analysis.io import write_csv

    path = tmp_path_factory.mktemp("rt") / "t.csv"
    df = pd.DataFrame({"t": [v for v in values if v.strip() and "\r" not in v and "\x00" not in v]
                       or ["-99"]})  # fmt: skip
    write_csv(df, path, neutralise=False)
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert back["t"].tolist() == df["t"].tolist()
