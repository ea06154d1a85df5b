"""The fast Newton-REML path agrees with the statsmodels reference path (and so with lme4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from balint_analysis.models import fit_lmm, model_data
from balint_analysis.models.fast import fit_lmm_fast, fit_lmm_preferring_fast
from balint_analysis.power import expand_grid, simulate_replicate

REF = Path(__file__).parent / "reference"
LEVELS = ["pre", "post", "followup"]


def _reference_data(dataset: str, scale: str, *, clusters: bool, covariates=()):
    scores = pd.read_csv(REF / f"{dataset}_scores.csv")
    people = pd.read_csv(REF / f"{dataset}_participants.csv", dtype={"cluster": str})
    frame = scores[(scores["scale"] == scale) & scores["score"].notna()]
    frame = frame.merge(people[["participant", "cluster", *covariates]], on="participant")
    frame = frame.dropna(subset=list(covariates))
    levels = [t for t in LEVELS if (frame["timepoint"] == t).any()]
    return model_data(frame, levels=levels, intervention="balint", control="control",
                      covariates=covariates, use_clusters=clusters)  # fmt: skip


def _agree(fast, ref, rtol: float) -> None:
    L = np.eye(len(fast.data.terms))
    for a, b in zip(fast.contrast(L), ref.contrast(L), strict=True):
        ok = np.isfinite(b)
        np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=1e-8)
    for name, value in ref.variances.items():
        assert fast.variances[name] == pytest.approx(value, rel=1e-4, abs=1e-8)
    assert fast.boundary == ref.boundary


@pytest.mark.parametrize(
    ("dataset", "clusters", "covariates"),
    [("twoarm", False, ()), ("nested", True, ()), ("nested", False, ()),
     ("covariates", True, ("age", "years_in_practice")), ("twotime", True, ()),
     ("boundary", True, ())],
)  # fmt: skip
def test_fast_path_matches_reference_path_on_r_datasets(dataset, clusters, covariates):
    scales = pd.read_csv(REF / f"{dataset}_scores.csv")["scale"].unique()
    for scale in scales:
        data = _reference_data(dataset, scale, clusters=clusters, covariates=covariates)
        fast, ref = fit_lmm_fast(data), fit_lmm(data)
        assert fast is not None, (dataset, scale)
        # Both sit at the same REML optimum; statsmodels' own tolerance limits the agreement.
        _agree(fast, ref, rtol=1e-5)
        assert fast.state.deviance <= ref.state.deviance + 1e-7


def test_fast_path_on_simulated_replicates_including_boundary_fits():
    cell = expand_grid({"n_per_arm": [30], "effect_d": [0.3], "icc": [0.05]}).iloc[0]
    boundaries = 0
    for seed in range(12):
        frame = simulate_replicate(cell, np.random.default_rng(seed))
        data = model_data(frame, levels=["t0", "t1", "t2"], intervention="balint",
                          control="control")  # fmt: skip
        fast, ref = fit_lmm_fast(data), fit_lmm(data)
        assert fast is not None
        _agree(fast, ref, rtol=1e-5)
        boundaries += bool(fast.boundary)
    assert boundaries >= 1  # the KKT boundary branch was exercised


def test_no_participant_variance_falls_back_to_reference():
    rng = np.random.default_rng(0)
    rows = [{"participant": f"p{i}", "group": "balint" if i < 20 else "control",
             "timepoint": t, "cluster": "", "score": rng.normal()}
            for i in range(40) for t in LEVELS]  # fmt: skip
    data = model_data(pd.DataFrame(rows), levels=LEVELS, intervention="balint",
                      control="control")  # fmt: skip
    if fit_lmm_fast(data) is None:
        fit = fit_lmm_preferring_fast(data)
        assert "fast path" not in fit.diagnostics["optimizer"]
    else:  # a small positive participant variance was a genuine interior optimum
        _agree(fit_lmm_fast(data), fit_lmm(data), rtol=1e-5)
