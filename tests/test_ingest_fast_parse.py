"""Delimited text parsed by pandas' C parser gives exactly the records, record numbers and
errors of the strict ``csv`` module: the C parser is used only where the bytes show that both
read them alike (every quote opens or closes a field, every record as wide as the header)."""

from __future__ import annotations

import csv

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balint_analysis.errors import InputError
from balint_analysis.ingest import records as detect
from balint_analysis.ingest.detect import read_table
from balint_analysis.ingest.records import ColumnRecords

PIECES = ["a", "b", " ", "Ł", "1", "", ",", ";", '"', '""', "\n", "\r", "\r\n", "\t", 'x"y']


def _csv_reading(body: bytes, delimiter: str):
    try:
        return detect._csv_records(body, 0, delimiter)
    except csv.Error as exc:
        return f"csv.Error: {exc}"


def _fields(draw_fields: list[list[str]], quote_some: list[bool]) -> str:
    rows = []
    for fields, quote in zip(draw_fields, quote_some, strict=False):
        cells = ['"' + f.replace('"', '""') + '"' if quote or any(c in f for c in ',"\r\n')
                 else f for f in fields]  # fmt: skip
        rows.append(",".join(cells))
    return "\n".join(rows)


TEXT = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
    st.builds(_fields,
              st.lists(st.lists(st.text(alphabet="ab ,\"\r\nŁ", max_size=4), min_size=1,
                                max_size=3), min_size=1, max_size=6),
              st.lists(st.booleans(), min_size=6, max_size=6)),  # fmt: skip
)


@settings(max_examples=400, deadline=None)
@given(text=TEXT, delimiter=st.sampled_from([",", ";"]), chunk=st.sampled_from([1, 3, 1 << 20]))
def test_the_c_parser_reads_what_the_csv_module_reads_or_leaves_the_file_to_it(
        text, delimiter, chunk):  # fmt: skip
    body = text.encode("utf-8")
    saved = detect._SCAN_CHUNK
    detect._SCAN_CHUNK = chunk  # quotes, CR LF and fields across the scan's chunk borders
    try:
        fast = detect._parsed_records(body, 0, delimiter)
    finally:
        detect._SCAN_CHUNK = saved
    expected = _csv_reading(body, delimiter)
    if fast is not None:
        assert not isinstance(expected, str), expected  # the csv module refuses it
        assert (list(fast[0]), fast[1]) == expected


@pytest.mark.parametrize("text", [
    'a,b\n"x"y,2\n',  # text after a closing quote (strict csv: an error)
    'a,b\nx"y,2\n',  # a quote inside an unquoted field
    'a,b\n"open,2\n',  # a quote never closed
    "a,b\n1\n",  # a short record (the C parser fills it with empty cells)
    "a,b\n1,2,3\n",  # a long record
    "\na,b\n1,2\n",  # a blank first line
])  # fmt: skip
def test_files_the_c_parser_would_read_otherwise_are_left_to_the_csv_module(text):
    assert detect._parsed_records(text.encode(), 0, ",") is None


def test_a_field_beyond_the_csv_modules_size_limit_is_left_to_it():
    body = ("a,b\n1," + "x" * (csv.field_size_limit() + 1) + "\n").encode()
    assert detect._parsed_records(body, 0, ",") is None
    with pytest.raises(InputError, match="field larger than field limit"):
        read_table(body, "big.csv")


def test_platform_exports_are_read_by_the_c_parser_with_their_record_numbers():
    # LimeSurvey: every cell quoted, CR LF; REDCap: a quoted answer over two lines; a blank
    # line and a line of spaces (skipped but counted) and a trailing delimiter on every line.
    text = ('\ufeff"id","q1"\r\n"1","x"\r\n\r\n"2","say ""hi"""\r\n'
            'record_id,note,\n3,"two\nlines",\n   \n4,,\n')
    lime, redcap = text.split("record_id")
    table = read_table(lime.encode(), "lime.csv")
    assert isinstance(table.records, ColumnRecords)
    assert table.records == [["id", "q1"], ["1", "x"], ["2", 'say "hi"']]
    assert table.positions == [1, 2, 4]
    table = read_table(("record_id" + redcap).encode(), "redcap.csv")
    assert isinstance(table.records, ColumnRecords)
    assert table.records == [["record_id", "note"], ["3", "two\nlines"], ["4", ""]]
    assert table.positions == [1, 2, 4]
    assert table.records[1:][0] == ["3", "two\nlines"] and len(table.records[1:]) == 2


def test_a_damaged_file_gives_the_line_of_the_csv_reading():
    body = b"a,b\n1,2\n3\n5,6\n"
    with pytest.raises(InputError) as caught:
        read_table(body, "x.csv")
    assert str(caught.value) == ("x.csv: row 3 has 1 fields but the header has 2. The file is "
                                 "damaged (a stray delimiter or quote); export it again or fix "
                                 "that row.")  # fmt: skip
