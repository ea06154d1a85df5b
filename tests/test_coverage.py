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
