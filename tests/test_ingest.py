from pathlib import Path

import pytest

from balint_analysis.errors import InputError
from balint_analysis.ingest import ingest, read_export
from balint_analysis.ingest.detect import decode, detect_format, read_table, sniff_delimiter


def test_reads_both_platforms_with_spreadsheet_row_numbers(tiny_cohort):
    result = ingest(tiny_cohort["config"])
    df = result.responses
    pre = df[df["source"].str.endswith("pre_qualtrics.csv")]
    post = df[df["source"].str.endswith("post_redcap.csv")]
    assert list(pre["row"]) == [4, 5, 6, 7, 8, 9, 10]  # three Qualtrics header rows
    assert list(post["row"]) == [2, 3, 4, 5, 6]
    assert list(pre["response_type"]) == ["normal"] * 5 + ["preview", "normal"]
    assert list(pre["complete"]) == [True] * 6 + [False]
    assert list(post["complete"]) == [True, True, False, True, True]
    assert list(post["timepoint"]) == ["post"] * 4 + ["screening_arm_1"]
    assert pre.iloc[0]["mbi_hss__1"] == "3" and pre.iloc[3]["pss10__3"] == "N/A"
    info = result.info["files"][0]
    assert info["format"] == "qualtrics" and info["variant"] == "current"
    assert info["encoding"] == "utf-8" and info["delimiter"] == ","
    assert len(info["sha256"]) == 64 and info["rows_in"] == 7
    assert "RecipientEmail" in info["dropped_columns"]["identifier"]
    assert "IPAddress" in info["dropped_columns"]["identifier"]
    assert info["dropped_columns"]["free_text"] == ["Q5_TEXT"]
    assert info["column_map"]["mbi_hss__5"] == "MBI_5"


def test_no_identifier_survives_ingest(tiny_cohort):
    result = ingest(tiny_cohort["config"])
    text = result.responses.to_csv() + result.roster.to_csv()
    for leaked in ("someone@example.org", "10.0.0.1", "a@x.org", "=tired"):
        assert leaked not in text


def test_auto_detection(tiny_cohort):
    raw = tiny_cohort["raw"]
    for name, expected in (("pre_qualtrics.csv", "qualtrics"), ("post_redcap.csv", "redcap"),
                           ("participants.csv", "generic")):  # fmt: skip
        table = read_table((raw / name).read_bytes(), name)
        assert detect_format(table) == expected


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("a,b\n1,ż\n".encode(), "utf-8"),
        ("a,b\n1,ż\n".encode("utf-8-sig"), "utf-8-sig"),
        ("a,b\n1,ż\n".encode("utf-16"), "utf-16"),
    ],
)
def test_encoding_detection(data, encoding):
    text, used = decode(data, "f.csv")
    assert used == encoding and text.lstrip("\ufeff").startswith("a,b")


def test_legacy_code_page_is_detected_or_configured():
    data = "kod;staz\nŁK12M;7,5\nŻG05A;12\n".encode("cp1250")
    text, used = decode(data, "pl.csv")
    assert "ŁK12M" in text and used == "cp1250"
    text, used = decode("name\nJosé Müller\n".encode("cp1252"), "de.csv")
    assert "José Müller" in text and used == "cp1252"
    text, used = decode(data, "pl.csv", "cp1250")
    assert "ŁK12M" in text and used == "cp1250"
    with pytest.raises(InputError, match="cannot be read as utf-8.*Fix the `encoding:`"):
        decode(data, "pl.csv", "utf-8")


def test_delimiter_sniffing():
    assert sniff_delimiter("a;b;c") == ";"
    assert sniff_delimiter('"x,y";b;c') == ";"
    assert sniff_delimiter("a\tb") == "\t"
    assert sniff_delimiter("single") == ","


def test_truncated_and_damaged_files():
    with pytest.raises(InputError, match="looks truncated"):
        read_table(b"a,b,c\n1,2,3\n4,5", "t.csv")
    with pytest.raises(InputError, match="row 2 has 4 fields"):
        read_table(b"a,b,c\n1,2,3,4\n", "t.csv")
    with pytest.raises(InputError, match="the file is empty"):
        read_table(b"  \n", "t.csv")


def test_missing_id_column_suggests_the_closest(tiny_cohort):
    cfg = tiny_cohort["config"]
    spec = cfg.exports[0].__class__(**{**cfg.exports[0].__dict__, "id": "ExternalRef"})
    message = "no column 'ExternalRef'.*Did you mean 'ExternalReference'"
    with pytest.raises(InputError, match=message):
        read_export(spec, cfg)


def test_missing_instrument_columns_say_how_to_fix(tiny_cohort):
    cfg = tiny_cohort["config"]
    spec = cfg.exports[1].__class__(**{**cfg.exports[1].__dict__, "instruments": {}})
    message = r"22 of 22 item columns not found.*exports\[\]\.instruments"
    with pytest.raises(InputError, match=message):
        read_export(spec, cfg)


def test_missing_file(tiny_cohort):
    cfg = tiny_cohort["config"]
    spec = cfg.exports[0].__class__(**{**cfg.exports[0].__dict__, "path": "nowhere.csv"})
    with pytest.raises(InputError, match="nowhere.csv: file not found"):
        read_export(spec, cfg)


def test_redcap_labels_export_is_refused(tmp_path: Path):
    from balint_analysis.ingest.platforms import read_redcap

    p = tmp_path / "labels.csv"
    p.write_text('"Record ID","Event Name","Item 1","Complete?"\n1,"Baseline",Often,Complete\n')
    with pytest.raises(InputError, match="labels\\* export"):
        read_redcap(read_table(p.read_bytes(), str(p)))


def test_item_codes_are_the_same_answers_as_categories(tiny_cohort):
    """``read_export(item_codes=True)`` (prepare's reading) holds each item column as a
    categorical of the very texts the plain reading gives; everything else is unchanged."""
    import pandas as pd

    config = tiny_cohort["config"]
    for spec in config.exports:
        plain, info = read_export(spec, config)
        coded, coded_info = read_export(spec, config, item_codes=True)
        items = [c for c in plain.columns if "__" in c]
        assert items and all(isinstance(coded[c].dtype, pd.CategoricalDtype) for c in items)
        pd.testing.assert_frame_equal(coded.astype({c: plain[c].dtype for c in items}), plain)
        assert coded_info == info
