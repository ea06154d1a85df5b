"""Exports re-saved in Excel: serial submission times converted, altered codes named."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from balint_analysis.ingest.excel_damage import EXCEL_EPOCH, excel_id_cause, serial_times_to_iso
from tests import exports_factory as xf

NOT_IN_ROSTER = "participant not in the roster"


def test_serial_times_become_iso_and_the_rest_is_untouched():
    out, n = serial_times_to_iso(pd.Series(["45355.4375", "2024-03-04 10:00:00", "", "12345",
                                            "45355", "4.5E+4"]))  # fmt: skip
    assert n == 2
    assert out.tolist() == ["2024-03-04 10:30:00", "2024-03-04 10:00:00", "", "12345",
                            "2024-03-04 00:00:00", "4.5E+4"]  # fmt: skip


@given(st.datetimes(min_value=pd.Timestamp("1960-01-01").to_pydatetime(),
                    max_value=pd.Timestamp("2100-12-31").to_pydatetime()))  # fmt: skip
def test_serial_round_trip(moment):
    moment = pd.Timestamp(moment).round("s")
    serial = (moment - EXCEL_EPOCH) / pd.Timedelta(days=1)
    out, n = serial_times_to_iso(pd.Series([f"{serial:.10f}"]))
    assert n == 1 and pd.Timestamp(out.iloc[0]) == moment


def test_excel_causes_of_altered_codes():
    ids = pd.Series(["1.23457E+11", "03-12", "12-Mar", "712", "AN12K", "2024-03-04", "1234"])
    sci, date, zeros = ("changed into scientific notation", "changed into a date",
                        "stripped of its leading zeros")  # fmt: skip
    assert excel_id_cause(ids, ["0712", "AN12K"]).tolist() == [
        sci, date, date, zeros, None, date, None]
    assert excel_id_cause(ids).tolist()[3] is None  # leading zeros only against a roster


def test_altered_codes_are_rejected_with_the_likely_cause(tmp_path):
    roster = [*xf.ROSTER, ("0712", "control")]
    rows = [{"code": c, **xf.items(2)} for c in ("P1", "1.23457E+11", "712", "P99")]
    config = xf.cohort(tmp_path, [("a.csv", xf.table(["code", *xf.PSS], rows),
                                   {"timepoint": "pre", "id": "code"})], roster=roster)  # fmt: skip
    r = xf.run(config)
    reasons = r.rejected.set_index("row")["reason"]
    fix = "re-export the file without opening it in Excel)"
    assert reasons[3] == (f"{NOT_IN_ROSTER} (Excel: the code looks changed into scientific "
                          f"notation; {fix}")  # fmt: skip
    assert reasons[4] == (f"{NOT_IN_ROSTER} (Excel: the code looks stripped of its leading "
                          f"zeros; {fix}")  # fmt: skip
    assert reasons[5] == NOT_IN_ROSTER
    assert r.flow["files"][0]["rejected_by_reason"] == {NOT_IN_ROSTER: 3}
    assert "1.23457E+11" not in r.rejected.to_csv()  # codes are identifiers: never echoed


def test_serial_recorded_dates_order_duplicates(tmp_path):
    rows = [{"ExternalReference": "P1", "RecordedDate": "45355.75", **xf.items(1)},
            {"ExternalReference": "P1", "RecordedDate": "45355.5", **xf.items(3)}]
    r = xf.run(xf.cohort(tmp_path, [("q.csv", xf.qualtrics(rows),
                                     {"timepoint": "pre", "id": "ExternalReference"})]))
    assert r.valid["pss10__1"].tolist() == [1]  # 18:00 is later than 12:00
    assert r.valid["submitted_at"].tolist() == ["2024-03-04 18:00:00"]
    assert r.flow["files"][0]["excel_serial_times"] == 2
