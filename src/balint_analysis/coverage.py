"""Does every arm and every wave keep participants after quarantine? If not, say why in one line.

Validation quarantines rows one by one; when that empties a whole group or timepoint (a label
that differs from the config only in case, every follow-up code typed in lower case, an event
name not mapped), the analysis cannot run. :func:`coverage_problems` explains such a case as
one line naming the cause and the fix, before the model stage would fail on it;
:func:`near_misses` names the smaller versions of the same slips (``balint-analysis check``).
Participant codes are never printed; labels only when they are safe to show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pandas as pd

from balint_analysis.config import StudyConfig
from balint_analysis.privacy import WITHHELD, shown_value
from balint_analysis.validate.accounting import ROW_EXCLUDED, basic_reason

__all__ = ["coverage_problems", "linkage", "near_misses", "row_reasons"]

NOT_IN_ROSTER = "participant not in the roster"


def _norm(text: object) -> str:
    """Case and spacing ignored: ``' Balint  Group'`` ~ ``'balint group'``."""
    return " ".join(str(text).split()).casefold()


def _label(value: object) -> str:
    """A label found in the data as :func:`~balint_analysis.privacy.shown_value` allows: a
    platform code (``screening_arm_1``) quoted, anything that could name a person described
    (near misses of a configured label are shown as they are: they differ from it only in
    case or spacing)."""
    shown = shown_value(value)
    return shown if shown.startswith(WITHHELD) else f"'{shown}'"


def _shown(counts: Iterable[tuple[str, int]], unit: str = " rows") -> str:
    """Labels with their row counts; a value seen in fewer than 3 rows is not a group or wave
    label but more likely a participant code or a typo, so it is counted, never shown."""
    counts = list(counts)
    common = [(v, n) for v, n in counts if n >= 3]
    rare = len(counts) - len(common)
    parts = [f"{_label(v)} ({n}{unit})" for v, n in common[:4]]
    if len(common) > 4:
        parts.append(f"{len(common) - 4} more")
    if rare:
        parts.append(f"{rare} other value{'s' * (rare != 1)} in fewer than 3 rows each (not "
                     "shown: they may be participant codes)")
    return ", ".join(parts)


def _slip(found: str, wanted: str) -> str:
    if found.strip() == wanted.strip():
        return "differs only in spaces around it"
    if found.casefold() == wanted.casefold():
        return "differs only in upper/lower case (labels are case-sensitive)"
    return "differs only in case and spacing"


def row_reasons(rejected: pd.DataFrame) -> pd.DataFrame:
    """One most-basic exclusion reason per rejected (source, row)."""
    rows = rejected[rejected["action"] == ROW_EXCLUDED]
    base, rank = basic_reason(rows["reason"])
    out = rows.assign(reason=base, _rank=rank).sort_values(["source", "row", "_rank"])
    return out.drop_duplicates(["source", "row"])[["source", "row", "reason"]]


def _reason_summary(reasons: Iterable[str]) -> str:
    counts = Counter(reasons).most_common(3)
    return "; ".join(f"{n} × {r}" for r, n in counts)


def _group_labels(responses: pd.DataFrame, roster: pd.DataFrame | None) -> tuple[Counter, str]:
    if roster is not None:
        return Counter(roster["group"].dropna().astype(str)), "the roster's group column"
    values = responses["group"].dropna().astype(str) if "group" in responses else []
    return Counter(values), "the exports' group column"


def _codes_differ_in_case(ids: pd.Series, known: set[str]) -> int:
    """How many of ``ids`` match a known code once case and spacing are ignored."""
    folded = {_norm(k) for k in known}
    unknown = ids.dropna().astype(str)
    unknown = unknown[~unknown.isin(known)]
    return int(unknown.map(_norm).isin(folded).sum())


def _empty_group(label: str, key: str, responses: pd.DataFrame, roster: pd.DataFrame | None,
                 reasons: pd.DataFrame) -> str:  # fmt: skip
    head = f"no participant of group '{label}' remains after validation"
    labels, where = _group_labels(responses, roster)
    slips = [v for v in labels if v != label and _norm(v) == _norm(label)]
    if slips:
        found = max(slips, key=lambda v: labels[v])
        return (f"{head}: {where} says '{found}' in {labels[found]} rows, which "
                f"{_slip(found, label)}; set {key}: {found!r} (or correct the data).")  # fmt: skip
    if labels[label] == 0:
        shown = _shown(labels.most_common())
        return (f"{head}: {where} never says '{label}'" + (f"; it holds {shown}" if shown
                else " (it is empty)") + f". Set {key} to the label the data use.")  # fmt: skip
    if roster is not None:
        members = set(roster.loc[roster["group"] == label, "participant_id"].dropna().astype(str))
        mine = responses[responses["participant_id"].isin(members)]
        rejected = reasons.merge(mine[["source", "row"]], on=["source", "row"])
        unmatched = reasons[reasons["reason"] == NOT_IN_ROSTER].merge(
            responses[["source", "row", "participant_id"]], on=["source", "row"]
        )
        folded = _codes_differ_in_case(unmatched["participant_id"], members)
        detail = f"the roster lists {labels[label]} of them"
        if len(mine):
            detail += (f"; all {len(mine)} of their responses were rejected: "
                       f"{_reason_summary(rejected['reason'])}")  # fmt: skip
        else:
            detail += ", but no response carries any of their codes"
        if folded:
            return (f"{head}: {detail}; {folded} rejected responses match their codes once "
                    "upper/lower case and spaces are ignored — correct the codes, or set "
                    "validation.code_matching.method: tolerant.")  # fmt: skip
        return f"{head}: {detail}."
    mine = responses[responses["group"] == label]
    rejected = reasons.merge(mine[["source", "row"]], on=["source", "row"])
    return (f"{head}: all {len(mine)} of its responses were rejected: "
            f"{_reason_summary(rejected['reason'])}.")  # fmt: skip


def _feeds(config: StudyConfig, timepoint: str) -> list:
    return [e for e in config.exports
            if e.timepoint == timepoint or timepoint in e.timepoint_values.values()]  # fmt: skip


def _empty_timepoint(timepoint: str, config: StudyConfig, responses: pd.DataFrame,
                     roster: pd.DataFrame | None, reasons: pd.DataFrame) -> str:  # fmt: skip
    head = f"no response remains for timepoint '{timepoint}' after validation"
    feeds = _feeds(config, timepoint)
    if not feeds:
        return (f"{head}: no export is configured for it. Add an export with `timepoint: "
                f"{timepoint}` (or a timepoint_values entry), or remove it from "
                "design.timepoints if that wave has not been collected yet.")  # fmt: skip
    design = set(config.design.timepoints)
    for spec in feeds:
        if spec.timepoint:
            continue
        keys = [k for k, v in spec.timepoint_values.items() if v == timepoint]
        rows = responses[(responses["source"] == spec.path) & ~responses["timepoint"].isin(design)]
        values = Counter(rows["timepoint"].dropna().astype(str))
        for key in keys:
            slips = [v for v in values if _norm(v) == _norm(key)]
            if slips:
                found = max(slips, key=lambda v: values[v])
                return (f"{head}: {spec.path} column '{spec.timepoint_column}' says "
                        f"'{found}' in {values[found]} rows, but timepoint_values maps "
                        f"'{key}', which {_slip(found, key)}; map {found!r} to "
                        f"{timepoint}.")  # fmt: skip
        mapped = (responses["source"] == spec.path) & (responses["timepoint"] == timepoint)
        if values and not mapped.any():
            shown = _shown(values.most_common(), "")
            return (f"{head}: no row of {spec.path} has a '{spec.timepoint_column}' value that "
                    f"timepoint_values maps to it; the column holds {shown}.")  # fmt: skip
    mine = responses[responses["timepoint"] == timepoint]
    if mine.empty:
        files = ", ".join(e.path for e in feeds)
        return f"{head}: {files} holds no response for it."
    rejected = reasons.merge(mine[["source", "row"]], on=["source", "row"])
    message = (f"{head}: all {len(mine)} of its responses were rejected: "
               f"{_reason_summary(rejected['reason'])}")  # fmt: skip
    if roster is not None and (rejected["reason"] == NOT_IN_ROSTER).any():
        known = set(roster["participant_id"].dropna().astype(str))
        folded = _codes_differ_in_case(mine["participant_id"], known)
        if folded:
            return (f"{message}; {folded} of their codes match a roster code once upper/lower "
                    "case and spaces are ignored — correct the codes, or set "
                    "validation.code_matching.method: tolerant.")  # fmt: skip
    return message + "."


def linkage(valid: pd.DataFrame, config: StudyConfig) -> dict[str, tuple[int, int]]:
    """Per group: participants with a baseline answer, and how many of them answered at a
    later timepoint too (the ones whose change can be measured)."""
    base = config.design.baseline
    out = {}
    for group in config.design.groups:
        mine = valid[valid["group"] == group]
        # Distinct ids by hash table (a Python set of a million ids took ~5 s to fill).
        at_base = pd.Series(mine.loc[mine["timepoint"] == base, "participant_id"].unique())
        later = mine.loc[mine["timepoint"] != base, "participant_id"]
        out[group] = (len(at_base), int(at_base.isin(later).sum()))
    return out


def coverage_problems(valid: pd.DataFrame, responses: pd.DataFrame, roster: pd.DataFrame | None,
                      rejected: pd.DataFrame, config: StudyConfig) -> list[str]:  # fmt: skip
    """One line per group or timepoint of the design that no accepted response covers.

    Parameters
    ----------
    valid
        Accepted responses (``participant_id``, ``group``, ``timepoint``).
    responses, roster
        The ingested responses (``source``, ``row``, ``participant_id``, ``timepoint``, and
        ``group`` without a roster) and roster (``participant_id``, ``group``), as read.
    rejected
        ``rejected.csv`` rows (``source``, ``row``, ``reason``, ``action``).
    """
    reasons = row_reasons(rejected)
    design = config.design
    out = []
    roles = [(design.intervention, "design.intervention"), (design.control, "design.control")]
    for label, key in roles:
        if label is not None and not (valid["group"] == label).any():
            out.append(_empty_group(label, key, responses, roster, reasons))
    for timepoint in design.timepoints:
        if not (valid["timepoint"] == timepoint).any():
            out.append(_empty_timepoint(timepoint, config, responses, roster, reasons))
    if not out and not any(n for _, n in linkage(valid, config).values()):
        later = _folded_overlap(valid, design.baseline)
        hint = (f" {later} later codes match a baseline code once upper/lower case and spaces "
                "are ignored: set validation.code_matching.method: tolerant, or correct them."
                if later else " Check that exports[].id names the same code in every file.")
        out.append("no participant answered both at baseline and at a later timepoint, so no "
                   "change can be measured: the participant codes do not link across the "
                   f"waves.{hint}")  # fmt: skip
    return out


def _folded_overlap(valid: pd.DataFrame, baseline: str) -> int:
    """Later codes that are no baseline code but equal one once case and spaces are ignored."""
    base = set(valid.loc[valid["timepoint"] == baseline, "participant_id"].astype(str))
    later = valid.loc[valid["timepoint"] != baseline, "participant_id"].astype(str)
    return _codes_differ_in_case(later.drop_duplicates(), base)


def near_misses(responses: pd.DataFrame, roster: pd.DataFrame | None,
                config: StudyConfig) -> list[str]:  # fmt: skip
    """Labels and codes that match the config only once case and spacing are ignored."""
    design = config.design
    out = []
    labels, where = _group_labels(responses, roster)
    for label, key in ((design.intervention, "design.intervention"),
                       (design.control, "design.control")):  # fmt: skip
        if label is None:
            continue
        for found, n in labels.items():
            if found != label and _norm(found) == _norm(label):
                says = "row says" if n == 1 else "rows say"
                out.append(f"{where}: {n} {says} '{found}', which {_slip(found, label)} "
                           f"from {key} '{label}'; those rows are rejected.")  # fmt: skip
    folded = {_norm(g) for g in design.groups}
    others = [(v, n) for v, n in labels.items() if _norm(v) not in folded]
    if others:
        shown = _shown(sorted(others, key=lambda vn: -vn[1]), "")
        out.append(f"{where}: labels matching no configured group: {shown}; those rows are "
                   "rejected.")  # fmt: skip
    if roster is None:
        base = responses["timepoint"] == design.baseline
        known = set(responses.loc[base, "participant_id"].dropna().astype(str))
        later = responses.loc[~base, "participant_id"].dropna().astype(str).drop_duplicates()
        folded = _codes_differ_in_case(later, known)
        if folded:
            codes = "code matches" if folded == 1 else "codes match"
            out.append(f"{folded} later participant {codes} a baseline code only once "
                       "upper/lower case and spaces are ignored, so those people are not linked "
                       "across waves (set validation.code_matching.method: tolerant to link "
                       "them).")  # fmt: skip
    if roster is not None:
        known = set(roster["participant_id"].dropna().astype(str))
        for source, part in responses.groupby("source", sort=False):
            folded = _codes_differ_in_case(part["participant_id"], known)
            if folded:
                codes = "code matches" if folded == 1 else "codes match"
                out.append(f"{source}: {folded} participant {codes} a roster code only once "
                           "upper/lower case and spaces are ignored (set validation."
                           "code_matching.method: tolerant to link them).")  # fmt: skip
    return out
