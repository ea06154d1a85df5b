"""Workflow glue of the missing-data stage: one job per chunk of imputations covering every
outcome (:func:`analyse_chunk` per outcome), one gather job pooling them (:func:`pool_chunks`,
:func:`pool_emmeans`),
and their I/O edges (:func:`missing_chunk_stage`, :func:`missing_gather_stage`, run by
``workflow/scripts``). One job per chunk rather than per outcome × chunk: a job's fixed cost
(Python start-up, imports, reading ``scores.csv``: ~1 s) is paid once per chunk, and the demo's
M = 50 in chunks of 25 runs as two jobs side by side on two cores.

Results never depend on the chunking: imputation ``m`` of outcome ``o`` draws from
``SeedSequence([seed, o, m])`` whatever chunk it is in, chunks are written with every digit,
and the gather sorts the per-imputation rows before pooling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from balint_analysis.missing.settings import (
    chunk_imputations,
    missing_settings,
    planned_outcomes,
)

__all__ = [
    "MISSING_EMMEANS_COLUMNS",
    "OFF_REASON",
    "analyse_chunk",
    "baseline_sd",
    "missing_chunk_stage",
    "missing_gather_stage",
    "outcome_rows",
    "pool_chunks",
    "pool_emmeans",
]

#: The reason row of ``missing_data.csv`` and ``tipping.csv`` when M is 0.
OFF_REASON = "multiple imputation switched off (missing_data.imputations: 0)"

_SORT = ["instrument", "scale", "timepoint", "scenario", "delta", "imputation"]
#: ``missing_emmeans.csv``: emmeans.csv's names, pooled over the imputations.
MISSING_EMMEANS_COLUMNS = ["instrument", "scale", "scenario", "group", "timepoint", "mean", "se",
                           "df", "ci_low", "ci_high", "fmi", "m", "reason"]


def outcome_rows(scores: pd.DataFrame, participants: pd.DataFrame, *, timepoints: Sequence[str],
                 intervention: str, control: str | None, covariates: Sequence[str],
                 covariate_levels: Mapping[str, Any], instrument: str,
                 scale: str) -> pd.DataFrame:  # fmt: skip
    """One outcome's rows of ``scores.csv`` joined with the roster exactly as the model stage
    joins them (:func:`balint_analysis.models.inputs.prepare_inputs`): the rows the primary model
    of that outcome analyses, before covariate-missing rows are left out."""
    from balint_analysis.models.inputs import prepare_inputs

    one = scores[(scores["instrument"] == instrument) & (scores["scale"] == scale)]
    if one.empty:
        return one.iloc[0:0]
    frame, _notes = prepare_inputs(one, participants, list(timepoints), intervention, control,
                                   list(covariates), dict(covariate_levels))  # fmt: skip
    return frame


def baseline_sd(sub: pd.DataFrame, *, timepoints: Sequence[str], groups: Sequence[str],
                covariates: Sequence[str]) -> float:  # fmt: skip
    """The outcome's baseline SD pooled within arms over the participants the model analyses:
    the denominator of ``effects.csv``'s ``d_model``, so δ in SD units is on the same scale."""
    from balint_analysis.models.effects import pooled_baseline_sd

    rows = sub.dropna(subset=list(covariates)) if covariates else sub
    at_baseline = rows[rows["timepoint"] == timepoints[0]]
    return pooled_baseline_sd([at_baseline.loc[at_baseline["group"] == g, "score"]
                               for g in groups])  # fmt: skip


def analyse_chunk(sub: pd.DataFrame, *, instrument: str, scale: str,
                  participants: pd.DataFrame, settings: Mapping[str, Any], chunk: int,
                  outcome_number: int, timepoints: Sequence[str], intervention: str,
                  control: str | None, covariates: Sequence[str],
                  covariate_levels: Mapping[str, Any], use_clusters: bool,
                  alpha: float, refit: bool = False) -> pd.DataFrame:  # fmt: skip
    """The per-imputation results of one chunk of one outcome (``PER_IMPUTATION_COLUMNS``,
    ``reason``, ``group``: empty on the effect rows, the arm on the estimated marginal means'
    rows, and ``variance_components``: ``held_at_mar`` on the δ rows unless ``refit``, else
    ``refitted``, :mod:`.refit`), δ in points: the settings' SD grid times the outcome's
    :func:`baseline_sd` (only δ = 0 when that SD is not defined)."""
    from balint_analysis.missing.analysis import PER_IMPUTATION_COLUMNS, impute_and_analyse
    from balint_analysis.missing.tipping import variance_components

    columns = [*PER_IMPUTATION_COLUMNS, "reason", "group", "variance_components"]
    post = list(timepoints[1:])
    groups = [intervention] if control is None else [intervention, control]
    if sub.empty:
        keys = [(None, t) for t in post] + [(g, t) for g in groups for t in timepoints]
        return pd.DataFrame({"instrument": instrument, "scale": scale,
                             "group": [g for g, _ in keys], "timepoint": [t for _, t in keys],
                             "scenario": "mar", "delta": 0.0,
                             "reason": "no scores for this outcome",
                             "variance_components": "refitted"}).reindex(columns=columns)
    sd = baseline_sd(sub, timepoints=timepoints, groups=groups, covariates=covariates)
    grid = settings["grid_sd"] if math.isfinite(sd) and sd > 0 else [0.0]
    deltas = [d * sd if d else 0.0 for d in grid]
    rows = impute_and_analyse(
        sub, instrument=instrument, scale=scale, participants=participants,
        timepoints=list(timepoints), intervention=intervention, control=control,
        covariates=list(covariates), covariate_levels=dict(covariate_levels),
        use_clusters=use_clusters, imputations=list(chunk_imputations(settings, chunk)),
        seed=settings["seed"], outcome_index=outcome_number, deltas=deltas, alpha=alpha,
        emmeans=True, refit=refit,
    )
    rows["variance_components"] = variance_components(rows["scenario"], held=not refit)
    # The gather reads the baseline SD from here instead of re-deriving every outcome's rows.
    return rows.reindex(columns=columns).assign(baseline_sd=sd)


def pool_chunks(per_imputation: pd.DataFrame, baseline_sds: Mapping[tuple[str, str], float],
                alpha: float, directions: Mapping[tuple[str, str], str] | None = None,
                ) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """``missing_data.csv`` and ``tipping.csv`` from every chunk's rows (in any order).

    Rows are sorted by outcome, timepoint, scenario, δ and imputation first, so the pooled
    result is the same for any chunking; ``delta_sd`` = δ / the outcome's baseline SD;
    ``directions`` (``(instrument, scale) -> "higher_is_worse" | "higher_is_better"``) words
    the tipping direction; the tipping δ is solved on the per-imputation rows (exact).
    ``variance_components`` comes from the rows' column of that name (``held_at_mar`` on every
    δ row of chunks without it).
    """
    from balint_analysis.missing.pooling import pool_imputations
    from balint_analysis.missing.tipping import (
        HELD,
        MISSING_DATA_COLUMNS,
        tipping_points,
        variance_components,
    )

    if "group" in per_imputation:  # the estimated marginal means are pooled by pool_emmeans
        per_imputation = per_imputation[per_imputation["group"].isna()].drop(columns="group")
    rows = per_imputation.sort_values(_SORT, kind="stable", ignore_index=True)
    pooled = pool_imputations(rows, alpha=alpha, baseline_sd=dict(baseline_sds))
    pooled = pooled.reindex(columns=MISSING_DATA_COLUMNS)
    if "variance_components" in rows:
        held = rows.loc[rows["variance_components"] == HELD, ["instrument", "scale"]]
        held = set(held.itertuples(index=False, name=None))
    else:
        held = set(zip(rows["instrument"], rows["scale"], strict=True))
    outcome_held = [(i, s) in held for i, s in zip(pooled["instrument"], pooled["scale"],
                                                   strict=True)]
    pooled["variance_components"] = variance_components(pooled["scenario"], held=outcome_held)
    tipping = tipping_points(pooled, dict(baseline_sds), alpha, per_imputation=rows,
                             directions=dict(directions or {}))  # fmt: skip
    return pooled, tipping


def pool_emmeans(per_imputation: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """``missing_emmeans.csv`` from every chunk's rows (in any order): the estimated marginal
    means per outcome × scenario × group × timepoint pooled over the imputations (Rubin's rules,
    Barnard–Rubin df with the completed-data Satterthwaite df as ν_com).

    The rows with a ``group`` are put in imputation order (stable: within one imputation every
    chunk lists its rows in the same order), so the result does not depend on the chunking;
    the output follows the outcomes' planned order, then scenario, group and timepoint.
    """
    from balint_analysis.missing.pooling import pool_imputations

    if "group" not in per_imputation:
        return pd.DataFrame(columns=MISSING_EMMEANS_COLUMNS)
    rows = per_imputation[per_imputation["group"].notna()]
    rows = rows.sort_values("imputation", kind="stable", ignore_index=True)
    pooled = pool_imputations(rows.drop(columns="baseline_sd", errors="ignore"), alpha=alpha)
    return pooled.rename(columns={"estimate": "mean"}).reindex(columns=MISSING_EMMEANS_COLUMNS)


def switched_off(outcomes: Sequence[tuple[str, str]], timepoints: Sequence[str],
                 groups: Sequence[str] = ()) -> tuple[pd.DataFrame, ...]:  # fmt: skip
    """The outputs with M = 0: one reason row per outcome and post-baseline timepoint
    (``missing_data.csv``, ``tipping.csv``) and per outcome × group × timepoint
    (``missing_emmeans.csv``)."""
    from balint_analysis.missing.tipping import (
        MISSING_DATA_COLUMNS,
        REFITTED,
        TIPPING_COLUMNS,
    )

    keys = pd.DataFrame([(i, s, t) for i, s in outcomes for t in timepoints[1:]],
                        columns=["instrument", "scale", "timepoint"])  # fmt: skip
    off = keys.assign(scenario="mar", reason=OFF_REASON, variance_components=REFITTED)
    cells = pd.DataFrame([(i, s, g, t) for i, s in outcomes for g in groups for t in timepoints],
                         columns=["instrument", "scale", "group", "timepoint"])  # fmt: skip
    emm = cells.assign(scenario="mar", m=0, reason=OFF_REASON)
    return (off.reindex(columns=MISSING_DATA_COLUMNS),
            off.reindex(columns=TIPPING_COLUMNS),
            emm.reindex(columns=MISSING_EMMEANS_COLUMNS))  # fmt: skip


def _read(cfg: Any, inp: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    from balint_analysis.pipeline import read_participants

    scores = pd.read_csv(inp["scores"], dtype={"participant": str, "category": str})
    return scores, read_participants(inp["participants"], cfg.analysis.covariate_levels)


def _design(cfg: Any) -> dict[str, Any]:
    design = cfg.design
    return {"timepoints": list(design.timepoints), "intervention": design.intervention,
            "control": design.control, "covariates": list(cfg.analysis.covariates),
            "covariate_levels": dict(cfg.analysis.covariate_levels)}  # fmt: skip


def missing_chunk_stage(cfg: Any, inp: Mapping, out: Mapping, *, chunk: int) -> None:
    """Workflow job: imputations of one chunk of every planned outcome to ``out["results"]``
    (an interim CSV written with every digit)."""
    from balint_analysis.io import write_csv
    from balint_analysis.missing.refit import refit_outcomes

    outcomes = planned_outcomes(cfg.instruments)
    settings = missing_settings(cfg.raw, len(outcomes))
    scores, participants = _read(cfg, inp)
    design = _design(cfg)
    use_clusters = cfg.roster is not None and cfg.roster.cluster is not None
    refitted = refit_outcomes(settings["refit_outcomes"], cfg.analysis.primary, outcomes)
    # The roster joined once for every outcome, as the model stage joins it.
    from balint_analysis.models.inputs import prepare_inputs

    joined, _notes = prepare_inputs(scores, participants, design["timepoints"],
                                    design["intervention"], design["control"],
                                    design["covariates"], design["covariate_levels"])
    by_outcome = dict(iter(joined.groupby(["instrument", "scale"], sort=False)))
    parts = []
    for number, (instrument, scale) in enumerate(outcomes):
        sub = by_outcome.get((instrument, scale), joined.iloc[0:0])
        parts.append(analyse_chunk(
            sub, instrument=instrument, scale=scale, participants=participants,
            settings=settings, chunk=chunk, outcome_number=number, use_clusters=use_clusters,
            alpha=cfg.analysis.alpha, refit=(instrument, scale) in refitted, **design,
        ))  # fmt: skip
    write_csv(pd.concat(parts, ignore_index=True), out["results"], float_digits=17,
              neutralise=False)  # fmt: skip


def missing_gather_stage(cfg: Any, inp: Mapping, out: Mapping) -> None:
    """Workflow job: pool every chunk into ``missing_data.csv``, ``tipping.csv`` and
    ``missing_emmeans.csv`` (with ``missing_data.imputations: 0`` reason rows only)."""
    from threadpoolctl import threadpool_limits

    from balint_analysis.io import write_csv

    # The job claims no core (``threads: 0``, so it runs beside the model stage), and
    # Snakemake then sets OPENBLAS_NUM_THREADS=0, which OpenBLAS reads as "every core".
    threadpool_limits(1)

    outcomes = planned_outcomes(cfg.instruments)
    settings = missing_settings(cfg.raw, len(outcomes))
    design = _design(cfg)
    groups = [g for g in (design["intervention"], design["control"]) if g is not None]
    if settings["imputations"] == 0:
        pooled, tipping, emmeans = switched_off(outcomes, design["timepoints"], groups)
    else:
        chunks = pd.concat([pd.read_csv(p, dtype={"timepoint": str, "reason": str,
                                                  "group": str})
                            for p in inp["chunks"]], ignore_index=True)  # fmt: skip
        # Each chunk carries its outcomes' baseline SD (the same in every chunk).
        first = chunks.drop_duplicates(["instrument", "scale"]).set_index(["instrument", "scale"])
        sds = {key: float(first["baseline_sd"].get(key, math.nan)) for key in outcomes}
        directions = {(i, s): cfg.instruments[i].scales[s].direction for i, s in outcomes}
        pooled, tipping = pool_chunks(chunks.drop(columns="baseline_sd"), sds,
                                      cfg.analysis.alpha, directions)  # fmt: skip
        emmeans = pool_emmeans(chunks, cfg.analysis.alpha)
    write_csv(pooled, out["missing_data"])
    write_csv(tipping, out["tipping"])
    write_csv(emmeans, out["missing_emmeans"])
