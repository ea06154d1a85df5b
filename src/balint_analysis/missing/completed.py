"""Fitting the primary (analysis) model of an outcome and of its completed datasets.

The multiple-imputation stage fits each outcome's primary model once per chunk job
(:func:`fit_primary`) and then every completed dataset of every scenario
(:func:`analyse_completed`): REML by Newton's method, warm-started, on the exact orthogonal
rotation of the Balint-group design (:func:`rotated_structure`), the response-free part of
a REML evaluation reused where fits start at already-evaluated variances
(:func:`response_free_parts`), converged at :data:`COMPLETED_DATA_TOL`
(:func:`completed_data_converged`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from balint_analysis.missing.imputation import CompleteDesign
from balint_analysis.missing.rotation import exchangeable_rotation
from balint_analysis.models.block_sums import group_scalar_rows
from balint_analysis.models.design import ModelData
from balint_analysis.models.fit import _start, fit_lmm
from balint_analysis.models.lmm import FittedLMM, _components
from balint_analysis.models.newton import GRADIENT_TOL, minimise_with_boundary
from balint_analysis.models.reml import (
    RemlState,
    ResponseFree,
    reml_state,
    response_free,
    variance_structure,
)
from balint_analysis.models.satterthwaite import Satterthwaite, scaled_gradient

__all__ = ["COMPLETED_DATA_BOUNDARY_THETA", "COMPLETED_DATA_TOL", "PrimaryFit",
           "analyse_completed", "completed_data_converged", "completed_structure",
           "fit_primary", "response_free_parts", "rotated_structure", "with_response"]

#: Scaled-gradient tolerance of the completed-data REML fits (see :func:`completed_data_converged`).
COMPLETED_DATA_TOL = 2e-4
#: SD ratio (Balint group / residual) below which a completed-data fit tries the boundary
#: (see :func:`analyse_completed`).
COMPLETED_DATA_BOUNDARY_THETA = 0.05
#: Response-free REML parts kept per completed design besides the primary fit's.
_KEPT_PARTS = 4


def analyse_completed(fit: FittedLMM, design: CompleteDesign, y: np.ndarray, L: np.ndarray,
                       shift_rows: Mapping[str, np.ndarray], start: np.ndarray):
    """Primary model on one completed dataset: estimates, variances and Satterthwaite df of
    the rows of ``L``, per δ scenario the derivative of the estimates in δ, and the variances.

    A Balint-group variance heading for zero is dropped once its SD falls below
    :data:`COMPLETED_DATA_BOUNDARY_THETA` times the residual SD (the model stage waits for
    1e-3): Newton on log-variances approaches zero only linearly, ~1 REML evaluation per factor
    e, so fits ending on the boundary took ~8 more evaluations (personal accomplishment, demo:
    half its completed datasets). The boundary is kept only if the Karush-Kuhn-Tucker check
    holds, otherwise the variance is revived and the interior optimum found as before; on the
    demo's 100 imputations the same fits end on the boundary and every estimate, variance and
    df agrees with the later drop to within 4e-9 SE and 7e-8 relative (the completed-data
    tolerance of :func:`completed_data_converged`)."""
    struct, index, rotate = completed_structure(design)
    struct_y = with_response(struct, index, rotate, y)
    n_comp = start.size - 1
    may_vanish = (1,) if n_comp == 2 else ()
    part = response_free_parts(design, fit)
    state, _, _ = minimise_with_boundary(lambda phi: reml_state(struct_y, phi, free=part(phi)),
                                         start, n_comp, may_vanish=may_vanish,
                                         converged=completed_data_converged,
                                         boundary_theta=COMPLETED_DATA_BOUNDARY_THETA)
    if state is None:  # rare: the reference path with its boundary handling
        data = replace(design.data, frame=design.data.frame.assign(score=y), cache={})
        state = fit_lmm(data).state
    satt = Satterthwaite.from_state(state)
    est, se, df = satt.contrast(L)
    # d estimate / d delta = L C X'V^-1 s: the GLS weights of the shifted rows.
    weights = {}
    cache = part(state.phi).cache if shift_rows else []
    for name, rows in shift_rows.items():
        shifted = rotate(rows.astype(float))
        xvs = sum(W.reshape(-1, W.shape[-1]).T @ shifted[i].reshape(-1)
                  for (_, _, W), i in zip(cache, index, strict=True))
        weights[name] = L @ (state.cov_beta @ xvs)
    return est, se**2, df, weights, state.phi


def response_free_parts(design: CompleteDesign, fit) -> Callable[[np.ndarray], ResponseFree]:
    """``phi -> response_free(completed structure, phi)``, kept on the design for reuse.

    Most of a REML evaluation does not depend on the response (:class:`ResponseFree`), and
    the completed-data fits of one design start where others were evaluated: every MAR fit at
    the primary fit's variances (kept for the whole chunk), the jump-to-reference fit (and any
    refit at δ) at its imputation's MAR optimum, and the δ weights are taken there too (the
    last :data:`_KEPT_PARTS` points are kept). Exact: the same numbers as a full evaluation."""
    if "response_free" not in design.data.cache:
        design.data.cache["response_free"] = ({}, OrderedDict())
    pinned, recent = design.data.cache["response_free"]
    struct = completed_structure(design)[0]
    primary = np.asarray(fit.state.phi, dtype=float).tobytes()

    def part(phi: np.ndarray) -> ResponseFree:
        key = np.asarray(phi, dtype=float).tobytes()
        found = pinned.get(key) or recent.get(key)
        if found is None:
            found = response_free(struct, phi)
            if key == primary:
                pinned[key] = found
            else:
                recent[key] = found
                if len(recent) > _KEPT_PARTS:
                    recent.popitem(last=False)
        elif key in recent:
            recent.move_to_end(key)
        return found

    return part


def completed_data_converged(state) -> float:
    """Convergence for the completed-data fits: Cholesky-scaled gradient (the Newton
    decrement) below 2e-4, ten times tighter than lme4's 2e-3 warning. From the warm start
    Newton converges quadratically (typically 1, 5e-2, 1e-4, 1e-9): the primary fit's 1e-8
    costs one more REML evaluation per fit (~15% of the runtime) for a change in the variances
    of ~1e-4 of their standard errors (tests/test_missing_imputation.py compares with the
    model stage's fit: estimates to 1e-6, variances to 1e-5, df to 1e-4)."""
    return scaled_gradient(state) * (GRADIENT_TOL / COMPLETED_DATA_TOL)


def completed_structure(design: CompleteDesign):
    """The completed design's variance structure (:func:`rotated_structure`)."""
    return rotated_structure(design.data)


def rotated_structure(data: ModelData):
    """A design's variance structure, built once per design, the row index of every block of
    every batch (to put a new response into the structure) and the rotation a response goes
    through first.

    With a Balint-group term the structure is that of the rotated rows
    (:func:`.rotation.exchangeable_rotation`: exact, the same REML fit, but ``T × T`` and
    ``1 × 1`` blocks instead of one dense block per group; at W2 size ~4× cheaper per REML
    evaluation), its ``1 × 1`` rows summed per covariance pattern
    (:func:`~balint_analysis.models.block_sums.group_scalar_rows`: W2-sized evaluation ~19 → ~8 ms;
    the same numbers to ~1e-13 relative)."""
    key = "rotated_structure"
    if key not in data.cache:
        frame = data.frame
        rows = np.arange(len(frame), dtype=float)
        components = _components(data)
        X, blocks, rotate = data.X[:, data.keep], frame["block"], _identity
        if "cluster" in components:
            timepoint = frame["timepoint"].map(
                {t: k for k, t in enumerate(data.levels)}).to_numpy()
            participant = pd.factorize(frame["participant"])[0]
            rotation = exchangeable_rotation(participant, blocks.to_numpy(), components,
                                             timepoint)  # fmt: skip
            X, blocks, components = rotation(X), rotation.blocks, rotation.components
            rotate = rotation
        struct = variance_structure(X, rows, blocks, components)
        group_scalar_rows(struct)  # the rotated 1 x 1 rows: a few covariance patterns
        index = [b.y.astype(int) for b in struct.batches]
        data.cache[key] = (struct, index, rotate)
    return data.cache[key]


def with_response(struct, index, rotate, y: np.ndarray):
    """``struct`` with the response ``y`` (original rows) put in, rotated."""
    y = rotate(y)
    return replace(struct, y=y, batches=tuple(
        replace(b, y=y[i]) for b, i in zip(struct.batches, index, strict=True)))


@dataclass(frozen=True)
class PrimaryFit:
    """What imputation needs of the primary fit: the REML optimum and its Satterthwaite
    quantities (``beta``, ``cov_beta``, ``vcov_varpar``), and its design (the EMM grid)."""

    state: RemlState
    satterthwaite: Satterthwaite
    data: ModelData


def fit_primary(data: ModelData) -> FittedLMM | PrimaryFit:
    """The primary model's REML optimum as the model stage's engine finds it (Newton from the
    same start, certified at the same scaled gradient 1e-8), on the rotated rows (with Balint
    groups ~4× cheaper per evaluation at W2 size: the fit ran once per outcome and chunk job).
    Anything but an interior optimum (a variance on the boundary, no certified optimum) is
    left to the model stage's own :func:`~balint_analysis.models.fit.fit_lmm`."""
    components = _components(data)
    if "cluster" not in components:
        return fit_lmm(data)
    try:
        struct = with_response(*rotated_structure(data), data.y)
        state, _, vanished = minimise_with_boundary(
            lambda phi: reml_state(struct, phi), _start(data, len(components)),
            len(components), may_vanish=(1,), converged=scaled_gradient)
    except (ValueError, np.linalg.LinAlgError):
        state = None
    if state is None or vanished or np.any(np.linalg.eigvalsh(state.hessian) <= 0):
        return fit_lmm(data)
    return PrimaryFit(state=state, satterthwaite=Satterthwaite.from_state(state), data=data)


def _identity(values: np.ndarray) -> np.ndarray:
    return values
