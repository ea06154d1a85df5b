"""The Newton-REML engine (``fit_lmm_reml``) agrees with the statsmodels fallback
(``fit_lmm_statsmodels``, and so with lme4); ``fit_lmm`` uses the first when it certifies
its optimum."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from balint_analysis.models import fit_lmm_statsmodels, model_data
from balint_analysis.models.fit import fit_lmm, fit_lmm_reml
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
def test_reml_engine_matches_statsmodels_engine_on_r_datasets(dataset, clusters, covariates):
    scales = pd.read_csv(REF / f"{dataset}_scores.csv")["scale"].unique()
    for scale in scales:
        data = _reference_data(dataset, scale, clusters=clusters, covariates=covariates)
        fast, ref = fit_lmm_reml(data), fit_lmm_statsmodels(data)
        assert fast is not None, (dataset, scale)
        # Both sit at the same REML optimum; statsmodels' own tolerance limits the agreement.
        _agree(fast, ref, rtol=1e-5)
        assert fast.state.deviance <= ref.state.deviance + 1e-7


def test_reml_engine_on_simulated_replicates_including_boundary_fits():
    cell = expand_grid({"n_per_arm": [30], "effect_d": [0.3], "icc": [0.05]}).iloc[0]
    boundaries = 0
    for seed in range(12):
        frame = simulate_replicate(cell, np.random.default_rng(seed))
        data = model_data(frame, levels=["t0", "t1", "t2"], intervention="balint",
                          control="control")  # fmt: skip
        fast, ref = fit_lmm_reml(data), fit_lmm_statsmodels(data)
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
    if fit_lmm_reml(data) is None:
        fit = fit_lmm(data)
        assert fit.diagnostics["engine"] == "statsmodels"
    else:  # a small positive participant variance was a genuine interior optimum
        _agree(fit_lmm_reml(data), fit_lmm_statsmodels(data), rtol=1e-5)


def _force_lbfgsb(monkeypatch):
    """Make every Newton run of the refits fail, so they take the L-BFGS-B fallback."""
    from balint_analysis.models import refits

    monkeypatch.setattr(refits, "minimise_with_boundary", lambda *a, **k: (None, 0, ()))


@pytest.mark.parametrize(("dataset", "clusters"), [("nested", True), ("twoarm", False),
                                                   ("boundary", True)])  # fmt: skip
def test_newton_refits_equal_the_lbfgsb_fallback(dataset, clusters, monkeypatch):
    """ML refit and residual-by-arm fit: Newton (default) and L-BFGS-B reach one optimum."""
    from balint_analysis.models.refits import fit_residual_by_arm, ml_refit

    scale = pd.read_csv(REF / f"{dataset}_scores.csv")["scale"].unique()[0]
    data = _reference_data(dataset, scale, clusters=clusters)
    primary = fit_lmm(data)
    newton_ml, newton_arm = ml_refit(primary), fit_residual_by_arm(data, primary)
    assert newton_arm.diagnostics["optimizer"].startswith("Newton")
    with monkeypatch.context() as m:
        _force_lbfgsb(m)
        slow_ml, slow_arm = ml_refit(primary), fit_residual_by_arm(data, primary)
    assert slow_arm.diagnostics["optimizer"].startswith("L-BFGS-B")
    assert newton_ml["loglik"] >= slow_ml["loglik"] - 1e-8  # never a worse optimum
    assert newton_ml["loglik"] == pytest.approx(slow_ml["loglik"], abs=1e-6)
    for k, v in slow_ml["variance_components"].items():
        assert newton_ml["variance_components"][k] == pytest.approx(v, rel=1e-4, abs=1e-6)
    assert newton_arm.state.deviance <= slow_arm.state.deviance + 1e-8
    for k, v in slow_arm.variances.items():
        assert newton_arm.variances[k] == pytest.approx(v, rel=1e-4, abs=1e-6)
    L = np.eye(len(data.terms))[data.keep]
    for a, b in zip(newton_arm.contrast(L), slow_arm.contrast(L), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)


def test_ml_state_derivatives_match_finite_differences():
    from balint_analysis.models.lmm import model_structure
    from balint_analysis.models.reml import ml_state

    data = _reference_data("nested", "emotional_exhaustion", clusters=True)
    struct = model_structure(data)
    phi = np.array([20.0, 4.0, 30.0])
    state = ml_state(struct, phi)
    for j in range(3):
        step = np.zeros(3)
        step[j] = 1e-4 * phi[j]
        up, down = ml_state(struct, phi + step), ml_state(struct, phi - step)
        assert (up.deviance - down.deviance) / (2 * step[j]) == pytest.approx(
            state.gradient[j], rel=1e-6)
        np.testing.assert_allclose((up.gradient - down.gradient) / (2 * step[j]),
                                   state.hessian[:, j], rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(("dataset", "clusters", "by_arm"),
                         [("twoarm", False, False), ("nested", True, False),
                          ("nested", True, True)])  # fmt: skip
def test_closed_form_blocks_equal_the_dense_algebra(dataset, clusters, by_arm):
    """Compound-symmetric blocks (participant intercepts) use the closed-form inverse and
    determinant; the same structure with every block treated as dense gives the same state."""
    import dataclasses

    from balint_analysis.models.lmm import model_structure
    from balint_analysis.models.reml import ml_state, reml_state

    scale = pd.read_csv(REF / f"{dataset}_scores.csv")["scale"].unique()[0]
    data = _reference_data(dataset, scale, clusters=clusters)
    struct = model_structure(data, by_arm=by_arm)
    assert any(b.cs_weights is not None for b in struct.batches)
    assert clusters == any(b.cs_weights is None for b in struct.batches)
    dense = dataclasses.replace(struct, batches=tuple(
        dataclasses.replace(b, cs_weights=None) for b in struct.batches))
    phi = np.linspace(3.0, 30.0, struct.n_par)
    for evaluate in (reml_state, ml_state):
        a, b = evaluate(struct, phi), evaluate(dense, phi)
        assert a.deviance == pytest.approx(b.deviance, rel=1e-12)
        np.testing.assert_allclose(a.gradient, b.gradient, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.hessian, b.hessian, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10, atol=1e-12)
