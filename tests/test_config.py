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
