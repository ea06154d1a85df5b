"""The validate stage: schemas from the instruments and the design, rejections, row accounting.

The rules are listed in the package docstring (:mod:`balint_analysis.validate`); the item,
covariate and declared-code checks live in :mod:`.items`, :mod:`.covariates` and
:mod:`.declared`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from balint_analysis.config import StudyConfig
from balint_analysis.errors import InputError
from balint_analysis.ingest.excel_damage import excel_id_cause
from balint_analysis.ingest.redcap import OTHER_FORM
from balint_analysis.privacy import shown_value
from balint_analysis.validate.accounting import (
    ITEM_MISSING,
    NOT_A_RESPONSE,
    REJECTED_COLUMNS,
    ROW_EXCLUDED,
    export_column_names,
    flow_summary,
)
from balint_analysis.validate.careless import FLAG_COLUMNS, careless_flags
from balint_analysis.validate.codes import match_codes
from balint_analysis.validate.covariates import roster_covariates
from balint_analysis.validate.declared import Declared, declared_codes, shown_in_column
from balint_analysis.validate.duplicates import duplicate_submissions
from balint_analysis.validate.items import convert_items, incomplete_forms

__all__ = ["NOT_A_RESPONSE", "Screened", "ValidationResult", "response_schema", "roster_schema",
           "screen", "summarise", "validate"]



@dataclass
class ValidationResult:
    valid: pd.DataFrame
    roster: pd.DataFrame | None
    rejected: pd.DataFrame
    flow: dict
    flags: pd.DataFrame | None = None


@dataclass
class Screened:
    """Responses checked (:func:`screen`): what is kept and why the rest is not.

    ``table`` is the whole ingested table as checked (answers converted), ``problems`` the
    rejected.csv rows with their row labels in ``table``, ``excluded`` the labels of
    rejected rows, ``matching`` how participant codes were matched.
    """

    valid: pd.DataFrame
    roster: pd.DataFrame | None
    rejected: pd.DataFrame
    table: pd.DataFrame
    problems: pd.DataFrame
    excluded: set
    matching: dict


def response_schema(
    config: StudyConfig, roster_ids: Sequence[str] | pd.Series | None
) -> pa.DataFrameSchema:
    """The pandera schema of ingested responses, generated from instruments and design."""
    columns: dict[str, pa.Column] = {
        "participant_id": pa.Column(str, pa.Check.str_length(min_value=1), nullable=False),
        "timepoint": pa.Column(str, pa.Check.isin(list(config.design.timepoints))),
        "response_type": pa.Column(str, pa.Check.isin(["normal", "imported"])),
        "complete": pa.Column(bool, pa.Check.eq(True)),
    }
    if roster_ids is not None:
        columns["participant_id"] = pa.Column(
            str,
            [pa.Check.str_length(min_value=1), _in_roster(roster_ids)],
            nullable=False,
        )
    else:
        columns["group"] = pa.Column(str, pa.Check.isin(list(config.design.groups)))
    for inst_id, inst in config.instruments.items():
        allowed = [float(v) for v in inst.allowed_values]
        # No dtype: the answers are numbers by now (convert_items), as float64 or, where
        # exact, as Int8/Int16 codes (a quarter of the memory); the check compares values.
        columns[f"{inst_id}__\\d+"] = pa.Column(
            None, pa.Check.isin(allowed, name="allowed_values"), nullable=True, regex=True
        )
    return pa.DataFrameSchema(columns, strict=False)


def _in_roster(roster_ids: Sequence[str] | pd.Series) -> pa.Check:
    """``Check.isin(roster_ids)`` with the ids held by the check function, not as the check's
    statistics: pandera deep-copies a schema's statistics on every validation, which for a
    roster of a million ids was ~5 s (one Python object copied per id). Named ``isin``, so
    its failures read as those of ``Check.isin``."""
    known = pd.Index(roster_ids)
    return pa.Check(lambda ids: ids.isin(known), name="isin")


def roster_schema(config: StudyConfig) -> pa.DataFrameSchema:
    """The pandera schema of the roster: unique ids and known groups."""
    return pa.DataFrameSchema(
        {
            "participant_id": pa.Column(str, nullable=False, unique=True),
            "group": pa.Column(str, pa.Check.isin(list(config.design.groups)), nullable=False),
        },
        strict=False,
    )


_REASONS = {
    ("participant_id", "not_nullable"): "no participant id",
    ("participant_id", "str_length"): "no participant id",
    ("participant_id", "isin"): "participant not in the roster",
    ("participant_id", "field_uniqueness"): "participant listed more than once in the roster",
    ("participant_id", "unique"): "participant listed more than once in the roster",
    ("timepoint", "isin"): "timepoint not in design.timepoints",
    ("timepoint", "not_nullable"): "no timepoint (the timepoint column is empty)",
    ("response_type", "isin"): "preview, test or spam response",
    ("response_type", "not_nullable"): "preview, test or spam response",
    ("complete", "equal_to"): "incomplete response (not finished / form not complete)",
    ("complete", "not_nullable"): "incomplete response (not finished / form not complete)",
    ("group", "isin"): "group is neither the intervention nor the control label",
    ("group", "not_nullable"): "no group",
}
# Reasons decided by the failing value rather than the check.
_VALUE_REASONS = {("response_type", OTHER_FORM): NOT_A_RESPONSE}
_OUT_OF_RANGE = "value outside the allowed answers of this item"
# Columns whose value rejected.csv describes (never the participant id: it is an identifier).
_ECHO_VALUE = {"timepoint", "response_type", "group"}


def _failures(schema: pa.DataFrameSchema, df: pd.DataFrame) -> pd.DataFrame:
    try:
        # inplace: the schemas coerce nothing, so pandera's defensive copy of the whole table
        # (every answer once more) is not needed; ``df`` is only read.
        schema.validate(df, lazy=True, inplace=True)
    except SchemaErrors as err:
        fc = err.failure_cases
        fc = fc[fc["index"].notna()]
        fc = fc[["column", "check", "failure_case", "index"]].reset_index(drop=True)
        # An answer held as an integer code is reported as the number it stands for, as a
        # float64 column reports it (rejected.csv shows it alike).
        item = fc["column"].astype(str).str.contains("__", regex=False).to_numpy()
        if item.any():
            fc["failure_case"] = [float(v) if is_item and _integer(v) else v
                                  for v, is_item in zip(fc["failure_case"], item,
                                                        strict=True)]  # fmt: skip
        return fc
    return pd.DataFrame(columns=["column", "check", "failure_case", "index"])


def _integer(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _check_name(check: str) -> str:
    name = str(check).split("(")[0]
    return "field_uniqueness" if name.startswith("field_uniqueness") else name


def _problems(fc: pd.DataFrame, frame: pd.DataFrame, *, source_col: str | None,
              declared: Declared) -> pd.DataFrame:  # fmt: skip
    """Turn pandera failure cases into rejected.csv rows (values as ``shown_value`` allows)."""
    if fc.empty:
        return pd.DataFrame(columns=[*REJECTED_COLUMNS, "_index", "_row_level"])
    idx = fc["index"].astype(int).to_numpy()
    column = fc["column"].astype(str)
    check = fc["check"].map(_check_name)
    item = column.str.contains("__", regex=False)
    reason = [
        _OUT_OF_RANGE if is_item
        else _VALUE_REASONS.get((c, case)) or _REASONS.get((c, k), f"invalid {c} for this design")
        for c, k, is_item, case in zip(column, check, item, fc["failure_case"], strict=True)
    ]  # fmt: skip
    echo = column.isin(_ECHO_VALUE) | item
    shown: dict[tuple[str, str], str] = {}  # each distinct value of a column described once
    for v, c in zip(fc["failure_case"], column, strict=True):
        if (str(v), c) not in shown:
            shown[(str(v), c)] = shown_in_column(v, c, declared)
    value = pd.Series([shown[(str(v), c)] for v, c in zip(fc["failure_case"], column,
                                                           strict=True)], dtype="str")  # fmt: skip
    value = value.where(echo.to_numpy(), "")
    return pd.DataFrame(
        {
            "source": frame.loc[idx, source_col].to_numpy() if source_col else "",
            "row": frame.loc[idx, "row"].to_numpy(),
            "column": column.to_numpy(),
            "reason": reason,
            "action": np.where(item, ITEM_MISSING, ROW_EXCLUDED),
            "value": value.to_numpy(),
            "_index": idx,
            "_row_level": ~item.to_numpy(),
        }
    )


def _name_excel_damage(problems: pd.DataFrame, df: pd.DataFrame,
                       roster_ids: pd.Series | None) -> pd.DataFrame:  # fmt: skip
    """Say so when a code not in the roster looks changed by Excel (the row stays rejected)."""
    unknown = problems["reason"] == _REASONS[("participant_id", "isin")]
    if not unknown.any():
        return problems
    ids = df.loc[problems.loc[unknown, "_index"].astype(int), "participant_id"]
    cause = excel_id_cause(ids, roster_ids).to_numpy()
    hit = pd.notna(cause)
    where = problems.index[unknown][hit]
    problems.loc[where, "reason"] = [
        f"{_REASONS[('participant_id', 'isin')]} (Excel: the code looks {c}; "
        "re-export the file without opening it in Excel)" for c in cause[hit]]  # fmt: skip
    return problems


def validate(
    responses: pd.DataFrame, roster: pd.DataFrame | None, config: StudyConfig, ingest_info: dict
) -> ValidationResult:
    """Validate ingested responses (and roster); return accepted rows, problems and the flow."""
    screened = screen(responses, roster, config, ingest_info)
    flow, flags = summarise(screened, roster, config, ingest_info)
    return ValidationResult(screened.valid, screened.roster, screened.rejected, flow, flags)


def screen(
    responses: pd.DataFrame, roster: pd.DataFrame | None, config: StudyConfig, ingest_info: dict
) -> Screened:
    """The checks of :func:`validate`: accepted rows and roster, problems (``rejected.csv``),
    and what :func:`summarise` needs; a strict run with any problem stops here."""
    roster_problems = pd.DataFrame(columns=[*REJECTED_COLUMNS, "_index", "_row_level"])
    valid_roster = None
    declared = declared_codes(config)
    if roster is not None:
        r = roster.copy()
        r["participant_id"] = r["participant_id"].replace("", pd.NA)
        fc = _failures(roster_schema(config), r)
        roster_problems = _problems(fc, r.assign(source=config.roster.path), source_col="source",
                                    declared=declared)  # fmt: skip
        r, stray = roster_covariates(r, config)
        roster_problems = pd.concat([p for p in (roster_problems, stray) if not p.empty],
                                    ignore_index=True) if not stray.empty else roster_problems
        valid_roster = r.drop(index=roster_problems.loc[roster_problems["_row_level"].astype(
            bool), "_index"].unique()).reset_index(drop=True)

    df = responses.reset_index(drop=True)
    df["participant_id"] = df["participant_id"].replace("", pd.NA)
    complete = df["complete"].astype(str)  # each distinct text lower-cased once
    codes, texts = pd.factorize(complete)
    df["complete"] = pd.Series(np.array([t.lower() == "true" for t in texts] + [False])[codes],
                               index=df.index)  # fmt: skip
    matching = {"method": "exact"}
    spec = config.validation
    if spec.code_matching == "tolerant":
        df["participant_id"], matching = match_codes(
            df,
            anchors=valid_roster["participant_id"].dropna() if valid_roster is not None else None,
            anchor_groups=(valid_roster.dropna(subset=["participant_id"])["group"]
                           if valid_roster is not None else None),  # fmt: skip
            baseline=config.design.baseline,
            pattern=spec.code_pattern,
            max_distance=spec.max_distance,
        )
        df["participant_id"] = df["participant_id"].replace("", pd.NA)
    if valid_roster is not None:
        groups = valid_roster.set_index("participant_id")["group"]
        df["group"] = df["participant_id"].map(groups)
    df, text_problems = convert_items(df, declared)
    form_problems = incomplete_forms(df, ingest_info)
    roster_ids = valid_roster["participant_id"] if valid_roster is not None else None
    fc = _failures(response_schema(config, roster_ids), df)
    schema_problems = _name_excel_damage(_problems(fc, df, source_col="source", declared=declared),
                                         df, roster_ids)  # fmt: skip
    excluded = set(schema_problems.loc[schema_problems["_row_level"].astype(bool), "_index"])
    group_problems = None
    if valid_roster is None:
        survivors = df.drop(index=list(excluded))  # a copy of the table, let go at once
        group_problems = _inconsistent_groups(survivors, list(config.design.timepoints),
                                              tuple(config.design.groups))  # fmt: skip
        del survivors
        excluded |= set(group_problems["_index"])
    dup_problems = duplicate_submissions(df, excluded)
    excluded |= set(dup_problems["_index"])

    found = (roster_problems, text_problems, form_problems, schema_problems, group_problems,
             dup_problems)
    parts = [p for p in found if p is not None and not p.empty]
    problems = pd.concat(parts, ignore_index=True) if parts else roster_problems
    item_rows = ~problems["_row_level"].astype(bool)
    on_excluded = item_rows & problems["_index"].isin(excluded) & (problems["source"] != (
        config.roster.path if config.roster else None))
    problems.loc[on_excluded, "action"] = "none (row excluded for another reason)"

    # The accepted rows in (source, row) order, taken in one copy (dropping, then sorting,
    # held two copies of the answers); labels kept until the invalid items are cleared.
    kept = df[["source", "row"]].drop(index=list(excluded))
    order = kept.sort_values(["source", "row"], kind="stable").index
    del kept
    valid = df.loc[order]  # copy-on-write: a new table, df unchanged
    # Item problems on accepted rows: the value is set missing.
    invalidate = problems[item_rows & ~on_excluded]
    for col, idx in invalidate.groupby("column")["_index"]:
        if col in valid.columns:
            valid.loc[valid.index.intersection(idx.astype(int)), col] = np.nan
    valid = valid.reset_index(drop=True)
    problems["column"] = export_column_names(problems, ingest_info)
    rejected = (
        problems[REJECTED_COLUMNS]
        .sort_values(["source", "row", "column"], kind="stable")
        .reset_index(drop=True)
    )
    if config.analysis.strict and len(rejected):
        first = rejected.iloc[0]
        raise InputError(
            f"strict mode: {len(rejected)} problem(s) in the input; first: {first['source']} row "
            f"{first['row']} column {first['column']}: {first['reason']}. Fix the exports or set "
            "analysis.strict: false to quarantine problems and report them."
        )
    return Screened(valid, valid_roster, rejected, df, problems, excluded, matching)


def summarise(screened: Screened, roster: pd.DataFrame | None, config: StudyConfig,
              ingest_info: dict) -> tuple[dict, pd.DataFrame]:  # fmt: skip
    """The ``flow.json`` mapping and the careless-responding flags (``careless.csv``) of
    screened responses; ``roster`` is the roster as ingested (its rows in)."""
    s = screened
    flags = _flags(s.valid, config, s.matching)
    flow = flow_summary(s.table, s.valid, s.problems, s.excluded, s.roster, roster, config,
                        ingest_info)  # fmt: skip
    flow["code_matching"] = s.matching
    flow["flags"] = {
        "rows": int(flags[["source", "row"]].drop_duplicates().shape[0]),
        "by_flag": {str(k): int(v) for k, v in flags["flag"].value_counts().sort_index().items()},
    }
    return flow, flags


def _flags(valid: pd.DataFrame, config: StudyConfig, matching: dict) -> pd.DataFrame:
    """Careless-responding, platform and tolerant-matching flags on accepted rows."""
    spec = config.validation
    flags = careless_flags(valid, dict(config.instruments),
                           longstring_share=spec.longstring_share,
                           min_seconds_per_item=spec.min_seconds_per_item)  # fmt: skip
    fuzzy = pd.DataFrame(matching.get("fuzzy_matches", []))
    if not fuzzy.empty:
        keep = valid[["source", "row", "group"]]
        fuzzy = fuzzy.merge(keep, on=["source", "row"], how="inner").assign(
            flag="participant code matched tolerantly", instrument="",
            value=lambda d: d["distance"].astype(str) + " (" + d["edit"] + ")",
            threshold=f"<= {spec.max_distance} edit(s)",
        )[FLAG_COLUMNS]  # fmt: skip
        flags = pd.concat([flags, fuzzy], ignore_index=True) if len(flags) else fuzzy
    flags["value"] = flags["value"].astype("str")
    return flags.sort_values(["source", "row", "flag"], kind="stable").reset_index(drop=True)


def _inconsistent_groups(df: pd.DataFrame, timepoints: list[str],
                         groups: tuple[str, ...]) -> pd.DataFrame:  # fmt: skip
    """Rows whose group differs from the participant's group at their earliest timepoint."""
    order = df.assign(_tp=df["timepoint"].map({t: i for i, t in enumerate(timepoints)}),
                      _pos=np.arange(len(df))).sort_values(["_tp", "_pos"])  # fmt: skip
    first = order.drop_duplicates("participant_id").set_index("participant_id")
    expected = df["participant_id"].map(first["group"])
    first_tp = df["participant_id"].map(first["timepoint"])
    bad = df["group"].notna() & expected.notna() & (df["group"] != expected)
    losers = df[bad]
    return pd.DataFrame(
        {
            "source": losers["source"].to_numpy(),
            "row": losers["row"].to_numpy(),
            "column": "group",
            "reason": [f"group differs from this participant's group at an earlier timepoint "
                       f"({t}: {g})" for t, g in zip(first_tp[bad], expected[bad], strict=True)],
            "action": ROW_EXCLUDED,
            "value": losers["group"].map(lambda v: shown_value(v, codes=groups)).to_numpy(),
            "_index": losers.index.to_numpy(),
            "_row_level": True,
        }
    )  # fmt: skip
