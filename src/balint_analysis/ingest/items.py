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
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from balint_analysis.config import ExportSpec, StudyConfig
from balint_analysis.errors import InputError
from balint_analysis.ingest.answer_codes import (
    code_table,
    decode_answer_codes,
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


def comma_to_dot(values: pd.Series) -> pd.Series:
    """``7,5`` → ``7.5`` (cells that are comma-decimal numbers only)."""
    return values.str.replace(_COMMA_DECIMAL, r"\1.\2", regex=True)


def find_column(raw: RawExport, name: str) -> str | None:
    """The export column a configured name denotes: itself, or the column it is an alias of."""
    if name in raw.data.columns and name != "row":
        return name
    return raw.aliases.get(name)


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
        recode[code] = by_label.get(" ".join(str(text).split()).lower())
    if None in recode.values() or set(recode.values()) != set(by_label.values()):
        return None
    return recode  # type: ignore[return-value]


def _value_label_recode(path: str, inst: Instrument, columns: list[str],
                        table: TextTable) -> dict[str, str]:  # fmt: skip
    """One recode (code → instrument code) for all of an instrument's items, or ``{}``.

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
    by_label = {" ".join(str(t).split()).lower(): str(c) for c, t in inst.response_labels.items()}
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


def _refuse_positions(spec: ExportSpec, raw: RawExport, cells: Mapping[str, pd.Series]) -> None:
    """A platform storing answer positions needs ``answer_codes`` when its items are numbers."""
    if raw.coding != "positions" or spec.answer_codes or not cells:
        return
    sample = pd.concat([s.str.strip() for s in cells.values()])
    numeric = sample[sample.str.fullmatch(r"\d+", na=False)]
    if numeric.empty:
        return  # answer-text export: mapped through the instrument's labels
    platform = {"sosci": "SoSci Survey", "surveymonkey": "SurveyMonkey"}.get(raw.format,
                                                                           raw.format)
    raise InputError(
        f"{spec.path}: {platform} stores each answer as its position (1 = the first answer "
        f"option), not as the instrument's value ({len(numeric)} numeric answers, e.g. in "
        f"column {next(iter(cells))}). Declare it on this export: `answer_codes: position` when "
        "the options were offered in the instrument's order (lowest value first), or "
        "`answer_codes: {1: 0, 2: 1, ...}`."
    )


def map_items(spec: ExportSpec, config: StudyConfig, raw: RawExport,
              table: TextTable) -> ItemColumns:  # fmt: skip
    """Every configured instrument's items of one export, as instrument codes (text)."""
    out = ItemColumns()
    df = raw.data
    for inst_id, inst in config.instruments.items():
        resolved = _resolve(spec, raw, inst, config.columns_for(spec, inst_id))
        columns = list(resolved.values())
        out.by_instrument[inst_id] = columns
        recode = _value_label_recode(spec.path, inst, columns, table)
        codes = code_table(spec.answer_codes, inst) if spec.answer_codes else None
        for item, col in resolved.items():
            values = df[col]
            if raw.missing_codes:
                blank = values.str.strip().isin(raw.missing_codes)
                if blank.any():
                    out.no_answer[col] = int(blank.sum())
                    values = values.where(~blank, "")
            if table.decimal == ",":
                values = comma_to_dot(values)
            if recode:
                values = values.map(lambda v, r=recode: r.get(v, v)).astype("str")
                out.recoded.append(col)
            if codes:
                values, n = decode_answer_codes(values, codes)
                out.decoded += n
            tidy = item_column(inst_id, item)
            out.values[tidy] = values
            out.source[tidy] = col
    if not spec.answer_codes and out.values:
        by_name = {out.source[k]: v for k, v in out.values.items()}
        refuse_undeclared_codes(spec.path, by_name)
        _refuse_positions(spec, raw, {out.source[k]: df[out.source[k]]
                                      for k in out.values})  # fmt: skip
    return out
