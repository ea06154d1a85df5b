import copy

import pytest

from balint_analysis.config import item_columns, load_config, read_config
from balint_analysis.errors import InputError
from balint_analysis.instruments import load_instrument


def test_demo_config_loads():
    cfg = read_config("config/config.yaml")
    assert cfg.cohort == "demo"
    assert cfg.design.baseline == "pre"
    assert cfg.design.groups == ("balint", "control")
    assert cfg.analysis.primary_instrument == "mbi_hss"
    assert cfg.analysis.primary_scale == "emotional_exhaustion"
    redcap = cfg.exports[1]
    assert cfg.columns_for(redcap, "pss10")[10] == "pss_10"
    assert cfg.columns_for(cfg.exports[0], "mbi_hss")[22] == "MBI_22"
    assert cfg.synthetic_seed == 20261125


def test_template_and_explicit_map():
    pss = load_instrument("pss10")
    assert item_columns("pss_{i:02d}", pss)[3] == "pss_03"
    assert item_columns({"2": "b", 1: "a"}, pss) == {1: "a", 2: "b"}
    with pytest.raises(InputError, match="item 11 does not exist"):
        item_columns({11: "x"}, pss)
    with pytest.raises(InputError, match="no '\\{i\\}' placeholder"):
        item_columns("pss_", pss)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("analysis", "primary"), "mbi_hss.nonsense", "analysis.primary 'mbi_hss.nonsense'"),
        (("design", "control"), "balint", "must differ"),
        (("instruments",), {"mbi_hss": "M{i}", "nope": "x{i}"}, "Unknown instrument 'nope'"),
    ],
)
def test_semantic_errors_name_the_key(tiny_cohort, path, value, message):
    raw = copy.deepcopy(tiny_cohort["raw_config"])
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(InputError, match=message):
        load_config(raw)


def test_export_timepoint_must_be_in_design(tiny_cohort):
    raw = copy.deepcopy(tiny_cohort["raw_config"])
    raw["exports"][0]["timepoint"] = "baseline"
    with pytest.raises(InputError, match="timepoint 'baseline' is not one of"):
        load_config(raw)


def _demo_raw() -> dict:
    import yaml

    with open("config/config.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_primary_timepoint_defaults_to_the_first_after_baseline():
    raw = _demo_raw()
    assert "primary_timepoint" not in raw["analysis"]
    assert load_config(raw).analysis.primary_timepoint == "post"  # pre, post, followup
    raw["analysis"]["primary_timepoint"] = None
    assert load_config(raw).analysis.primary_timepoint == "post"


def test_primary_timepoint_explicit():
    raw = _demo_raw()
    raw["analysis"]["primary_timepoint"] = "followup"
    assert load_config(raw).analysis.primary_timepoint == "followup"


@pytest.mark.parametrize("value", ["pre", "week12"])
def test_primary_timepoint_must_be_a_post_baseline_timepoint(value):
    raw = _demo_raw()
    raw["analysis"]["primary_timepoint"] = value
    with pytest.raises(InputError) as caught:
        load_config(raw)
    message = str(caught.value)
    assert message == (
        f"config: analysis.primary_timepoint '{value}' is not a post-baseline timepoint of "
        "design.timepoints; choose one of ['post', 'followup'] (default post, the first after "
        "baseline)."
    )
    assert "\n" not in message


def test_primary_timepoint_reaches_the_model_and_report_stages_only():
    from balint_analysis.config import load_stage_config
    from balint_analysis.config_schema import apply_defaults
    from balint_analysis.stages import jobs_for_key, stage_config

    raw = apply_defaults(_demo_raw() | {"analysis": _demo_raw()["analysis"]
                                        | {"primary_timepoint": "followup"}})
    for stage in ("model", "report"):
        cfg = load_stage_config(stage_config(raw, stage), stage)
        assert cfg.analysis.primary_timepoint == "followup"
    assert jobs_for_key("analysis.primary_timepoint") == {"model", "report"}
