"""Runtime measures of the imputation fits that must not change their results (issue 16):
Newton's clipped step, the early try of the boundary, the reuse of response-free REML parts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from balint_analysis.models.newton import (
    BOUNDARY_THETA,
    minimise_with_boundary,
    newton_log_variances,
)


def _quadratic_in_log(g0: np.ndarray, h0: np.ndarray, phi0: np.ndarray):
    """A deviance exactly quadratic in ``psi = log(phi)`` with gradient ``g0`` and Hessian
    ``h0`` (in psi) at ``phi0``, as a ``phi -> state`` evaluator (derivatives in phi)."""
    psi0 = np.log(phi0)

    def evaluate(phi):
        phi = np.asarray(phi, dtype=float)
        d = np.log(phi) - psi0
        g_psi = g0 + h0 @ d
        grad = g_psi / phi
        hess = (h0 - np.diag(g_psi)) / np.outer(phi, phi)
        return SimpleNamespace(phi=phi, deviance=float(g0 @ d + 0.5 * d @ h0 @ d),
                               gradient=grad, hessian=hess)

    return evaluate


def test_a_clipped_newton_step_that_would_go_uphill_is_shortened_as_a_whole():
    # Gradient and Hessian (log scale) of a demo completed dataset (personal accomplishment,
    # imputation 25) at the primary fit's variances: the Newton step is ~100 in the flat
    # Balint-group log-variance, and clipping that component alone to 5 turned the step
    # uphill: 30 halvings per iteration for 60 iterations, then no optimum (1,801 REML
    # evaluations, then the slow fallback).
    g0 = np.array([7.46653108, -0.26184307, -8.70948319])
    h0 = np.array([[6.82013578e01, 9.54234372e-02, 1.61132280e01],
                   [9.54234372e-02, 6.94844355e-03, 1.07353045e00],
                   [1.61132280e01, 1.07353045e00, 2.46732125e02]])
    phi0 = np.array([30.69681768, 0.56802151, 23.44647868])
    newton = -np.linalg.solve(h0, g0)
    assert g0 @ np.clip(newton, -5, 5) > 0  # the old clipped step: uphill
    state, evaluations, boundary = newton_log_variances(
        _quadratic_in_log(g0, h0, phi0), phi0, np.ones(3, dtype=bool), 2)
    assert state is not None and not boundary
    # The quadratic's minimum: psi0 + newton (20 steps of length 5 along the flat direction).
    np.testing.assert_allclose(np.log(state.phi), np.log(phi0) + newton, atol=1e-6)
    assert evaluations < 100  # was: no optimum


def _boundary_problem(c: float):
    """``D = (phi_1 - c)^2 + (phi_res - 1)^2``: the component's optimum is ``max(c, 0)``."""
    def evaluate(phi):
        phi = np.asarray(phi, dtype=float)
        target = np.array([c, 1.0])
        return SimpleNamespace(phi=phi, deviance=float(np.sum((phi - target) ** 2)),
                               gradient=2 * (phi - target), hessian=2 * np.eye(2))
    return evaluate


@pytest.mark.parametrize("early", [0.05, 0.1])
def test_trying_the_boundary_early_finds_the_same_optimum_with_fewer_evaluations(early):
    phi0 = np.array([0.2, 1.0])
    late, late_evals, late_boundary = minimise_with_boundary(_boundary_problem(-0.5), phi0, 1)
    state, evals, boundary = minimise_with_boundary(_boundary_problem(-0.5), phi0, 1,
                                                    boundary_theta=early)
    assert boundary == late_boundary == (0,)
    np.testing.assert_allclose(state.phi, late.phi, atol=1e-9)
    assert state.phi[0] == 0.0
    assert evals < late_evals


@pytest.mark.parametrize("early", [0.05, 0.1])
def test_an_interior_optimum_below_the_early_threshold_is_still_found(early):
    # Optimum SD ratio sqrt(4e-4 / 1) = 0.02: below the early threshold, above 1e-3.
    phi0 = np.array([0.2, 1.0])
    state, _, boundary = minimise_with_boundary(_boundary_problem(4e-4), phi0, 1,
                                                boundary_theta=early)
    assert boundary == ()
    np.testing.assert_allclose(state.phi, [4e-4, 1.0], rtol=1e-6)
    assert np.sqrt(state.phi[0] / state.phi[1]) > BOUNDARY_THETA


def _fields_equal(a, b) -> None:
    for name in ("beta", "cov_beta", "gradient", "hessian", "dcov"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.deviance == b.deviance


def test_response_free_part_reused_for_another_response_is_bit_identical():
    from dataclasses import replace

    from test_missing_rotation import completed

    from balint_analysis.missing.completed import completed_structure, with_response
    from balint_analysis.models.lmm import _components
    from balint_analysis.models.reml import reml_state, response_free, variance_structure

    design, y = completed()
    struct, index, rotate = completed_structure(design)
    dense = variance_structure(design.design_matrix, y, design.data.frame["block"],
                               _components(design.data))
    other_y = y + np.sin(np.arange(y.size))
    for phi in (np.array([16.0, 3.0, 9.0]), np.array([2.0, 0.0, 30.0])):
        # Rotated (1 x 1 and small dense blocks) and unrotated (dense group blocks) designs.
        for first, second in ((with_response(struct, index, rotate, y),
                               with_response(struct, index, rotate, other_y)),
                              (dense, replace(dense, y=y + 1.0, batches=tuple(
                                  replace(b, y=np.cos(b.y)) for b in dense.batches)))):
            free = response_free(first, phi)
            _fields_equal(reml_state(second, phi, free=free), reml_state(second, phi))
            # A part of another phi is not used.
            _fields_equal(reml_state(second, phi, free=response_free(first, phi + 1.0)),
                          reml_state(second, phi))


def test_completed_data_fits_are_the_same_with_a_cold_or_a_warm_part_cache():
    from dataclasses import replace

    from test_missing_rotation import completed

    from balint_analysis.missing.completed import analyse_completed
    from balint_analysis.models.fit import fit_lmm

    design, y = completed()
    # Any fit: only its variances (the start) are used.
    fit = fit_lmm(replace(design.data, frame=design.data.frame.assign(score=y), cache={}))
    start = np.asarray(fit.state.phi, dtype=float)
    L = np.eye(design.data.keep.sum())[-2:]
    shift = {"delta_both": design.missing}

    def analyse(scores):
        return analyse_completed(fit, design, scores, L, shift, start)

    cold = analyse(y)
    for k in range(3):  # warm the cache with other responses, then repeat
        analyse(y + k)
    warm = analyse(y)
    design.data.cache.pop("response_free")
    again = analyse(y)
    for a, b, c in zip(cold[:3], warm[:3], again[:3], strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    assert np.array_equal(cold[3]["delta_both"], warm[3]["delta_both"])
    assert np.array_equal(cold[4], warm[4])


def test_scalar_rows_summed_per_covariance_pattern_give_the_same_reml_state():
    from dataclasses import replace

    from test_missing_rotation import completed

    from balint_analysis.missing.rotation import exchangeable_rotation
    from balint_analysis.models.block_sums import group_scalar_rows
    from balint_analysis.models.lmm import _components
    from balint_analysis.models.reml import ml_state, reml_state, variance_structure

    design, y = completed()
    data, frame = design.data, design.data.frame
    rotation = exchangeable_rotation(
        frame["participant"].factorize()[0], frame["block"].to_numpy(), _components(data),
        frame["timepoint"].map({t: k for k, t in enumerate(data.levels)}).to_numpy())
    X, ry = rotation(data.X[:, data.keep]), rotation(y)
    rows = variance_structure(X, ry, rotation.blocks, rotation.components)
    grouped = replace(rows, batches=tuple(replace(b, derived={}) for b in rows.batches))
    group_scalar_rows(grouped)
    patterns = [b.derived["patterns"] for b in grouped.batches if "patterns" in b.derived]
    assert len(patterns) == 1 and len(patterns[0][1]) < grouped.batches[0].y.shape[0] / 5
    for phi in ([16.0, 3.0, 9.0], [2.0, 0.0, 30.0]):
        a, b = reml_state(rows, phi), reml_state(grouped, phi)
        assert b.deviance == pytest.approx(a.deviance, rel=1e-13)
        for name in ("beta", "cov_beta", "gradient", "hessian", "dcov"):
            assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-11, abs=1e-13)
        a, b = ml_state(rows, phi), ml_state(grouped, phi)
        assert b.deviance == pytest.approx(a.deviance, rel=1e-13)
        assert b.gradient == pytest.approx(a.gradient, rel=1e-11, abs=1e-13)
