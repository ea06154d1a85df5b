"""The corpus of unusable inputs: each stops the run with one message naming the file and fix.

Every file is generated here (tests/exports_factory.py); nothing is a hand-kept binary.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balint_analysis.errors import InputError
from tests import exports_factory as xf

PRE = {"timepoint": "pre", "id": "code"}


def _generic(rows: list[dict] | None = None, **kw) -> str:
    rows = rows if rows is not None else [{"code": "P1", **xf.items(2)}]
    return xf.table(["code", *xf.PSS], rows, **kw)


def _broken_xlsx(path):
    path.write_bytes(b"PK\x03\x04" + b"\x00garbage" * 20)


def _broken_sav(path):
    path.write_bytes(b"$FL2" + b"\x00not really spss" * 20)


def _two_sheets(path):
    xf.xlsx(path, ["code", *xf.PSS], [["P1", *[2] * 10]], sheet="Responses")


def _dup_header_generic() -> str:
    return "code,code," + ",".join(xf.PSS) + "\nP1,P1," + ",".join(["2"] * 10) + "\n"


UNUSABLE = [
    # (id, file name, content, spec overrides, expected message pattern)
    ("missing-file", "nothere.csv", None, {}, r"nothere\.csv: file not found\. Fix `exports"),
    ("zero-bytes", "empty.csv", b"", {}, r"empty\.csv: the file is empty \(0 bytes\)"),
    ("blank-lines", "blank.csv", "\n \n\t\n", {}, r"blank\.csv: the file is empty\. Export"),
    ("header-only", "header.csv", "code," + ",".join(xf.PSS) + "\n", {},
     r"header\.csv: the file has its header row\(s\) but no responses"),
    ("truncated-row", "trunc.csv", _generic() + "P2,1,2", {},
     r"trunc\.csv: the last row \(3\) stops after 3 of 11 fields; the file looks truncated"),
    ("truncated-in-quote", "quote.csv", _generic() + 'P2,"1,2', {},
     r"quote\.csv: not a well-formed delimited file \(unexpected end of data\)"),
    ("stray-delimiter", "stray.csv",
     _generic([{"code": "P1", **xf.items(2)}]) + "P2,1,1,1,1,1,1,1,1,1,1,1\nP3" + ",1" * 10 + "\n",
     {}, r"stray\.csv: row 3 has 12 fields but the header has 11"),
    ("no-id-column", "noid.csv", _generic(), {"id": "kode"},
     r"noid\.csv: no column 'kode' \(named by `exports\[\]\.id` in the config\)\. "
     r"Did you mean 'code'\?"),
    ("instrument-absent", "noitems.csv", xf.table(["code", "X_1"], [{"code": "P1"}]), {},
     r"noitems\.csv: Perceived Stress Scale.*10 of 10 item columns not found \(first missing: "
     r"'PSS_1'; 0 found\)\. Set `exports\[\]\.instruments\.pss10`"),
    ("instrument-partly-absent", "partial.csv",
     xf.table(["code", *xf.PSS[:7]], [{"code": "P1", **xf.items(1)}]), {},
     r"partial\.csv: .*3 of 10 item columns not found \(first missing: 'PSS_8'; 7 found\)"),
    ("wrong-configured-encoding", "enc.csv", _generic().replace("P1", "Ł1").encode("cp1250"),
     {"encoding": "utf-8"}, r"enc\.csv: cannot be read as utf-8 \(invalid byte at position \d+\)"),
    ("unknown-encoding-name", "enc2.csv", _generic(), {"encoding": "klingon"},
     r"enc2\.csv: cannot be read as klingon \(unknown encoding: klingon\)"),
    ("binary-garbage", "bin.csv", b"\x00\x01\x02\x03binary\x00" * 50, {},
     r"bin\.csv: binary data, not a text export"),
    ("damaged-utf16", "u16.csv", b"\xff\xfe" + "code\tPSS_1\n".encode("utf-16-le") + b"\x00\xd8",
     {}, r"u16\.csv: damaged utf-16 text"),
    ("damaged-xlsx", "broken.xlsx", _broken_xlsx, {},
     r"broken\.xlsx: not a readable Excel workbook \(BadZipFile\)"),
    ("damaged-sav", "broken.sav", _broken_sav, {}, r"broken\.sav: not a readable SPSS \.sav file"),
    ("old-xls", "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, {},
     r"old\.xls: old Excel 97-2003 \(\.xls\) workbook\. Save it as \.xlsx"),
    ("unknown-sheet", "sheets.xlsx", _two_sheets, {"sheet": "Wave 1"},
     r"sheets\.xlsx: no worksheet 'Wave 1'; set `sheet:` to one of \['Responses'\]"),
    ("spss-format-on-csv", "notsav.csv", _generic(), {"format": "spss"},
     r"notsav\.csv: `format: spss` but this is not an SPSS \.sav file"),
    ("excel-format-on-csv", "notxlsx.csv", _generic(), {"format": "excel"},
     r"notxlsx\.csv: `format: excel` but this is not an \.xlsx workbook"),
    ("redcap-dictionary", "dict.csv",
     '"Variable / Field Name","Form Name","Field Type"\nrecord_id,pss,text\n',
     {"format": "redcap", "id": "record_id"}, r"dict\.csv: this is a REDCap data dictionary"),
    ("redcap-labels", "labels.csv",
     '"Record ID","Event Name","Item 1","Complete?"\n1,"Baseline",Often,Complete\n',
     {"format": "redcap", "id": "record_id"}, r"labels\.csv: this is a REDCap \*labels\* export"),
    ("duplicate-id-header", "dup.csv", _dup_header_generic(), {},
     r"dup\.csv: column 'code' \(named by `exports\[\]\.id`\) appears more than once"),
    ("qualtrics-without-importid-row", "q.csv",
     "ExternalReference," + ",".join(xf.PSS) + "\nExternal ref," + ",".join(xf.PSS)
     + "\nnot json," + ",".join(["x"] * 10) + "\nP1," + ",".join(["1"] * 10) + "\n",
     {"format": "qualtrics", "id": "ExternalReference"},
     r"q\.csv: row 3 is not Qualtrics' ImportId row"),
    ("missing-timepoint-column", "tp.csv", _generic(),
     {"timepoint": None, "timepoint_column": "wave", "timepoint_values": {"1": "pre"}},
     r"tp\.csv: no column 'wave' \(named by `exports\[\]\.timepoint_column`"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "spec", "message"),
                         [c[1:] for c in UNUSABLE], ids=[c[0] for c in UNUSABLE])  # fmt: skip
def test_unusable_input_stops_with_one_message(tmp_path, name, content, spec, message):
    spec = {**PRE, **spec}
    spec = {k: v for k, v in spec.items() if v is not None}
    exports = [] if content is None else [(name, content, spec)]
    config = xf.cohort(tmp_path, exports)
    if content is None:
        config["exports"] = [{"path": str(tmp_path / "raw" / name), **spec}]
    with pytest.raises(InputError) as err:
        xf.run(config)
    text = str(err.value)
    assert re.search(message, text), text
    assert "\n" not in text and name in text


def test_missing_roster_names_the_config_key(tmp_path):
    config = xf.cohort(tmp_path, [("a.csv", _generic(), PRE)])
    config["participants"]["path"] = str(tmp_path / "raw" / "people.csv")
    with pytest.raises(InputError, match=r"people\.csv: file not found\. Fix `participants\.path`"):
        xf.run(config)


def test_corpus_size():
    assert len(UNUSABLE) >= 20


_fuzz_counter = iter(range(10**9))
_BASES = [
    _generic([{"code": f"P{i}", **xf.items(i % 5)} for i in range(1, 7)]).encode(),
    xf.qualtrics([{"ExternalReference": "P1", "code": "P1", **xf.items(1)}],
                 extra=("code",)).encode(),
    xf.redcap([{"record_id": "P1", "redcap_event_name": "x", "pss_complete": "2",
                **xf.items(1, "pss_{i:02d}")}]).encode(),
    xf.limesurvey([{"id": "1", "submitdate": "1980-01-01 00:00:00", "SGIC": "P1"}]),
    xf.google_forms([{"Timestamp": "2024/03/04 9:03:40 PM GMT+1"}]).encode(),
]  # fmt: skip


def _mutate(args: tuple[int, int, int, str]) -> bytes:
    """A valid export cut at one point and with one character inserted at another."""
    base, cut, at, insert = args
    data = _BASES[base][: max(cut, 40)]
    return data[:at] + insert.encode() + data[at:]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.one_of(
    st.binary(max_size=300),
    st.lists(st.lists(st.sampled_from(["P1", "2", "", "x", '"', ",", ";", "\n", "\t", "Ł",
                                       "PSS_1", "code", "\ufeff", "{\"ImportId\":1}"]),
                      max_size=12), max_size=6)
    .map(lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-8")),
    st.sampled_from([b"PK\x03\x04", b"$FL2", b"\xff\xfe", b"\xef\xbb\xbf", b"\xfe\xff\x00"]),
    st.tuples(st.integers(0, len(_BASES) - 1), st.integers(0, 2000), st.integers(0, 2000),
              st.sampled_from(
        ['"', ",", "\n", "\x00", "\ufeff", "Ł", ";", "\r", "=cmd", "N/A", "9"])).map(_mutate),
))  # fmt: skip
def test_any_bytes_either_read_or_fail_with_one_input_error(tmp_path, data):
    """No file content makes ingest crash with anything but a one-line InputError."""
    folder = tmp_path / f"f{next(_fuzz_counter)}"
    folder.mkdir()
    config = xf.cohort(folder, [("fuzz.csv", data, PRE)])
    try:
        xf.run(config)
    except InputError as exc:
        assert "\n" not in str(exc) and "fuzz.csv" in str(exc)


def test_a_translated_choice_text_export_is_refused_with_one_message(tmp_path):
    rows = [{"code": f"P{i}", **xf.items("Czasami")} for i in range(1, 4)]
    config = xf.cohort(tmp_path, [("pl_labels.csv", _generic(rows), PRE)])
    with pytest.raises(InputError, match=r"pl_labels\.csv: 30 of 30 answers are text that is "
                       r"not one of the instrument's answer labels.*'Use numeric values'"):
        xf.run(config)
