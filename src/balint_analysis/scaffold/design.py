"""Guess the study design from the exports: participant ids, timepoints, groups, the roster.

Every guess comes with its evidence (counts, column names, file names, dates; never a
participant code). What cannot be decided from the files becomes a ``TODO`` saying what to
choose; two equally good candidates are never chosen between silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from balint_analysis.scaffold.scan import FileScan

__all__ = ["Decision", "choose_ids", "group_column", "roster_columns", "timepoint_of"]

_ID_NAME = re.compile(
    r"(^|[^a-z])(id|code|kod|pid|sgic|pcode|token|participant|record_id|study_id|"
    r"externalreference|external data reference|externaldatareference|personal code|"
    r"study code|identifier|pseudonym)($|[^a-z])", re.IGNORECASE)  # fmt: skip
#: Per-response ids of the platforms: never a participant across waves.
RESPONSE_IDS = {"responseid", "response id", "_recordid", "id", "respondent id", "collector id",
                "case", "serial", "ref", "seed", "responseset"}  # fmt: skip
_GROUP_NAME = re.compile(
    r"^(group|grupa|gruppe|arm|condition|allocation|treatment|intervention|study group|"
    r"study_arm|arm_name)$", re.IGNORECASE)  # fmt: skip
_CLUSTER_NAME = re.compile(r"(balint.?group|bg|cluster|group.?name|leader|team)", re.IGNORECASE)
_SESSIONS_NAME = re.compile(r"(session|attend|dose|sitzung|spotkan)", re.IGNORECASE)
_WAVE_NAME = re.compile(r"^(wave|timepoint|time|fala|occasion|visit|questnnr|phase)$",
                        re.IGNORECASE)  # fmt: skip
#: File-name words → (order class, timepoint label).
_WAVE_WORDS = [
    (0, r"baseline|pre|before|t0|start|initial|wave.?1|w1|intake"),
    (1, r"post|end|after|t1|final|wave.?2|w2|exit"),
    (2, r"follow.?up|fu|t2|later|wave.?3|w3|\d+.?(m|mo|months?)"),
]


@dataclass
class Decision:
    """A guessed value with the evidence for it, or a TODO saying what to choose."""

    value: object
    evidence: str
    todo: str = ""
    extra: dict = field(default_factory=dict)


def _distinct(scan: FileScan, col: str) -> set[str]:
    return scan.distinct(col)


def _id_candidates(scan: FileScan, items: set[str]) -> list[str]:
    out = []
    for col in scan.columns:
        st = scan.stats[col]
        if col in items or col.strip().lower() in RESPONSE_IDS or st.filled == 0:
            continue
        text = f"{col} {scan.raw.labels.get(col, '')}"
        if st.numeric > 0.5 and not _ID_NAME.search(text):
            continue  # a numeric column must be named like an id to count
        if st.distinct >= 0.5 * st.filled and (_ID_NAME.search(text) or st.distinct >= 5):
            out.append(col)
    return out


def choose_ids(scans: list[FileScan], items: dict[str, set[str]]) -> dict[str, Decision]:
    """The participant-code column of every export (and roster): the columns whose codes
    recur across the files; by name where there is only one file."""
    candidates = {s.path: _id_candidates(s, items.get(s.path, set())) for s in scans}
    values = {(s.path, c): _distinct(s, c) for s in scans for c in candidates[s.path]}
    out: dict[str, Decision] = {}
    for scan in scans:
        scored = []
        for col in candidates[scan.path]:
            mine = values[(scan.path, col)]
            best, where = 0.0, ""
            for other in scans:
                if other.path == scan.path:
                    continue
                for oc in candidates[other.path]:
                    theirs = values[(other.path, oc)]
                    shared = len(mine & theirs)
                    share = shared / max(1, min(len(mine), len(theirs)))
                    if share > best:
                        best, where = share, f"{shared} of them also in {other.path} column '{oc}'"
            named = bool(_ID_NAME.search(f"{col} {scan.raw.labels.get(col, '')}"))
            scored.append((round(best, 2), named, col, where, len(mine)))
        scored.sort(reverse=True)
        if not scored:
            out[scan.path] = Decision(None, "", todo="name the column holding the participant "
                                      "code (no column looks like one)")  # fmt: skip
            continue
        top = scored[0]
        tied = [s for s in scored[1:] if s[:2] == top[:2]]
        evidence = f"{top[4]} distinct codes" + (f", {top[3]}" if top[3] else "")
        if tied and top[0] < 0.5:
            names = ", ".join(f"'{s[2]}'" for s in [top, *tied])
            out[scan.path] = Decision(None, evidence, todo=f"which column holds the participant "
                                      f"code: {names}?")  # fmt: skip
        else:
            out[scan.path] = Decision(top[2], evidence)
    return out


def _label(word: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", word.lower()) or "wave"


def timepoint_of(scan: FileScan) -> Decision:
    """A fixed timepoint from the file name, or a wave/event column with its values."""
    if "redcap_event_name" in scan.columns:
        levels = scan.stats["redcap_event_name"].levels or {
            v: 0 for v in scan.values("redcap_event_name").unique()}  # fmt: skip
        return Decision(("column", "redcap_event_name", sorted(levels)),
                        f"REDCap events: {', '.join(sorted(levels))}")  # fmt: skip
    for col in scan.columns:
        st = scan.stats[col]
        if _WAVE_NAME.match(col.strip()) and 1 < st.distinct <= 6:
            levels = st.levels or {v: 0 for v in scan.values(col).unique()}
            return Decision(("column", col, sorted(levels)),
                            f"column '{col}' holds {', '.join(sorted(levels))}")  # fmt: skip
    name = scan.path.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
    for order, pattern in _WAVE_WORDS:
        m = re.search(rf"(^|[^a-z0-9])({pattern})($|[^a-z0-9])", name)
        if m:
            return Decision(("fixed", _label(m.group(2)), order),
                            f"file name word '{m.group(2)}'")  # fmt: skip
    return Decision(None, "", todo=f"which timepoint are the responses of {scan.path}? (no "
                    "wave column and no pre/post/follow-up word in the file name)")  # fmt: skip


def group_column(scan: FileScan) -> str | None:
    """A column holding the arm: named like one, or a few labels one of which says Balint."""
    for col in scan.columns:
        st = scan.stats[col]
        if not 1 <= st.distinct <= 4 or not st.levels:
            continue
        says_balint = any("balint" in v.lower() for v in st.levels)
        if _GROUP_NAME.match(col.strip()) or says_balint:
            return col
    return None


def roster_columns(scan: FileScan, id_col: str) -> dict[str, str | None]:
    """The roster's group, Balint-group (cluster) and sessions columns."""
    group = group_column(scan)
    cluster = sessions = None
    for col in scan.columns:
        if col in (id_col, group):
            continue
        st = scan.stats[col]
        if cluster is None and _CLUSTER_NAME.search(col) and st.filled < len(scan.raw.data):
            cluster = col
        elif sessions is None and _SESSIONS_NAME.search(col) and st.numeric > 0.9:
            sessions = col
    return {"group": group, "cluster": cluster, "sessions": sessions}


def submission_dates(scan: FileScan) -> pd.Series:
    """Parsed submission times of an export (for ordering waves and describing them)."""
    assert scan.raw is not None
    return pd.to_datetime(scan.raw.data["submitted_at"], errors="coerce", format="mixed")
