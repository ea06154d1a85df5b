"""Validate: pandera schemas generated from the instruments and the design; row accounting.

Every problem becomes one row of ``rejected.csv`` (source, row, column, reason, action, value).
What excludes a whole row (documented rule):

* not a real response: Qualtrics preview/test/spam (``response_type``), or unfinished
  (Qualtrics ``Finished`` = 0, REDCap form not ``Complete``);
* no participant id, a participant missing from the roster, an unknown group;
* a timepoint that is not in ``design.timepoints`` (e.g. an unmapped REDCap event);
* a duplicate submission: of several accepted rows for one participant × timepoint the latest
  (by submission time, then file order) is kept, the others are rejected.

A bad *item value* (text, out of range, not an allowed value) sets that item missing and keeps
the response; the scoring stage's missing-item rule decides whether the scale is computable.
For every file ``rows_in == rows_accepted + rows_rejected`` (checked before writing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from balint_analysis.config import StudyConfig
from balint_analysis.errors import InputError

__all__ = ["ValidationResult", "response_schema", "roster_schema", "validate"]

REJECTED_COLUMNS = ["source", "row", "column", "reason", "action", "value"]
ROW_EXCLUDED = "row excluded"
ITEM_MISSING = "item set missing"


@dataclass
class ValidationResult:
    valid: pd.DataFrame
    roster: pd.DataFrame | None
    rejected: pd.DataFrame
    flow: dict


def _item_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if "__" in c]


def response_schema(config: StudyConfig, roster_ids: list[str] | None) -> pa.DataFrameSchema:
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
            [pa.Check.str_length(min_value=1), pa.Check.isin(roster_ids)],
            nullable=False,
        )
    else:
        columns["group"] = pa.Column(str, pa.Check.isin(list(config.design.groups)))
    for inst_id, inst in config.instruments.items():
        allowed = [float(v) for v in range(inst.response_min, inst.response_max + 1)]
        columns[f"{inst_id}__\\d+"] = pa.Column(
            float, pa.Check.isin(allowed, name="allowed_values"), nullable=True, regex=True
        )
    return pa.DataFrameSchema(columns, strict=False)


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
    ("response_type", "isin"): "preview, test or spam response",
    ("complete", "equal_to"): "incomplete response (not finished / form not complete)",
    ("group", "isin"): "group is neither the intervention nor the control label",
    ("group", "not_nullable"): "no group",
}
_REASON_RANK = {
    reason: rank
    for rank, reason in enumerate(
        [
            "preview, test or spam response",
            "incomplete response (not finished / form not complete)",
            "timepoint not in design.timepoints",
            "no participant id",
            "participant not in the roster",
            "group is neither the intervention nor the control label",
            "duplicate submission",
        ]
    )
}
# Values safe to echo in rejected.csv (never the participant id: it is an identifier).
_ECHO_VALUE = {"timepoint", "response_type", "group"}


def _failures(schema: pa.DataFrameSchema, df: pd.DataFrame) -> pd.DataFrame:
    try:
        schema.validate(df, lazy=True)
    except SchemaErrors as err:
        fc = err.failure_cases
        fc = fc[fc["index"].notna()]
        return fc[["column", "check", "failure_case", "index"]].reset_index(drop=True)
    return pd.DataFrame(columns=["column", "check", "failure_case", "index"])


def _check_name(check: str) -> str:
    name = str(check).split("(")[0]
    return "field_uniqueness" if name.startswith("field_uniqueness") else name


def _problems(fc: pd.DataFrame, frame: pd.DataFrame, *, source_col: str | None) -> pd.DataFrame:
    """Turn pandera failure cases into rejected.csv rows."""
    if fc.empty:
        return pd.DataFrame(columns=[*REJECTED_COLUMNS, "_index", "_row_level"])
    idx = fc["index"].astype(int).to_numpy()
    column = fc["column"].astype(str)
    check = fc["check"].map(_check_name)
    item = column.str.contains("__", regex=False)
    reason = [
        f"value outside the allowed answers of this item ({v:g})" if is_item
        else _REASONS.get((c, k), f"failed check {k}")
        for c, k, is_item, v in zip(column, check, item, _as_float(fc["failure_case"]), strict=True)
    ]  # fmt: skip
    echo = column.isin(_ECHO_VALUE) | item
    value = pd.Series([_show(v) for v in fc["failure_case"]], dtype="str").where(echo, "")
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


def _show(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_float(values: pd.Series) -> list[float]:
    return [float(v) if isinstance(v, int | float) else np.nan for v in values]


def _convert_items(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Items to numbers; non-numeric text becomes missing and one problem each."""
    out = df.copy()
    problems = []
    for col in _item_columns(df):
        text = df[col].astype("string").str.strip()
        blank = text.isna() | (text == "")
        number = pd.to_numeric(text.where(~blank), errors="coerce")
        bad = ~blank & number.isna()
        if bad.any():
            problems.append(
                pd.DataFrame(
                    {
                        "source": df.loc[bad, "source"],
                        "row": df.loc[bad, "row"],
                        "column": col,
                        "reason": "not a number",
                        "action": ITEM_MISSING,
                        "value": text[bad],
                        "_index": df.index[bad],
                        "_row_level": False,
                    }
                )
            )
        out[col] = number.astype(float)
    found = pd.concat(problems, ignore_index=True) if problems else None
    return out, found


def _duplicates(df: pd.DataFrame) -> pd.DataFrame:
    """Reject all but the latest submission per participant × timepoint."""
    when = pd.to_datetime(df["submitted_at"], errors="coerce", format="mixed")
    order = df.assign(_when=when, _pos=np.arange(len(df))).sort_values(
        ["participant_id", "timepoint", "_when", "_pos"], na_position="first"
    )
    dup = order.duplicated(["participant_id", "timepoint"], keep="last")
    if not dup.any():
        return pd.DataFrame(columns=[*REJECTED_COLUMNS, "_index", "_row_level"])
    kept = order[~dup].set_index(["participant_id", "timepoint"])
    losers = order[dup]
    keys = list(zip(losers["participant_id"], losers["timepoint"], strict=True))
    kept_rows = [f"{Path(kept.loc[k, 'source']).name} row {kept.loc[k, 'row']}" for k in keys]
    return pd.DataFrame(
        {
            "source": losers["source"].to_numpy(),
            "row": losers["row"].to_numpy(),
            "column": "participant_id",
            "reason": [f"duplicate submission (kept the latest: {k})" for k in kept_rows],
            "action": ROW_EXCLUDED,
            "value": "",
            "_index": losers.index.to_numpy(),
            "_row_level": True,
        }
    )


def validate(
    responses: pd.DataFrame, roster: pd.DataFrame | None, config: StudyConfig, ingest_info: dict
) -> ValidationResult:
    """Validate ingested responses (and roster); return accepted rows, problems and the flow."""
    roster_problems = pd.DataFrame(columns=[*REJECTED_COLUMNS, "_index", "_row_level"])
    valid_roster = None
    if roster is not None:
        r = roster.copy()
        r["participant_id"] = r["participant_id"].replace("", pd.NA)
        fc = _failures(roster_schema(config), r)
        roster_problems = _problems(fc, r.assign(source=config.roster.path), source_col="source")
        valid_roster = r.drop(index=roster_problems["_index"].unique()).reset_index(drop=True)

    df = responses.reset_index(drop=True)
    df["participant_id"] = df["participant_id"].replace("", pd.NA)
    df["complete"] = df["complete"].astype(str).str.lower().eq("true")
    if valid_roster is not None:
        groups = valid_roster.set_index("participant_id")["group"]
        df["group"] = df["participant_id"].map(groups)
    df, text_problems = _convert_items(df)
    roster_ids = list(valid_roster["participant_id"]) if valid_roster is not None else None
    fc = _failures(response_schema(config, roster_ids), df)
    schema_problems = _problems(fc, df, source_col="source")
    excluded = set(schema_problems.loc[schema_problems["_row_level"].astype(bool), "_index"])
    survivors = df.drop(index=list(excluded))
    dup_problems = _duplicates(survivors)
    excluded |= set(dup_problems["_index"])

    parts = [p for p in (roster_problems, text_problems, schema_problems, dup_problems)
             if p is not None and not p.empty]  # fmt: skip
    problems = pd.concat(parts, ignore_index=True) if parts else roster_problems
    item_rows = ~problems["_row_level"].astype(bool)
    on_excluded = item_rows & problems["_index"].isin(excluded) & (problems["source"] != (
        config.roster.path if config.roster else None))
    problems.loc[on_excluded, "action"] = "none (row excluded for another reason)"

    valid = df.drop(index=list(excluded)).copy()
    # Item problems on accepted rows: the value is set missing.
    for _, p in problems[item_rows & ~on_excluded].iterrows():
        if p["_index"] in valid.index and p["column"] in valid.columns:
            valid.loc[p["_index"], p["column"]] = np.nan
    valid = valid.sort_values(["source", "row"], kind="stable").reset_index(drop=True)
    problems["column"] = _export_column_names(problems, ingest_info)
    rejected = (
        problems[REJECTED_COLUMNS]
        .sort_values(["source", "row", "column"], kind="stable")
        .reset_index(drop=True)
    )
    flow = _flow(df, valid, problems, excluded, valid_roster, roster, config, ingest_info)
    if config.analysis.strict and len(rejected):
        first = rejected.iloc[0]
        raise InputError(
            f"strict mode: {len(rejected)} problem(s) in the input; first: {first['source']} row "
            f"{first['row']} column {first['column']}: {first['reason']}. Fix the exports or set "
            "analysis.strict: false to quarantine problems and report them."
        )
    return ValidationResult(valid, valid_roster, rejected, flow)


def _export_column_names(problems: pd.DataFrame, ingest_info: dict) -> pd.Series:
    """Name each problem's column as the export names it (``MBI_5``, not ``mbi_hss__5``)."""
    maps = {f["source"]: f.get("column_map", {}) for f in ingest_info["files"]}
    return pd.Series(
        [maps.get(src, {}).get(col) or col for src, col in zip(problems["source"],
                                                                problems["column"], strict=True)],
        index=problems.index,
        dtype="str",
    )


def _flow(df, valid, problems, excluded, valid_roster, roster, config, ingest_info) -> dict:
    files = []
    for info in ingest_info["files"]:
        src = info["source"]
        rows_in = int((df["source"] == src).sum())
        rejected_idx = [i for i in excluded if df.at[i, "source"] == src]
        mine = problems[(problems["source"] == src) & problems["_row_level"].astype(bool)]
        # A row excluded for several reasons is counted once, under its most basic reason.
        reasons = mine["reason"].str.replace(r" \(kept.*", "", regex=True)
        rank = reasons.map(lambda r: _REASON_RANK.get(r, len(_REASON_RANK)))
        by_reason = (
            reasons.to_frame().assign(_rank=rank.to_numpy(), _index=mine["_index"].to_numpy())
            .sort_values(["_index", "_rank"]).drop_duplicates("_index")["reason"]
            .value_counts().sort_index()
        )  # fmt: skip
        item_problems = problems[(problems["source"] == src) & ~problems["_row_level"].astype(bool)]
        entry = dict(info)
        entry.update(
            rows_in=rows_in,
            rows_rejected=len(rejected_idx),
            rows_accepted=int((valid["source"] == src).sum()),
            rejected_by_reason={k: int(v) for k, v in by_reason.items()},
            items_invalidated=int((item_problems["action"] == ITEM_MISSING).sum()),
            timepoints=sorted(set(valid.loc[valid["source"] == src, "timepoint"])),
        )
        if entry["rows_in"] != entry["rows_accepted"] + entry["rows_rejected"]:
            raise AssertionError(f"row accounting broken for {src}")
        files.append(entry)
    groups = list(config.design.groups)
    observed = {
        g: {t: int(valid[(valid["group"] == g) & (valid["timepoint"] == t)]["participant_id"]
                   .nunique()) for t in config.design.timepoints}
        for g in groups
    }  # fmt: skip
    if valid_roster is not None:
        enrolled = {g: int((valid_roster["group"] == g).sum()) for g in groups}
        roster_entry = dict(ingest_info["roster"])
        roster_entry.update(
            rows_in=len(roster),
            rows_rejected=len(roster) - len(valid_roster),
            rows_accepted=len(valid_roster),
            participants=len(valid_roster),
            by_group=enrolled,
        )
    else:
        enrolled = {g: int(valid.loc[valid["group"] == g, "participant_id"].nunique())
                    for g in groups}  # fmt: skip
        roster_entry = None
    return {
        "cohort": config.cohort,
        "strict": config.analysis.strict,
        "files": files,
        "roster": roster_entry,
        "participants": {"enrolled": enrolled, "observed": observed},
        "totals": {
            "rows_in": sum(f["rows_in"] for f in files),
            "rows_accepted": sum(f["rows_accepted"] for f in files),
            "rows_rejected": sum(f["rows_rejected"] for f in files),
            "items_invalidated": sum(f["items_invalidated"] for f in files),
        },
    }
