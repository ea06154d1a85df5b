"""The first screen: the answer box (key figure, headline, means, certainty) and its facts.

:func:`primary_facts` decides *which* situation the main result is in (reported, withheld for a
small arm, not estimable, model failed, absent); :func:`answer_section` words it. The key figure
and the sentence beside it use the same signed numbers (Balint minus comparison), so the box
and the text can never show the interval with opposite signs. The headline is the result at
the primary timepoint (``analysis.primary_timepoint``, chosen before analysis; by default the
end of the groups), named with the reason, and the other timepoints' results stand beside it;
its standardised effect is the model's (``d_model``), so its interval agrees with the one in
points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from balint_analysis.report.context import ReportFrame
from balint_analysis.report.figures import ci_strip
from balint_analysis.report.results import (
    balint_change,
    failed,
    failure_reason,
    failure_sentence,
    main_effects,
    means_line,
    not_estimable_reason,
    row_status,
)
from balint_analysis.report.tables import suppressed
from balint_analysis.report.text import (
    certainty_sentence,
    effect_sentence,
    fmt,
    fmt_ci,
    is_missing,
    size_words,
    tp_label,
    truth,
)

__all__ = ["PrimaryFacts", "answer_section", "primary_facts"]


@dataclass(frozen=True)
class PrimaryFacts:
    """What happened to the main outcome's headline effect.

    ``state`` is one of ``"reported"``, ``"small_cell"`` (an arm below the disclosure
    threshold), ``"not_estimable"`` (the design cannot estimate it; ``reason`` says why),
    ``"failed"`` (the model did not converge) and ``"absent"`` (no effect row at all).
    """

    rows: tuple[Mapping[str, Any], ...]
    headline_row: Mapping[str, Any] | None
    state: str
    reason: str = ""
    #: The primary timepoint (``analysis.primary_timepoint``) the headline row is at.
    timepoint: str = ""

    @property
    def reported(self) -> bool:
        return self.state == "reported"


def primary_facts(frame: ReportFrame) -> PrimaryFacts:
    """Classify the main outcome's headline effect: its row at the primary timepoint."""
    inst, scale = frame.primary
    prim = main_effects(frame.inputs.effects, inst, scale)
    tps = list(frame.timepoints)
    rows = tuple(
        sorted(
            prim.to_dict("records"),
            key=lambda r: tps.index(r["timepoint"]) if r["timepoint"] in tps else 99,
        )
    )
    when = primary_timepoint(frame)
    last = next((r for r in rows if str(r["timepoint"]) == when), None)
    if last is None:
        return PrimaryFacts(rows, None, "absent", timepoint=when)
    status = row_status(last, frame.min_cell)
    if status == "suppressed":
        return PrimaryFacts(rows, last, "small_cell", timepoint=when)
    reason = not_estimable_reason(last)
    if status == "not_estimable":
        return PrimaryFacts(rows, last, "not_estimable", reason, timepoint=when)
    if failed(last):
        return PrimaryFacts(rows, last, "failed", failure_reason(frame.models, inst, scale),
                            timepoint=when)
    return PrimaryFacts(rows, last, "reported", timepoint=when)


def primary_timepoint(frame: ReportFrame) -> str:
    """``analysis.primary_timepoint`` (resolved by the config: by default the first timepoint
    after baseline)."""
    chosen = frame.config.analysis.primary_timepoint
    return str(chosen) if chosen else frame.post[0]


def _small(row: Mapping[str, Any], min_cell: int) -> bool:
    return any(suppressed(row.get(c), min_cell) for c in ("n_intervention", "n_control"))


def primary_why(frame: ReportFrame, timepoint: str) -> str:
    """Which timepoint the main result is at, and why that one."""
    why = (
        "the end of the groups, the timepoint chosen before analysis"
        if timepoint == frame.post[0]
        else "the timepoint chosen before analysis"
    )
    return f"The main result is at {tp_label(timepoint)}: {why}."


def standardised_text(row: Mapping[str, Any], level: str) -> str:
    """``"standardised effect −0.61 (95% CI −1.15 to −0.07), moderate"`` from ``d_model``."""
    d = row.get("d_model")
    if is_missing(d):
        return ""
    size = size_words(d)
    ci = fmt_ci(row.get("d_model_ci_low"), row.get("d_model_ci_high"), 2)
    return f"standardised effect {fmt(d, 2)} ({level} CI {ci})" + (f", {size}" if size else "")


def other_timepoints_line(frame: ReportFrame, facts: PrimaryFacts) -> str:
    """One short line with the main outcome's result at every other post-baseline timepoint."""
    parts = []
    for r in facts.rows:
        t = str(r["timepoint"])
        if t == facts.timepoint or t == frame.baseline:
            continue
        if _small(r, frame.min_cell):
            text = f"not reported (fewer than {frame.min_cell} people in an arm)"
        elif not_estimable_reason(r) or failed(r):
            text = "no estimate"
        else:
            ci = fmt_ci(r["ci_low"], r["ci_high"])
            text = f"{fmt(r['estimate'])} points ({frame.level} CI {ci})"
        parts.append(f"at {tp_label(t)}, {text}")
    return ("Other timepoints: " + "; ".join(parts) + ".") if parts else ""


def _primary_emmeans(frame: ReportFrame) -> pd.DataFrame:
    emm = frame.inputs.emmeans
    if not len(emm):
        return emm
    inst, scale = frame.primary
    return emm[(emm["instrument"] == inst) & (emm["scale"] == scale)]


def answer_section(
    frame: ReportFrame, facts: PrimaryFacts, primary_sentences: Sequence[str]
) -> dict[str, Any]:
    """Headline, certainty, means line, key figure, per-timepoint list and CI strip."""
    info = frame.infos[frame.primary]
    last = facts.headline_row
    headline = certainty = means = ""
    key = None
    if facts.reported and last is not None:
        t = str(last["timepoint"])
        emm = _primary_emmeans(frame)
        change = balint_change(emm, frame.arms[0][0], frame.baseline, t, frame.min_cell)
        headline = effect_sentence(last, info, frame.design, frame.baseline, frame.level, change)
        certainty = certainty_sentence(last, info, frame.design, frame.level)
        means = means_line(emm, frame.arms, frame.baseline, t, frame.min_cell) if len(emm) else ""
        key = {
            "value": fmt(last["estimate"]),
            "ci": fmt_ci(last["ci_low"], last["ci_high"]),
            "when": f"{tp_label(frame.baseline)} → {tp_label(t)}",
            "d": standardised_text(last, frame.level),
        }
    elif facts.state == "not_estimable" and last is not None:
        headline = (
            f"No effect on the main outcome, {info.label[:1].lower()}{info.label[1:]}, can be "
            f"estimated at {tp_label(str(last['timepoint']))}: {facts.reason}."
        )
    elif facts.state == "failed":
        converged = last is not None and truth(last.get("converged")) is not False
        headline = failure_sentence(info.label, facts.reason, main=True, converged=converged)
    elif facts.state == "small_cell" and last is not None:
        headline = (
            f"Fewer than {frame.min_cell} participants were observed in an arm at "
            f"{tp_label(str(last['timepoint']))}, so the main result is not reported."
        )
    else:
        headline = (
            f"No effect estimate is available for the main outcome, {info.label.lower()}"
            " (see Methods for the model notes)."
        )
    rows = list(facts.rows)
    return {
        "headline": headline,
        "primary_why": primary_why(frame, facts.timepoint) if facts.timepoint else "",
        "others": other_timepoints_line(frame, facts),
        "certainty": certainty,
        "means": means,
        "key": key,
        "per_timepoint": list(primary_sentences)
        if len(rows) > 1 and not all(failed(r) for r in rows)
        else [],
        "strip": ci_strip([r for r in rows if not failed(r)], info, frame.design, frame.min_cell),
    }
