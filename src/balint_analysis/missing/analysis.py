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

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from balint_analysis.missing.completed import analyse_completed, fit_primary
from balint_analysis.missing.imputation import (
    CompleteDesign,
    complete_design,
    completed_scores,
    draw_parameters,
)
from balint_analysis.missing.refit import refitted_delta_curves
from balint_analysis.models.contrasts import treatment_contrast
from balint_analysis.models.degenerate import degenerate_reason
from balint_analysis.models.design import dummy_code, model_data
from balint_analysis.models.effects import pooled_baseline_sd
from balint_analysis.models.lmm import FittedLMM
from balint_analysis.models.satterthwaite import Satterthwaite

__all__ = ["EMM_SCENARIOS", "PER_IMPUTATION_COLUMNS", "SCENARIOS", "emm_grid",
           "impute_and_analyse"]

SCENARIOS = ("mar", "delta_balint", "delta_both", "jump_to_reference")
PER_IMPUTATION_COLUMNS = ["instrument", "scale", "timepoint", "scenario", "delta", "imputation",
                          "estimate", "variance", "df_complete"]
_COLUMNS = [*PER_IMPUTATION_COLUMNS, "reason", "baseline_sd"]
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
        fit = fit_primary(data)
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
        est_all, var_all, dfc_all, weights, start = analyse_completed(fit, design, y, L_all,
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
        est, var, dfc, _, optimum = analyse_completed(fit, design, scores, L, {}, phi)
        return est, var, dfc, optimum

    curves = refitted_delta_curves(analyse, y, shift_rows, mar, start, deltas)
    out = {}
    for name, (est, var, dfc) in curves.items():
        est = np.where(estimable, est, np.nan)
        for i, d in enumerate(deltas):
            for k, t in enumerate(post):
                out[(name, d, t)] = (est[i, k], var[i, k], dfc[i, k])
    return out
