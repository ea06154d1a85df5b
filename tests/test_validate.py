import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balint_analysis.errors import InputError
from balint_analysis.ingest import ingest
from balint_analysis.validate import ITEM_MISSING, ROW_EXCLUDED, validate


@pytest.fixture
def validated(tiny_cohort):
    cfg = tiny_cohort["config"]
    result = ingest(cfg)
    return validate(result.responses, result.roster, cfg, result.info), result


def _by_row(rejected, name):
    mine = rejected[rejected["source"].str.endswith(name)]
    return {(r.row, r.column): (r.reason, r.action, r.value) for r in mine.itertuples()}


def test_every_problem_is_one_row_named_by_file_row_and_export_column(validated):
    v, _ = validated
    pre = _by_row(v.rejected, "pre_qualtrics.csv")
    assert pre[(6, "MBI_5")][1:] == (ITEM_MISSING, "7")
    assert pre[(7, "PSS_3")] == ("not a number", ITEM_MISSING, "N/A")
    assert pre[(8, "ExternalReference")][0].startswith("duplicate submission (kept the latest")
    assert pre[(9, "Status")] == ("preview, test or spam response", ROW_EXCLUDED, "preview")
    assert pre[(10, "Finished")][1] == ROW_EXCLUDED
    post = _by_row(v.rejected, "post_redcap.csv")
    assert post[(4, "burnout_survey_complete")][1] == ROW_EXCLUDED
    assert post[(5, "record_id")] == ("participant not in the roster", ROW_EXCLUDED, "")
    assert post[(6, "redcap_event_name")][2] == "screening_arm_1"


def test_row_accounting_per_file(validated):
    v, _ = validated
    files = {f["source"].rsplit("/", 1)[-1]: f for f in v.flow["files"]}
    pre, post = files["pre_qualtrics.csv"], files["post_redcap.csv"]
    assert (pre["rows_in"], pre["rows_accepted"], pre["rows_rejected"]) == (7, 4, 3)
    assert (post["rows_in"], post["rows_accepted"], post["rows_rejected"]) == (5, 2, 3)
    assert pre["items_invalidated"] == 2
    assert v.flow["participants"]["observed"] == {
        "balint": {"pre": 2, "post": 1}, "control": {"pre": 2, "post": 1}
    }
    assert v.flow["totals"] == {"rows_in": 12, "rows_accepted": 6, "rows_rejected": 6,
                                "items_invalidated": 2}  # fmt: skip


def test_bad_items_are_set_missing_and_duplicates_keep_latest(validated):
    v, _ = validated
    valid = v.valid.set_index(["participant_id", "timepoint"])
    assert pd.isna(valid.loc[("P3", "pre"), "mbi_hss__5"])
    assert valid.loc[("P3", "pre"), "mbi_hss__1"] == 2
    assert pd.isna(valid.loc[("P4", "pre"), "pss10__3"])
    # P4's later submission (row 7, answers 1) wins over the earlier one (row 8, answers 6).
    assert valid.loc[("P4", "pre"), "mbi_hss__1"] == 1
    assert not valid.index.duplicated().any()


def test_no_participant_id_is_echoed(validated):
    v, _ = validated
    assert not v.rejected["value"].isin(["P9", "TEST", "P4", "P2"]).any()


def test_strict_mode_stops_with_one_message(tiny_cohort):
    cfg = tiny_cohort["config"]
    strict = cfg.__class__(**{**cfg.__dict__,
                              "analysis": cfg.analysis.__class__(**{**cfg.analysis.__dict__,
                                                                    "strict": True})})  # fmt: skip
    result = ingest(strict)
    with pytest.raises(InputError, match=r"strict mode: 9 problem\(s\)"):
        validate(result.responses, result.roster, strict, result.info)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(["0", "3", "6", "7", "-1", "x", "", "2.5"]), min_size=1,
                max_size=12))  # fmt: skip
def test_accounting_holds_for_any_item_values(tiny_cohort, values):
    cfg = tiny_cohort["config"]
    result = ingest(cfg)
    responses = result.responses.copy()
    pre = responses.index[responses["source"].str.endswith("pre_qualtrics.csv")]
    for i, value in zip(pre, values, strict=False):
        responses.loc[i, "mbi_hss__2"] = value
    v = validate(responses, result.roster, cfg, result.info)
    for f in v.flow["files"]:
        assert f["rows_in"] == f["rows_accepted"] + f["rows_rejected"]
    kept = v.valid["mbi_hss__2"].dropna()
    assert kept.isin(range(0, 7)).all()


def test_declared_answer_codes_are_the_allowed_values(tiny_cohort):
    """The CBI's items take 0/25/50/75/100 only: 37 is rejected although it lies in 0-100."""
    import copy

    from balint_analysis.config import load_config
    from balint_analysis.validate import response_schema

    raw = copy.deepcopy(tiny_cohort["raw_config"])
    raw["instruments"]["cbi"] = "CBI_{i}"
    cfg = load_config(raw)
    frame = pd.DataFrame({"participant_id": ["P1", "P2"], "timepoint": ["pre", "pre"],
                          "response_type": ["normal", "normal"], "complete": [True, True],
                          "cbi__1": [37.0, 50.0]})  # fmt: skip
    schema = response_schema(cfg, ["P1", "P2"])
    with pytest.raises(Exception) as err:
        schema.validate(frame, lazy=True)
    cases = err.value.failure_cases
    bad = cases[cases["column"] == "cbi__1"]
    assert bad["failure_case"].tolist() == [37.0]


def test_flow_records_the_response_window_per_timepoint(validated):
    v, _ = validated
    files = {f["source"].rsplit("/", 1)[-1]: f for f in v.flow["files"]}
    assert files["pre_qualtrics.csv"]["submitted_by_timepoint"] == {
        "pre": {"first": "2024-03-04", "last": "2024-03-04", "n": 4}
    }
    assert files["post_redcap.csv"]["submitted_by_timepoint"] == {
        "post": {"first": "2024-06-01", "last": "2024-06-01", "n": 2}
    }


def test_incomplete_redcap_forms_blank_their_items_one_problem_per_form():
    import numpy as np

    from balint_analysis.validate.items import incomplete_forms

    df = pd.DataFrame({"source": ["rc.csv"] * 4, "row": [2, 3, 4, 5],
                       "incomplete_forms": ["pss10;mbi", np.nan, "", "mbi"],
                       "pss10__1": [1.0, 2.0, 3.0, 4.0],
                       "mbi__1": [5.0, 6.0, 0.0, 1.0]})  # fmt: skip
    info = {"files": [{"source": "rc.csv", "redcap_forms": {"from": "dictionary",
                                                            "pss10": "stress"}}]}  # fmt: skip
    problems = incomplete_forms(df, info)
    assert problems[["row", "column", "_index"]].values.tolist() == [
        [2, "stress_complete", 0], [2, "mbi_complete", 0], [5, "mbi_complete", 3]]  # fmt: skip
    assert problems["reason"].iloc[0] == ("REDCap form 'stress' not complete: its pss10 "
                                          "answers are not used")
    assert (problems["action"] == ITEM_MISSING).all() and not problems["_row_level"].any()
    assert df["pss10__1"].isna().tolist() == [True, False, False, False]
    assert df["mbi__1"].isna().tolist() == [True, False, False, True]
