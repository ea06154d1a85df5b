"""Guess the study design from the exports: participant ids, timepoints, groups, the roster.

Every guess comes with its evidence (counts, column names, file names, dates; never a
participant code). What cannot be decided from the files becomes a ``TODO`` saying what to
choose; two equally good candidates are never chosen between silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from balint_analysis.identifiers import classify_dropped_columns
from balint_analysis.privacy import shown_value
from balint_analysis.scaffold.scan import FileScan

__all__ = ["STANDARD_LABELS", "Decision", "choose_ids", "group_column", "roster_columns",
           "timepoint_of"]

_ID_NAME = re.compile(
    r"(^|[^a-z])(id|code|kod|pid|sgic|pcode|token|participant|record_id|study_id|"
    r"externalreference|external data reference|externaldatareference|personal code|"
    r"study code|identifier|pseudonym)($|[^a-z])", re.IGNORECASE)  # fmt: skip
#: Per-response ids and metadata of the platforms: never a participant across waves.
RESPONSE_IDS = {"responseid", "response id", "_recordid", "id", "respondent id", "collector id",
                "case", "serial", "ref", "seed", "responseset", "questnnr", "mode", "lastpage",
                "maxpage", "finished", "q_viewer", "missing", "missrel", "time_rsi",
                "deg_time", "mailsent", "status", "progress", "userlanguage",
                "distributionchannel", "startlanguage", "last page"}  # fmt: skip
_TIME_NAME = re.compile(r"(date|time|started|submitted|stamp|lastdata)", re.IGNORECASE)
_TIME_VALUE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./]\d{1,2}[./]\d{2,4})"
                         r"([ T]\d{1,2}:\d{2}(:\d{2})?.*)?$")
_GROUP_NAME = re.compile(
    r"^(group|grupa|gruppe|arm|condition|allocation|treatment|intervention|study group|"
    r"study_arm|arm_name)$", re.IGNORECASE)  # fmt: skip
_CLUSTER_NAME = re.compile(r"(balint.?group|bg|cluster|group.?name|leader|team)", re.IGNORECASE)
_SESSIONS_NAME = re.compile(r"(session|attend|dose|sitzung|spotkan)", re.IGNORECASE)
_WAVE_NAME = re.compile(r"^(wave|timepoint|time|fala|occasion|visit|questnnr|phase)$",
                        re.IGNORECASE)  # fmt: skip
#: File-name and wave words → order class (0 baseline, 1 end, 2 follow-up).
_WAVE_WORDS = [
    (0, r"baseline|pre|before|t0|start|initial|wave.?1|w1|intake"),
    (1, r"post|end|after|t1|final|wave.?2|w2|exit"),
    (2, r"follow.?up|fu|t2|later|wave.?3|w3|\d+.?(m|mo|months?)"),
]
#: Wave values that are not waves: the staff's own test runs.
_NOT_A_WAVE = re.compile(r"^(pilot|test|pretest|debug|demo|admin|trial)\b", re.IGNORECASE)
#: The usual timepoint label of each wave class.
STANDARD_LABELS = {0: "pre", 1: "post", 2: "followup"}


def wave_class(text: str) -> int | None:
    """0/1/2 when ``text`` contains a baseline / end / follow-up word (first match wins)."""
    low = text.lower()
    for order, pattern in _WAVE_WORDS:
        if re.search(rf"(^|[^a-z0-9])({pattern})($|[^a-z0-9])", low):
            return order
    return None


def order_waves(levels: list[str], dates: dict[str, object]) -> tuple[list[str], list[str]]:
    """Wave values in time order (their words, then a number in them, then the median date of
    their responses), and the values left out as staff test runs (pilot, test, …)."""
    tests = [v for v in levels if _NOT_A_WAVE.match(v.strip())]

    def key(value: str) -> tuple:
        cls = wave_class(value)
        number = re.search(r"\d+", value)
        return (cls if cls is not None else 9, int(number.group()) if number else 10**9,
                str(dates.get(value, "")), value)  # fmt: skip

    return sorted((v for v in levels if v not in tests), key=key), tests


@dataclass
class Decision:
    """A guessed value with the evidence for it, or a TODO saying what to choose."""

    value: object
    evidence: str
    todo: str = ""
    extra: dict = field(default_factory=dict)


def _looks_like_times(scan: FileScan, col: str) -> bool:
    if _TIME_NAME.search(col):
        return True
    sample = list(scan.distinct(col))[:50]
    return bool(sample) and sum(bool(_TIME_VALUE.match(v)) for v in sample) > 0.8 * len(sample)


def _id_candidates(scan: FileScan, items: set[str]) -> list[str]:
    """Columns that could hold the participant code: mostly distinct values (one row per
    person and wave; REDCap repeats the record id on each event), no timestamps, no platform
    metadata, a number column only when it is named like an id."""
    out = []
    record_id = scan.columns[0] if scan.format == "redcap" and scan.columns else None
    for col in scan.columns:
        st = scan.stats[col]
        if col in items or col.strip().lower() in RESPONSE_IDS or st.filled == 0:
            continue
        if re.fullmatch(r"TIME\d+", col.strip()) or _looks_like_times(scan, col):
            continue
        text = f"{col} {scan.raw.labels.get(col, '')}"
        if col == record_id:
            out.append(col)
            continue
        if st.numeric > 0.5 and not _ID_NAME.search(text):
            continue  # a numeric column must be named like an id to count
        if st.distinct >= max(2, 0.3 * st.filled):
            out.append(col)
    return out


def choose_ids(scans: list[FileScan], items: dict[str, set[str]]) -> dict[str, Decision]:
    """The participant-code column of every export (and roster): the columns whose codes
    recur across the files; by name where there is only one file."""
    candidates = {s.path: _id_candidates(s, items.get(s.path, set())) for s in scans}
    values = {(s.path, c): s.distinct(c) for s in scans for c in candidates[s.path]}
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
            # Codes shared with another file, a code-like name, or many distinct values.
            if best >= 0.5 or named or len(mine) >= 5:
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


def wave_column(scan: FileScan) -> str | None:
    """A column saying which wave a response belongs to: named like one (``wave``,
    ``QUESTNNR``, …) or whose few answers are wave words ("Before the first session")."""
    for col in scan.columns:
        st = scan.stats[col]
        if not 1 < st.distinct <= 6:
            continue
        if _WAVE_NAME.match(col.strip()):
            return col
        classes = [wave_class(v) for v in st.levels]
        if st.levels and None not in classes and len(set(classes)) == len(classes):
            return col
    return None


def timepoint_of(scan: FileScan) -> Decision:
    """A fixed timepoint from the file name, or a wave/event column with its values in time
    order (REDCap events in the order the project lists them, which the export follows)."""
    if "redcap_event_name" in scan.columns:
        # Only names REDCap generates (``post_arm_1``) become timepoints and evidence: a name
        # or a date typed into the event cell must not reach the config.
        found = list(dict.fromkeys(scan.values("redcap_event_name")))
        events = [e for e in found if shown_value(e) == e]
        other = (f"; {len(found) - len(events)} other value(s) left out (not REDCap event "
                 "names; the run rejects their rows)" if len(events) < len(found) else "")
        return Decision(("column", "redcap_event_name", events),
                        f"REDCap events, in the project's order: {', '.join(events)}{other}")
    if "redcap_repeat_instance" in scan.columns and scan.raw.forms and scan.raw.forms.repeating:
        instances = sorted(scan.distinct("redcap_repeat_instance"), key=lambda v: (len(v), v))
        return Decision(("column", "redcap_repeat_instance", instances),
                        "REDCap repeating instrument: each repeat instance is a wave")  # fmt: skip
    col = wave_column(scan)
    if col is not None:
        dates = submission_dates(scan).groupby(scan.raw.data[col].str.strip()).median()
        levels, tests = order_waves(list(scan.stats[col].levels or scan.distinct(col)),
                                    dates.to_dict())  # fmt: skip
        note = f"; left out as test runs: {', '.join(tests)}" if tests else ""
        return Decision(("column", col, levels),
                        f"column '{col}' says the wave, in time order: {', '.join(levels)}{note}")
    name = scan.path.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
    for order, pattern in _WAVE_WORDS:
        m = re.search(rf"(^|[^a-z0-9])({pattern})($|[^a-z0-9])", name)
        if m:
            return Decision(("fixed", _label(m.group(2)), order),
                            f"file name word '{m.group(2)}'")  # fmt: skip
    return Decision(None, "", todo=f"which timepoint are the responses of {scan.path}? (no "
                    "wave column and no pre/post/follow-up word in the file name)")  # fmt: skip


def group_column(scan: FileScan) -> str | None:
    """A column holding the arm: named like one, else a column every row answers with one of
    a few labels, each in 3 or more rows, one of which says Balint. Never the wave column
    (whose answers may say "Balint session" too) and never an identifier or free-text column,
    whose typed answers must not become labels in the config."""
    waves = wave_column(scan)
    rows = len(scan.raw.data) if scan.raw is not None else 0
    candidates = []
    for col in scan.columns:
        st = scan.stats[col]
        if col == waves or not 1 <= st.distinct <= 4 or not st.levels:
            continue
        dropped = classify_dropped_columns([col])
        if dropped["identifier"] or dropped["free_text"]:
            continue
        if _GROUP_NAME.match(col.strip()):
            return col
        if (any("balint" in v.lower() for v in st.levels) and min(st.levels.values()) >= 3
                and st.filled >= 0.5 * rows):  # fmt: skip
            candidates.append(col)
    return candidates[0] if candidates else None


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
