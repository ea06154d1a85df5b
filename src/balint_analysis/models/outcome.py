"""One outcome's analysis: primary fit, effects and d_ppc2, EMMs, sensitivity refits, clinical
tables and its ``models/<outcome>.json`` record, as plain (picklable) data.

:func:`balint_analysis.models.analyse_outcomes` runs :func:`outcome_results` once per outcome,
in worker processes when asked to.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from balint_analysis.models.contrasts import (
    effect_reason,
    mean_reason,
    treatment_effect,
    treatment_term,
)
from balint_analysis.models.degenerate import degenerate_reason
from balint_analysis.models.design import ModelData, dummy_code, model_data
from balint_analysis.models.effects import (
    change_d_from_scores,
    dppc2_from_scores,
    model_standardized_effect,
    pooled_baseline_sd,
)
from balint_analysis.models.emmeans import estimated_marginal_means
from balint_analysis.models.fit import fit_lmm
from balint_analysis.models.lmm import FittedLMM
from balint_analysis.models.result_tables import clinical_tables, fit_record
from balint_analysis.models.sensitivity import sensitivity_rows

__all__ = ["EFFECT_TYPES", "jsonable", "outcome_results"]

EFFECT_TYPES = {
    "two-arm": "difference in change from baseline (intervention − control)",
    "single-arm": "within-group change (no comparison group)",
}


def outcome_results(sub, instrument, scale, role, *, participants, reliability, timepoints,
                     intervention, control, covariates, alpha, use_clusters, design, groups,
                     fuzzy_links=None, covariate_levels=None):
    """Everything one outcome contributes: effect rows, EMMs, sensitivity rows, clinical
    tables, diagnostics and its ``models/<outcome>.json`` record (plain, picklable data).
    Categorical covariates (``covariate_levels``) enter every model as dummy columns."""
    rows, emm, diag, fit, model_rows, covariate_terms = _analyse_one(
        sub, timepoints=timepoints, intervention=intervention, control=control,
        covariates=covariates, alpha=alpha, use_clusters=use_clusters,
        covariate_levels=covariate_levels or {},
    )
    for row in rows:
        row.update(instrument=instrument, scale=scale, role=role, design=design,
                   effect_type=EFFECT_TYPES[design], df_method="Satterthwaite")
    sens, fits = sensitivity_rows(
        model_rows, fit, rows, timepoints=timepoints, intervention=intervention,
        control=control, covariates=list(covariate_terms), alpha=alpha,
        use_clusters=use_clusters, fuzzy_links=fuzzy_links, degenerate=diag["degenerate"])
    clin, cut, dose, clin_notes = clinical_tables(
        sub, participants, reliability, instrument=instrument, scale=scale,
        timepoints=timepoints, groups=groups, intervention=intervention, alpha=alpha)
    primary_record = fit_record(fit, alpha, error=diag.get("error"))
    if fit is not None:
        diag["fixed_effects"] = primary_record["fixed_effects"]
        diag["ml_refit"] = primary_record["ml_refit"]
    diag["clinical_notes"] = clin_notes
    record = jsonable({
        "instrument": instrument, "scale": scale, "role": role, "design": design,
        "diagnostics": diag,
        "fits": {"primary_lmm": primary_record} | {
            name: fit_record(fits.get(name), alpha, error=fits["_errors"].get(name))
            for name in ("complete_case_lmm", "lmm_without_cluster", "lmm_residual_by_arm",
                         "lmm_without_fuzzy_links") if name in fits
        },
    })
    return (rows, emm.assign(instrument=instrument, scale=scale),
            [r | {"instrument": instrument, "scale": scale} for r in sens],
            {"clinical": clin, "cutoffs": cut, "dose": dose},
            {"instrument": instrument, "scale": scale, "role": role, "design": design, **diag},
            record)  # fmt: skip


def _analyse_one(sub, *, timepoints, intervention, control, covariates, alpha, use_clusters,
                 covariate_levels):
    """Model one outcome; returns (effect rows, EMM frame, diagnostics, fit, analysed rows with
    the dummy columns, the model's covariate columns)."""
    baseline = timepoints[0]
    model_rows = sub.dropna(subset=covariates) if covariates else sub
    model_rows, covariate_terms, formula_terms = dummy_code(model_rows, covariates,
                                                            covariate_levels)
    levels = [t for t in timepoints if (model_rows["timepoint"] == t).any()]
    groups = [intervention] if control is None else [intervention, control]
    diag: dict = {
        "n_rows_missing_covariates": len(sub) - len(model_rows),
        "formula": None, "method": "REML", "optimizer": None, "converged": False,
        "boundary": False, "warnings": [], "fallback": None, "n_obs": len(model_rows),
        "n_participants": int(model_rows["participant"].nunique()), "n_clusters": 0,
        "variance_components": {}, "icc_cluster": None, "df_method": "Satterthwaite",
        "fit_warnings": [], "degenerate": None, "not_estimable": {}, "dropped_columns": [],
        "cluster_term": None, "engine": None,
    }
    fit: FittedLMM | None = None
    data = None
    try:
        if baseline not in levels or len(levels) < 2:
            raise ValueError("needs observations at the baseline and a later timepoint")
        data = model_data(model_rows, levels=levels, intervention=intervention, control=control,
                          covariates=covariate_terms, use_clusters=use_clusters,
                          formula_covariates=formula_terms)
        diag.update(_design_facts(data))
        diag["degenerate"] = degenerate_reason(data)
        if diag["degenerate"] is None:
            fit = fit_lmm(data)
            diag.update(fit.diagnostics)
            if "cluster" in fit.boundary:
                diag["cluster_term"] = "dropped_boundary"
    except Exception as exc:  # noqa: BLE001 - reported per outcome, the others still run
        diag["error"] = f"{type(exc).__name__}: {exc}"
    wide = sub.pivot(index="participant", columns="timepoint", values="score")
    arm = sub.groupby("participant")["group"].first().reindex(wide.index)
    # The denominator of d_model: one SD per outcome (not per timepoint), of the baseline
    # scores of the participants the model analysed, pooled within arms.
    at_baseline = model_rows[model_rows["timepoint"] == baseline]
    sd_baseline = pooled_baseline_sd(
        [at_baseline.loc[at_baseline["group"] == g, "score"] for g in groups])
    rows = []
    for t in timepoints[1:]:
        row = {"timepoint": t, "converged": bool(fit is not None and fit.converged),
               "boundary": bool(fit is not None and fit.boundary)}
        effect = treatment_effect(fit, t, alpha)
        reason = _effect_reason(diag, data, fit, t, effect["estimate"])
        if reason:
            diag["not_estimable"][treatment_term(t, intervention, control)] = reason
        row.update(effect, estimable=not reason, reason=reason)
        row.update(model_standardized_effect(effect["estimate"], effect["ci_low"],
                                             effect["ci_high"], sd_baseline).iloc[0].to_dict())
        # Zero spread (a degenerate outcome) gives NaN d, not a warning on the terminal.
        with np.errstate(divide="ignore", invalid="ignore"):
            both = wide.reindex(columns=[baseline, t]).dropna()
            if control is None:
                d = change_d_from_scores(both[baseline], both[t], confidence=1 - alpha)
                row.update(d_ppc2=d["d"].item(), n_intervention=len(both), n_control=0)
            else:
                pair = [both[arm.reindex(both.index) == g] for g in groups]
                d = dppc2_from_scores(pair[0][baseline], pair[0][t], pair[1][baseline], pair[1][t],
                                      confidence=1 - alpha)
                row.update(d_ppc2=d["d_ppc2"].item(), n_intervention=len(pair[0]),
                           n_control=len(pair[1]))
        row.update(d_ci_low=d["ci_low"].item(), d_ci_high=d["ci_high"].item())
        rows.append(row)
    if fit is not None:
        emm = estimated_marginal_means(fit, groups=groups, timepoints=timepoints, alpha=alpha)
        emm["reason"] = [
            "" if np.isfinite(m) else mean_reason(fit.data, g, t)
            for g, t, m in zip(emm["group"], emm["timepoint"], emm["mean"], strict=True)]
    else:
        cells = [(g, t) for g in groups for t in timepoints]
        counts = model_rows.groupby(["group", "timepoint"])["participant"].nunique()
        emm = pd.DataFrame({"group": [g for g, _ in cells], "timepoint": [t for _, t in cells],
                            "n": [int(counts.get(c, 0)) for c in cells]})
        emm[["mean", "se", "ci_low", "ci_high", "df"]] = np.nan
        emm["reason"] = diag["degenerate"] or "the model could not be fitted"
    emm["estimable"] = emm["reason"] == ""
    return rows, emm, diag, fit, model_rows, covariate_terms


def _design_facts(data: ModelData) -> dict:
    """What the design does before any fit (models.json): Balint-group term, dropped columns."""
    return {"cluster_term": data.cluster_term,
            "dropped_columns": [t for t, k in zip(data.terms, data.keep, strict=True) if not k]}


def _effect_reason(diag: dict, data: ModelData | None, fit: FittedLMM | None, timepoint: str,
                   estimate: float) -> str:
    """Why an effect row has no estimate ("" when it has one)."""
    if diag["degenerate"]:
        return diag["degenerate"]
    if data is None or fit is None:
        return ("the model could not be fitted" if data is not None
                else "the outcome was not observed at the baseline and a later timepoint")
    if np.isnan(estimate):
        return effect_reason(data, timepoint)
    return ""


def jsonable(obj):
    """Plain-Python, strict-JSON version of ``obj`` (NaN and infinity become None)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer | int):
        return int(obj)
    if isinstance(obj, np.floating | float):
        return float(obj) if math.isfinite(obj) else None
    return obj
