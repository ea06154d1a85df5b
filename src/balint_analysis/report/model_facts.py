"""What each model actually did, read from ``models.json``, and the sentences that follow from it.

The report never words a model from boilerplate: :func:`model_facts` turns one ``models.json``
entry into facts (how the Balint-group term was handled, boundary fit, fallback engine, the
warnings of the fit that was used), and the functions below give each situation its own
sentence for the results, the first-screen caveats, the methods and the limitations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from balint_analysis.report.disclosure import STATISTIC_LABEL, too_small
from balint_analysis.report.text import fmt, is_missing, truth

__all__ = [
    "CLUSTER_CAVEAT",
    "CLUSTER_LIMITATION",
    "CLUSTER_METHODS",
    "CLUSTER_RESULT",
    "ModelFacts",
    "engine_words",
    "fit_notes",
    "formulas",
    "model_facts",
    "model_rows",
    "not_modelled_reason",
]

#: First-screen caveat per way the Balint-group term was handled (none when it was modelled).
CLUSTER_CAVEAT = {
    "dropped_single_group": (
        "Only one Balint group took part, so differences between Balint groups could not be "
        "allowed for: the result comes from one group and its leader, and its confidence "
        "interval treats the members' answers as independent, so it may be too narrow."
    ),
    "no_cluster_column": (
        "Group-delivered treatment was not modelled: the roster does not say which Balint group "
        "each participant attended, so the analysis treats participants as if each had been "
        "treated alone. Members of one group influence each other, so the confidence intervals "
        "may be too narrow and the p-values too small."
    ),
    "not_requested": (
        "Group-delivered treatment was not modelled: the configuration turned the Balint-group "
        "term off, so the analysis treats participants as if each had been treated alone. "
        "Members of one group influence each other, so the confidence intervals may be too "
        "narrow and the p-values too small."
    ),
}
#: Methods sentence per way the Balint-group term was handled.
CLUSTER_METHODS = {
    "modelled": "",
    "dropped_single_group": (
        "Only one Balint group took part, so the model has no Balint-group term: the variation "
        "between groups cannot be estimated from a single group."
    ),
    "no_cluster_column": (
        "The roster names no Balint group for each participant, so the model has no "
        "Balint-group term: group-delivered treatment was not modelled."
    ),
    "dropped_boundary": (
        "The variation between Balint groups was estimated at zero (a boundary fit), so the "
        "Balint-group term was dropped and the model refitted without it."
    ),
    "not_requested": (
        "The Balint-group term was turned off in the configuration, so group-delivered "
        "treatment was not modelled."
    ),
}
#: Sentence under an outcome's results per way the Balint-group term was handled.
CLUSTER_RESULT = {
    "dropped_single_group": (
        "This model has no Balint-group term because only one Balint group took part."
    ),
    "no_cluster_column": (
        "This model has no Balint-group term because the roster does not say who attended "
        "which Balint group; the confidence interval may be too narrow."
    ),
    "dropped_boundary": (
        "The Balint groups did not differ more than chance would produce (their variation was "
        "estimated at zero), so this model was refitted without the Balint-group term."
    ),
    "not_requested": (
        "This model has no Balint-group term (turned off in the configuration); the confidence "
        "interval may be too narrow."
    ),
}
#: Limitation per way the Balint-group term was handled ("modelled" is worded in methods.py).
CLUSTER_LIMITATION = {
    "dropped_single_group": (
        "One Balint group took part: the model could not include a Balint-group term, so the "
        "result cannot be told apart from what is particular to that group and its leader, and "
        "its confidence interval, which treats the members' answers as independent, is likely "
        "too narrow."
    ),
    "no_cluster_column": (
        "Which Balint group each participant attended was not recorded in the roster, so "
        "group-delivered treatment was not modelled: members of one group influence each other, "
        "and ignoring that makes the confidence intervals too narrow and the p-values too small."
    ),
    "dropped_boundary": (
        "The variation between Balint groups was estimated at zero and the Balint-group term was "
        "dropped; with few groups that estimate is uncertain, so the intervals may be somewhat "
        "too narrow."
    ),
    "not_requested": (
        "The Balint-group term was turned off in the configuration, so group-delivered "
        "treatment was not modelled: members of one group influence each other, and ignoring "
        "that makes the confidence intervals too narrow and the p-values too small."
    ),
}


@dataclass(frozen=True)
class ModelFacts:
    """What one outcome's model did.

    Attributes
    ----------
    cluster_term
        ``"modelled"``, ``"dropped_single_group"``, ``"no_cluster_column"``,
        ``"not_requested"`` (turned off in the configuration), ``"dropped_boundary"``, or
        ``""`` when the model stage did not say (single-arm designs, older outputs).
    n_clusters
        Balint groups in the model's data (None when unknown).
    converged
        The fit that was used converged (None when unknown).
    boundary
        A variance was estimated at zero (a boundary, or singular, fit).
    fallback
        Why the fallback engine was used (empty when the main engine's fit was used).
    degenerate
        Why the outcome could not be modelled at all (empty when it could).
    fit_warnings
        The warnings of the fit that was used (not of abandoned attempts).
    """

    cluster_term: str = ""
    n_clusters: int | None = None
    converged: bool | None = None
    boundary: bool = False
    fallback: str = ""
    degenerate: str = ""
    fit_warnings: tuple[str, ...] = field(default_factory=tuple)


def _text(x: Any) -> str:
    return "" if is_missing(x) else str(x).strip()


def _cluster_term(m: Mapping[str, Any], n_clusters: int | None) -> str:
    """``cluster_term`` from the model stage; inferred from older outputs when absent."""
    term = _text(m.get("cluster_term"))
    if term:
        return term
    if "cluster" in (m.get("variance_components") or {}):
        return "modelled"
    return "dropped_single_group" if n_clusters == 1 else ""


def model_facts(m: Mapping[str, Any]) -> ModelFacts:
    """Read one ``models.json`` outcome entry into :class:`ModelFacts`."""
    n = m.get("n_clusters")
    n_clusters = None if is_missing(n) else int(n)
    warnings = m.get("fit_warnings") if "fit_warnings" in m else m.get("warnings")
    return ModelFacts(
        cluster_term=_cluster_term(m, n_clusters),
        n_clusters=n_clusters,
        converged=truth(m.get("converged")),
        boundary=truth(m.get("boundary")) is True,
        fallback=_text(m.get("fallback")),
        degenerate=_text(m.get("degenerate")),
        fit_warnings=tuple(dict.fromkeys(_text(w) for w in warnings or [] if _text(w))),
    )


def not_modelled_reason(degenerate: str) -> str:
    """The model stage's reason an outcome was not modelled, safe to show beside any count.

    "fewer than 3 participants in the comparison group" would say more about a small arm than
    the disclosure threshold allows, so such reasons are given without the number.
    """
    if "fewer than" in degenerate:
        return "too few participants in an arm"
    return degenerate.rstrip(".")


def fit_notes(facts: ModelFacts) -> list[str]:
    """Sentences under an outcome's results: how the model was fitted, when that matters."""
    out = []
    if CLUSTER_RESULT.get(facts.cluster_term):
        out.append(CLUSTER_RESULT[facts.cluster_term])
    if facts.boundary and facts.cluster_term != "dropped_boundary":
        out.append(
            "A variance in this model was estimated at zero (a boundary fit): the answers vary "
            "no more between people or groups than chance would produce. The effect estimate is "
            "still usable, but its interval may be slightly too narrow."
        )
    if facts.fallback:
        out.append(
            "This model was fitted with the fallback method because the main method could not "
            f"confirm its result ({facts.fallback.rstrip('.')})."
        )
    out += [f"Model note: {w}" for w in facts.fit_warnings]
    return out


def _component(name: str, value: Any, arm_sizes: Mapping[str, Any], min_cell: int) -> str:
    """A variance component; a per-arm one (``residual_<arm>``) of a small arm is withheld."""
    arm = name.removeprefix("residual_") if name.startswith("residual_") else None
    if arm is not None and too_small(arm_sizes.get(arm), min_cell):
        return f"{name} {STATISTIC_LABEL}"
    return f"{name} {fmt(value, 2)}"


def model_rows(
    models: Mapping[str, Any], arm_sizes: Mapping[str, Any] | None = None, min_cell: int = 1
) -> list[dict[str, str]]:
    """One row per fitted model for the methods table.

    ``arm_sizes`` (participants per arm label) withholds the variance components of arms with
    fewer than ``min_cell`` people (disclosure control).
    """
    rows = []
    for m in models.get("outcomes", []) or []:
        vc = {
            k: _component(k, v, arm_sizes or {}, min_cell)
            for k, v in (m.get("variance_components") or {}).items()
        }
        rows.append(
            {
                "outcome": f"{m.get('instrument')}.{m.get('scale')}",
                "method": " / ".join(str(x) for x in (m.get("method"), m.get("optimizer")) if x),
                "n": " / ".join(
                    "—" if is_missing(m.get(k)) else str(m.get(k))
                    for k in ("n_obs", "n_participants", "n_clusters")
                ),
                "vc": "; ".join(vc.values()) or "—",
                "icc": fmt(m.get("icc_cluster"), 3),
                "converged": "yes"
                if truth(m.get("converged")) is True
                else ("NO" if truth(m.get("converged")) is False else "—"),
                "boundary": "yes" if truth(m.get("boundary")) is True else "no",
                "warnings": "; ".join(model_facts(m).fit_warnings),
            }
        )
    return rows


def formulas(models: Mapping[str, Any]) -> list[dict[str, str]]:
    """Distinct model formulas with the outcomes that used each (in first-seen order)."""
    seen: dict[str, list[str]] = {}
    for m in models.get("outcomes", []) or []:
        f = str(m.get("formula") or "—")
        seen.setdefault(f, []).append(f"{m.get('instrument')}.{m.get('scale')}")
    return [{"formula": f, "outcomes": ", ".join(o)} for f, o in seen.items()]


def engine_words(outcomes: Sequence[Mapping[str, Any]]) -> str:
    """How the models were estimated: Newton-REML (the main engine) and/or statsmodels.

    From ``engine`` in ``models.json``; older outputs only name the optimizer.
    """

    def engine(m: Mapping[str, Any]) -> str:
        optimizer = str(m.get("optimizer") or "")
        old_name = "Newton-REML" if "fast path" in optimizer else optimizer
        return str(m.get("engine") or "") or old_name

    engines = {engine(m) for m in outcomes}
    fast = "Newton-REML" in engines
    reference = any(e and e != "Newton-REML" for e in engines)
    if fast and reference:
        return (" (Newton's method on the exact REML derivatives; where it could not certify "
                "the optimum, statsmodels MixedLM with convergence and boundary checks)")
    if fast:
        return " (Newton's method on the exact REML derivatives)"
    if reference:
        return " (statsmodels MixedLM, with convergence and boundary checks)"
    return ""
