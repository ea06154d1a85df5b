"""Each stage sees exactly the config keys it declares; reading another one fails loudly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from balint_analysis.config import NotInStageParams, load_stage_config
from balint_analysis.config_schema import apply_defaults
from balint_analysis.stages import STAGE_KEYS, jobs_for_key, stage_config

DEMO = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


@pytest.fixture(scope="module")
def full() -> dict:
    return apply_defaults(yaml.safe_load(DEMO.read_text(encoding="utf-8")))


def test_stage_config_holds_exactly_the_declared_keys(full):
    model = stage_config(full, "model")
    assert set(model) == {"design", "participants", "instruments", "instrument_definitions",
                          "analysis"}  # fmt: skip
    assert model["analysis"] == {"primary": "mbi_hss.emotional_exhaustion",
                                 "covariates": ["age", "years_in_practice"], "alpha": 0.05}
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
    prepare = load_stage_config(stage_config(full, "prepare"), "prepare")
    with pytest.raises(KeyError, match="'analysis.primary'"):
        prepare.analysis.primary_scale  # noqa: B018


def test_jobs_follow_from_the_first_stage_reading_a_key():
    assert jobs_for_key("analysis.min_cell_size") == {"report"}
    assert jobs_for_key("analysis.alpha") == {"model", "report", "power_chunk", "power_gather"}
    assert jobs_for_key("exports[].id") == {"prepare", "model", "report"}
    assert jobs_for_key("power.seed") == {"power_chunk", "power_gather"}
    assert all(keys for keys in STAGE_KEYS.values())
