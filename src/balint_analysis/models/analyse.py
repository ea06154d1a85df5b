"""The model stage's entry point: :func:`analyse_outcomes` over every outcome.

What is estimated: docs/contract.md, "Statistics".
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from balint_analysis.models.clinical_change import (
    CLINICAL_COLUMNS,
    CUTOFF_COLUMNS,
    DOSE_COLUMNS,
)
from balint_analysis.models.effects import (
    benjamini_hochberg,
)
from balint_analysis.models.inputs import prepare_inputs
from balint_analysis.models.outcome import jsonable, outcome_results
from balint_analysis.models.sensitivity import (
    ANALYSES,
    SENSITIVITY_COLUMNS,
)
from balint_analysis.workers import map_in_processes

#: The columns of docs/contract.md, "Outputs"; among the last ones: ``role``
#: (primary/secondary), ``design`` (two-arm/single-arm), ``effect_type``, ``df_method``,
#: ``boundary`` (a variance component was estimated as 0), ``d_model`` and its CI (the
#: primary standardised effect, :func:`.effects.model_standardized_effect`; ``d_ppc2`` is the
#: secondary one, for meta-analysts) and ``primary_timepoint`` (True on the rows of the
#: timepoint chosen before analysis).
EFFECTS_COLUMNS = [
    "instrument", "scale", "timepoint", "estimate", "se", "df", "ci_low", "ci_high", "p_value",
    "p_adjusted", "d_ppc2", "d_ci_low", "d_ci_high", "n_intervention", "n_control", "converged",
    "role", "design", "effect_type", "df_method", "boundary", "d_model", "d_model_ci_low",
    "d_model_ci_high", "primary_timepoint", "estimable", "reason",
]
#: The columns of docs/contract.md, "Outputs"; ``df`` is the Satterthwaite df behind the CI.
EMMEANS_COLUMNS = [
    "instrument", "scale", "group", "timepoint", "mean", "se", "ci_low", "ci_high", "n", "df",
    "estimable", "reason",
]
EFFECT_SIZES = {
    "two-arm": "Morris (2008) d_ppc2: difference in mean change / pooled baseline SD, times "
    "c_p; participants observed at baseline and t; 95% CI from Morris eq. 25 with the pre-post "
    "correlation pooled within arms",
    "single-arm": "standardised within-group change: mean change / baseline SD, times "
    "c = 1 - 3/(4(n-1)-1); participants observed at baseline and t; 95% CI from the Becker "
    "(1988) variance",
}
D_MODEL = ("d_model (Feingold 2009): the model's estimate and its CI divided by the baseline "
           "SD pooled within arms (participants analysed at baseline), the SD treated as known; "
           "no small-sample correction")
MULTIPLICITY = ("Benjamini-Hochberg across all secondary-outcome tests (outcome x timepoint); "
                "the primary outcome's p_adjusted equals its unadjusted p_value")


@dataclass
class ModelResults:
    """Output of :func:`analyse_outcomes`.

    Attributes
    ----------
    effects : pandas.DataFrame
        ``effects.csv``: one row per outcome × post-baseline timepoint (:data:`EFFECTS_COLUMNS`).
    emmeans : pandas.DataFrame
        ``emmeans.csv``: one row per outcome × group × timepoint (:data:`EMMEANS_COLUMNS`).
    diagnostics : dict
        ``models.json`` content: per outcome formula, fit attempts, convergence, warnings,
        variance components, ICCs, fixed effects, ML log-likelihood and AIC; software
        versions; settings. JSON-safe (NaN written as null).
    sensitivity : pandas.DataFrame
        ``sensitivity.csv`` (:data:`SENSITIVITY_COLUMNS`).
    clinical, cutoffs, dose : pandas.DataFrame
        ``clinical.csv``, ``cutoffs.csv``, ``dose.csv`` (:data:`CLINICAL_COLUMNS`,
        :data:`CUTOFF_COLUMNS`, :data:`DOSE_COLUMNS`).
    model_files : dict
        ``"<instrument>.<scale>" ->`` the JSON record of ``models/<instrument>.<scale>.json``:
        the outcome's diagnostics plus every fit (primary and sensitivity LMMs) with fixed
        effects (SE, df, CI, p), variances, REML and ML log-likelihood, AIC, BIC.
    """

    effects: pd.DataFrame
    emmeans: pd.DataFrame
    diagnostics: dict
    sensitivity: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=SENSITIVITY_COLUMNS))
    clinical: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=CLINICAL_COLUMNS))
    cutoffs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CUTOFF_COLUMNS))
    dose: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=DOSE_COLUMNS))
    model_files: dict = field(default_factory=dict)


def analyse_outcomes(
    scores: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    timepoints: Sequence[str],
    intervention: str,
    control: str | None,
    primary: str,
    covariates: Sequence[str] = (),
    covariate_levels: Mapping[str, Sequence[str]] | None = None,
    alpha: float = 0.05,
    use_clusters: bool = True,
    reliability: pd.DataFrame | None = None,
    fuzzy_links: pd.DataFrame | None = None,
    n_jobs: int = 1,
    primary_timepoint: str | None = None,
) -> ModelResults:
    """Fit the primary model of every outcome and report effects, EMMs and d_ppc2.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``scores.csv``: ``participant, group, timepoint, instrument, scale, score, ...``.
        Rows with a missing score are dropped; each (instrument, scale) is one outcome.
    participants : pandas.DataFrame
        ``participant, group, cluster, sessions`` and the covariate columns. ``cluster`` (the
        Balint group; empty for controls) may be absent.
    timepoints : sequence of str
        Design timepoints in order; the first is the baseline. Other timepoints are ignored.
    intervention, control : str
        Group labels. ``control=None``: single-arm design (within-group change).
    primary : str
        ``"instrument.scale"`` of the primary outcome.
    covariates : sequence of str
        Participant-level covariates (rows with a missing value are left out of the
        model, and counted in the diagnostics); numeric unless listed in ``covariate_levels``.
    covariate_levels : mapping, optional
        Categorical covariate -> declared levels: dummy-coded (treatment coding, the first
        declared level observed among an outcome's analysed rows is the reference). EMMs
        average over it in its observed proportions (the dummies at their means), as R
        ``emmeans(..., weights = "proportional")``; numeric covariates are at their means
        (``cov.reduce = mean, cov.keep = character(0)``: a 0/1 covariate too).
    alpha : float
        1 - confidence level of all intervals.
    use_clusters : bool
        Model the Balint groups (partially nested design) when at least two are known.
    reliability : pandas.DataFrame, optional
        ``reliability.csv`` (``instrument, scale, timepoint, alpha``): the baseline alpha
        is the reliability of the reliable change index. Without it ``clinical`` has NaN
        counts.
    fuzzy_links : pandas.DataFrame, optional
        ``participant, timepoint`` answers joined by fuzzy code links
        (:func:`.inputs.fuzzy_linked_answers`); with it, ``sensitivity`` has an analysis
        without them. None (exact code matching): no such analysis.
    n_jobs : int
        Worker processes for the outcomes (the results do not depend on it).
    primary_timepoint : str, optional
        The post-baseline timepoint of the primary comparison, chosen before analysis; its rows
        have ``primary_timepoint`` True. Default: the first post-baseline timepoint (the end of
        the groups).

    Returns
    -------
    ModelResults

    Notes
    -----
    Per outcome: REML LMM ``score ~ group * timepoint + covariates + (1 | participant)`` (plus
    ``(0 + treated_post | cluster)`` with Balint groups), fitted by Newton's method on the exact
    REML derivatives (:func:`.fit.fit_lmm_reml`) when it certifies its optimum, otherwise by
    statsmodels with the checks of :func:`.lmm.fit_lmm_statsmodels` (both agree with lme4;
    tests/reference).
    ``estimate`` is the group × timepoint coefficient (two-arm) or the
    timepoint coefficient (single-arm), with Satterthwaite ``df`` used for the t-based CI and
    p-value. ``n_intervention`` / ``n_control`` count the participants observed at baseline and
    at that timepoint (the d_ppc2 sample; the model uses every observation). Rows are ordered
    primary outcome first, then by instrument and scale, then timepoint in design order;
    EMMs intervention before control. Nothing is rounded. An outcome whose model cannot be
    fitted keeps its rows (NaN estimates, ``converged`` False) and its diagnostics say why.
    In a single-arm design with Balint groups the group effect applies to all post-baseline
    observations (everyone is treated). Checked against lme4/lmerTest/emmeans
    (``tests/reference``).
    """
    timepoints = [str(t) for t in timepoints]
    if len(timepoints) < 2 or len(set(timepoints)) != len(timepoints):
        raise ValueError("timepoints must list at least two distinct timepoints")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    primary_timepoint = timepoints[1] if primary_timepoint is None else str(primary_timepoint)
    if primary_timepoint not in timepoints[1:]:
        raise ValueError(f"primary_timepoint {primary_timepoint!r} is not a post-baseline "
                         f"timepoint of {timepoints}")
    frame, notes = prepare_inputs(scores, participants, timepoints, intervention, control,
                                  list(covariates), covariate_levels)
    outcomes = sorted(set(zip(frame["instrument"], frame["scale"], strict=True)))
    keys = [f"{i}.{s}" for i, s in outcomes]
    if primary not in keys:
        raise ValueError(f"primary outcome {primary!r} has no scores (outcomes: {keys})")
    outcomes.sort(key=lambda o: f"{o[0]}.{o[1]}" != primary)
    design = "single-arm" if control is None else "two-arm"
    effect_rows, emm_frames, outcome_diags = [], [], []
    sens_rows, tables, model_files = [], {"clinical": [], "cutoffs": [], "dose": []}, {}
    groups = [intervention] if control is None else [intervention, control]
    tasks = [
        (frame[(frame["instrument"] == instrument) & (frame["scale"] == scale)], instrument,
         scale, "primary" if f"{instrument}.{scale}" == primary else "secondary")
        for instrument, scale in outcomes
    ]  # fmt: skip
    analyse = partial(outcome_results, participants=participants, reliability=reliability,
                      timepoints=timepoints, intervention=intervention, control=control,
                      covariates=list(covariates), alpha=alpha, use_clusters=use_clusters,
                      design=design, groups=groups, fuzzy_links=fuzzy_links,
                      covariate_levels=dict(covariate_levels or {}))  # fmt: skip
    for rows, emm, sens, outcome_tables, diag, record in _map(analyse, tasks, n_jobs):
        effect_rows += rows
        emm_frames.append(emm)
        sens_rows += sens
        for name, table in outcome_tables.items():
            tables[name].append(table)
        outcome_diags.append(diag)
        model_files[f"{record['instrument']}.{record['scale']}"] = record
    effects = pd.DataFrame(effect_rows, columns=EFFECTS_COLUMNS)
    secondary = effects["role"] == "secondary"
    effects["p_adjusted"] = effects["p_value"]
    effects.loc[secondary, "p_adjusted"] = benjamini_hochberg(
        effects.loc[secondary, "p_value"].to_numpy(dtype=float))
    effects["converged"] = effects["converged"].astype(bool)
    effects["boundary"] = effects["boundary"].astype(bool)
    effects["estimable"] = effects["estimable"].astype(bool)
    effects["primary_timepoint"] = effects["timepoint"] == primary_timepoint
    emmeans = pd.concat(emm_frames, ignore_index=True)[EMMEANS_COLUMNS]
    sensitivity = pd.DataFrame(sens_rows, columns=SENSITIVITY_COLUMNS)
    sensitivity["converged"] = sensitivity["converged"].astype(bool)
    clinical, cutoffs, dose = (
        pd.concat(tables[name], ignore_index=True).reindex(columns=cols)
        for name, cols in (("clinical", CLINICAL_COLUMNS), ("cutoffs", CUTOFF_COLUMNS),
                           ("dose", DOSE_COLUMNS)))
    for table, cols in ((sensitivity, ["n_intervention", "n_control"]),
                        (clinical, ["n", "improved", "unchanged", "deteriorated"]),
                        (cutoffs, ["n"]), (dose, ["n"])):
        table[cols] = table[cols].apply(lambda c: pd.to_numeric(c).round().astype("Int64"))
    diagnostics = {
        "outcomes": outcome_diags,
        "settings": {
            "timepoints": timepoints, "baseline": timepoints[0], "intervention": intervention,
            "control": control, "covariates": list(covariates),
            "covariate_levels": {c: list(v) for c, v in (covariate_levels or {}).items()},
            "alpha": alpha,
            "use_clusters": use_clusters, "primary": primary, "multiplicity": MULTIPLICITY,
            "effect_size": EFFECT_SIZES[design], "standardised_effect": D_MODEL,
            "primary_timepoint": primary_timepoint, "df_method": "Satterthwaite (as lmerTest)",
            "sensitivity_analyses": ANALYSES, "reliability_supplied": reliability is not None,
            "reliable_change": "Jacobson-Truax RCI = (x_t - x_base) / S_diff, S_diff = "
            "SD_base sqrt(2) sqrt(1 - alpha_base), SD_base pooled within groups at baseline; "
            "|RCI| > 1.96 is reliable change, direction from the instrument definition",
            "aic": "from a maximum-likelihood refit (REML criteria are not comparable across "
            "fixed effects)",
        },
        "input_notes": notes,
        "software": _software(),
    }
    return ModelResults(effects=effects, emmeans=emmeans, diagnostics=jsonable(diagnostics),
                        sensitivity=sensitivity, clinical=clinical, cutoffs=cutoffs, dose=dose,
                        model_files=model_files)


def _map(func, tasks: list, n_jobs: int) -> list:
    """``[func(*t) for t in tasks]``, in ``n_jobs`` forked worker processes when > 1.

    Outcomes are independent, so they are spread over processes (fork: the workers start with
    the imports already done); results come back in task order, so the output does not depend
    on ``n_jobs``. The workers die with this process (:mod:`balint_analysis.workers`): a
    killed model job leaves no process behind.
    """
    return map_in_processes(func, tasks, n_jobs, initializer=_single_threaded_blas)


def _single_threaded_blas() -> None:
    """One BLAS thread per worker: the workers already use the cores, and OpenBLAS threads
    spinning against each other made two workers barely faster than one."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _software() -> dict:
    from importlib.metadata import version  # not `import statsmodels`: that alone costs ~1 s

    return {"python": platform.python_version(), "statsmodels": version("statsmodels"),
            "pandas": pd.__version__, "numpy": np.__version__, "scipy": version("scipy")}
