"""Per-outcome results: effect rows, estimated-means tables, figures and sentences.

``effects.csv`` holds one row per outcome × post-baseline timepoint: the primary model's effect.
Sensitivity analyses come from ``sensitivity.csv`` (see :mod:`balint_analysis.report.ancillary`).
A row whose model did not converge is never shown as a result: its numbers are replaced by the
reason recorded in ``models.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from balint_analysis.config import StudyConfig
from balint_analysis.report.disclosure import STATISTIC_LABEL, n_label
from balint_analysis.report.figures import emmeans_svg
from balint_analysis.report.tables import suppressed
from balint_analysis.report.text import (
    DesignInfo,
    ScaleInfo,
    certainty_sentence,
    effect_sentence,
    fmt,
    fmt_ci,
    fmt_int,
    fmt_p,
    is_missing,
    scale_info,
    size_words,
    tp_label,
    truth,
)

__all__ = [
    "failed",
    "failure_reason",
    "failure_sentence",
    "main_effects",
    "means_line",
    "not_estimable_reason",
    "outcome_order",
    "outcome_section",
]


def main_effects(effects: pd.DataFrame, instrument: str, scale: str) -> pd.DataFrame:
    """The primary-model effect rows of one outcome, one per timepoint, in file order."""
    if not len(effects):
        return effects
    sel = effects[(effects["instrument"] == instrument) & (effects["scale"] == scale)]
    return sel.drop_duplicates(subset=["timepoint"], keep="first")


def failed(row: Mapping[str, Any] | None) -> bool:
    """Whether an effect row comes from a model that did not converge (or has no estimate)."""
    return row is not None and (
        truth(row.get("converged")) is False or is_missing(row.get("estimate"))
    )


def not_estimable_reason(row: Mapping[str, Any] | None) -> str:
    """Why the design cannot estimate an effect row (``estimable`` False), else ``""``.

    The model stage writes ``estimable`` and a plain-language ``reason`` clause per row; a row
    that is not estimable is not a convergence failure and is never worded as one.
    """
    if row is None or truth(row.get("estimable")) is not False:
        return ""
    reason = row.get("reason")
    return "the data cannot separate this effect from the others" if is_missing(reason) else (
        str(reason).strip().rstrip(".")
    )


def failure_reason(models: Sequence[Mapping[str, Any]], instrument: str, scale: str) -> str:
    """Why a model failed, from ``models.json``: warnings, else the last attempt's error."""
    for m in models:
        if (m.get("instrument"), m.get("scale")) != (instrument, scale):
            continue
        reasons = [str(w) for w in (m.get("warnings") or []) if not is_missing(w)]
        for a in m.get("attempts") or []:
            if isinstance(a, Mapping) and not is_missing(a.get("error")):
                reasons.append(str(a["error"]))
        if reasons:
            return "; ".join(dict.fromkeys(reasons))
    return "no reason was recorded"


def failure_sentence(label: str, reason: str, main: bool = False) -> str:
    """The wording used wherever a failed model's result would have been."""
    low = label[:1].lower() + label[1:]
    what = f"the main outcome, {low}," if main else low
    return (
        f"The statistical model for {what} did not converge, so no effect is reported. "
        f"Reason recorded by the model stage: {reason}."
    )


def outcome_order(config: StudyConfig, effects: pd.DataFrame, emmeans: pd.DataFrame) -> list:
    """``(instrument, scale)`` pairs: the primary first, then config order, then the rest."""
    primary = (config.analysis.primary_instrument, config.analysis.primary_scale)
    found: list[tuple[str, str]] = []
    for df in (effects, emmeans):
        if len(df):
            for i, s in df[["instrument", "scale"]].drop_duplicates().itertuples(index=False):
                if (str(i), str(s)) not in found:
                    found.append((str(i), str(s)))
    ordered = [primary]
    for inst_id, inst in config.instruments.items():
        for sid in inst.scales:
            if (inst_id, sid) in found and (inst_id, sid) not in ordered:
                ordered.append((inst_id, sid))
    ordered += sorted(x for x in found if x not in ordered)
    return ordered


def _suppress_effect(row: Mapping[str, Any], min_cell: int) -> bool:
    return any(suppressed(row.get(c), min_cell) for c in ("n_intervention", "n_control"))


def _effect_row(r: Mapping[str, Any], min_cell: int, role: str) -> dict[str, Any]:
    hidden = _suppress_effect(r, min_cell)
    d = r.get("d_ppc2")
    conv = r.get("converged")
    conv_txt = {True: "yes", False: "NO"}.get(truth(conv), "—")
    if hidden or failed(r):
        # No numbers: either a group is too small to show, or there is no valid estimate.
        return {
            "timepoint": tp_label(str(r["timepoint"])),
            "estimate": STATISTIC_LABEL if hidden else "not reported",
            "ci": "" if hidden else (
                "model did not converge" if truth(conv) is False else "no estimate"),
            "df": "", "p": "", "p_adj": "", "d": "",
            "n_i": fmt_n(r.get("n_intervention"), min_cell),
            "n_c": fmt_n(r.get("n_control"), min_cell),
            "converged": conv_txt,
            "suppressed": hidden,
        }  # fmt: skip
    return {
        "timepoint": tp_label(str(r["timepoint"])),
        "estimate": fmt(r.get("estimate")),
        "ci": fmt_ci(r.get("ci_low"), r.get("ci_high")),
        "df": fmt(r.get("df"), 1),
        "p": fmt_p(r.get("p_value")),
        "p_adj": "—" if role == "primary" else fmt_p(r.get("p_adjusted")),
        "d": "—"
        if is_missing(d)
        else (
            f"{fmt(d, 2)} ({fmt_ci(r.get('d_ci_low'), r.get('d_ci_high'), 2)})"
            + (f", {size_words(d)}" if size_words(d) else "")
        ),
        "n_i": fmt_n(r.get("n_intervention"), min_cell),
        "n_c": fmt_n(r.get("n_control"), min_cell),
        "converged": conv_txt,
        "suppressed": False,
    }


def _at(row: Mapping[str, Any], sentence: str) -> str:
    """Prefix a sentence with the timepoint it is about."""
    return f"At {tp_label(str(row['timepoint']))}, {sentence[:1].lower()}{sentence[1:]}"


def fmt_n(n: Any, min_cell: int) -> str:
    """The number of people behind a statistic (:func:`disclosure.n_label`)."""
    return n_label(n, min_cell)


def _emmeans_table(
    emm: pd.DataFrame,
    arms: Sequence[tuple[str, str, str]],
    timepoints: Sequence[str],
    min_cell: int,
) -> list[dict[str, Any]]:
    rows = []
    for label, name, _role in arms:
        cells = []
        for t in timepoints:
            r = emm[(emm["group"].astype(str) == label) & (emm["timepoint"].astype(str) == t)]
            if not len(r):
                cells.append({"mean": "—", "ci": "", "n": "—"})
                continue
            r = r.iloc[0]
            if suppressed(r["n"], min_cell):
                cells.append({"mean": STATISTIC_LABEL, "ci": "", "n": n_label(r["n"], min_cell)})
            else:
                cells.append(
                    {
                        "mean": fmt(r["mean"]),
                        "ci": fmt_ci(r["ci_low"], r["ci_high"]),
                        "n": fmt_int(r["n"]),
                    }
                )
        rows.append({"name": name[:1].upper() + name[1:], "cells": cells})
    return rows


def outcome_section(
    config: StudyConfig,
    instrument: str,
    scale: str,
    effects: pd.DataFrame,
    emmeans: pd.DataFrame,
    models: Sequence[Mapping[str, Any]],
    design: DesignInfo,
    arms: Sequence[tuple[str, str, str]],
    index: int,
) -> dict[str, Any]:
    """Everything the template shows for one outcome."""
    info: ScaleInfo = scale_info(config, instrument, scale)
    min_cell = config.analysis.min_cell_size
    level = f"{100 * (1 - config.analysis.alpha):g}%"
    tps = list(config.design.timepoints)
    primary = (instrument, scale) == (
        config.analysis.primary_instrument,
        config.analysis.primary_scale,
    )
    role = "primary" if primary else "secondary"
    main = main_effects(effects, instrument, scale)
    main = (
        main.assign(_o=main["timepoint"].map({t: i for i, t in enumerate(tps)})).sort_values(
            "_o", kind="mergesort"
        )
        if len(main)
        else main
    )
    rows = [_effect_row(r, min_cell, role) for r in main.to_dict("records")]
    emm = (
        emmeans[(emmeans["instrument"] == instrument) & (emmeans["scale"] == scale)]
        if len(emmeans)
        else emmeans
    )
    sentences = []
    model_notes = [
        m for m in models if m.get("instrument") == instrument and m.get("scale") == scale
    ]
    reason = failure_reason(model_notes, instrument, scale)
    all_failed = len(main) > 0 and all(failed(r) for r in main.to_dict("records"))
    if all_failed:
        sentences.append(failure_sentence(info.label, reason))
    for r in main.to_dict("records"):
        if failed(r):
            if not all_failed:
                sentences.append(
                    f"At {tp_label(str(r['timepoint']))} no effect is reported: the model did "
                    f"not converge ({reason})."
                )
            continue
        if _suppress_effect(r, min_cell):
            sentences.append(
                f"At {tp_label(str(r['timepoint']))} fewer than {min_cell} people were observed "
                "in an arm, so the estimate is not reported."
            )
        else:
            change = balint_change(emm, arms[0][0], tps[0], str(r["timepoint"]), min_cell)
            sentences.append(effect_sentence(r, info, design, tps[0], level, change))
    figure, fig_desc, n_hidden = None, "", 0
    if len(emm):
        shown = emm[~emm["n"].map(lambda n: suppressed(n, min_cell))]
        n_hidden = len(emm) - len(shown)
        figure, fig_desc = emmeans_svg(
            shown, timepoints=tps, arms=arms, info=info, fig_id=f"{index}", level=level
        )
    last = main.to_dict("records")[-1] if len(main) else None
    return {
        "id": f"outcome-{instrument}-{scale}".replace("_", "-").replace(".", "-"),
        "info": info,
        "title": f"{info.label} ({info.short_instrument})",
        "role": role,
        "rows": rows,
        "failed": [r["timepoint"] for r in rows if r["estimate"] == "not reported"],
        "reason": reason,
        "sentences": sentences,
        "certainty": _at(last, certainty_sentence(last, info, design, level))
        if last is not None and not _suppress_effect(last, min_cell) and not failed(last)
        else "",
        "emmeans": _emmeans_table(emm, arms, tps, min_cell) if len(emm) else [],
        "descriptive": [],
        "note": "",
        "timepoints": [tp_label(t) for t in tps],
        "figure": figure,
        "figure_desc": fig_desc,
        "n_hidden": n_hidden,
        "models": model_notes,
        "df_method": str(main["df_method"].iloc[0])
        if len(main) and "df_method" in main and not is_missing(main["df_method"].iloc[0])
        else "",
        "level": level,
    }


def balint_change(emm: pd.DataFrame, label: str, base: str, t: str, min_cell: int) -> float | None:
    """The intervention arm's estimated change from ``base`` to ``t`` (None if not reportable)."""
    if not len(emm):
        return None
    vals = []
    for tp in (base, t):
        r = emm[(emm["group"].astype(str) == label) & (emm["timepoint"].astype(str) == tp)]
        if not len(r) or suppressed(r.iloc[0]["n"], min_cell) or is_missing(r.iloc[0]["mean"]):
            return None
        vals.append(float(r.iloc[0]["mean"]))
    return vals[1] - vals[0]


def means_line(
    emm: pd.DataFrame, arms: Sequence[tuple[str, str, str]], base: str, last: str, min_cell: int
) -> str:
    """ "Estimated average scores: Balint group 27.0 at pre → 23.0 at follow-up; …" (or "")."""
    parts = []
    for label, name, _ in arms:
        vals = []
        for t in (base, last):
            r = emm[(emm["group"].astype(str) == label) & (emm["timepoint"].astype(str) == t)]
            if not len(r) or suppressed(r.iloc[0]["n"], min_cell):
                return ""
            vals.append(fmt(r.iloc[0]["mean"]))
        parts.append(f"{name} {vals[0]} at {tp_label(base)} → {vals[1]} at {tp_label(last)}")
    return ("Estimated average scores: " + "; ".join(parts) + ".") if parts else ""
