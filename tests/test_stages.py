"""Each stage sees exactly the config keys it declares; reading another one fails loudly."""

from __future__ import annotations

import copy
import pickle

import pytest
import yaml
from project_helpers import DEMO_CONFIG, documented_keys

from balint_analysis.config import NotInStageParams, load_stage_config
from balint_analysis.config_schema import apply_defaults
from balint_analysis.stages import STAGE_KEYS, jobs_for_key, stage_config


@pytest.fixture(scope="module")
def full() -> dict:
    return apply_defaults(yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8")))


def test_stage_config_holds_exactly_the_declared_keys(full):
    model = stage_config(full, "model")
    assert set(model) == {"design", "participants", "instruments", "instrument_definitions",
                          "analysis"}  # fmt: skip
    assert model["analysis"] == {"primary": "mbi_hss.emotional_exhaustion",
                                 "primary_timepoint": None,
                                 "covariates": ["age", "years_in_practice"],
                                 "covariate_levels": {}, "alpha": 0.05}
    # A declared key the config leaves out is present as None ("not configured").
    assert stage_config({**full, "synthetic": None}, "report")["synthetic"] is None


def test_a_stage_reading_an_undeclared_key_fails(full):
    cfg = load_stage_config(stage_config(full, "model"), "model")
    assert cfg.analysis.alpha == 0.05 and cfg.design.baseline == "pre"
    assert isinstance(cfg.title, NotInStageParams)
    with pytest.raises(KeyError, match="stage 'model' read config key 'title'"):
        str(cfg.title)
    with pytest.raises(KeyError, match="'analysis.min_cell_size'"):
        _ = cfg.analysis.min_cell_size + 1
    with pytest.raises(KeyError, match="'title'"):
        cfg.title.upper()  # an attribute of the missing value
    # Copies (a stage's worker processes get a pickled config) keep the placeholder.
    copied = pickle.loads(pickle.dumps(copy.deepcopy(cfg.title)))
    assert isinstance(copied, NotInStageParams) and copied.key == "title"
    prepare = load_stage_config(stage_config(full, "prepare"), "prepare")
    with pytest.raises(KeyError, match="'analysis.primary'"):
        prepare.analysis.primary_scale  # noqa: B018


def test_jobs_follow_from_the_first_stage_reading_a_key():
    assert jobs_for_key("analysis.min_cell_size") == {"report"}
    assert jobs_for_key("analysis.alpha") == {"model", "report", "power_chunk", "power_gather",
                                              "missing_chunk", "missing_gather"}  # fmt: skip
    assert jobs_for_key("exports[].id") == {"prepare", "model", "missing_chunk",
                                            "missing_gather", "report"}  # fmt: skip
    assert jobs_for_key("missing_data.plausible_delta_sd") == {"report"}
    assert jobs_for_key("power.seed") == {"power_chunk", "power_gather"}
    assert all(keys for keys in STAGE_KEYS.values())


#: What a researcher is told a change re-runs (config/README.md), written out by hand rather than
#: derived from STAGE_KEYS, which also builds the rules' params: the first matching prefix wins.
_MI = {"missing_chunk", "missing_gather"}
RERUNS_BY_HAND = [
    ("power.", {"power_chunk", "power_gather"}),
    ("missing_data.plausible_delta_sd", {"report"}),
    ("missing_data.", {*_MI, "report"}),
    ("analysis.alpha", {"model", "report", "power_chunk", "power_gather", *_MI}),
    ("analysis.primary_timepoint", {"model", "report"}),
    # The imputation jobs refit the primary outcome's δ scenarios (missing_data.refit_outcomes).
    ("analysis.primary", {"model", "report", *_MI}),
    ("analysis.min_cell_size", {"report"}),
    ("analysis.", {"prepare", "model", "report", *_MI}),  # covariates, strict
    ("analysis", {"prepare", "model", "report", "power_chunk", "power_gather", *_MI}),
    ("synthetic", {"report"}),
    ("title", {"report", "power_gather"}),
    ("", {"prepare", "model", "report", *_MI}),  # the design, the data and how they are read
]


def test_every_documented_key_reruns_what_the_docs_promise():
    keys = documented_keys()
    assert len(keys) >= 60
    for key in keys:
        expected = next(jobs for prefix, jobs in RERUNS_BY_HAND if key.startswith(prefix))
        assert jobs_for_key(key) == expected, key
