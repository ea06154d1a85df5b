"""An arm or a wave emptied by quarantine stops ``prepare`` with one line naming cause and fix.

Each case is a slip a researcher makes: group labels that differ from the config only in
case, every follow-up code typed in lower case, an event name mapped with the wrong case, a
wave with no export, no controls left after quarantine. ``check`` names the near misses that
do not empty anything.
"""

from __future__ import annotations

import exports_factory as xf
import pytest

from balint_analysis.config import load_config
from balint_analysis.coverage import coverage_problems, near_misses
from balint_analysis.errors import InputError
from balint_analysis.ingest import ingest
from balint_analysis.pipeline import prepare_stage, read_inputs
from balint_analysis.validate import validate

HEADER = ["code", *xf.PSS]


def _csv(codes: list[str]) -> str:
    return xf.table(HEADER, [{"code": c, **xf.items(2)} for c in codes])


def _problems(config: dict) -> list[str]:
    cfg = load_config(config)
    responses, roster, info = read_inputs(cfg)
    checked = validate(responses, roster, cfg, info)
    return coverage_problems(checked.valid, responses, roster, checked.rejected, cfg)


def _two_waves(tmp_path, pre: list[str], post: list[str], **kw) -> dict:
    return xf.cohort(tmp_path, [("pre.csv", _csv(pre), {"timepoint": "pre", "id": "code"}),
                                ("post.csv", _csv(post), {"timepoint": "post", "id": "code"})],
                     **kw)  # fmt: skip


ALL = ["P1", "P2", "P3", "P4", "P5", "P6"]


def test_group_label_differing_only_in_case(tmp_path):
    config = _two_waves(tmp_path, ALL, ALL)
    config["design"]["intervention"] = "Balint"
    (problem,) = _problems(config)
    assert problem == (
        "no participant of group 'Balint' remains after validation: the roster's group column "
        "says 'balint' in 3 rows, which differs only in upper/lower case (labels are "
        "case-sensitive); set design.intervention: 'balint' (or correct the data).")


def test_every_post_code_in_lower_case(tmp_path):
    config = _two_waves(tmp_path, ALL, [c.lower() for c in ALL])
    (problem,) = _problems(config)
    assert problem.startswith("no response remains for timepoint 'post' after validation: all 6 "
                              "of its responses were rejected: 6 × participant not in the roster")
    assert problem.endswith("6 of their codes match a roster code once upper/lower case and "
                            "spaces are ignored — correct the codes, or set validation."
                            "code_matching.method: tolerant.")  # fmt: skip
    assert not any(c.lower() in problem for c in ALL)  # codes are never printed


def test_no_controls_left_after_quarantine(tmp_path):
    config = _two_waves(tmp_path, ["P1", "P2", "p4", "p5"], ["P1", "P2", "p4"])
    (problem,) = _problems(config)
    assert problem == (
        "no participant of group 'control' remains after validation: the roster lists 3 of "
        "them, but no response carries any of their codes; 3 rejected responses match their "
        "codes once upper/lower case and spaces are ignored — correct the codes, or set "
        "validation.code_matching.method: tolerant.")


def test_group_column_holding_other_labels(tmp_path):
    rows = [{"code": c, "arm": "A" if i < 3 else "B", **xf.items(2)} for i, c in enumerate(ALL)]
    content = xf.table(["code", "arm", *xf.PSS], rows)
    spec = {"id": "code", "group_column": "arm"}
    config = xf.cohort(tmp_path, [("pre.csv", content, {**spec, "timepoint": "pre"}),
                                  ("post.csv", content, {**spec, "timepoint": "post"})],
                       roster=None)  # fmt: skip
    problems = _problems(config)
    assert problems[0] == (
        "no participant of group 'balint' remains after validation: the exports' group column "
        "never says 'balint'; it holds 'A' (6 rows), 'B' (6 rows). Set design.intervention to "
        "the label the data use.")
    assert len(problems) == 4  # and the control arm, and both waves, emptied with them


def test_group_labels_that_may_name_someone_are_described_not_shown(tmp_path):
    """A leader's surname as the arm label is in many rows, yet it is personal data: the
    message gives its kind and length only (a single letter identifies nobody and is shown)."""
    arms = ["Kwiatkowska", "Kwiatkowska", "Kwiatkowska", "B", "B", "B"]
    rows = [{"code": c, "arm": a, **xf.items(2)} for c, a in zip(ALL, arms, strict=True)]
    content = xf.table(["code", "arm", *xf.PSS], rows)
    spec = {"id": "code", "group_column": "arm"}
    config = xf.cohort(tmp_path, [("pre.csv", content, {**spec, "timepoint": "pre"}),
                                  ("post.csv", content, {**spec, "timepoint": "post"})],
                       roster=None)  # fmt: skip
    problems = _problems(config)
    assert problems[0] == (
        "no participant of group 'balint' remains after validation: the exports' group column "
        "never says 'balint'; it holds (withheld: text, 11 characters) (6 rows), 'B' (6 rows). "
        "Set design.intervention to the label the data use.")
    assert not any("Kwiatkowska" in p for p in problems)


def test_event_mapped_with_the_wrong_case(tmp_path):
    rows = [{"record_id": c, "redcap_event_name": "post_arm_1", "pss_complete": "2",
             **xf.items(2, "pss_{i:02d}")} for c in ALL]  # fmt: skip
    spec = {"id": "record_id", "timepoint_column": "redcap_event_name",
            "timepoint_values": {"Post_Arm_1": "post"},
            "instruments": {"pss10": "pss_{i:02d}"}}  # fmt: skip
    config = xf.cohort(tmp_path, [("pre.csv", _csv(ALL), {"timepoint": "pre", "id": "code"}),
                                  ("post.csv", xf.redcap(rows), spec)])  # fmt: skip
    (problem,) = _problems(config)
    assert "column 'redcap_event_name' says 'post_arm_1' in 6 rows, but timepoint_values maps " \
           "'Post_Arm_1', which differs only in upper/lower case" in problem
    assert problem.endswith("map 'post_arm_1' to post.")


def test_a_wave_without_an_export(tmp_path):
    config = xf.cohort(tmp_path, [("pre.csv", _csv(ALL), {"timepoint": "pre", "id": "code"})],
                       timepoints=("pre", "post", "followup"))  # fmt: skip
    problems = _problems(config)
    assert problems[0].startswith("no response remains for timepoint 'post' after validation: "
                                  "no export is configured for it.")
    assert len(problems) == 2


def test_prepare_stops_with_the_first_line_and_writes_nothing(tmp_path):
    config = _two_waves(tmp_path, ALL, [c.lower() for c in ALL])
    out = {k: str(tmp_path / f"{k}.out") for k in ("responses", "participants", "pseudonymisation",
                                                   "rejected", "careless", "flow")}  # fmt: skip
    with pytest.raises(InputError, match=r"^no response remains for timepoint 'post'.*"
                                         r"`balint-analysis check` lists the rows it rejects\.$"):
        prepare_stage(load_config(config), {}, out)
    assert not any((tmp_path / f"{k}.out").exists() for k in out)


def test_near_misses_are_named_even_when_nothing_is_empty(tmp_path):
    config = _two_waves(tmp_path, ALL, ["P1", "p2", "P3", "P4", "P5", "P6"],
                        roster=[*xf.ROSTER, ("P7", "Balint ")])  # fmt: skip
    cfg = load_config(config)
    ingested = ingest(cfg)
    warnings = near_misses(ingested.responses, ingested.roster, cfg)
    assert warnings[0] == ("the roster's group column: 1 row says 'Balint', which differs only in "
                           "upper/lower case (labels are case-sensitive) from design.intervention "
                           "'balint'; those rows are rejected.")
    assert any("post.csv: 1 participant code matches a roster code only once upper/lower "
               "case and spaces are ignored" in w for w in warnings)


def test_codes_that_never_link_across_waves(tmp_path):
    rows = lambda codes, arm: [{"code": c, "arm": arm, **xf.items(2)} for c in codes]  # noqa: E731
    pre = rows(["AA01B", "BB02C"], "balint") + rows(["CC03D", "DD04E"], "control")
    post = rows(["aa01b", "bb02c"], "balint") + rows(["cc03d", "dd04e"], "control")
    spec = {"id": "code", "group_column": "arm"}
    config = xf.cohort(tmp_path, [
        ("pre.csv", xf.table(["code", "arm", *xf.PSS], pre), {**spec, "timepoint": "pre"}),
        ("post.csv", xf.table(["code", "arm", *xf.PSS], post), {**spec, "timepoint": "post"})],
        roster=None)  # fmt: skip
    (problem,) = _problems(config)
    assert problem == (
        "no participant answered both at baseline and at a later timepoint, so no change can be "
        "measured: the participant codes do not link across the waves. 4 later codes match a "
        "baseline code once upper/lower case and spaces are ignored: set validation."
        "code_matching.method: tolerant, or correct them.")
    cfg = load_config(config)
    ingested = ingest(cfg)
    assert any(w.startswith("4 later participant codes match a baseline code only once")
               for w in near_misses(ingested.responses, None, cfg))


def _with_roster_column(tmp_path, column: str, values: list[str]) -> dict:
    config = _two_waves(tmp_path, ALL, ALL)
    roster = tmp_path / "raw" / "participants.csv"
    lines = roster.read_text().splitlines()
    lines[0] += f",{column}"
    lines[1:] = [f"{line},{v}" for line, v in zip(lines[1:], values, strict=True)]
    roster.write_text("\n".join(lines) + "\n")
    config["analysis"]["covariates"] = [column]
    return config


def test_a_categorical_covariate_stops_with_one_line(tmp_path):
    config = _with_roster_column(tmp_path, "gender", ["female", "male", "female", "male",
                                                      "female", "x"])  # fmt: skip
    with pytest.raises(InputError, match=r"^.*participants.csv: covariate 'gender' holds text "
                                         r"\(6 of 6 values are not numbers\)"):
        _problems(config)


def test_a_stray_text_covariate_value_is_set_missing_and_reported(tmp_path):
    config = _with_roster_column(tmp_path, "age", ["40", "35", "n/a", "50", "45", "38"])
    cfg = load_config(config)
    responses, roster, info = read_inputs(cfg)
    checked = validate(responses, roster, cfg, info)
    row = checked.rejected[checked.rejected["column"] == "age"]
    assert row[["row", "reason", "value"]].values.tolist() == [[4, "covariate is not a number",
                                                                "n/a"]]  # fmt: skip
    assert checked.roster["age"].isna().sum() == 1 and len(checked.roster) == 6


@pytest.mark.parametrize(("covariates", "roster", "message"), [
    (["email"], True, "'email' looks like a direct identifier"),
    (["age"], False, r"analysis.covariates \['age'\] are roster columns, but this cohort has no"),
])  # fmt: skip
def test_covariates_must_be_roster_columns_and_never_identifiers(tmp_path, covariates, roster,
                                                                 message):  # fmt: skip
    rows = [{"code": c, "arm": "balint", **xf.items(2)} for c in ALL]
    spec = {"id": "code", "timepoint": "pre"} | ({} if roster else {"group_column": "arm"})
    config = xf.cohort(tmp_path, [("pre.csv", xf.table(["code", "arm", *xf.PSS], rows), spec)],
                       roster=xf.ROSTER if roster else None)  # fmt: skip
    config["analysis"]["covariates"] = covariates
    with pytest.raises(InputError, match=message):
        load_config(config)
