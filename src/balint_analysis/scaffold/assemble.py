"""Assemble ``config/<cohort>.yaml`` from the scans of a folder of raw exports.

:func:`scaffold_config` decides what the files show (the package docstring,
:mod:`balint_analysis.scaffold`, describes the steps); :func:`write_scaffold` writes the result.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from balint_analysis.config_schema import todo_keys
from balint_analysis.errors import InputError
from balint_analysis.instruments import load_instrument
from balint_analysis.scaffold.emit import Commented, emit
from balint_analysis.scaffold.guess_design import (
    STANDARD_LABELS,
    Decision,
    choose_ids,
    group_column,
    roster_columns,
    submission_dates,
    timepoint_of,
    wave_class,
)
from balint_analysis.scaffold.recognise import Match, match_blocks
from balint_analysis.scaffold.scan import FileScan, scan_folder

__all__ = ["Scaffold", "scaffold_config", "write_scaffold"]

#: The usual primary outcome of each burnout instrument, in order of preference.
PRIMARY = [("mbi_hss", "emotional_exhaustion"), ("mbi_hss_mp", "emotional_exhaustion"),
           ("mbi_gs", "exhaustion"), ("cbi", "work"), ("olbi", "exhaustion"),
           ("bat12", "total"), ("proqol5", "burnout")]  # fmt: skip
_STANDARD_WAVES = {2: ["pre", "post"], 3: ["pre", "post", "followup"]}


@dataclass
class Scaffold:
    """The config ``init`` writes, its text, and what is left to decide."""

    config: dict[str, Any]
    text: str
    todos: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _todo(what: str) -> str:
    return f"TODO: {what}"


def _value(raw: Any) -> Any:
    return raw.value if isinstance(raw, Commented) else raw


def _plain(node: Any) -> Any:
    """The config without comments (what YAML will load)."""
    node = _value(node)
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_") or "wave"


def _questionnaires(scans: list[FileScan]) -> tuple[dict[str, list[Match]], list[FileScan]]:
    found, others = {}, []
    for scan in scans:
        if scan.role != "export":
            continue
        matches = match_blocks(scan)
        if matches:
            found[scan.path] = matches
        else:
            others.append(scan)
    return found, others


def _instrument_order(found: dict[str, list[Match]], notes: list[str]) -> list[str]:
    counts = Counter(i for ms in found.values() for i in dict.fromkeys(m.instrument for m in ms))
    everywhere = [i for i, n in counts.items() if n == len(found)]
    for inst, n in counts.items():
        if n < len(found):
            notes.append(f"{inst} was found in {n} of {len(found)} exports; the analysis needs an "
                         "instrument in every export, so it was left out.")  # fmt: skip
    return everywhere


def _mapping(match: Match) -> Any:
    if match.block.template:
        return match.block.template
    return {i: c for i, c in enumerate(match.block.columns, start=1)}


def _timepoints(scans: dict[str, FileScan], found: dict[str, list[Match]],
                instruments: list[str]) -> tuple[list[str], dict[str, Any]]:  # fmt: skip
    """Design timepoints in order, and per export its timepoint setting (or a TODO)."""
    per_file: dict[str, Any] = {}
    classes: list[tuple[int, Any, str]] = []
    for path in found:
        scan = scans[path]
        decision = timepoint_of(scan)
        if scan.format == "surveymonkey" and decision.value is None:
            decision = _collector_waves(scan)
        if decision.value is None:
            per_file[path] = {"timepoint": Commented(_todo(decision.todo), "")}
            continue
        kind = decision.value[0]
        if kind == "fixed":
            _, label, order = decision.value
            classes.append((order, submission_dates(scan).median(), label))
            per_file[path] = {"timepoint": Commented(label, decision.evidence)}
        else:
            _, column, levels = decision.value
            values = decision.extra.get("labels") or _wave_values(scan, column, levels,
                                                                  found[path], instruments)
            for k, label in enumerate(dict.fromkeys(values.values())):
                cls = wave_class(label)
                classes.append((cls if cls is not None else k, k, label))
            per_file[path] = {"timepoint_column": Commented(column, decision.evidence),
                              "timepoint_values": values}  # fmt: skip
    ordered = sorted(classes, key=lambda c: (c[0], str(c[1])))  # class, then date or position
    labels = list(dict.fromkeys(c[2] for c in ordered))
    return labels, per_file


def _collector_waves(scan: FileScan) -> Decision:
    """SurveyMonkey: one collector per wave, ordered by the date of its responses."""
    col = "Collector ID"
    if col not in scan.columns or not 1 < scan.stats[col].distinct <= 6:
        return Decision(None, "", todo=f"which timepoint are the responses of {scan.path}?")
    collectors = scan.raw.data[col].str.strip()
    order = submission_dates(scan).groupby(collectors).median().sort_values()
    if order.isna().any():
        return Decision(None, "", todo=f"which timepoint are the responses of {scan.path}? (it "
                        "has several collectors, and some of them have no response dates)")
    waves = _STANDARD_WAVES.get(len(order)) or [f"t{k}" for k in range(1, len(order) + 1)]
    shown = "; ".join(f"collector {c}: from {d:%Y-%m-%d}" for c, d in order.items())
    return Decision(("column", col, list(order.index)),
                    f"one collector per wave, in date order ({shown})",
                    extra={"labels": dict(zip(order.index, waves, strict=True))})  # fmt: skip


def _wave_values(scan: FileScan, column: str, levels: list[str], matches: list[Match],
                 instruments: list[str]) -> dict[str, Any]:  # fmt: skip
    """Map each value of a wave/event column (``levels``, in time order) to a timepoint label;
    values without answers (REDCap events the questionnaire is not designated to) stay
    unmapped. Long answer texts ("Before the first Balint session") become pre/post/followup."""
    items = [c for m in matches if m.instrument in instruments for c in m.block.columns]
    data = scan.raw.data
    answered = (pd.Series((np.asarray(data[items], dtype=object) != "").any(axis=1),
                          index=data.index) if items else None)  # fmt: skip
    values = data[column].str.strip()
    kept = [v for v in levels if answered is None or answered[values == v].any()]
    out: dict[str, Any] = {}
    for k, level in enumerate(kept, start=1):
        label = re.sub(r"_arm_\d+$", "", level) if column == "redcap_event_name" else level
        if " " in label.strip() or len(label) > 20:
            cls = wave_class(label)
            label = STANDARD_LABELS.get(cls, f"t{k}")
        out[str(level)] = _label(label)
    return out


def _groups(scans: dict[str, FileScan], questionnaire: list[str], roster: FileScan | None,
            ) -> tuple[dict[str, Any], dict[str, str]]:  # fmt: skip
    """``design.intervention``/``control`` (with evidence) and each export's group column."""
    labels: Counter = Counter()
    columns: dict[str, str] = {}
    sources = [roster] if roster is not None else [scans[p] for p in questionnaire]
    for scan in sources:
        col = group_column(scan)
        if col is None:
            continue
        columns[scan.path] = col
        labels.update(scan.stats[col].levels)
    # A label in fewer than 3 rows may be a participant's typed answer: counted, never shown.
    rare = sum(1 for n in labels.values() if n < 3)
    labels = Counter({v: n for v, n in labels.items() if n >= 3})
    design: dict[str, Any] = {}
    shown = ", ".join(f"'{v}' ({n} rows)" for v, n in labels.most_common())
    if rare:
        shown += f"; {rare} other value{'s' if rare > 1 else ''} in fewer than 3 rows each"
    balint = [v for v in labels if "balint" in v.lower()]
    if not labels:
        design["intervention"] = Commented(_todo(
            "the Balint group's label; no group column was found: add one to the exports "
            "(exports[].group_column) or give a roster (participants)"), "")
        return design, columns
    if len(balint) == 1:
        design["intervention"] = Commented(balint[0], f"group labels seen: {shown}")
        rest = [v for v in labels if v != balint[0]]
        if len(rest) == 1:
            design["control"] = Commented(rest[0], "the other label")
        elif rest:
            design["control"] = Commented(_todo(f"the comparison group's label, one of {shown}"),
                                          "")  # fmt: skip
        else:
            design["intervention"].comment += "; single arm (no comparison group)"
    else:
        design["intervention"] = Commented(_todo(f"which label is the Balint group: {shown}"), "")
        if len(labels) == 2:
            design["control"] = Commented(_todo(f"the comparison group's label: {shown}"), "")
    return design, columns


def _roster(others: list[FileScan], ids: dict[str, Decision]) -> FileScan | None:
    """A file without questionnaire items, one row per participant, with a group column."""
    for scan in others:
        decision = ids.get(scan.path)
        if decision is None or decision.value is None or group_column(scan) is None:
            continue
        if scan.stats[decision.value].distinct == scan.stats[decision.value].filled:
            return scan
    return None


def _answer_codes(scan: FileScan, matches: list[Match]) -> Commented | None:
    coding = {m.coding for m in matches}
    if "positions" in coding or (scan.raw.coding == "positions" and "codes" in coding):
        why = {"sosci": "SoSci Survey stores answers as option positions 1..k",
               "surveymonkey": "SurveyMonkey numerical values are option positions 1..k"}.get(
            scan.format, "answers run 1..k where the instrument's codes start lower")  # fmt: skip
        spans = "; ".join(f"{m.instrument} {m.answers}" for m in matches)
        return Commented("position", f"{why} ({spans}); position k = the k-th answer value")
    if any(re.fullmatch(r"AO?\d+", v) for m in matches for c in m.block.columns[:3]
           for v in scan.distinct(c)):  # fmt: skip
        return Commented(_todo("answers are LimeSurvey answer codes (AO01 ...): 'position' if the "
                               "options were created in the instrument's order, else a map "
                               "{AO01: 0, ...}"), "")  # fmt: skip
    return None


def _attach_dictionaries(scans: list[FileScan]) -> dict[str, str]:
    """REDCap exports → the data dictionary in the folder that describes their fields (its
    field labels then help recognise the instruments)."""
    from balint_analysis.ingest.redcap import apply_dictionary

    found: dict[str, str] = {}
    for dictionary in (s for s in scans if s.role == "dictionary"):
        fields = {r[0].strip() for r in dictionary.table.records[1:] if r}
        for scan in scans:
            if scan.role != "export" or scan.raw is None or scan.raw.forms is None:
                continue
            names = {c.split("___", 1)[0] for c in scan.columns}
            if len(names & fields) >= 0.5 * len(names):
                scan.raw = apply_dictionary(scan.raw, dictionary.table)
                found[scan.path] = dictionary.path
    return found


def _per_instrument(matches: list[Match]) -> dict[str, list[Match]]:
    out: dict[str, list[Match]] = {}
    for m in matches:
        out.setdefault(m.instrument, []).append(m)
    return out


def _commented_mapping(matches: list[Match]) -> Commented:
    match = matches[0]
    if len(matches) > 1:  # two blocks of the same shape: never pick one silently
        blocks = " and ".join(f"{m.block.evidence} ({_mapping(m)!r})" for m in matches)
        return Commented(_todo(f"{len(matches)} blocks fit {match.instrument}: {blocks}; map the "
                               "one that holds it"), "")  # fmt: skip
    evidence = f"{match.block.evidence}, {match.answers}"
    if not match.named:
        evidence += (" — recognised by its number of items and answers only (no instrument name "
                     "in the file): check it is the questionnaire administered")
    if match.alternatives:
        return Commented(_todo(f"{evidence} fit {match.instrument} and "
                               f"{', '.join(match.alternatives)}: keep the instrument that was "
                               f"administered, mapped to {_mapping(match)!r}"), "")  # fmt: skip
    return Commented(_mapping(match), evidence)


def _wave_rank(setting: dict[str, Any], labels: list[str]) -> int:
    """Position of an export's (first) timepoint in the design, so the baseline comes first."""
    if "timepoint" in setting:
        value = _value(setting["timepoint"])
        return labels.index(value) if value in labels else len(labels)
    mapped = [labels.index(v) for v in setting.get("timepoint_values", {}).values() if v in labels]
    return min(mapped, default=len(labels))


def _format(scan: FileScan) -> str:
    if scan.format != "generic":
        return scan.format
    return {"xlsx": "excel", "sav": "spss"}.get(scan.table.container, "generic")


def scaffold_config(folder: str | Path, project: str | Path = ".",
                    cohort: str | None = None) -> Scaffold:  # fmt: skip
    """Read the exports in ``folder`` and assemble a config for them (not written)."""
    folder = Path(folder)
    name = cohort or folder.resolve().name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise InputError(f"cohort name '{name}': use letters, digits, '-' and '_' (--cohort).")
    scans_list = scan_folder(folder, project)
    dictionaries = _attach_dictionaries(scans_list)
    scans = {s.path: s for s in scans_list}
    notes = [f"{s.path}: not read ({s.error})" for s in scans_list
             if s.role in ("unreadable", "skipped")]  # fmt: skip
    found, others = _questionnaires(scans_list)
    if not found:
        raise InputError(
            f"{folder}: no file holds the items of a built-in instrument (columns such as "
            "MBI_1 … MBI_22 or a question with one column per statement). Check the exports, "
            "or write the config by hand (config/README.md)."
        )
    instruments = _instrument_order(found, notes)
    item_cols = {p: {c for m in ms for c in m.block.columns} for p, ms in found.items()}
    ids = choose_ids([scans[p] for p in found] + others, item_cols)
    roster = _roster(others, ids)
    for scan in others:
        if scan is not roster:
            notes.append(f"{scan.path}: no questionnaire items and not a roster; not used.")
    labels, timepoints = _timepoints(scans, found, instruments)
    found = dict(sorted(found.items(), key=lambda kv: _wave_rank(timepoints[kv[0]], labels)))
    design_groups, group_cols = _groups(scans, list(found), roster)
    first_path = next(iter(found))
    first = _per_instrument(found[first_path])
    top_level = {i: _commented_mapping(first[i]) for i in instruments}
    exports = []
    for path, matches in found.items():
        scan = scans[path]
        mine = _per_instrument([m for m in matches if m.instrument in instruments])
        entry: dict[str, Any] = {"path": path}
        entry["format"] = Commented(_format(scan), scan.describe())
        if scan.table.notes.get("sheet"):
            entry["sheet"] = scan.table.notes["sheet"]
        if path in dictionaries:
            entry["dictionary"] = Commented(dictionaries[path], "the REDCap data dictionary in "
                                            "the folder: which form holds each field")  # fmt: skip
        decision = ids[path]
        entry["id"] = Commented(decision.value if decision.value else _todo(decision.todo),
                                decision.evidence)  # fmt: skip
        entry.update(timepoints[path])
        if roster is None and path in group_cols:
            entry["group_column"] = Commented(group_cols[path], "the arm of each response")
        codes = _answer_codes(scan, [ms[0] for ms in mine.values()])
        if codes is not None:
            entry["answer_codes"] = codes
        own = {i: _commented_mapping(mine[i]) for i in instruments if path != first_path
               and [_mapping(m) for m in mine[i]] != [_mapping(m) for m in first[i]]}  # fmt: skip
        if own:
            entry["instruments"] = own
        exports.append(entry)
    config: dict[str, Any] = {
        "cohort": name,
        "title": Commented(_todo("the report's title, e.g. 'Balint groups for ward nurses, "
                                 "2025-26'"), "shown at the top of the report"),
        "design": {"timepoints": Commented(labels or [_todo("the timepoints in order")],
                                           "first = baseline"),
                   **design_groups,
                   "randomised": Commented(False, "set true if the arms were randomised")},
    }  # fmt: skip
    if roster is not None:
        cols = roster_columns(roster, ids[roster.path].value)
        config["participants"] = {
            "path": roster.path,
            "id": Commented(ids[roster.path].value, ids[roster.path].evidence),
            **{k: v for k, v in cols.items() if v},
        }
    config["exports"] = exports
    config["instruments"] = top_level
    primary = next((f"{i}.{s}" for i, s in PRIMARY if i in instruments), None)
    if primary is None and instruments:
        inst = load_instrument(instruments[0])
        primary = f"{inst.id}.{next(iter(inst.scales))}"
    config["analysis"] = {"primary": Commented(primary, "the usual primary burnout outcome; "
                                               "change it if your protocol names another")}
    config["privacy"] = {"key_env": Commented("BALINT_ID_KEY", "export BALINT_ID_KEY=$(openssl "
                                              "rand -hex 32) and keep the key")}  # fmt: skip
    header = [f"Cohort '{name}', written by `balint-analysis init {folder}` from the files in it.",
              "Every guess says its evidence; replace each TODO, then run",
              f"  balint-analysis check --config config/{name}.yaml",
              "Keys are documented in config/README.md."]  # fmt: skip
    text = emit(config, header)
    plain = _plain(config)
    return Scaffold(plain, text, todo_keys(plain), notes)


def write_scaffold(result: Scaffold, path: str | Path, *, force: bool = False) -> Path:
    """Write the config text to ``path`` (never over an existing file unless ``force``)."""
    from balint_analysis.io import atomic_write

    target = Path(path)
    if target.exists() and not force:
        raise InputError(f"{target} exists; move it away or pass --force to overwrite it.")
    return atomic_write(target, lambda tmp: tmp.write_text(result.text, encoding="utf-8"))
