"""The missing-data stage's workflow glue: chunking invariance, the job budget, the δ grid and
the outputs with multiple imputation switched off (stage functions, no Snakemake run)."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from project_helpers import DEMO_CONFIG, REPO

from balint_analysis.config import load_stage_config
from balint_analysis.config_schema import apply_defaults, load_schema
from balint_analysis.errors import InputError
from balint_analysis.missing import delta_grid_sd, missing_settings, planned_outcomes
from balint_analysis.missing.stage import (
    OFF_REASON,
    analyse_chunk,
    baseline_sd,
    missing_gather_stage,
    outcome_rows,
    pool_chunks,
    pool_emmeans,
)
from balint_analysis.pipeline import read_participants
from balint_analysis.stages import stage_config

OUTCOME = ("mbi_hss", "emotional_exhaustion")
PREPARE_OUTPUTS = ("responses", "participants", "pseudonymisation", "rejected", "careless", "flow",
                   "scores", "reliability", "item_stats", "flags")  # fmt: skip


@pytest.fixture(scope="module")
def demo_processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo cohort's prepared outputs (scores.csv, participants.csv ...), made in process
    from the committed raw exports: a fresh clone has no data/processed/demo/."""
    from balint_analysis.pipeline import prepare_stage

    out_dir = tmp_path_factory.mktemp("demo_processed")
    full = apply_defaults(yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8")), load_schema())
    cfg = load_stage_config(stage_config(full, "prepare"), "prepare")
    out = {name: str(out_dir / f"{name}.csv") for name in PREPARE_OUTPUTS}
    out |= {"pseudonymisation": str(out_dir / "pseudonymisation.json"),
            "flow": str(out_dir / "flow.json"), "item_stats": str(out_dir / "items.csv")}
    before = Path.cwd()
    os.chdir(REPO)  # the config's export paths are relative to the project directory
    try:
        prepare_stage(cfg, {}, out, key_history=str(out_dir / "key_history.json"))
    finally:
        os.chdir(before)
    return out_dir


def demo_config(**missing_data) -> dict:
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw = copy.deepcopy(raw) | {"missing_data": missing_data}
    return apply_defaults(raw, load_schema())


def pooled_with_chunk_size(demo: Path, chunk_size: int, imputations: int = 14):
    full = demo_config(imputations=imputations, chunk_size=chunk_size, n_deltas=5)
    cfg = load_stage_config(stage_config(full, "missing_chunk"), "missing_chunk")
    outcomes = planned_outcomes(cfg.instruments)
    settings = missing_settings(cfg.raw, len(outcomes))
    scores = pd.read_csv(demo / "scores.csv", dtype={"participant": str, "category": str})
    participants = read_participants(demo / "participants.csv", cfg.analysis.covariate_levels)
    design = {"timepoints": list(cfg.design.timepoints), "intervention": cfg.design.intervention,
              "control": cfg.design.control, "covariates": list(cfg.analysis.covariates),
              "covariate_levels": dict(cfg.analysis.covariate_levels)}  # fmt: skip
    sub = outcome_rows(scores, participants, instrument=OUTCOME[0], scale=OUTCOME[1], **design)
    chunks = [
        analyse_chunk(sub, instrument=OUTCOME[0], scale=OUTCOME[1], participants=participants,
                      settings=settings, chunk=c, outcome_number=outcomes.index(OUTCOME),
                      use_clusters=True, alpha=0.05, **design)
        for c in reversed(range(settings["n_chunks"]))  # gathered in any order
    ]  # fmt: skip
    sd = baseline_sd(sub, timepoints=design["timepoints"], groups=["balint", "control"],
                     covariates=design["covariates"])  # fmt: skip
    rows = pd.concat(chunks, ignore_index=True)
    pooled = (*pool_chunks(rows, {OUTCOME: sd}, 0.05, {OUTCOME: "higher_is_worse"}),
              pool_emmeans(rows, 0.05))  # fmt: skip
    return pooled, settings


def test_results_do_not_depend_on_the_chunking(demo_processed):
    (pooled_50, tipping_50, emm_50), s50 = pooled_with_chunk_size(demo_processed, 50)
    (pooled_7, tipping_7, emm_7), s7 = pooled_with_chunk_size(demo_processed, 7)
    assert (s50["n_chunks"], s7["n_chunks"]) == (1, 2)
    assert len(pooled_50) and (pooled_50["m"] == 14).all()
    assert set(pooled_50["scenario"]) >= {"mar", "delta_balint", "delta_both"}
    pd.testing.assert_frame_equal(pooled_50, pooled_7, check_exact=True)
    pd.testing.assert_frame_equal(tipping_50, tipping_7, check_exact=True)
    assert len(emm_50) == 2 * 2 * 3 and (emm_50["m"] == 14).all()  # scenarios × arms × times
    pd.testing.assert_frame_equal(emm_50, emm_7, check_exact=True)


def test_the_job_budget_is_refused_with_one_line():
    """One job per chunk (every outcome in it): the schema's extreme, 1,000 imputations in
    chunks of 1, is 1,000 jobs whatever the number of outcomes; beyond it, one line."""
    assert missing_settings({"missing_data": {"imputations": 1000, "chunk_size": 1}},
                            8)["n_chunks"] == 1000  # fmt: skip
    assert missing_settings({"missing_data": {}}, 9)["n_chunks"] == 2  # M = 50 in chunks of 25
    with pytest.raises(InputError, match=r"missing_data\.chunk_size': 3,000 imputations of 4 "
                       r"outcomes in chunks of 1 are 3,000 jobs.*at least 2\.$"):  # fmt: skip
        missing_settings({"missing_data": {"imputations": 3000, "chunk_size": 1}}, 4)


def test_delta_grid():
    assert delta_grid_sd(1.0, 21)[:3] == [-1.0, -0.9, -0.8] and 0.0 in delta_grid_sd(1.0, 21)
    assert len(delta_grid_sd(1.0, 21)) == 21
    assert delta_grid_sd(0.6, 4) == [-0.6, -0.2, 0.0, 0.2, 0.6]  # 0 (MAR) always included


def test_imputations_zero_writes_reason_rows(tmp_path, demo_processed):
    full = demo_config(imputations=0)
    cfg = load_stage_config(stage_config(full, "missing_gather"), "missing_gather")
    out = {"missing_data": tmp_path / "missing_data.csv", "tipping": tmp_path / "tipping.csv",
           "missing_emmeans": tmp_path / "missing_emmeans.csv"}
    inp = {"scores": demo_processed / "scores.csv",
           "participants": demo_processed / "participants.csv",
           "chunks": []}  # fmt: skip
    missing_gather_stage(cfg, inp, out)
    pooled = pd.read_csv(out["missing_data"])
    tipping = pd.read_csv(out["tipping"])
    outcomes = planned_outcomes(cfg.instruments)
    assert len(pooled) == len(tipping) == 2 * len(outcomes)  # post and followup
    assert set(pooled["reason"]) == set(tipping["reason"]) == {OFF_REASON}
    assert pooled["estimate"].isna().all()
    emm = pd.read_csv(out["missing_emmeans"])
    assert len(emm) == 2 * 3 * len(outcomes)  # arms × timepoints
    assert set(emm["reason"]) == {OFF_REASON} and emm["mean"].isna().all()
