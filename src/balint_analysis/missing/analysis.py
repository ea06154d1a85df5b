"""Multiple imputation and analysis of one outcome under every missing-data scenario.

:func:`impute_and_analyse` fits the primary model of the outcome (the same rows and design as
the model stage), draws imputations from it (:mod:`.imputation`) and analyses each completed
dataset with the primary model again: REML by Newton's method on the exact derivatives, started
from the primary fit's variances (a warm start: 3–5 evaluations), Satterthwaite inference.

Scenarios, per imputation ``m`` (all from the same draw, so they differ only by the scenario):

* ``mar``: the completed data as drawn (δ = 0).
* ``delta_balint``: δ points added to every imputed score of the Balint arm's participants
  with a missing score; ``delta_both``: to those of both arms.
* ``jump_to_reference``: the Balint arm's missing scores imputed as if they had been controls
  (two-arm designs only: a single-arm study has no reference arm).

δ scenarios reuse the imputations (the imputation model is never refitted per δ). What the
analysis model does at δ depends on the outcome (``refit``; ``missing_data.refit_outcomes``,
by default the primary outcome is refitted, the others held):

* ``held_at_mar``: the variance components of the imputation's MAR fit are kept. At fixed
  variances the GLS estimate is linear in the scores, so the effect at δ is
  ``estimate(0) + δ · w`` with ``w`` the GLS weight of the shifted rows, and its variance and
  df do not change. Against a REML refit at every δ on the demo cohort
  (benchmarks/missing_runtime.py, 9 outcomes, δ from −1 to 1 baseline SD) the estimates
  differ by at most 0.025 SE but the SEs by up to 25% at |δ| = 1 SD and 11% within
  |δ| ≤ 0.5 SD, in either direction (shifting drop-outs as a block changes the variance
  components): the tipping point can lie too far from 0 or too close to it.
* ``refitted``: the analysis model is refitted at four δ nodes per δ scenario and each grid
  δ's estimate, variance and df interpolated between them (:mod:`.refit`: 8 more REML fits
  per imputation instead of 42 for a refit at every δ; SEs within 1.1% of such refits on
  every demo outcome, within 0.01% on the primary one).

``df_complete`` of a contrast is its Satterthwaite df in that imputation's completed-data fit
(the df the analysis would have had without missing data); pooling uses its median over the
imputations as Barnard–Rubin's ν_com.

With ``emmeans=True`` the same fits also give the estimated marginal means per group ×
timepoint (``mar`` and ``jump_to_reference``, δ = 0): one more contrast per cell, on the primary
model's reference grid (:func:`emm_grid`, the covariates at their means over the observed rows,
as :func:`balint_analysis.models.emmeans.estimated_marginal_means` sets them). An outcome
without a missing score has every completed dataset equal to the observed one: its EMM rows
carry the primary fit's means in every imputation (pooled, the model stage's means and SEs).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from balint_analysis.missing.imputation import (
    CompleteDesign,
    complete_design,
    completed_scores,
    draw_parameters,
)
from balint_analysis.missing.refit import refitted_delta_curves
from balint_analysis.missing.rotation import exchangeable_rotation
from balint_analysis.models.contrasts import treatment_contrast
from balint_analysis.models.degenerate import degenerate_reason
from balint_analysis.models.design import ModelData, dummy_code, model_data
from balint_analysis.models.effects import pooled_baseline_sd
from balint_analysis.models.fit import _start, fit_lmm
from balint_analysis.models.lmm import FittedLMM, _components
from balint_analysis.models.newton import GRADIENT_TOL, minimise_with_boundary
from balint_analysis.models.reml import (
    RemlState,
    ResponseFree,
    group_scalar_rows,
    reml_state,
    response_free,
    variance_structure,
)
from balint_analysis.models.satterthwaite import Satterthwaite, scaled_gradient

__all__ = ["EMM_SCENARIOS", "PER_IMPUTATION_COLUMNS", "SCENARIOS", "emm_grid",
           "impute_and_analyse"]

SCENARIOS = ("mar", "delta_balint", "delta_both", "jump_to_reference")
PER_IMPUTATION_COLUMNS = ["instrument", "scale", "timepoint", "scenario", "delta", "imputation",
                          "estimate", "variance", "df_complete"]
_COLUMNS = [*PER_IMPUTATION_COLUMNS, "reason", "baseline_sd"]
#: Scaled-gradient tolerance of the completed-data REML fits (see :func:`_loose`).
COMPLETED_DATA_TOL = 2e-4
#: SD ratio (Balint group / residual) below which a completed-data fit tries the boundary
#: (see :func:`_analyse_completed`).
COMPLETED_DATA_BOUNDARY_THETA = 0.05
#: Response-free REML parts kept per completed design besides the primary fit's.
_KEPT_PARTS = 4
SINGLE_ARM = "a single-arm design has no comparison arm to refer to"
#: Scenarios whose completed-data fits also give pooled estimated marginal means.
EMM_SCENARIOS = ("mar", "jump_to_reference")
NOTHING_MISSING = "no participant has a missing score: nothing to impute"


def impute_and_analyse(sub: pd.DataFrame, *, instrument: str, scale: str,
                       participants: pd.DataFrame, timepoints: Sequence[str], intervention: str,
                       control: str | None, covariates: Sequence[str],
                       covariate_levels: Mapping, use_clusters: bool, imputations: Sequence[int],
                       seed: int, outcome_index: int, deltas: Sequence[float],
                       alpha: float, scenarios: Sequence[str] = SCENARIOS,
                       emmeans: bool = False, refit: bool = False) -> pd.DataFrame:
    """Impute one outcome's missing scores and analyse every completed dataset.

    Parameters
    ----------
    sub : pandas.DataFrame
        The outcome's rows of ``scores.csv`` joined with the roster as the model stage joins
        them (:func:`balint_analysis.models.inputs.prepare_inputs`).
    instrument, scale : str
        The outcome (copied into the rows).
    participants : pandas.DataFrame
        The roster (unused beyond ``sub``; kept for the stage's uniform call).
    timepoints : sequence of str
        Design timepoints, baseline first.
    intervention, control : str, str or None
        Arm labels (``control=None``: single-arm).
    covariates, covariate_levels, use_clusters
        As for the primary model.
    imputations : sequence of int
        Imputation indices ``m`` to draw; ``m`` uses ``SeedSequence([seed, outcome_index, m])``,
        so its rows do not depend on the other indices in the call.
    seed, outcome_index : int
        Seed parts.
    deltas : sequence of float
        δ grid in points of the scale (δ = 0 is always analysed as ``mar``).
    alpha : float
        Unused (pooling sets the CI); part of the uniform call.
    scenarios : sequence of str
        The scenarios to analyse (default all :data:`SCENARIOS`; simulations skip some).
    emmeans : bool
        Also return the estimated marginal means of every imputation (a ``group`` column).
    refit : bool
        δ scenarios with the analysis model refitted at δ (:mod:`.refit`) instead of the
        variance components held at the imputation's MAR fit.

    Returns
    -------
    pandas.DataFrame
        :data:`PER_IMPUTATION_COLUMNS` plus ``reason`` ("" or why there is no estimate) and
        ``baseline_sd`` (the ``d_model`` denominator): one row per post-baseline timepoint ×
        scenario × δ × imputation (``mar`` and ``jump_to_reference`` at δ = 0 only). With
        ``emmeans``, a ``group`` column (empty on these effect rows) and after them one row per
        group × timepoint (baseline included) × :data:`EMM_SCENARIOS` × imputation whose
        ``estimate`` is the marginal mean.
    """
    del participants, alpha
    post = list(timepoints[1:])
    deltas = [float(d) for d in deltas]
    prepared = _primary(sub, timepoints=timepoints, intervention=intervention, control=control,
                        covariates=covariates, covariate_levels=covariate_levels,
                        use_clusters=use_clusters)
    fit, design, sd, reason = prepared
    groups = [intervention] if control is None else [intervention, control]
    grid_l = emm_grid(fit, groups, timepoints) if emmeans and fit is not None else None
    emm = None if grid_l is None else (_cells(groups, timepoints), grid_l)
    grid = [(name, d) for name, d in [("mar", 0.0), *(("delta_balint", d) for d in deltas),
                                      *(("delta_both", d) for d in deltas),
                                      ("jump_to_reference", 0.0)] if name in scenarios]
    rows, emm_rows = [], []
    for m in imputations:
        results, failed = {}, ""
        if not reason:
            try:
                results = _one_imputation(fit, design, post, deltas, seed, outcome_index,
                                          int(m), reference="jump_to_reference" in scenarios,
                                          emm=emm, refit=refit)
            except (ValueError, np.linalg.LinAlgError):  # one line in the output, no traceback
                failed = f"imputation {int(m)} could not be analysed"
        elif reason == NOTHING_MISSING and grid_l is not None:
            # Every completed dataset is the observed one: the primary fit's means.
            observed = _emm_contrasts(fit.satterthwaite, fit.data.keep, grid_l)
            results = {("emm", s, c): v for s in EMM_SCENARIOS
                       for c, v in zip(_cells(groups, timepoints), observed, strict=True)}
        for scenario, delta in grid:
            for t in post:
                est, var, dfc = results.get((scenario, delta, t), (np.nan, np.nan, np.nan))
                why = reason or failed
                if not why and control is None and scenario in ("delta_both",
                                                                "jump_to_reference"):
                    why = SINGLE_ARM
                elif not why and not np.isfinite(est):
                    why = f"the effect at {t} is not estimable"
                rows.append((instrument, scale, t, scenario, delta, int(m), est, var, dfc, why,
                             sd))
        if emmeans:
            emm_rows += _emm_rows(results, reason, failed, groups, timepoints, scenarios,
                                  control, (instrument, scale, int(m), sd))
    out = pd.DataFrame(rows, columns=_COLUMNS)
    if not emmeans:
        return out
    emm = pd.DataFrame(emm_rows, columns=[*_COLUMNS, "group"])
    return pd.concat([out.assign(group=None), emm], ignore_index=True)


def emm_grid(fit, groups: Sequence[str], timepoints: Sequence[str]) -> np.ndarray:
    """The primary model's EMM reference grid: one design row (all terms) per group ×
    timepoint, the covariates at their means over the analysed (observed) rows, exactly as
    :func:`balint_analysis.models.emmeans.estimated_marginal_means` builds it; NaN rows for a
    cell the data cannot estimate (a timepoint without data, a term dropped as aliased)."""
    data = fit.data
    cov_means = [float(data.frame[c].mean()) for c in data.covariates]
    L = np.array([data.row(g, t, cov_means) if t in data.levels
                  else np.full(len(data.terms), np.nan) for g, t in _cells(groups, timepoints)])
    X = data.X
    _, _, vt = np.linalg.svd(X, full_matrices=X.shape[0] < X.shape[1])
    null = vt[int(data.keep.sum()):].T  # as FittedLMM.contrast: the null space of ``keep``
    if null.size:
        filled = np.nan_to_num(L)
        bad = np.abs(filled @ null).max(axis=1) > 1e-8 * np.maximum(1.0, np.abs(filled).max(1))
        L[bad] = np.nan
    return L


def _cells(groups: Sequence[str], timepoints: Sequence[str]) -> list[tuple[str, str]]:
    return [(g, t) for g in groups for t in timepoints]


def _emm_contrasts(satterthwaite: Satterthwaite, keep: np.ndarray,
                   grid: np.ndarray) -> list[tuple[float, float, float]]:
    """``(mean, variance, df)`` per row of ``grid`` (NaN where not estimable)."""
    ok = ~np.isnan(grid).any(axis=1)
    est = np.full(len(grid), np.nan)
    se, df = est.copy(), est.copy()
    if ok.any():
        est[ok], se[ok], df[ok] = satterthwaite.contrast(grid[ok][:, keep])
    return list(zip(est, se**2, df, strict=True))


def _emm_rows(results: Mapping, reason: str, failed: str, groups: Sequence[str],
              timepoints: Sequence[str], scenarios: Sequence[str], control: str | None,
              outcome: tuple) -> list[tuple]:
    """One imputation's EMM rows (``_COLUMNS`` + ``group``) from ``_one_imputation``'s
    ``("emm", scenario, (group, timepoint))`` entries."""
    instrument, scale, m, sd = outcome
    rows = []
    for scenario in (s for s in EMM_SCENARIOS if s in scenarios):
        for g, t in _cells(groups, timepoints):
            est, var, dfc = results.get(("emm", scenario, (g, t)), (np.nan, np.nan, np.nan))
            why = "" if reason == NOTHING_MISSING else reason or failed
            if not why and control is None and scenario == "jump_to_reference":
                why = SINGLE_ARM
            elif not why and not np.isfinite(est):
                why = f"the mean of {g} at {t} is not estimable"
            rows.append((instrument, scale, t, scenario, 0.0, m, est, var, dfc, why, sd, g))
    return rows


def _primary(sub, *, timepoints, intervention, control, covariates, covariate_levels,
             use_clusters) -> tuple[FittedLMM | None, CompleteDesign | None, float, str]:
    """The primary fit, the completed design, the baseline SD and why nothing can be done."""
    baseline = timepoints[0]
    groups = [intervention] if control is None else [intervention, control]
    rows = sub.dropna(subset=list(covariates)) if covariates else sub
    rows, terms, formula_terms = dummy_code(rows, list(covariates), dict(covariate_levels))
    at_baseline = rows[rows["timepoint"] == baseline]
    sd = pooled_baseline_sd([at_baseline.loc[at_baseline["group"] == g, "score"]
                             for g in groups])  # fmt: skip
    levels = [t for t in timepoints if (rows["timepoint"] == t).any()]
    if baseline not in levels or len(levels) < 2:
        return None, None, sd, "the outcome was not observed at the baseline and a later timepoint"
    data = model_data(rows, levels=levels, intervention=intervention, control=control,
                      covariates=terms, use_clusters=use_clusters,
                      formula_covariates=formula_terms)
    degenerate = degenerate_reason(data)
    if degenerate:
        return None, None, sd, degenerate
    try:
        fit = _fit_primary(data)
    except Exception:  # noqa: BLE001 - the model stage reports the failure itself
        return None, None, sd, "the primary model could not be fitted"
    person = ["group", "cluster", *terms]
    design = complete_design(data, person)
    if not design.missing.any():
        return fit, design, sd, NOTHING_MISSING
    return fit, design, sd, ""


def _one_imputation(fit: FittedLMM, design: CompleteDesign, post: list[str],
                    deltas: list[float], seed: int, outcome_index: int, m: int, *,
                    reference: bool = True, emm: np.ndarray | None = None,
                    refit: bool = False) -> dict:
    """``(scenario, delta, timepoint) -> (estimate, variance, df_complete)`` of imputation m;
    with ``emm`` = (cells, :func:`emm_grid`) also ``("emm", scenario, (group, timepoint))`` per
    cell of the grid, in the grid's order, for ``mar`` and ``jump_to_reference``. δ rows hold
    the MAR fit's variance components, or with ``refit`` come from refits at the δ nodes of
    :func:`.refit.refitted_delta_curves`."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, outcome_index, m]))
    draw = draw_parameters(fit, design, rng)
    out = {}
    L = np.array([treatment_contrast(design.data, t)[design.data.keep] for t in post])
    estimable = np.array([t in design.data.levels for t in post]) & (L.sum(axis=1) > 0)
    # The EMMs are more rows of the same contrast matrix: same fit, negligible extra cost.
    L_all = L if emm is None else np.vstack([L, emm[1][~np.isnan(emm[1]).any(axis=1)]
                                             [:, design.data.keep]])
    shift_rows = {"delta_balint": design.missing & design.balint
                  if design.data.control is not None else design.missing,
                  "delta_both": design.missing}
    start = np.asarray(fit.state.phi, dtype=float)
    for scenario, to_reference in (("mar", False), ("jump_to_reference", reference)):
        if scenario == "jump_to_reference" and (not to_reference or design.data.control is None):
            continue
        y = completed_scores(design, draw, reference=to_reference)
        # J2R starts from this imputation's MAR optimum (closer: one evaluation fewer).
        # Only the MAR fit's δ weights are used (J2R has no δ grid): J2R skips that pass.
        shifts = shift_rows if scenario == "mar" and not refit else {}
        est_all, var_all, dfc_all, weights, start = _analyse_completed(fit, design, y, L_all,
                                                                       shifts, start)
        est, var, dfc = est_all[:len(post)], var_all[:len(post)], dfc_all[:len(post)]
        est = np.where(estimable, est, np.nan)
        if emm is not None:  # the EMM rows after the effects' rows of L_all
            cells, grid = emm
            ok = ~np.isnan(grid).any(axis=1)
            means = np.full((len(grid), 3), np.nan)
            means[ok] = np.column_stack([est_all[len(post):], var_all[len(post):],
                                         dfc_all[len(post):]])
            out.update({("emm", scenario, c): tuple(v) for c, v in zip(cells, means,
                                                                        strict=True)})
        if scenario == "mar" and refit:  # refitted after J2R, which starts at MAR's optimum too
            refit_from = (y, (est, var, dfc), start)
        for k, t in enumerate(post):
            out[(scenario, 0.0, t)] = (est[k], var[k], dfc[k])
            if scenario == "mar":
                for name, w in weights.items():
                    for d in deltas:
                        out[(name, d, t)] = (est[k] + d * w[k], var[k], dfc[k])
    if refit:
        y, mar, optimum = refit_from
        out.update(_refitted_rows(fit, design, y, L, shift_rows, mar, optimum, deltas, post,
                                  estimable))
    return out


def _refitted_rows(fit, design, y, L, shift_rows, mar, start, deltas, post,
                   estimable) -> dict:
    """The δ rows of one imputation from refits at the δ nodes (:mod:`.refit`); none for
    ``delta_both`` in a single-arm design (its rows only say that there is no comparison arm)."""
    if design.data.control is None:
        shift_rows = {"delta_balint": shift_rows["delta_balint"]}

    def analyse(scores: np.ndarray, phi: np.ndarray):
        est, var, dfc, _, optimum = _analyse_completed(fit, design, scores, L, {}, phi)
        return est, var, dfc, optimum

    curves = refitted_delta_curves(analyse, y, shift_rows, mar, start, deltas)
    out = {}
    for name, (est, var, dfc) in curves.items():
        est = np.where(estimable, est, np.nan)
        for i, d in enumerate(deltas):
            for k, t in enumerate(post):
                out[(name, d, t)] = (est[i, k], var[i, k], dfc[i, k])
    return out


def _analyse_completed(fit: FittedLMM, design: CompleteDesign, y: np.ndarray, L: np.ndarray,
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
    tolerance of :func:`_loose`)."""
    struct, index, rotate = _structure(design)
    struct_y = _with_response(struct, index, rotate, y)
    n_comp = start.size - 1
    may_vanish = (1,) if n_comp == 2 else ()
    part = _response_free_parts(design, fit)
    state, _, _ = minimise_with_boundary(lambda phi: reml_state(struct_y, phi, free=part(phi)),
                                         start, n_comp, may_vanish=may_vanish,
                                         converged=_loose,
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


def _response_free_parts(design: CompleteDesign, fit) -> Callable[[np.ndarray], ResponseFree]:
    """``phi -> response_free(completed structure, phi)``, kept on the design for reuse.

    Most of a REML evaluation does not depend on the response (:class:`ResponseFree`), and
    the completed-data fits of one design start where others were evaluated: every MAR fit at
    the primary fit's variances (kept for the whole chunk), the jump-to-reference fit (and any
    refit at δ) at its imputation's MAR optimum, and the δ weights are taken there too (the
    last :data:`_KEPT_PARTS` points are kept). Exact: the same numbers as a full evaluation."""
    if "response_free" not in design.data.cache:
        design.data.cache["response_free"] = ({}, OrderedDict())
    pinned, recent = design.data.cache["response_free"]
    struct = _structure(design)[0]
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


def _loose(state) -> float:
    """Convergence for the completed-data fits: Cholesky-scaled gradient (the Newton
    decrement) below 2e-4, ten times tighter than lme4's 2e-3 warning. From the warm start
    Newton converges quadratically (typically 1, 5e-2, 1e-4, 1e-9): the primary fit's 1e-8
    costs one more REML evaluation per fit (~15% of the runtime) for a change in the variances
    of ~1e-4 of their standard errors (tests/test_missing_imputation.py compares with the
    model stage's fit: estimates to 1e-6, variances to 1e-5, df to 1e-4)."""
    return scaled_gradient(state) * (GRADIENT_TOL / COMPLETED_DATA_TOL)


def _structure(design: CompleteDesign):
    """The completed design's variance structure (:func:`_rotated_structure`)."""
    return _rotated_structure(design.data)


def _rotated_structure(data: ModelData):
    """A design's variance structure, built once per design, the row index of every block of
    every batch (to put a new response into the structure) and the rotation a response goes
    through first.

    With a Balint-group term the structure is that of the rotated rows
    (:func:`.rotation.exchangeable_rotation`: exact, the same REML fit, but ``T × T`` and
    ``1 × 1`` blocks instead of one dense block per group; at W2 size ~4× cheaper per REML
    evaluation), its ``1 × 1`` rows summed per covariance pattern
    (:func:`~balint_analysis.models.reml.group_scalar_rows`: W2-sized evaluation ~19 → ~8 ms;
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


def _with_response(struct, index, rotate, y: np.ndarray):
    """``struct`` with the response ``y`` (original rows) put in, rotated."""
    y = rotate(y)
    return replace(struct, y=y, batches=tuple(
        replace(b, y=y[i]) for b, i in zip(struct.batches, index, strict=True)))


@dataclass(frozen=True)
class _PrimaryFit:
    """What imputation needs of the primary fit: the REML optimum and its Satterthwaite
    quantities (``beta``, ``cov_beta``, ``vcov_varpar``), and its design (the EMM grid)."""

    state: RemlState
    satterthwaite: Satterthwaite
    data: ModelData


def _fit_primary(data: ModelData) -> FittedLMM | _PrimaryFit:
    """The primary model's REML optimum as the model stage's engine finds it (Newton from the
    same start, certified at the same scaled gradient 1e-8), on the rotated rows (with Balint
    groups ~4× cheaper per evaluation at W2 size: the fit ran once per outcome and chunk job).
    Anything but an interior optimum (a variance on the boundary, no certified optimum) is
    left to the model stage's own :func:`~balint_analysis.models.fit.fit_lmm`."""
    components = _components(data)
    if "cluster" not in components:
        return fit_lmm(data)
    try:
        struct = _with_response(*_rotated_structure(data), data.y)
        state, _, vanished = minimise_with_boundary(
            lambda phi: reml_state(struct, phi), _start(data, len(components)),
            len(components), may_vanish=(1,), converged=scaled_gradient)
    except (ValueError, np.linalg.LinAlgError):
        state = None
    if state is None or vanished or np.any(np.linalg.eigvalsh(state.hessian) <= 0):
        return fit_lmm(data)
    return _PrimaryFit(state=state, satterthwaite=Satterthwaite.from_state(state), data=data)


def _identity(values: np.ndarray) -> np.ndarray:
    return values
