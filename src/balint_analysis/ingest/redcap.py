"""REDCap raw-data CSV exports: events, repeating instruments, data access groups, form status.

REDCap exports one row per record × event × repeat instance, each form's fields followed by
``<form>_complete`` (0 Incomplete, 1 Unverified, 2 Complete; blank where the form is not
designated to the row's event). Completeness is judged **per instrument, from the form that
holds its items** (:func:`instrument_status`): an unrelated visit form left Unverified, or a
first form holding only the record id, says nothing about the questionnaire. Which form holds a
field comes from the data dictionary when the export names one (``exports[].dictionary``),
else from the column order (every ``<form>_complete`` closes the run of fields since the
previous one — checked against the dictionaries of 11 public REDCap test projects), else from
``exports[].forms``. Rows of other repeating instruments and the base rows of a project whose
questionnaire is a repeating instrument are not questionnaire responses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pandas as pd

from balint_analysis.errors import InputError
from balint_analysis.ingest.base import FormLayout, RawExport, frame
from balint_analysis.ingest.detect import TextTable

__all__ = ["InstrumentStatus", "apply_dictionary", "instrument_status", "read_redcap"]

OTHER_FORM = "other form"
DICTIONARY_HEADER = "Variable / Field Name"


def _form_layout(df: pd.DataFrame, columns: list[str]) -> FormLayout:
    form_of: dict[str, str] = {}
    run: list[str] = []
    for col in columns:
        if col.startswith("redcap_"):
            continue
        if col.endswith("_complete"):
            form = col[: -len("_complete")]
            for member in run:
                form_of[member] = form
            form_of[col] = form
            run = []
        else:
            run.append(col)
    forms = sorted(set(form_of.values()))
    status = {f: df[f"{f}_complete"].str.strip() for f in forms if f"{f}_complete" in df}
    stamps = {f: df[f"{f}_timestamp"].str.strip() for f in forms if f"{f}_timestamp" in df}
    repeat = (df["redcap_repeat_instrument"].str.strip()
              if "redcap_repeat_instrument" in df else None)  # fmt: skip
    repeating = frozenset(repeat[repeat != ""]) if repeat is not None else frozenset()
    return FormLayout(form_of, status, stamps, repeat, repeating, "column order")


def read_redcap(table: TextTable) -> RawExport:
    """REDCap raw export: one header row of variable names, one row per record × event.

    ``complete`` and ``submitted_at`` are left at their defaults here (every row complete, no
    time): :func:`instrument_status` decides them per instrument once the items are known. The
    data access group becomes ``site``.
    """
    header = [h.strip().lstrip("\ufeff") for h in table.records[0]]
    if header and header[0] == DICTIONARY_HEADER:
        raise InputError(
            f"{table.path}: this is a REDCap data dictionary, not data. Export the records "
            "with 'CSV / Microsoft Excel (raw data)' (name the dictionary under "
            "`exports[].dictionary`)."
        )
    if "Complete?" in header or "Record ID" in header:
        raise InputError(
            f"{table.path}: this is a REDCap *labels* export. Export 'CSV / Microsoft Excel "
            "(raw data)' instead: labels are not unique and change when the project is edited."
        )
    raw = frame(table, 1)
    df = raw.data
    layout = _form_layout(df, [c for c in df.columns if c != "row"])
    site = df["redcap_data_access_group"].str.strip() if "redcap_data_access_group" in df else ""
    df = df.assign(site=site)
    variant = ["raw"]
    if "redcap_event_name" in df:
        variant.append("longitudinal")
    if layout.repeat_instrument is not None:
        variant.append("repeating instruments")
    if "redcap_data_access_group" in df:
        variant.append("data access groups")
    return dataclasses.replace(raw, format="redcap", variant=", ".join(variant), data=df,
                               forms=layout)  # fmt: skip


def apply_dictionary(raw: RawExport, dictionary: TextTable) -> RawExport:
    """Take form membership (and field labels) from a REDCap data dictionary CSV.

    Raises
    ------
    InputError
        When the file is not a REDCap data dictionary.
    """
    header = [h.strip().lstrip("\ufeff") for h in dictionary.records[0]]
    if not header or header[0] != DICTIONARY_HEADER or "Form Name" not in header:
        raise InputError(
            f"{dictionary.path}: not a REDCap data dictionary (its first column must be "
            f"'{DICTIONARY_HEADER}'). Download it from Project Setup > Data Dictionary."
        )
    form_col = header.index("Form Name")
    label_col = header.index("Field Label") if "Field Label" in header else None  # optional

    def cell(record: list[str], col: int | None) -> str:
        return record[col].strip() if col is not None and col < len(record) else ""

    fields = {r[0].strip(): (cell(r, form_col), cell(r, label_col))
              for r in dictionary.records[1:] if r and r[0].strip()}  # fmt: skip
    assert raw.forms is not None
    form_of = dict(raw.forms.form_of)
    labels = dict(raw.labels)
    for col in raw.data.columns:
        name = col.split("___", 1)[0]  # checkbox columns: field___code
        if name in fields:
            form_of[col] = fields[name][0]
            if fields[name][1]:
                labels.setdefault(col, fields[name][1])
    forms = dataclasses.replace(raw.forms, form_of=form_of, source="dictionary")
    return dataclasses.replace(raw, forms=forms, labels=labels)


@dataclasses.dataclass
class InstrumentStatus:
    """Per row: ``complete`` (some instrument's form is Complete), ``submitted_at``, the
    ``response_type`` (``other form`` for rows of another form) and ``incomplete``: the
    instruments whose form is not complete in a row that is kept for another instrument."""

    complete: pd.Series
    submitted_at: pd.Series
    response_type: pd.Series
    incomplete: pd.Series
    forms: dict[str, str]


def _instrument_form(raw: RawExport, path: str, inst_id: str, columns: list[str],
                     override: str | None) -> str | None:  # fmt: skip
    layout = raw.forms
    assert layout is not None
    if override:
        if override not in layout.status:
            raise InputError(
                f"{path}: exports[].forms.{inst_id} names REDCap form '{override}', but the file "
                f"has no '{override}_complete' column; forms in it: {sorted(layout.status)}."
            )
        return override
    if not layout.status:
        return None  # no form status exported: completeness cannot be judged, every row counts
    forms = {layout.form_of.get(c) for c in columns}
    judged = f"judging by the {layout.source}"
    if len(forms) == 1 and None not in forms:
        form = forms.pop()
        if form not in layout.status:  # the dictionary names a form the export left out
            raise InputError(
                f"{path}: the items of {inst_id} lie in REDCap form '{form}' ({judged}), but the "
                f"file has no '{form}_complete' column; forms in it: {sorted(layout.status)}. "
                f"Export the records with that form's status, or name the form that holds them "
                f"with `exports[].forms: {{{inst_id}: <form>}}`."
            )
        return form
    named = sorted(f for f in forms if f)
    where = f"REDCap forms {', '.join(named)}" if len(named) > 1 else "no REDCap form"
    dictionary = ("" if layout.source == "dictionary"
                  else ", or give the data dictionary with `exports[].dictionary`")  # fmt: skip
    raise InputError(
        f"{path}: the items of {inst_id} lie in {where} ({judged}); name the form that holds "
        f"them with `exports[].forms: {{{inst_id}: <form>}}`{dictionary}."
    )


def instrument_status(
    raw: RawExport,
    path: str,
    items: Mapping[str, list[str]],
    overrides: Mapping[str, str],
    answered: pd.Series,
) -> InstrumentStatus:
    """Completeness, submission time and row kind from the forms holding each instrument.

    Parameters
    ----------
    items
        Instrument id → its item columns in this export.
    overrides
        ``exports[].forms``: instrument id → form name.
    answered
        Rows answering at least one item of the instruments.
    """
    df, layout = raw.data, raw.forms
    assert layout is not None
    forms = {i: _instrument_form(raw, path, i, cols, overrides.get(i)) for i, cols in items.items()}
    index = df.index
    if not any(forms.values()):
        empty = pd.Series("", index=index, dtype="str")
        return InstrumentStatus(pd.Series(True, index=index), empty, empty.copy(),
                                empty.copy(), {})  # fmt: skip
    done: dict[str, pd.Series] = {}
    designated: dict[str, pd.Series] = {}
    submitted = pd.Series("", index=index, dtype="str")
    for inst_id, form in forms.items():
        if form is None:
            continue
        status = layout.status[form]
        stamp = layout.timestamp.get(form)
        ok = status == "2"
        if stamp is not None:
            ok &= stamp != "[not completed]"
            fresh = ok & ~stamp.isin(["", "[not completed]"]) & (stamp > submitted)
            submitted = submitted.where(~fresh, stamp)
        done[inst_id] = ok
        designated[inst_id] = status != ""
    complete = pd.concat(done, axis=1).any(axis=1)
    on_row = pd.concat(designated, axis=1).any(axis=1)
    other = ~on_row & ~answered
    own = {f for f in forms.values() if f}
    if layout.repeat_instrument is not None:
        repeat = layout.repeat_instrument
        other |= (repeat != "") & ~repeat.isin(own)
        if own <= layout.repeating:
            other |= repeat == ""  # base row: the questionnaire only has repeat rows
    kind = pd.Series("", index=index, dtype="str").where(~other, OTHER_FORM)
    incomplete = pd.Series("", index=index, dtype="str")
    for inst_id, ok in done.items():
        lagging = complete & designated[inst_id] & ~ok
        incomplete = incomplete.where(~lagging, incomplete + inst_id + ";")
    incomplete = incomplete.str.rstrip(";")
    return InstrumentStatus(complete, submitted, kind, incomplete,
                            {i: f for i, f in forms.items() if f})  # fmt: skip
