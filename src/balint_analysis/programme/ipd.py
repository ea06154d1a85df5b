"""One-stage pooled model of a programme: one mixed model over the participants of all cohorts.

:func:`one_stage_model` fits, per outcome (instrument × scale), the cohort model's fixed effects
(group × timepoint, control and baseline as references) to the individual observations of all
cohorts, with the random effects

    (1 | participant)                   participants (nested in their cohort)
  + (1 | site)                          site (or cohort) intercepts
  + (0 + treated_post | site)           site × treatment effect
  + (0 + treated_post | site:cluster)   Balint groups nested in sites (partially nested)

and Satterthwaite df, as lme4/lmerTest with that formula (``tests/reference/ipd_reference.R``).
The REML engine is the cohort model's (:mod:`balint_analysis.models.reml`, Newton on exact
derivatives): every observation of a site shares the site effects, so the independent blocks
of the marginal covariance are whole sites; :mod:`.ipd_engine` evaluates the same REML
quantities per site in random-effect space (Woodbury), which large programmes need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from balint_analysis.models.degenerate import degenerate_reason
from balint_analysis.models.design import model_data
from balint_analysis.models.newton import minimise_with_boundary
from balint_analysis.models.reml import reml_state, variance_structure
from balint_analysis.models.satterthwaite import Satterthwaite, scaled_gradient
from balint_analysis.programme.ipd_engine import site_reml_state, site_structure

__all__ = [
    "FORMULA",
    "IPD_COLUMNS",
    "PooledFit",
    "fit_pooled_outcome",
    "one_stage_model",
    "pooled_observations",
    "random_components",
    "standardise_scores",
]

IPD_COLUMNS = ["instrument", "scale", "timepoint", "estimate", "se", "df", "ci_low", "ci_high",
               "p_value", "tau_site_effect", "n_cohorts", "n_participants", "pooling",
               "converged", "reason"]  # fmt: skip

#: The model in lme4's notation (participant, Balint-group labels keyed within site).
FORMULA = ("score ~ group * timepoint + (1 | participant) + (1 | site) + "
           "(0 + treated_post | site) + (0 + treated_post | cluster)")
#: Random-effect components in the order of the variance vector (the residual comes last).
COMPONENTS = ("participant", "site", "site_effect", "cluster")
#: How ``reason`` names the components.
COMPONENT_LABELS = {"participant": "participant", "site": "site intercept",
                    "site_effect": "site × treatment effect", "cluster": "Balint-group"}
#: Starting variances (participant and residual, other components) as shares of the OLS
#: residual variance, tried in turn.
_STARTS = ((0.2, 0.025), (0.5, 0.05), (0.4, 0.2))


def standardise_scores(frame: pd.DataFrame, *, baseline: str) -> tuple[pd.DataFrame, list[str]]:
    """Divide each cohort's scores by its baseline SD pooled within arms.

    Parameters
    ----------
    frame : pandas.DataFrame
        One outcome's observations: ``cohort, group, timepoint, score``.
    baseline : str
        The baseline timepoint.

    Returns
    -------
    frame : pandas.DataFrame
        Scores in baseline-SD units of their cohort (effects become standardised mean
        differences in change).
    dropped : list of str
        Cohorts left out because their baseline SD is not positive (no spread or fewer than two
        baseline answers per arm).

    Notes
    -----
    Pooling standardised scores assumes the instruments measure the same construct, so that
    one SD of one is worth one SD of the other; the pooled SD is
    ``sqrt(sum_arms (n_a - 1) s_a^2 / sum_arms (n_a - 1))``.
    """
    base = frame[frame["timepoint"] == baseline]
    grouped = base.groupby(["cohort", "group"])["score"]
    parts = pd.DataFrame({"n": grouped.count(), "var": grouped.var(ddof=1)}).reset_index()
    parts = parts[parts["n"] >= 2]
    parts["ss"] = (parts["n"] - 1) * parts["var"]
    pooled = parts.groupby("cohort").agg(ss=("ss", "sum"), n=("n", "sum"), arms=("n", "size"))
    sd = np.sqrt(pooled["ss"] / (pooled["n"] - pooled["arms"]))
    sd = sd[np.isfinite(sd) & (sd > 0)]
    dropped = sorted(set(frame["cohort"].astype(str)) - set(sd.index.astype(str)))
    out = frame[frame["cohort"].isin(sd.index)].copy()
    out["score"] = out["score"] / out["cohort"].map(sd).to_numpy(dtype=float)
    return out, dropped


def pooled_observations(scores: pd.DataFrame, participants: pd.DataFrame) -> pd.DataFrame:
    """All cohorts' observations with their site and Balint group, keyed within cohort.

    Parameters
    ----------
    scores : pandas.DataFrame
        Long score rows with ``cohort`` (or only ``site``), ``participant, group, timepoint,
        instrument, scale, score``; optional ``site``.
    participants : pandas.DataFrame
        The cohorts' rosters with ``cohort`` (or ``site``), ``participant`` and, when known,
        ``cluster``.

    Returns
    -------
    pandas.DataFrame
        Rows with a score, columns ``cohort, site, participant, group, timepoint, instrument,
        scale, score, cluster``. Pseudonyms are only unique within a cohort, so ``participant``
        becomes ``<site>|<cohort>|<pseudonym>`` and a Balint group ``<site>:<group>``.
    """
    s = scores.copy()
    p = participants.copy()
    for frame in (s, p):
        if "cohort" not in frame and "site" not in frame:
            raise ValueError("scores and participants need a 'cohort' or 'site' column")
        if "cohort" not in frame:
            frame["cohort"] = frame["site"]
        frame["cohort"] = frame["cohort"].astype(str)
    if "site" not in s:
        s["site"] = s["cohort"]
    s = s[s["score"].notna()]
    roster = p[["cohort", "participant", *(["cluster"] if "cluster" in p else [])]]
    s = s.drop(columns=[c for c in ("cluster",) if c in s]).merge(
        roster.drop_duplicates(["cohort", "participant"]), on=["cohort", "participant"],
        how="left")  # fmt: skip
    s["site"] = s["site"].where(s["site"].notna(), s["cohort"]).astype(str)  # no site: cohort
    s["participant"] = s["site"] + "|" + s["cohort"] + "|" + s["participant"].astype(str)
    cluster = s["cluster"].astype("string").str.strip() if "cluster" in s else pd.Series(
        pd.NA, index=s.index, dtype="string")
    s["cluster"] = (s["site"] + ":" + cluster).where(cluster.notna() & (cluster != ""), pd.NA)
    columns = ["cohort", "site", "participant", "group", "timepoint", "instrument", "scale",
               "score", "cluster"]  # fmt: skip
    return s[columns].reset_index(drop=True)


def _empty_rows(instrument, scale, post, pooling, reason, **counts) -> list[dict]:
    return [{"instrument": instrument, "scale": scale, "timepoint": t, "estimate": np.nan,
             "se": np.nan, "df": np.nan, "ci_low": np.nan, "ci_high": np.nan,
             "p_value": np.nan, "tau_site_effect": np.nan, "pooling": pooling,
             "converged": False, "reason": reason, **counts} for t in post]  # fmt: skip


def random_components(frame: pd.DataFrame, clustered: bool) -> dict[str, tuple]:
    """The random effects identifiable in a :func:`.design.model_data` frame of pooled rows.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``ModelData.frame``: ``participant, site, treated_post, block``.
    clustered : bool
        Whether at least two Balint groups are known (``ModelData.clustered``).

    Returns
    -------
    dict
        ``name -> (levels, z)`` for :func:`balint_analysis.models.reml.variance_structure`:
        participant always; site intercept with at least two sites; site × treatment effect
        with at least two sites that have treated post-baseline observations; Balint groups
        (``block``, singleton for everyone without a group) when ``clustered``.
    """
    ones = np.ones(len(frame))
    treated_post = frame["treated_post"].to_numpy(dtype=float)
    comps = {"participant": (frame["participant"].to_numpy(), ones)}
    if frame["site"].nunique() >= 2:
        comps["site"] = (frame["site"].to_numpy(), ones)
    if frame.loc[treated_post > 0, "site"].nunique() >= 2:
        comps["site_effect"] = (frame["site"].to_numpy(), treated_post)
    if clustered:
        comps["cluster"] = (frame["block"].to_numpy(), treated_post)
    return comps


@dataclass(frozen=True)
class PooledFit:
    """The fitted one-stage model of one outcome (see :func:`fit_pooled_outcome`).

    Attributes
    ----------
    terms : tuple of str
        Estimable fixed-effect terms, in the order of ``satterthwaite.beta``.
    variances : dict
        Variance per random-effect component that was fitted (0 on the boundary), then
        ``residual``.
    boundary : tuple of str
        Components estimated at 0.
    omitted : tuple of str
        Components left out because they are not identifiable (fewer than two sites or
        Balint groups).
    deviance : float
        REML deviance (lme4's ``REMLcrit``).
    satterthwaite : Satterthwaite
        Estimates, their covariance and Satterthwaite df of any contrast.
    """

    terms: tuple[str, ...]
    variances: dict
    boundary: tuple[str, ...]
    omitted: tuple[str, ...]
    deviance: float
    satterthwaite: Satterthwaite


def fit_pooled_outcome(
    obs: pd.DataFrame,
    *,
    timepoints: Sequence[str],
    intervention: str,
    control: str,
    engine: str = "sites",
) -> PooledFit | str:
    """Fit the one-stage model to one outcome's pooled observations.

    Parameters
    ----------
    obs : pandas.DataFrame
        One outcome's rows of :func:`pooled_observations`.
    timepoints : sequence of str
        Timepoints in design order, the baseline first.
    intervention, control : str
        Group labels.
    engine : {"sites", "dense"}
        ``"sites"``: the REML algebra in random-effect space per site
        (:func:`.ipd_engine.site_reml_state`, fast for large programmes); ``"dense"``: the
        cohort model's engine with every site a dense block (same numbers, for checks).

    Returns
    -------
    PooledFit or str
        The fit, or one sentence saying why there is none (never raises on data).
    """
    # One BLAS thread: the per-site algebra is many small stacked matrix operations, where
    # OpenBLAS threads only wait for each other (a 10 x 300 x 300 Cholesky took 9 s with
    # threads on a busy 2-core machine, 0.05 s without).
    with threadpool_limits(1):
        return _fit_pooled(obs, timepoints=list(timepoints), intervention=intervention,
                           control=control, engine=engine)


def _fit_pooled(obs, *, timepoints, intervention, control, engine) -> PooledFit | str:
    levels = [t for t in timepoints if (obs["timepoint"] == t).any()]
    if not levels or levels[0] != timepoints[0] or len(levels) < 2:
        return "no baseline or no follow-up observations to pool"
    data = model_data(obs, levels=levels, intervention=intervention, control=control)
    degenerate = degenerate_reason(data)  # the cohort model's checks (constant scores, ...)
    if degenerate is not None:
        return degenerate
    frame = data.frame
    comps = random_components(frame, data.clustered)
    names = [*comps, "residual"]
    X = data.X[:, data.keep]
    engines = {"sites": (site_structure, site_reml_state),
               "dense": (variance_structure, reml_state)}
    if engine not in engines:
        raise ValueError(f"engine must be one of {sorted(engines)}")
    build, evaluate = engines[engine]
    try:
        struct = build(X, data.y, frame["site"].to_numpy(), comps)
    except ValueError as error:
        return str(error)
    beta, *_ = np.linalg.lstsq(X, data.y, rcond=None)
    total = max(float(np.var(data.y - X @ beta)), 1e-8)
    # Newton from a start in a non-convex region can stall; a few moment-based starts (the
    # person and residual variance sharing the OLS residual variance) make it reliable.
    for person, other in _STARTS:
        start = np.array([person * total, *([other * total] * (len(comps) - 1)), person * total])
        state, _, vanished = minimise_with_boundary(
            lambda phi: evaluate(struct, phi), start, len(comps),
            may_vanish=tuple(range(1, len(comps))), converged=scaled_gradient)  # fmt: skip
        if state is not None:
            break
    if state is None:
        return "the pooled model did not converge; see the two-stage meta-analysis"
    return PooledFit(
        terms=tuple(t for t, k in zip(data.terms, data.keep, strict=True) if k),
        variances={n: float(v) for n, v in zip(names, state.phi, strict=True)},
        boundary=tuple(names[k] for k in vanished),
        omitted=tuple(c for c in COMPONENTS if c not in comps),
        deviance=float(state.deviance),
        satterthwaite=Satterthwaite.from_state(state),
    )


def _fit_outcome(obs: pd.DataFrame, *, timepoints, intervention, control, alpha, pooling,
                 notes=()) -> list[dict]:  # fmt: skip
    """Fit the pooled model of one outcome; one row per post-baseline timepoint."""
    instrument, scale = obs["instrument"].iloc[0], obs["scale"].iloc[0]
    post = list(timepoints[1:])
    counts = {"n_cohorts": int(obs["cohort"].nunique()),
              "n_participants": int(obs["participant"].nunique())}
    try:
        fit = fit_pooled_outcome(obs, timepoints=timepoints, intervention=intervention,
                                 control=control)
    except (ValueError, np.linalg.LinAlgError):  # a design no model can answer: a row, no crash
        fit = "the pooled model could not be fitted to these data; see the two-stage meta-analysis"
    if isinstance(fit, str):
        return _empty_rows(instrument, scale, post, pooling, fit, **counts)
    reasons = list(notes)
    for name in fit.omitted:
        reasons.append(f"no {COMPONENT_LABELS[name]} term (fewer than two "
                       f"{'Balint groups' if name == 'cluster' else 'sites'} to tell apart)")
    if fit.boundary:
        reasons.append("variance estimated 0 (boundary): "
                       + ", ".join(COMPONENT_LABELS[name] for name in fit.boundary)
                       + (" (the model is the one without that term)" if len(fit.boundary) == 1
                          else " (the model is the one without those terms)"))  # fmt: skip
    rows = []
    for t in post:
        term = f"group[{intervention}]:timepoint[{t}]"
        if term not in fit.terms:
            rows.extend(_empty_rows(instrument, scale, [t], pooling,
                                    f"no difference in change estimable at {t}", **counts))
            continue
        L = np.zeros(len(fit.terms))
        L[fit.terms.index(term)] = 1.0
        est, se, df = (float(v[0]) for v in fit.satterthwaite.contrast(L))
        q = stats.t.ppf(1 - alpha / 2, df) if np.isfinite(df) else stats.norm.ppf(1 - alpha / 2)
        p_value = 2 * (stats.t.sf(abs(est / se), df) if np.isfinite(df)
                       else stats.norm.sf(abs(est / se)))  # fmt: skip
        rows.append({"instrument": instrument, "scale": scale, "timepoint": t,
                     "estimate": est, "se": se, "df": df, "ci_low": est - q * se,
                     "ci_high": est + q * se, "p_value": p_value,
                     "tau_site_effect": float(np.sqrt(fit.variances.get("site_effect", 0.0))),
                     "pooling": pooling, "converged": True, "reason": "; ".join(reasons),
                     **counts})  # fmt: skip
    return rows


def one_stage_model(
    scores: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    timepoints: Sequence[str],
    intervention: str,
    control: str,
    alpha: float = 0.05,
    standardise: bool = False,
) -> pd.DataFrame:
    """Fit the one-stage (individual participant data) model of every outcome.

    Parameters
    ----------
    scores : pandas.DataFrame
        Long score rows of all cohorts (the cohorts' ``scores.csv`` columns) with ``cohort``
        (or ``site``); an optional ``site`` groups cohorts of one site (default: each cohort
        is its own site).
    participants : pandas.DataFrame
        The cohorts' ``participants.csv`` rows with ``cohort`` (or ``site``): Balint groups
        from ``cluster``.
    timepoints : sequence of str
        Timepoints in design order, the baseline first.
    intervention, control : str
        Group labels (the same in every cohort).
    alpha : float
        1 - confidence level of the intervals.
    standardise : bool
        Divide each cohort's scores by its baseline SD pooled within arms
        (:func:`standardise_scores`) so the effect is a standardised mean difference in
        change. This assumes the pooled instruments measure the same construct. Without it,
        only scores of one instrument and scale are pooled together.

    Returns
    -------
    pandas.DataFrame
        :data:`IPD_COLUMNS`, one row per outcome × post-baseline timepoint: the
        intervention − control difference in change from baseline (``estimate``), its SE,
        Satterthwaite df, CI and p, ``tau_site_effect`` (SD of the site × treatment effect,
        0 on the boundary), ``pooling`` (``"same instrument"`` or ``"standardised"``),
        ``converged`` and ``reason`` (why a row has no estimate, or what was simplified).

    Notes
    -----
    The random site × treatment-effect slope is uncorrelated with the site intercept
    (lme4 ``(1 | site) + (0 + treated_post | site)``): with a handful of sites a correlation
    between a site's baseline level and its effect is not estimable with any precision, the
    correlated form is singular in most programmes, and its estimate would be driven by
    baseline imbalance rather than by the effect. The uncorrelated form matches the cohort
    model's variance-components engine. A variance heading for zero is dropped and the fit
    accepted as the boundary optimum when the deviance does not decrease as it turns
    positive (as lme4's singular fit); ``reason`` names it.
    """
    timepoints = list(timepoints)
    obs = pooled_observations(scores, participants)
    obs = obs[obs["timepoint"].isin(timepoints)]
    pooling = "standardised" if standardise else "same instrument"
    rows: list[dict] = []
    for (instrument, scale), outcome in obs.groupby(["instrument", "scale"], sort=False):
        notes: list[str] = []
        if standardise:
            outcome, dropped = standardise_scores(outcome, baseline=timepoints[0])
            if dropped:
                notes.append(f"{len(dropped)} cohort(s) left out: no baseline spread")
            if outcome.empty:
                rows.extend(_empty_rows(instrument, scale, timepoints[1:], pooling,
                                        "no cohort with a baseline spread", n_cohorts=0,
                                        n_participants=0))
                continue
        rows.extend(_fit_outcome(outcome, timepoints=timepoints, intervention=intervention,
                                 control=control, alpha=alpha, pooling=pooling, notes=notes))
    return pd.DataFrame(rows, columns=IPD_COLUMNS)
