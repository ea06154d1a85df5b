"""An export's instrument items: find their columns, then turn cells into the instrument's codes.

Per export and instrument, in this order:

1. **columns** — each configured column is the platform's variable name, or an alias of it
   (a Qualtrics ImportId such as ``QID2_1``; a LimeSurvey code of "code and text" headings);
2. **no-answer codes** of the platform (SoSci ``-9``, ``-1``) become blank and are counted;
3. **decimal commas** (``7,5``) become dots when the file uses them;
4. **SPSS value labels**, per instrument, all items or none: when every item carries the same
   labels and they are the instrument's answer labels, codes are recoded through them (a PSS
   coded 1–5 and labelled *Never* … *Very often* becomes 0–4); labels of missing codes are
   left aside; items whose labels or codes disagree stop the run naming two of them;
5. **answer codes** declared by ``exports[].answer_codes``: ``position`` (the k-th answer
   option, written ``AO0k``, ``Ak`` or ``k``, is the instrument's k-th value) or a map.
   A platform that stores positions (SoSci Survey, SurveyMonkey "numerical value") and
   LimeSurvey ``AO01`` codes are refused without that key: positions are never guessed.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from balint_analysis.config import ExportSpec, StudyConfig
from balint_analysis.errors import InputError
from balint_analysis.ingest.answer_codes import (
    UNDECLARED,
    code_table,
    refuse_undeclared_codes,
)
from balint_analysis.ingest.base import RawExport
from balint_analysis.ingest.binary import MISSING_LABEL
from balint_analysis.ingest.detect import TextTable
from balint_analysis.instruments import Instrument

__all__ = ["ItemColumns", "find_column", "item_column", "map_items"]

_COMMA_DECIMAL = r"^\s*(-?\d+),(\d+)\s*$"


def item_column(instrument_id: str, item: int) -> str:
    """The tidy name of an item column, e.g. ``mbi_hss__7``."""
    return f"{instrument_id}__{item}"


@dataclass
class ItemColumns:
    """The tidy item columns of one export and what was done to get them."""

    values: dict[str, pd.Series] = field(default_factory=dict)
    #: tidy item column → the export's column
    source: dict[str, str] = field(default_factory=dict)
    #: instrument id → its export columns
    by_instrument: dict[str, list[str]] = field(default_factory=dict)
    recoded: list[str] = field(default_factory=list)
    decoded: int = 0
    #: export column → cells blanked as the platform's "no answer" codes
    no_answer: dict[str, int] = field(default_factory=dict)
    #: rows answering at least one item (after no-answer codes are blanked)
    answered: pd.Series | None = None
    #: cells given as choice text, mapped to codes through the answer labels
    mapped: int = 0


def comma_to_dot(values: pd.Series) -> pd.Series:
    """``7,5`` → ``7.5`` (cells that are comma-decimal numbers only)."""
    return values.str.replace(_COMMA_DECIMAL, r"\1.\2", regex=True)


def find_column(raw: RawExport, name: str) -> str | None:
    """The export column a configured name denotes: itself, or the column it is an alias of."""
    if name in raw.data.columns and name != "row":
        return name
    return raw.aliases.get(name)


def _label_key(text: object) -> str:
    """An answer label as looked up: any run of spaces (non-breaking, tabs) as one, lower case."""
    return " ".join(str(text).split()).lower()


def _suggest_template(missing: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(missing, columns, n=1, cutoff=0.3)
    if not close:
        return "ITEM_{i}"
    return close[0].rstrip("0123456789") + "{i}"


def _resolve(spec: ExportSpec, raw: RawExport, inst: Instrument,
             mapping: Mapping[int, str]) -> dict[int, str]:  # fmt: skip
    resolved = {item: find_column(raw, col) for item, col in mapping.items()}
    missing = [mapping[i] for i, col in resolved.items() if col is None]
    if missing:
        columns = [c for c in raw.data.columns if c != "row"]
        found = len(mapping) - len(missing)
        raise InputError(
            f"{spec.path}: {inst.name}: {len(missing)} of {len(mapping)} item columns not found "
            f"(first missing: '{missing[0]}'; {found} found). Set `exports[].instruments."
            f"{inst.id}` to this file's column template (e.g. "
            f"'{_suggest_template(missing[0], columns)}') or an item->column map."
        )
    dups = set(raw.notes.get("duplicate_headers", []))
    clash = [c for c in resolved.values() if c in dups]
    if clash:
        raise InputError(
            f"{spec.path}: column '{clash[0]}' (an item of {inst.id}) appears more than once in "
            "the header; rename one of them in the survey or the file so the config names one."
        )
    return resolved  # type: ignore[return-value]


def _label_recode(labels: Mapping[str, str] | None, missing: set[str],
                  by_label: Mapping[str, str]) -> dict[str, str] | None:  # fmt: skip
    """The recoding (code → instrument code) a column's value labels define, or ``None``.

    Only a full set of the instrument's answer labels defines one (SoSci labels just the two
    ends of a scale; a stray label says nothing about the coding). Labels of missing codes
    ("No answer" on 9) are left aside.
    """
    if not labels:
        return None
    recode = {}
    for code, text in labels.items():
        if code in missing or MISSING_LABEL.search(str(text)):
            continue
        recode[code] = by_label.get(_label_key(text))
    if None in recode.values() or set(recode.values()) != set(by_label.values()):
        return None
    return recode  # type: ignore[return-value]


def _value_label_recode(path: str, inst: Instrument, columns: list[str], table: TextTable,
                        by_label: Mapping[str, str]) -> dict[str, str]:  # fmt: skip
    """One recode (code → instrument code) for all of an instrument's items, or ``{}``.

    ``by_label``: the instrument's answer labels (by :func:`_label_key`) → its codes.

    Raises
    ------
    InputError
        When the items' value labels define different codings (or some items are recoded
        and others cannot be), naming two columns.
    """
    value_labels = table.notes.get("value_labels") or {}
    if not any(value_labels.get(c) for c in columns):
        return {}
    declared = table.notes.get("missing_declared") or {}
    recodes = {c: _label_recode(value_labels.get(c), set(declared.get(c, [])), by_label)
               for c in columns}  # fmt: skip
    shifting = [c for c, r in recodes.items() if r and any(k != v for k, v in r.items())]
    if not shifting:
        return {}
    first = shifting[0]
    odd = next((c for c in columns if recodes[c] != recodes[first]), None)
    if odd is not None:
        raise InputError(
            f"{path}: the items of {inst.id} are coded differently: the value labels of "
            f"'{first}' recode its answers to the instrument's codes, those of '{odd}' do not "
            "say the same, so the instrument would end up partly on one coding and partly on "
            "another. Give every item the same value labels in the .sav."
        )
    return recodes[first]  # type: ignore[return-value]


def _refuse_positions(spec: ExportSpec, raw: RawExport, answers: Mapping[str, Counter]) -> None:
    """A platform storing answer positions needs ``answer_codes`` when its items are numbers.

    ``answers``: per item column, its answered cells counted by text (no-answer codes left
    out). An "answer text" export (SurveyMonkey) is mapped through the instrument's labels
    instead; a few numeric cells in it are options labelled with their number (a 1–7 scale
    labelled only at its ends), so only a file whose answers are mostly numbers is refused.
    """
    if raw.coding != "positions" or spec.answer_codes or not answers:
        return
    answered = numeric = 0
    for counts in answers.values():
        for value, n in counts.items():
            answered += n
            numeric += n if re.fullmatch(r"-?\d+", value) else 0
    if not numeric or numeric * 2 < answered:
        return
    platform = {"sosci": "SoSci Survey", "surveymonkey": "SurveyMonkey"}.get(raw.format,
                                                                           raw.format)
    raise InputError(
        f"{spec.path}: {platform} stores each answer as its position (1 = the first answer "
        f"option), not as the instrument's value (e.g. column {next(iter(answers))}). Declare "
        "it on this export: `answer_codes: position` when the options were offered in the "
        "instrument's order (lowest value first), or `answer_codes: {1: 0, 2: 1, ...}`."
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cell_rule(missing: frozenset[str], comma: bool, recode: Mapping[str, str],
               codes: Mapping[str, str] | None, labels: Mapping[str, str]):
    """The transformation of one distinct cell text: ``(text, blanked, decoded, mapped)``.

    Choice text (``Every day``: a Qualtrics "choice text", SurveyMonkey "answer text" or
    Google Forms export) becomes the code its answer label stands for, here, so the later
    steps handle short codes rather than long labels.
    """
    comma_re = re.compile(_COMMA_DECIMAL)

    def apply(text: str) -> tuple[str, bool, bool, bool]:
        if missing and text.strip() in missing:
            return "", True, False, False
        if comma:
            text = comma_re.sub(r"\1.\2", text)
        if recode:
            text = recode.get(text, text)
        if codes:
            stripped = text.strip()
            if stripped in codes:
                return codes[stripped], False, True, False
            if stripped:
                return UNDECLARED.format(stripped), False, False, False
        if labels and text.strip() and not _is_number(text):
            code = labels.get(_label_key(text))
            if code is not None:
                return code, False, False, True
        return text, False, False, False

    return apply


def _transform(values: pd.Series, rule, seen: Counter,
               as_codes: bool = False) -> tuple[pd.Series, int, int, int, np.ndarray]:  # fmt: skip
    """Apply ``rule`` to each distinct text of a column once (a column holds a handful of
    distinct answers); returns the column, the cells blanked, decoded and mapped from labels,
    and which cells hold an answer. ``seen`` counts the answered cells (stripped text, blanked
    no-answer codes left out) by their text before any decoding. ``as_codes``: the column as
    a categorical of its texts (no text per row is built, nor hashed again by the next
    step)."""
    index, uniques = pd.factorize(values, use_na_sentinel=True)
    done = [rule(str(u)) for u in uniques]
    counts = np.bincount(index[index >= 0], minlength=len(uniques))
    for value, result, n in zip(uniques, done, counts, strict=True):
        if not result[1] and str(value).strip():
            seen[str(value).strip()] += int(n)
    texts = np.array([d[0] for d in done] + [np.nan], dtype=object)
    blanked = int(counts[[d[1] for d in done]].sum()) if done else 0
    decoded = int(counts[[d[2] for d in done]].sum()) if done else 0
    mapped = int(counts[[d[3] for d in done]].sum()) if done else 0
    answered = np.array([bool(d[0].strip()) for d in done] + [False])[index]
    if as_codes:  # two texts may have become one (" 1" and "1"): each is one category
        which, distinct = pd.factorize(texts[:-1])
        codes = np.append(which, -1)[index]
        out = pd.Series(pd.Categorical.from_codes(codes, pd.Index(distinct, dtype="str")),
                        index=values.index)  # fmt: skip
    else:
        out = pd.Series(texts[index], index=values.index, dtype="str")
    return out, blanked, decoded, mapped, answered


def _integers(seen: Counter) -> Counter:
    out: Counter = Counter()
    for text, n in seen.items():
        if re.fullmatch(r"-?\d+(\.0+)?", text):
            out[int(float(text))] += n
    return out


def _check_coding(spec: ExportSpec, inst: Instrument, seen: Counter) -> None:
    """Refuse answers that are option positions read as codes, or codes read as positions.

    Undeclared: every answer lies in 1..k (k = the instrument's number of options), the top
    position k is no code of the instrument and its lowest code never occurs — a survey that
    kept its default numbering 1..k (a PSS coded 1–5 instead of 0–4) would otherwise be scored
    one point too high, its top answers rejected. Declared ``position`` but answers of 0 (no
    position): the file holds the instrument's own codes.

    Raises
    ------
    InputError
        Naming the file, the instrument, what the answers show, and the fix.
    """
    numbers = _integers(seen)
    answered = sum(numbers.values())
    if not answered:
        return
    allowed = sorted(inst.allowed_values)
    k = len(allowed)
    span = f"{min(numbers)}–{max(numbers)}"
    if spec.answer_codes == "position":
        zeros = numbers.get(0, 0)
        if zeros >= 3 and zeros >= 0.01 * answered:
            raise InputError(
                f"{spec.path}: {inst.name}: `answer_codes: position` is set, but {zeros} "
                f"answers are 0, which is no option position (positions start at 1; answers "
                f"run {span}): this file seems to hold the instrument's own codes. Remove "
                "`answer_codes` from this export, or correct the map."
            )
        return
    if spec.answer_codes or allowed == list(range(1, k + 1)):
        return
    if (min(numbers) >= 1 and max(numbers) == k and k not in allowed
            and numbers.get(allowed[0], 0) == 0):  # fmt: skip
        raise InputError(
            f"{spec.path}: {inst.name}: answers run {span} and {allowed[0]} never occurs, while "
            f"the instrument's codes are {allowed[0]}–{allowed[-1]}: the survey stored each "
            "option's position (1 = the first option), not the instrument's code. Declare "
            "`answer_codes: position` on this export when the options were in the instrument's "
            "order (lowest first), or give a map `{1: ..., 2: ...}`."
        )


def map_items(spec: ExportSpec, config: StudyConfig, raw: RawExport, table: TextTable,
              as_codes: bool = False) -> ItemColumns:  # fmt: skip
    """Every configured instrument's items of one export, as instrument codes (text; with
    ``as_codes``, categoricals of those texts)."""
    out = ItemColumns()
    df = raw.data
    answered = np.zeros(len(df), dtype=bool)
    answers: dict[str, Counter] = {}  # export item column → its answers counted by text
    for inst_id, inst in config.instruments.items():
        resolved = _resolve(spec, raw, inst, config.columns_for(spec, inst_id))
        columns = list(resolved.values())
        out.by_instrument[inst_id] = columns
        labels = {_label_key(t): str(c) for c, t in inst.response_labels.items()}
        recode = _value_label_recode(spec.path, inst, columns, table, labels)
        if recode and spec.answer_codes:
            raise InputError(
                f"{spec.path}: the value labels of {inst.id}'s items already give the "
                "instrument's codes (they are recoded through them); remove `answer_codes` from "
                "this export, or it would decode the answers a second time."
            )
        codes = code_table(spec.answer_codes, inst) if spec.answer_codes else None
        rule = _cell_rule(raw.missing_codes, table.decimal == ",", recode, codes, labels)
        seen: Counter = Counter()
        for item, col in resolved.items():
            counts: Counter = Counter()
            values, blanked, decoded, mapped, filled = _transform(df[col], rule, counts,
                                                                  as_codes)
            seen.update(counts)
            answers[col] = counts
            out.mapped += mapped
            if blanked:
                out.no_answer[col] = blanked
            if recode:
                out.recoded.append(col)
            out.decoded += decoded
            answered |= filled
            tidy = item_column(inst_id, item)
            out.values[tidy] = values
            out.source[tidy] = col
        if not recode:
            _check_coding(spec, inst, seen)
    out.answered = pd.Series(answered, index=df.index)
    if not spec.answer_codes and answers:
        refuse_undeclared_codes(spec.path, answers)
        _refuse_positions(spec, raw, answers)
    return out
