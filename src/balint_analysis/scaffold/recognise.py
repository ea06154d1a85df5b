"""Recognise the built-in instruments in an export from its item columns and question text.

A *block* is a run of columns that looks like one questionnaire: columns named ``stem + number``
with numbers 1 … n (``MBI_1`` … ``MBI_22``, ``Q2_1`` …, ``PSS[SQ001]`` …, ``MB01_01`` …), or a
run of columns whose question text shares its stem (``In the last month… [statement]``, as
LimeSurvey full headings, Google Forms grids or SurveyMonkey matrices write them). A block is
matched to an instrument by its number of items, by its answers (the instrument's codes; its
positions 1 … k on platforms that store positions; its answer labels) and by the instrument's
name in the column names or question text. Two instruments that fit equally well are never
chosen between silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from balint_analysis.instruments import Instrument, builtin_ids, load_instrument
from balint_analysis.privacy import shown_value
from balint_analysis.scaffold.scan import FileScan

__all__ = ["Block", "Match", "find_blocks", "match_blocks"]

#: Words that name an instrument in column names or question text.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "mbi_hss": ("mbi", "maslach"), "mbi_hss_mp": ("mbi", "maslach"),
    "mbi_gs": ("mbi", "maslach", "general survey"), "cbi": ("cbi", "copenhagen"),
    "olbi": ("olbi", "oldenburg"), "proqol5": ("proqol", "professional quality of life"),
    "pss10": ("pss", "perceived stress"), "pss4": ("pss", "perceived stress"),
    "bat12": ("bat", "burnout assessment"), "who5": ("who", "well-being", "wellbeing"),
    "phq9": ("phq", "patient health"), "gad7": ("gad", "anxiety"),
    "jse_hp": ("jse", "jefferson", "empathy"),
}  # fmt: skip
#: When two instruments fit a block equally, the first named here is the usual one (the
#: medical-personnel MBI has the same items and key as the HSS, only other wording).
PREFERRED = {frozenset({"mbi_hss", "mbi_hss_mp"}): "mbi_hss"}
_NUMBERED = re.compile(r"^(?P<stem>.*?)(?P<num>\d+)(?P<suffix>\D*)$")
_TEXT_STEM = re.compile(r"^(?P<stem>.+?)(\s*\[[^\]]*\]\s*|\s+-\s+.*)$")


@dataclass
class Block:
    """Columns that look like one questionnaire's items, in item order."""

    columns: list[str]
    template: str | None  # ``MBI_{i}`` when the names are stem + 1..n, else an explicit map
    evidence: str  # how the columns look, for the config comment
    text: str = ""  # column names and question text, lower case (for keywords)


@dataclass
class Match:
    """An instrument found in one file (or a block two instruments fit equally)."""

    instrument: str
    block: Block
    coding: str  # codes | positions | labels | value labels | unknown
    answers: str  # e.g. "answers 0-6"
    alternatives: list[str] = field(default_factory=list)
    named: bool = True  # the instrument's name appears in the columns or question text


def _width(numbered: dict[int, str]) -> int | None:
    """Zero-padding width of the item numbers (0 = none), ``None`` when they are mixed."""
    padded = [len(d) for d in numbered.values() if d.startswith("0") and len(d) > 1]
    width = max(padded, default=0)
    fits = all(d == (f"{n:0{width}d}" if width else str(n)) for n, d in numbered.items())
    return width if fits else None


def _numbered_blocks(scan: FileScan) -> list[Block]:
    groups: dict[tuple[str, str], dict[int, str]] = {}
    names: dict[tuple[str, str], dict[int, str]] = {}
    for col in scan.columns:
        m = _NUMBERED.match(col)
        if not m:
            continue
        key = (m.group("stem"), m.group("suffix"))
        groups.setdefault(key, {})[int(m.group("num"))] = m.group("num")
        names.setdefault(key, {})[int(m.group("num"))] = col
    blocks = []
    for (stem, suffix), numbered in groups.items():
        numbers = sorted(numbered)
        run = [n for n in numbers if n <= len(numbers)]
        if (len(run) < 2 or run != list(range(1, len(run) + 1))
                or "{" in stem + suffix or "}" in stem + suffix):  # fmt: skip
            continue
        width = _width({n: numbered[n] for n in run})
        if width is None:
            continue
        template = stem + (f"{{i:0{width}d}}" if width else "{i}") + suffix
        cols = [names[(stem, suffix)][n] for n in run]
        shown = f"{cols[0]} … {cols[-1]}"
        blocks.append(Block(cols, template, f"{len(cols)} columns {shown}",
                            " ".join([stem, *(scan.raw.labels.get(c, "") for c in cols)])
                            .lower()))  # fmt: skip
    return blocks


def _text_blocks(scan: FileScan) -> list[Block]:
    """Runs of adjacent columns whose question text (or name) shares a stem."""
    blocks, run, stem = [], [], None
    for col in [*scan.columns, None]:
        text = (scan.raw.labels.get(col) or col) if col else ""
        m = _TEXT_STEM.match(text) if col else None
        this = m.group("stem").strip() if m else None
        if this is not None and this == stem:
            run.append(col)
            continue
        if stem is not None and len(run) >= 2:
            blocks.append(Block(list(run), None, f"{len(run)} columns of the question "
                                f"'{stem[:60]}'", stem.lower()))  # fmt: skip
        run, stem = ([col], this) if this is not None else ([], None)
    return blocks


def find_blocks(scan: FileScan) -> list[Block]:
    """Candidate item blocks of one export (numbered names first, then shared question text)."""
    numbered = _numbered_blocks(scan)
    taken = {c for b in numbered for c in b.columns}
    texts = [b for b in _text_blocks(scan) if not taken & set(b.columns)]
    return numbered + texts


def _value_labels_fit(scan: FileScan, cols: list[str], inst: Instrument) -> bool:
    """A ``.sav`` whose items all carry the instrument's full set of answer labels: ingest
    recodes them through the labels (no ``answer_codes`` needed)."""
    from balint_analysis.ingest.items import _label_recode

    labels = scan.table.notes.get("value_labels") or {}
    declared = scan.table.notes.get("missing_declared") or {}
    by_label = {" ".join(str(t).split()).lower(): str(c) for c, t in inst.response_labels.items()}
    return bool(by_label) and all(
        _label_recode(labels.get(c), set(declared.get(c, [])), by_label) is not None
        for c in cols)  # fmt: skip


def _fit(scan: FileScan, cols: list[str], inst: Instrument) -> tuple[str, str]:
    """How a block's answers fit an instrument: (coding, description)."""
    stats = [scan.stats[c] for c in cols]
    filled = sum(s.filled for s in stats)
    if not filled:
        return "unknown", "no answers yet"
    if _value_labels_fit(scan, cols, inst):
        return "value labels", "value labels are the instrument's answer labels"
    numeric = [s for s in stats if s.numeric >= 0.9 and s.low is not None]
    if len(numeric) >= 0.9 * len(stats):
        low = min(s.low for s in numeric)
        high = max(s.high for s in numeric)
        codes = set(inst.allowed_values)
        # An answer far outside the scale (a phone number typed in) is described, not shown.
        low_shown, high_shown = (shown_value(int(v) if float(v).is_integer() else v,
                                             answer_range=(min(codes), max(codes)))
                                 for v in (low, high))  # fmt: skip
        if not all(s.integer for s in numeric):
            return "unknown", f"answers {low_shown}–{high_shown}, not all whole numbers"
        span = f"answers {low_shown}–{high_shown}"
        # A real scale's answers use most of its options; a block that does not is more likely
        # something else of the same length.
        used = len({v for c in cols for v in scan.distinct(c)})
        if used < max(3, 0.6 * len(codes)):
            return "unknown", span
        if low >= min(codes) and high <= max(codes):
            return "codes", span
        if low >= 1 and high <= len(codes):
            return "positions", span
        return "unknown", span
    labels = {" ".join(v.split()).lower() for v in inst.response_labels.values()}
    seen = set()
    for c in cols:
        seen |= {" ".join(v.split()).lower() for v in list(scan.distinct(c))[:50]}
    if seen and len(seen & labels) >= 0.8 * len(seen):
        return "labels", "answers are the instrument's answer labels"
    return "unknown", "answers are text that is not the instrument's labels"


def _keyword(block: Block, inst_id: str) -> bool:
    words = KEYWORDS.get(inst_id, (inst_id,))
    return any(re.search(rf"(^|[^a-z]){re.escape(w)}($|[^a-z])", block.text) for w in words)


def match_blocks(scan: FileScan, instruments: list[str] | None = None) -> list[Match]:
    """The instruments found in one export, one per block that fits (best first)."""
    ids = instruments or [i for i in builtin_ids() if load_instrument(i).n_items > 1]
    catalogue = {i: load_instrument(i) for i in ids}
    matches = []
    for block in find_blocks(scan):
        fits = []
        for inst_id, inst in catalogue.items():
            if inst.n_items != len(block.columns):
                continue
            coding, answers = _fit(scan, block.columns, inst)
            named = _keyword(block, inst_id)
            # Without the instrument's name the answers must fit it (its codes, labels or
            # positions); the config comment then says it was recognised by its shape only.
            if not named and coding == "unknown":
                continue
            fits.append((named, coding != "unknown", inst_id, coding, answers))
        if not fits:
            continue
        best = max(f[:2] for f in fits)
        top = [f for f in fits if f[:2] == best]
        chosen = top[0]
        alternatives = [f[2] for f in top[1:]]
        preferred = PREFERRED.get(frozenset(f[2] for f in top))
        if preferred:
            chosen = next(f for f in top if f[2] == preferred)
            alternatives = []
        matches.append(Match(chosen[2], block, chosen[3], chosen[4], alternatives,
                             named=chosen[0]))  # fmt: skip
    return matches
