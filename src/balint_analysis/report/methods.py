"""Methods text, limitations and first-screen caveats, generated from what was actually run.

The inputs are ``models.json`` (formula, estimation, convergence, clusters), ``flow.json``
(attrition), the design in the config and the tables already built; nothing here is boilerplate
that could contradict the analysis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from balint_analysis.config import StudyConfig
from balint_analysis.report.model_facts import (
    CLUSTER_CAVEAT,
    CLUSTER_LIMITATION,
    CLUSTER_METHODS,
    engine_words,
    formulas,
    model_facts,
    model_rows,
    not_modelled_reason,
)
from balint_analysis.report.text import DesignInfo, is_missing, tp_label

__all__ = [
    "attrition",
    "caveats",
    "formulas",
    "limitations",
    "methods_paragraphs",
    "model_rows",
    "n_clusters",
]

#: Fewer Balint groups than this is called "few" (small Satterthwaite df, unstable variance).
FEW_CLUSTERS = 10


def attrition(
    flow: Mapping[str, Any], arms: Sequence[tuple[str, str, str]], timepoints: Sequence[str]
) -> list[dict[str, Any]]:
    """Share of enrolled participants without a response, per arm and post-baseline timepoint."""
    parts = flow.get("participants") or {}
    enrolled, observed = parts.get("enrolled") or {}, parts.get("observed") or {}
    out = []
    for label, name, _ in arms:
        n = enrolled.get(label)
        for t in timepoints[1:]:
            obs = (observed.get(label) or {}).get(t)
            if is_missing(n) or is_missing(obs) or int(n) == 0:
                continue
            out.append(
                {
                    "arm": name,
                    "timepoint": t,
                    "share": 1 - int(obs) / int(n),
                    "enrolled": int(n),
                    "observed": int(obs),
                }
            )
    return out


def _last_attrition(att: Sequence[Mapping[str, Any]], last: str) -> str:
    parts = [f"{a['share']:.0%} of the {a['arm']}" for a in att if a["timepoint"] == last]
    return " and ".join(parts)


def _primary_model(models: Mapping[str, Any], config: StudyConfig) -> Mapping[str, Any]:
    for m in models.get("outcomes", []) or []:
        if (m.get("instrument"), m.get("scale")) == (
            config.analysis.primary_instrument,
            config.analysis.primary_scale,
        ):
            return m
    return {}


def _is_false(x: Any) -> bool:
    return not is_missing(x) and str(x).lower() in ("false", "0")


def _is_true(x: Any) -> bool:
    return not is_missing(x) and str(x).lower() in ("true", "1")


def n_clusters(models: Mapping[str, Any], config: StudyConfig, fallback: str | None) -> int | None:
    """Number of Balint groups in the primary model (else from the roster)."""
    n = _primary_model(models, config).get("n_clusters")
    if not is_missing(n) and int(n) > 0:
        return int(n)
    return int(fallback) if fallback else None


def _few_modelled(term: str, clusters: int | None) -> bool:
    """Few Balint groups, and their variation was actually modelled (so the df are small)."""
    return term in ("modelled", "") and clusters is not None and 1 < clusters < FEW_CLUSTERS


def caveats(
    config: StudyConfig,
    design: DesignInfo,
    models: Mapping[str, Any],
    att: Sequence[Mapping[str, Any]],
    primary_row: Mapping[str, Any] | None,
    clusters: int | None,
) -> list[str]:
    """The few caveats that must sit next to the answer on the first screen."""
    out = []
    if design.kind == "non-randomised":
        out.append(
            "Not randomised: people who chose to join the Balint groups may differ from the "
            "comparison group in ways the analysis cannot fully adjust for."
        )
    elif design.kind == "single-arm":
        out.append(
            "No comparison group: changes over time cannot be attributed to the Balint groups."
        )
    last = config.design.timepoints[-1]
    worst = max((a["share"] for a in att if a["timepoint"] == last), default=0.0)
    if worst >= 0.05:
        out.append(
            f"Missing answers: by {tp_label(last)}, {_last_attrition(att, last)} had not "
            "answered; the analysis assumes their missing answers are unrelated to their unseen "
            "burnout (given what was observed)."
        )
    pm = _primary_model(models, config)
    term = model_facts(pm).cluster_term if not design.single_arm else ""
    if term in CLUSTER_CAVEAT:
        out.append(CLUSTER_CAVEAT[term])
    elif _few_modelled(term, clusters) and not design.single_arm:
        out.append(
            f"Few Balint groups ({clusters}): the result rests on a handful of groups and their "
            "leaders, so it is uncertain and may not carry over to other groups."
        )
    if model_facts(pm).degenerate:
        out.append(
            "The main outcome could not be modelled "
            f"({not_modelled_reason(model_facts(pm).degenerate)}), so no effect is reported."
        )
    elif _is_false(pm.get("converged")) or (
        primary_row is not None and _is_false(primary_row.get("converged"))
    ):
        out.append(
            "The statistical model for the main outcome did not converge: treat its numbers as "
            "unreliable."
        )
    if primary_row is None:
        out.append("No estimate is available for the main outcome.")
    return out


def _formula_words(m: Mapping[str, Any], config: StudyConfig, design: DesignInfo) -> str:
    covs = ", ".join(c.replace("_", " ") for c in config.analysis.covariates)
    adj = f", adjusted for {covs}" if covs else ""
    if design.single_arm:
        fixed = "timepoint"
    else:
        fixed = "group, timepoint and their interaction (group × time)"
    text = (
        f"the score was modelled as depending on {fixed}{adj}, with a random intercept for each "
        "participant (repeated answers of the same person are correlated)"
    )
    term = model_facts(m).cluster_term
    n_cl = m.get("n_clusters")
    if term == "modelled" or (term == "" and not is_missing(n_cl) and int(n_cl) > 1):
        text += (
            ", and a random effect for each Balint group applied to the intervention "
            "participants' post-baseline answers only (a partially nested design, Bauer, Sterba "
            "& Hallfors 2008: the groups form after baseline and comparison participants do not "
            "meet in groups)"
        )
    return text


def methods_paragraphs(
    config: StudyConfig, design: DesignInfo, models: Mapping[str, Any], versions: Mapping[str, str]
) -> list[str]:
    """The methods section, one paragraph per item."""
    outs = list(models.get("outcomes", []) or [])
    pm = _primary_model(models, config) or (outs[0] if outs else {})
    method = str(pm.get("method") or "REML")
    method_words = "restricted maximum likelihood (REML)" if method.upper() == "REML" else method
    df_method = str(pm.get("df_method") or "Satterthwaite")
    term = "" if design.single_arm else model_facts(pm).cluster_term
    df_why = (
        ", which stay honest when there are few Balint groups (a normal approximation would "
        "overstate certainty)"
        if term == "modelled"
        else ", a small-sample correction (a normal approximation would overstate certainty)"
    )
    paras = [
        "Survey exports were read with platform-specific adapters, checked against the "
        "instrument definitions and the study design (every problem is listed in "
        "rejected.csv), and participant ids were replaced by keyed pseudonyms before scoring. "
        "Scale scores follow each instrument's scoring key; a score was computed when at least "
        "the instrument's required share of items was answered, prorating the missing items.",
        f"For each outcome a linear mixed model was fitted by {method_words}"
        f"{engine_words(outs)}: {_formula_words(pm, config, design)}. The baseline timepoint "
        f"({tp_label(config.design.baseline)})"
        + ("" if design.single_arm else " and the comparison group")
        + " are the reference levels."
        + (" Estimated means per group and timepoint are the model's predictions with every "
           "numeric covariate (a yes/no one coded 0/1 too) at its average and every categorical "
           "covariate in its observed proportions." if config.analysis.covariates else ""),
        (
            "The effect at each later timepoint is the Balint group's change from baseline."
            if design.single_arm
            else "The effect at each later timepoint is the difference in mean change from "
            "baseline, Balint group minus comparison group (the group × time interaction); "
            "negative values mean the Balint group's score fell more."
        )
        + f" Its confidence interval and p-value use {df_method} degrees of freedom{df_why}."
        + (f" {CLUSTER_METHODS[term]}" if CLUSTER_METHODS.get(term) else ""),
        "All available observations were used: a participant who missed a timepoint still "
        "contributes the answers they gave, with no listwise deletion. This is valid if "
        "answers are missing at random (MAR), i.e. whether someone answered may depend on "
        "what was observed about them but not on their unobserved score.",
        (
            "The standardised effect is the model's estimated change, and its confidence "
            "interval, divided by the standard deviation of the baseline scores (Feingold "
            "2009), so it agrees with the result in points; there is no comparison group. For "
            "meta-analysts the within-group standardised change (Becker 1988) is also given."
            if design.single_arm
            else "The standardised effect is the model's estimated difference in change, and its "
            "confidence interval, divided by the standard deviation of the baseline scores "
            "pooled within the two groups (Feingold 2009): the same numbers in other units, so "
            "it can never disagree with the result in points. For meta-analysts, Morris's "
            "(2008) d_ppc2 is also given: the observed difference in mean change over the same "
            "kind of SD, with a small-sample correction, on the participants observed at "
            "baseline and at that timepoint; its interval can differ from the model's."
        )
        + " Secondary outcomes' p-values are adjusted for multiple comparisons "
        "(Benjamini–Hochberg); the primary outcome is not adjusted.",
    ]
    n_bad = [m for m in outs if _is_false(m.get("converged")) and not model_facts(m).degenerate]
    fitted = [m for m in outs if not model_facts(m).degenerate]
    n_bound = [m for m in outs if _is_true(m.get("boundary"))]
    conv = (
        f"All {len(fitted)} models converged."
        if fitted and not n_bad
        else (
            f"{len(n_bad)} of {len(fitted)} models did not converge: "
            + ", ".join(f"{m.get('instrument')}.{m.get('scale')}" for m in n_bad)
            + "."
            if fitted
            else ("" if outs else "No model information was available.")
        )
    )
    for m in outs:
        if model_facts(m).degenerate:
            conv += (
                f" {m.get('instrument')}.{m.get('scale')} was not modelled "
                f"({not_modelled_reason(model_facts(m).degenerate)})."
            )
    conv = conv.strip()
    if n_bound:
        conv += (
            f" {len(n_bound)} {'model' if len(n_bound) == 1 else 'models'} had a variance "
            "estimated at zero (a boundary fit; the estimates remain usable): "
            + ", ".join(f"{m.get('instrument')}.{m.get('scale')}" for m in n_bound)
            + "."
        )
    fallbacks = [m for m in outs if model_facts(m).fallback]
    for m in fallbacks:
        conv += (
            f" {m.get('instrument')}.{m.get('scale')} was fitted with the fallback method "
            f"({model_facts(m).fallback.rstrip('.')})."
        )
    paras.append(conv)
    soft = ", ".join(f"{k} {v}" for k, v in versions.items())
    paras.append(f"Software: {soft}." if soft else "Software versions were not recorded.")
    return paras


def _cluster_limitation(
    config: StudyConfig, design: DesignInfo, models: Mapping[str, Any], clusters: int | None
) -> list[str]:
    """How the Balint groups entered the primary model, as a limitation (none single-arm)."""
    if design.single_arm:
        return []
    term = model_facts(_primary_model(models, config)).cluster_term
    if term in CLUSTER_LIMITATION:
        return [CLUSTER_LIMITATION[term]]
    if clusters is None:
        return []
    few = (
        ": with so few groups the group-level variance is poorly estimated, the degrees of "
        "freedom are small and the intervals wide; results may depend on these particular "
        "leaders."
    )
    took_part = f"{clusters} Balint {'group' if clusters == 1 else 'groups'} took part"
    return [took_part + (few if _few_modelled(term, clusters) else ".")]


def _model_limitations(models: Mapping[str, Any]) -> list[str]:
    """Models that did not converge, and outcomes that could not be modelled at all."""
    outs = list(models.get("outcomes", []) or [])

    def name(m: Mapping[str, Any]) -> str:
        return f"{m.get('instrument')}.{m.get('scale')}"

    bad = [name(m) for m in outs if _is_false(m.get("converged")) and not model_facts(m).degenerate]
    flat = [
        f"{name(m)} ({not_modelled_reason(model_facts(m).degenerate)})"
        for m in outs
        if model_facts(m).degenerate
    ]
    out = []
    if bad:
        out.append("Models that did not converge (numbers unreliable): " + ", ".join(bad) + ".")
    if flat:
        out.append(
            "Outcomes that could not be modelled, so no effect is reported: "
            + "; ".join(flat)
            + "."
        )
    return out


def limitations(
    config: StudyConfig,
    design: DesignInfo,
    models: Mapping[str, Any],
    att: Sequence[Mapping[str, Any]],
    clusters: int | None,
    imbalanced: Sequence[str],
    low_alpha: Sequence[str],
    n_secondary: int,
    rejected_share: float | None,
) -> list[str]:
    """Limitations that follow from this design and these data."""
    out = []
    if design.kind == "non-randomised":
        out.append(
            "Self-selection: participants were not randomised. Those who joined Balint groups "
            "may differ from the comparison group (motivation, workload, baseline burnout), and "
            "the group × time model assumes both groups would have changed in parallel without "
            "the intervention. Regression to the mean can mimic an effect if one group started "
            "unusually high."
        )
    elif design.kind == "single-arm":
        out.append(
            "No comparison group: the change from baseline mixes any effect of the Balint groups "
            "with the passage of time, seasonal workload, regression to the mean and other "
            "events."
        )
    out.append(
        "Outcomes are self-reported and participants knew whether they attended Balint groups, "
        "so expectations may colour their answers."
    )
    if imbalanced:
        out.append(
            "At baseline the groups differed (standardised difference above 0.10) on: "
            + ", ".join(imbalanced)
            + "."
        )
    if att:
        parts = [f"{a['arm']} {a['share']:.0%} at {tp_label(a['timepoint'])}" for a in att]
        out.append(
            "Attrition (enrolled participants without an answer): "
            + "; ".join(parts)
            + ". The model assumes these answers are missing at random; if those who dropped out "
            "were doing worse (or better), the estimates are biased."
        )
    out += _cluster_limitation(config, design, models, clusters)
    if n_secondary:
        out.append(
            f"{n_secondary} secondary {'outcome was' if n_secondary == 1 else 'outcomes were'} "
            "tested; their p-values are adjusted "
            "(Benjamini–Hochberg), but secondary results should be read as exploratory."
        )
    out += _model_limitations(models)
    if low_alpha:
        out.append(
            "Internal consistency below 0.70 (Cronbach's alpha) for: "
            + ", ".join(low_alpha)
            + "; those scores are measured imprecisely."
        )
    if rejected_share is not None and rejected_share >= 0.05:
        out.append(
            f"{rejected_share:.0%} of the rows in the exports were rejected during validation "
            "(see Data quality)."
        )
    if config.synthetic_seed is not None:
        out.append("These data are synthetic: no conclusion about real Balint groups follows.")
    return out
