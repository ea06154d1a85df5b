"""Estimated marginal means pooled over the imputations (issue 16, item 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_missing_imputation import TIMEPOINTS, cohort, run

from balint_analysis.missing.pooling import rubin_pool
from balint_analysis.missing.stage import MISSING_EMMEANS_COLUMNS, pool_emmeans
from balint_analysis.models.outcome import _analyse_one

CELLS = [(g, t) for g in ("balint", "control") for t in TIMEPOINTS]


def per_imputation(**kw) -> pd.DataFrame:
    return run(cohort(**kw), imputations=[0, 1, 2, 3], emmeans=True)


def test_pooled_means_are_rubins_rules_on_each_imputations_means():
    rows = per_imputation()
    emm = rows[rows["group"].notna()]
    assert len(emm) == 4 * 2 * len(CELLS)  # imputations × (mar, J2R) × cells
    pooled = pool_emmeans(rows, 0.05)
    assert list(pooled.columns) == MISSING_EMMEANS_COLUMNS
    assert len(pooled) == 2 * len(CELLS) and (pooled["reason"] == "").all()
    for row in pooled.itertuples():
        cell = emm[(emm["scenario"] == row.scenario) & (emm["group"] == row.group)
                   & (emm["timepoint"] == row.timepoint)].sort_values("imputation")
        by_hand = rubin_pool(cell["estimate"], cell["variance"],
                             float(np.median(cell["df_complete"])))
        for ours, theirs in (("mean", "estimate"), ("se", "se"), ("df", "df"),
                             ("ci_low", "ci_low"), ("ci_high", "ci_high"), ("fmi", "fmi")):
            assert getattr(row, ours) == pytest.approx(by_hand[theirs], rel=1e-12)
        assert row.m == 4
    # Drop-outs were imputed: information is missing after baseline, less at baseline.
    mar = pooled[pooled["scenario"] == "mar"].set_index(["group", "timepoint"])
    assert mar.loc[("balint", "followup"), "fmi"] > mar.loc[("balint", "pre"), "fmi"]


def test_means_come_from_the_same_fits_as_the_effects():
    """Each imputation's group × time effect is the difference in differences of its EMMs
    (the covariates cancel): the means are contrasts of the very fit that gave the effect."""
    rows = per_imputation()
    effects = rows[rows["group"].isna() & (rows["delta"] == 0.0)
                   & rows["scenario"].isin(["mar", "jump_to_reference"])]
    emm = rows[rows["group"].notna()].set_index(["scenario", "imputation", "group",
                                                  "timepoint"])["estimate"].sort_index()
    for e in effects.itertuples():
        one = emm[(e.scenario, e.imputation)]
        did = (one[("balint", e.timepoint)] - one[("control", e.timepoint)]
               - one[("balint", "pre")] + one[("control", "pre")])
        assert did == pytest.approx(e.estimate, rel=1e-9)


def test_without_missing_scores_the_pooled_means_are_the_primary_models():
    """Nothing imputed: every completed dataset is the observed one, so the pooled means and
    SEs are the model stage's emmeans.csv values; B = 0 makes the df Barnard–Rubin's ν_obs
    of the Satterthwaite df and the FMI 2 / (ν + 3)."""
    sub = cohort(missing=0.0)
    rows = run(sub, imputations=[0, 1, 2], emmeans=True)
    assert (rows.loc[rows["group"].isna(), "reason"].str.contains("nothing to impute")).all()
    pooled = pool_emmeans(rows, 0.05).set_index(["scenario", "group", "timepoint"])
    primary = _analyse_one(sub, timepoints=TIMEPOINTS, intervention="balint",
                           control="control", covariates=["age"], alpha=0.05,
                           use_clusters=True, covariate_levels={})[1]
    assert len(primary) == len(CELLS)
    for p in primary.itertuples():
        for scenario in ("mar", "jump_to_reference"):
            got = pooled.loc[(scenario, p.group, p.timepoint)]
            assert got["reason"] == "" and got["m"] == 3
            assert got["mean"] == pytest.approx(p.mean, rel=1e-7)
            assert got["se"] == pytest.approx(p.se, rel=1e-6)
            nu_obs = (p.df + 1) / (p.df + 3) * p.df
            assert got["df"] == pytest.approx(nu_obs, rel=1e-4)
            assert got["fmi"] == pytest.approx(2 / (got["df"] + 3), rel=1e-12)
