"""Clinical meaning and dose: ``clinical.csv``, ``cutoffs.csv``, ``dose.csv``.

* :func:`reliable_change`: Jacobson–Truax (1991) reliable change index per participant,
  classified improved / unchanged / deteriorated according to the scale's direction.
* :func:`reliable_change_summary`: counts and shares per group × timepoint.
* :func:`category_transitions`: movement between published cut-off categories.
* :func:`dose_response`: change from baseline regressed on sessions attended (observational).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from balint_analysis.models.ols import linear_regression

__all__ = [
    "CLINICAL_COLUMNS",
    "CUTOFF_COLUMNS",
    "DOSE_COLUMNS",
    "category_transitions",
    "dose_response",
    "reliable_change",
    "reliable_change_summary",
]

CLINICAL_COLUMNS = [
    "instrument", "scale", "timepoint", "group", "n", "improved", "unchanged", "deteriorated",
    "share_improved", "share_unchanged", "share_deteriorated", "s_diff", "reliability",
]
CUTOFF_COLUMNS = ["instrument", "scale", "timepoint", "group", "from_category", "to_category", "n"]
DOSE_COLUMNS = [
    "instrument", "scale", "timepoint", "n", "slope", "se", "df", "ci_low", "ci_high", "p_value",
    "note",
]


def reliable_change(
    pre, post, *, sd_baseline: float, reliability: float, direction: str, z: float = 1.96
) -> pd.DataFrame:
    """Jacobson–Truax reliable change index and classification, one row per participant.

    Parameters
    ----------
    pre, post : array_like
        Baseline and follow-up scores, paired.
    sd_baseline : float
        SD of the baseline scores (``s1``).
    reliability : float
        Reliability ``r_xx`` (here baseline Cronbach's alpha).
    direction : {"higher_is_worse", "higher_is_better"}
        Scale direction: for ``higher_is_better`` an increase is an improvement.
    z : float
        Critical value (1.96: p < .05 two-sided).

    Returns
    -------
    pandas.DataFrame
        ``change, rci, status`` (``improved``, ``unchanged``, ``deteriorated``) and ``s_diff``.

    Notes
    -----
    ``RCI = (x_t - x_base) / S_diff``, ``S_diff = s1 sqrt(2) sqrt(1 - r_xx)``; reliable change
    when ``|RCI| > z`` (docs/references.md, "Reliable change"). Example checked: ``s1 = 10,
    r_xx = .90`` gives ``S_diff = 4.472`` and a 10-point drop ``RCI = -2.236``.
    """
    if direction not in ("higher_is_worse", "higher_is_better"):
        raise ValueError(f"direction must be higher_is_worse or higher_is_better: {direction!r}")
    pre, post = np.asarray(pre, dtype=float), np.asarray(post, dtype=float)
    if pre.shape != post.shape:
        raise ValueError("pre and post must be paired (same length)")
    s_diff = sd_baseline * np.sqrt(2.0) * np.sqrt(1.0 - reliability)
    change = post - pre
    with np.errstate(divide="ignore", invalid="ignore"):
        rci = change / s_diff if s_diff > 0 else np.full(change.shape, np.nan)
    better = rci < -z if direction == "higher_is_worse" else rci > z
    worse = rci > z if direction == "higher_is_worse" else rci < -z
    status = np.where(better, "improved", np.where(worse, "deteriorated", "unchanged"))
    status = np.where(np.isnan(rci), None, status)
    return pd.DataFrame({"change": change, "rci": rci, "status": status,
                         "s_diff": np.full(change.shape, s_diff)})


def pooled_sd(values: pd.Series, groups: pd.Series) -> float:
    """Within-group pooled SD ``sqrt(sum (n_g - 1) s_g^2 / (N - G))`` (NaN when undefined)."""
    frame = pd.DataFrame({"v": np.asarray(values, float), "g": np.asarray(groups)}).dropna()
    stats = frame.groupby("g")["v"].agg(["count", "var"])
    stats = stats[stats["count"] >= 2]
    dof = float((stats["count"] - 1).sum())
    return float(np.sqrt(((stats["count"] - 1) * stats["var"]).sum() / dof)) if dof else np.nan


def reliable_change_summary(
    wide: pd.DataFrame,
    *,
    timepoints: Sequence[str],
    groups: Sequence[str],
    reliability: float,
    direction: str,
) -> pd.DataFrame:
    """Reliable change per group × post-baseline timepoint of one scale.

    Parameters
    ----------
    wide : pandas.DataFrame
        One row per participant: a ``group`` column and one score column per timepoint.
    timepoints : sequence of str
        Design timepoints; the first is the baseline.
    groups : sequence of str
        Groups in output order.
    reliability : float
        Baseline Cronbach's alpha of the scale (NaN: counts are NaN).
    direction : str
        The scale's direction (:func:`reliable_change`).

    Returns
    -------
    pandas.DataFrame
        :data:`CLINICAL_COLUMNS` without instrument/scale. ``s_diff`` uses the baseline SD
        pooled within the groups over every participant observed at baseline; ``n`` counts
        participants observed at baseline and t.
    """
    base = timepoints[0]
    sd = pooled_sd(wide[base], wide["group"]) if base in wide else np.nan
    rows = []
    for t in timepoints[1:]:
        for g in groups:
            sub = wide[wide["group"] == g]
            if base in sub and t in sub:
                sub = sub[[base, t]].dropna()
            else:
                sub = pd.DataFrame({base: [], t: []})
            rc = reliable_change(sub[base], sub[t], sd_baseline=sd,
                                 reliability=reliability, direction=direction)
            n = len(sub)
            counts = {s: int((rc["status"] == s).sum()) for s in
                      ("improved", "unchanged", "deteriorated")}
            known = np.isfinite(rc["rci"]).all() and np.isfinite(sd * reliability)
            row = {"timepoint": t, "group": g, "n": n}
            for s, c in counts.items():
                row[s] = c if known else np.nan
                row[f"share_{s}"] = c / n if known and n else np.nan
            row |= {"s_diff": sd * np.sqrt(2.0) * np.sqrt(1.0 - reliability),
                    "reliability": reliability}
            rows.append(row)
    return pd.DataFrame(rows)


def category_transitions(
    wide_categories: pd.DataFrame,
    *,
    timepoints: Sequence[str],
    groups: Sequence[str],
    order: Sequence[str] = (),
) -> pd.DataFrame:
    """Cross-tabulate baseline category against category at each later timepoint.

    Parameters
    ----------
    wide_categories : pandas.DataFrame
        One row per participant: ``group`` and one category column per timepoint (missing:
        not observed or no category).
    timepoints, groups : sequence of str
        Design timepoints (baseline first) and groups in output order.
    order : sequence of str
        Category order (the instrument's cut-off bands, lowest first); categories not listed
        follow alphabetically.

    Returns
    -------
    pandas.DataFrame
        ``timepoint, group, from_category, to_category, n`` for every pair of categories that
        occur in the data (zeros included), participants with a category at both times.
    """
    base = timepoints[0]
    seen = pd.unique(wide_categories[[c for c in timepoints if c in wide_categories]]
                     .stack().dropna().astype(str))
    cats = [c for c in order if c in seen] + sorted(c for c in seen if c not in order)
    rows = []
    for t in timepoints[1:]:
        for g in groups:
            sub = wide_categories[wide_categories["group"] == g]
            if base in sub and t in sub:
                sub = sub[[base, t]].dropna()
                tab = sub.groupby([base, t]).size()
            else:
                tab = pd.Series(dtype=int)
            rows += [{"timepoint": t, "group": g, "from_category": a, "to_category": b,
                      "n": int(tab.get((a, b), 0))} for a in cats for b in cats]
    return pd.DataFrame(rows, columns=["timepoint", "group", "from_category", "to_category", "n"])


def dose_response(
    wide: pd.DataFrame, *, timepoints: Sequence[str], sessions: str = "sessions",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Change from baseline regressed on sessions attended (+ baseline score), per timepoint.

    Parameters
    ----------
    wide : pandas.DataFrame
        Intervention participants, one row each: score columns per timepoint and ``sessions``.
    timepoints : sequence of str
        Design timepoints; the first is the baseline.
    sessions : str
        Column with the number of sessions attended (missing: not recorded, left out).
    alpha : float
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        ``timepoint, n, slope, se, df, ci_low, ci_high, p_value, note``: ``slope`` = change in
        score per session attended, OLS ``change ~ sessions + baseline``
        (:func:`.ols.linear_regression`). Observational: attendance is not randomised.

    Notes
    -----
    Checked against R ``lm(change ~ sessions + pre)`` (``tests/reference``).
    """
    base = timepoints[0]
    rows = []
    for t in timepoints[1:]:
        row = {"timepoint": t, "n": 0, **dict.fromkeys(
            ["slope", "se", "df", "ci_low", "ci_high", "p_value"], np.nan),
            "note": "observational: attendance was not randomised"}
        cols = [base, t, sessions]
        d = wide[cols].apply(pd.to_numeric, errors="coerce").dropna() if all(
            c in wide for c in cols) else pd.DataFrame(columns=cols)
        row["n"] = len(d)
        if len(d) >= 4 and d[sessions].nunique() >= 2:
            X = {"sessions": d[sessions].to_numpy(float), "baseline": d[base].to_numpy(float)}
            fit = linear_regression(X, (d[t] - d[base]).to_numpy(float), alpha=alpha)
            fit = fit.set_index("names")
            r = fit.loc["sessions"] if "sessions" in fit.index else fit.iloc[0] * np.nan
            row |= {"slope": float(r["coef"]), "se": float(r["se"]), "df": float(r["df_resid"]),
                    "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]),
                    "p_value": float(r["pval"])}
        else:
            row["note"] += ("; not estimated: fewer than 4 participants with sessions recorded "
                            "or no variation in sessions")
        rows.append(row)
    return pd.DataFrame(rows)
