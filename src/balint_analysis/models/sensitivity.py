"""Sensitivity analyses beside the primary LMM: ``sensitivity.csv``.

* :func:`ancova`: follow-up score on baseline, group and covariates (OLS),
  participants observed at baseline and at that timepoint.
* :func:`sensitivity_rows`: for one outcome, the primary LMM, the ANCOVA, the complete-case LMM
  (participants observed at every timepoint), the LMM without the Balint-group term and the LMM
  with residual variance by arm (:func:`.refits.fit_residual_by_arm`), one row per
  post-baseline timepoint and analysis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from balint_analysis.models.contrasts import treatment_effect
from balint_analysis.models.design import model_data
from balint_analysis.models.fit import fit_lmm
from balint_analysis.models.lmm import FittedLMM
from balint_analysis.models.ols import linear_regression
from balint_analysis.models.refits import fit_residual_by_arm

__all__ = ["ANALYSES", "SENSITIVITY_COLUMNS", "ancova", "sensitivity_rows"]

SENSITIVITY_COLUMNS = [
    "instrument", "scale", "timepoint", "analysis", "estimate", "se", "df", "ci_low", "ci_high",
    "p_value", "n_intervention", "n_control", "converged", "note",
]
#: analysis id -> what it is (models.json settings, methods text).
ANALYSES = {
    "primary_lmm": "primary REML LMM (all observations; Satterthwaite df)",
    "ancova": "ANCOVA: score at t on baseline score + group + covariates, OLS, participants "
              "observed at baseline and t",
    "complete_case_lmm": "primary LMM on participants observed at every timepoint",
    "lmm_without_cluster": "primary LMM without the Balint-group term (participant intercept "
                           "only)",
    "lmm_residual_by_arm": "primary LMM with one residual variance per arm (nlme varIdent; "
                           "REML, exact Satterthwaite df)",
    "lmm_without_fuzzy_links": "primary LMM without the answers joined to a participant by a "
                               "fuzzy (tolerant) code link; only with tolerant code matching",
}


def ancova(
    data: pd.DataFrame,
    *,
    dv: str,
    baseline: str,
    between: str,
    intervention: str,
    covariates: Sequence[str] = (),
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Baseline-adjusted group difference at follow-up (ANCOVA by OLS).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant (wide): follow-up score ``dv``, baseline score ``baseline``,
        group column ``between`` and covariates. Rows with any of them missing are dropped.
    dv, baseline, between : str
        Column names.
    intervention : str
        Level of ``between`` coded 1 (every other level is the reference).
    covariates : sequence of str
        Numeric covariate columns.
    alpha : float
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        One row: ``estimate, se, df, ci_low, ci_high, p_value, n_intervention, n_control``;
        ``estimate`` is the coefficient of the intervention indicator in
        ``dv ~ baseline + group + covariates`` (adjusted mean difference at follow-up,
        intervention − control), ``df`` the residual df. NaN when not estimable.

    Notes
    -----
    Fitted with :func:`.ols.linear_regression`. Checked against R
    ``lm(post ~ pre + group + covariates)`` (``tests/reference``) and pingouin.
    """
    cols = [dv, baseline, between, *covariates]
    d = data.loc[:, cols].dropna()
    treated = (d[between].astype(str) == str(intervention)).to_numpy(dtype=float)
    n_i, n_c = int(treated.sum()), int((1 - treated).sum())
    out = dict.fromkeys(["estimate", "se", "df", "ci_low", "ci_high", "p_value"], np.nan)
    out |= {"n_intervention": n_i, "n_control": n_c}
    X = {"group": treated, "baseline": d[baseline].to_numpy(dtype=float)}
    for c in covariates:
        X[c] = d[c].to_numpy(dtype=float)
    if n_i >= 1 and n_c >= 1 and len(d) > len(X) + 1:
        fit = linear_regression(X, d[dv].to_numpy(dtype=float), alpha=alpha).set_index("names")
        if "group" in fit.index and np.isfinite(fit.at["group", "se"]) \
                and fit.at["group", "se"] > 0:
            row = fit.loc["group"]
            out |= {"estimate": float(row["coef"]), "se": float(row["se"]),
                    "df": float(row["df_resid"]), "ci_low": float(row["ci_low"]),
                    "ci_high": float(row["ci_high"]), "p_value": float(row["pval"])}
    return pd.DataFrame([out])


def _lmm_row(fit: FittedLMM | None, timepoint: str, alpha: float) -> dict:
    return treatment_effect(fit, timepoint, alpha)


def sensitivity_rows(
    rows: pd.DataFrame,
    fit: FittedLMM | None,
    primary: list[dict],
    *,
    timepoints: Sequence[str],
    intervention: str,
    control: str | None,
    covariates: Sequence[str],
    alpha: float,
    use_clusters: bool,
    fuzzy_links: pd.DataFrame | None = None,
    degenerate: str | None = None,
) -> tuple[list[dict], dict]:
    """All sensitivity analyses of one outcome.

    Parameters
    ----------
    rows : pandas.DataFrame
        The outcome's analysed observations (``participant, group, timepoint, score, cluster``,
        covariates; no missing values).
    fit : FittedLMM or None
        The primary fit (None when it failed).
    primary : list of dict
        The outcome's ``effects.csv`` rows (copied as ``primary_lmm``).
    timepoints, intervention, control, covariates, alpha, use_clusters
        As for :func:`balint_analysis.models.analyse_outcomes`.
    fuzzy_links : pandas.DataFrame, optional
        ``participant, timepoint`` answers joined by fuzzy code links
        (:func:`.inputs.fuzzy_linked_answers`); None (exact matching): no such analysis.
    degenerate : str, optional
        Why no model can answer for this outcome (:func:`.degenerate.degenerate_reason`):
        nothing is refitted and every analysis has NaN results and that reason as its note.

    Returns
    -------
    rows : list of dict
        :data:`SENSITIVITY_COLUMNS` except instrument and scale; per post-baseline timepoint
        the analyses in :data:`ANALYSES` order.
    fits : dict
        ``analysis -> FittedLMM or None`` for the refitted LMMs, plus ``"_errors"``.
    """
    baseline = timepoints[0]
    two_arm = control is not None
    fits: dict = {"_errors": {}}
    if degenerate:
        names = ["ancova", "complete_case_lmm", "lmm_without_cluster", "lmm_residual_by_arm",
                 *(["lmm_without_fuzzy_links"] if fuzzy_links is not None else [])]
        out = []
        for prim in primary:
            counts = {k: prim[k] for k in ("n_intervention", "n_control")}
            out.append({k: prim[k] for k in ("timepoint", "estimate", "se", "df", "ci_low",
                                             "ci_high", "p_value", "converged")}
                       | counts | {"analysis": "primary_lmm", "note": degenerate})
            out += [_lmm_row(None, prim["timepoint"], alpha) | counts | {
                "timepoint": prim["timepoint"], "analysis": name, "converged": False,
                "note": degenerate} for name in names]
        return out, fits
    notes: dict[str, str] = {}
    levels = [t for t in timepoints if (rows["timepoint"] == t).any()]

    def refit(name, frame, **kw):
        try:
            lv = [t for t in levels if (frame["timepoint"] == t).any()]
            if baseline not in lv or len(lv) < 2:
                raise ValueError("no observations at the baseline and a later timepoint")
            data = model_data(frame, levels=lv, intervention=intervention, control=control,
                              covariates=covariates, **kw)
            return data
        except Exception as exc:  # noqa: BLE001 - reported in the note
            fits["_errors"][name] = f"{type(exc).__name__}: {exc}"
            return None

    # complete case: observed at every design timepoint
    counts = rows.groupby("participant")["timepoint"].nunique()
    complete = counts.index[counts == len(timepoints)]
    cc_rows = rows[rows["participant"].isin(complete)]
    cc_data = refit("complete_case_lmm", cc_rows, use_clusters=use_clusters)
    fits["complete_case_lmm"] = _safe_fit("complete_case_lmm", cc_data, fits)
    cc_n = cc_rows.groupby("group")["participant"].nunique()
    if len(complete) == 0:
        notes["complete_case_lmm"] = "no participant observed at every timepoint"

    clustered = fit is not None and fit.data.clustered
    if clustered:
        plain = refit("lmm_without_cluster", rows, use_clusters=False)
        fits["lmm_without_cluster"] = _safe_fit("lmm_without_cluster", plain, fits)
    else:
        fits["lmm_without_cluster"] = fit
        notes["lmm_without_cluster"] = ("the primary model has no Balint-group term: same as "
                                        "primary_lmm")

    fits["lmm_residual_by_arm"] = None
    if not two_arm:
        notes["lmm_residual_by_arm"] = "single-arm design: one residual variance"
    elif fit is not None:
        try:
            het = fit_residual_by_arm(fit.data, start=fit)
            fits["lmm_residual_by_arm"] = het
            vc = het.variances
            notes["lmm_residual_by_arm"] = (
                f"residual SD {control} {np.sqrt(vc[f'residual_{control}']):.3g}, "
                f"{intervention} {np.sqrt(vc[f'residual_{intervention}']):.3g}")
            if het.boundary:
                notes["lmm_residual_by_arm"] += ("; variance on the boundary (0): "
                                                 + ", ".join(het.boundary))
        except Exception as exc:  # noqa: BLE001 - reported in the note
            fits["_errors"]["lmm_residual_by_arm"] = f"{type(exc).__name__}: {exc}"

    linked_names = ["lmm_without_fuzzy_links"] if fuzzy_links is not None else []
    fuzzy_n = {}
    if fuzzy_links is not None:
        key = rows["participant"].astype(str) + "\x1f" + rows["timepoint"].astype(str)
        drop = key.isin(set(fuzzy_links["participant"].astype(str) + "\x1f"
                            + fuzzy_links["timepoint"].astype(str)))  # fmt: skip
        kept = rows[~drop]
        if drop.any():
            data = refit("lmm_without_fuzzy_links", kept, use_clusters=use_clusters)
            fits["lmm_without_fuzzy_links"] = _safe_fit("lmm_without_fuzzy_links", data, fits)
            notes["lmm_without_fuzzy_links"] = f"{int(drop.sum())} fuzzily linked answers left out"
        else:
            fits["lmm_without_fuzzy_links"] = fit
            notes["lmm_without_fuzzy_links"] = "no fuzzy code links: same as primary_lmm"
        fuzzy_n = _pair_counts(kept, baseline, intervention, control)

    wide = rows.pivot(index="participant", columns="timepoint", values="score")
    per_person = rows.groupby("participant")[["group", *covariates]].first()
    wide = wide.join(per_person)
    out = []
    for prim in primary:
        t = prim["timepoint"]
        base = {"timepoint": t}
        out.append(base | {k: prim[k] for k in ("estimate", "se", "df", "ci_low", "ci_high",
                                                "p_value", "n_intervention", "n_control",
                                                "converged")}
                   | {"analysis": "primary_lmm", "note": ""})
        if two_arm and t in wide.columns and baseline in wide.columns:
            a = ancova(wide.rename(columns={t: "_post", baseline: "_pre"}), dv="_post",
                       baseline="_pre", between="group", intervention=intervention,
                       covariates=covariates, alpha=alpha).iloc[0].to_dict()
            ok = bool(np.isfinite(a["estimate"]))
            a_note = ("adjusted difference at t (not change): baseline"
                      + (" + " + " + ".join(covariates) if covariates else "")
                      + (" as covariates" if covariates else " as covariate"))
            if not ok:
                a_note = "not estimable (too few participants observed at baseline and t)"
            out.append(base | a | {"analysis": "ancova", "converged": ok, "note": a_note})
        else:
            why = ("single-arm design: no comparison group" if not two_arm
                   else "no observations at baseline or t")
            out.append(base | _lmm_row(None, t, alpha) | {
                "analysis": "ancova", "n_intervention": 0, "n_control": 0, "converged": False,
                "note": why})
        for name in ("complete_case_lmm", "lmm_without_cluster", "lmm_residual_by_arm",
                     *linked_names):  # fmt: skip
            f = fits[name]
            if name == "complete_case_lmm":
                n_i = int(cc_n.get(intervention, 0))
                n_c = int(cc_n.get(control, 0)) if two_arm else 0
            elif name == "lmm_without_fuzzy_links":
                n_i, n_c = fuzzy_n.get(t, (0, 0))
            else:
                n_i, n_c = prim["n_intervention"], prim["n_control"]
            note = notes.get(name, "")
            if name in fits["_errors"]:
                note = "fit failed: " + fits["_errors"][name]
            elif f is not None and not f.converged:
                note = "; ".join(filter(None, [note, "did not converge"]))
            if name == "lmm_without_cluster" and f is not None and f is not fit:
                note = "participant intercept only (Balint groups ignored)"
            out.append(base | _lmm_row(f, t, alpha) | {
                "analysis": name, "n_intervention": n_i, "n_control": n_c,
                "converged": bool(f is not None and f.converged), "note": note})
    return out, fits


def _pair_counts(rows: pd.DataFrame, baseline: str, intervention: str,
                 control: str | None) -> dict[str, tuple[int, int]]:  # fmt: skip
    """Per later timepoint, participants observed at baseline and then, by arm."""
    seen = rows.groupby("participant")["timepoint"].agg(set)
    arm = rows.groupby("participant")["group"].first()
    out = {}
    for t in rows["timepoint"].unique():
        both = seen.map(lambda s, t=t: baseline in s and t in s)
        counts = arm[both[both].index].value_counts()
        out[t] = (int(counts.get(intervention, 0)),
                  int(counts.get(control, 0)) if control is not None else 0)  # fmt: skip
    return out


def _safe_fit(name: str, data, fits: dict) -> FittedLMM | None:
    if data is None:
        return None
    try:
        return fit_lmm(data)
    except Exception as exc:  # noqa: BLE001 - reported in the note
        fits["_errors"][name] = f"{type(exc).__name__}: {exc}"
        return None
