"""Row accounting for ``flow.json``: per file, per reason, per group × timepoint.

For every input file ``rows_in == rows_accepted + rows_rejected`` is checked here before anything
is written; a row excluded for several reasons is counted once, under its most basic reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from balint_analysis.config import StudyConfig

__all__ = ["ITEM_MISSING", "NOT_A_RESPONSE", "REASON_RANK", "REJECTED_COLUMNS", "ROW_EXCLUDED",
           "basic_reason", "export_column_names", "flow_summary"]  # fmt: skip

#: The columns of rejected.csv.
REJECTED_COLUMNS = ["source", "row", "column", "reason", "action", "value"]
ROW_EXCLUDED = "row excluded"
ITEM_MISSING = "item set missing"
NOT_A_RESPONSE = "not a questionnaire response (REDCap row of another form or event)"

REASON_RANK = {
    reason: rank
    for rank, reason in enumerate(
        [
            NOT_A_RESPONSE,
            "preview, test or spam response",
            "incomplete response (not finished / form not complete)",
            "timepoint not in design.timepoints",
            "no timepoint (the timepoint column is empty)",
            "no participant id",
            "participant not in the roster",
            "group is neither the intervention nor the control label",
            "group differs from this participant's group at an earlier timepoint",
            "duplicate submission",
        ]
    )
}
#: The detail after a basic reason: ``(kept the latest: …)``, ``(Excel: …)``, ``(pre: …)``.
_DETAIL = r" \((kept |[\w-]+: ).*"


def basic_reason(reasons: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Each reason without its detail, and its rank (0 = the most basic; unknown reasons last).

    A row excluded for several reasons is counted and shown under its most basic one.
    """
    base = reasons.str.replace(_DETAIL, "", regex=True)
    return base, base.map(lambda r: REASON_RANK.get(r, len(REASON_RANK)))


def export_column_names(problems: pd.DataFrame, ingest_info: dict) -> pd.Series:
    """Name each problem's column as the export names it (``MBI_5``, not ``mbi_hss__5``)."""
    maps = {f["source"]: f.get("column_map", {}) for f in ingest_info["files"]}
    return pd.Series(
        [maps.get(src, {}).get(col) or col for src, col in zip(problems["source"],
                                                                problems["column"], strict=True)],
        index=problems.index,
        dtype="str",
    )


def flow_summary(df: pd.DataFrame, valid: pd.DataFrame, problems: pd.DataFrame, excluded: set,
                 valid_roster: pd.DataFrame | None, roster: pd.DataFrame | None,
                 config: StudyConfig, ingest_info: dict) -> dict:  # fmt: skip
    """The ``flow.json`` mapping (docs/architecture.md)."""
    files = []
    excluded_sources = df["source"].loc[list(excluded)].to_numpy()
    for info in ingest_info["files"]:
        src = info["source"]
        rows_in = int((df["source"] == src).sum())
        rejected_idx = np.flatnonzero(excluded_sources == src)
        mine = problems[(problems["source"] == src) & problems["_row_level"].astype(bool)]
        # A row excluded for several reasons is counted once, under its most basic reason.
        reasons, rank = basic_reason(mine["reason"])
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
            choice_text_mapped=int(info.get("choice_text_mapped", 0)),
            timepoints=sorted(set(valid.loc[valid["source"] == src, "timepoint"].unique())),
            submitted_by_timepoint=_date_spans(valid[valid["source"] == src]),
        )  # fmt: skip
        if entry["rows_in"] != entry["rows_accepted"] + entry["rows_rejected"]:
            raise AssertionError(f"row accounting broken for {src}")
        files.append(entry)
    groups = list(config.design.groups)
    # Participants per group x timepoint in one pass (a table per pair took ~0.1 s each).
    seen = valid.groupby(["group", "timepoint"], observed=True)["participant_id"].nunique()
    observed = {g: {t: int(seen.get((g, t), 0)) for t in config.design.timepoints}
                for g in groups}  # fmt: skip
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
        "rows_by_group_timepoint": _rows_by_group_timepoint(df, excluded, config),
        "totals": {
            "rows_in": sum(f["rows_in"] for f in files),
            "rows_accepted": sum(f["rows_accepted"] for f in files),
            "rows_rejected": sum(f["rows_rejected"] for f in files),
            "items_invalidated": sum(f["items_invalidated"] for f in files),
        },
    }


def _date_spans(rows: pd.DataFrame) -> dict:
    """First and last submission date per timepoint (dates only; the recruitment window) and
    how many dated responses they span (the report leaves out spans over fewer than
    ``analysis.min_cell_size`` responses, where a date could point at one person)."""
    if "submitted_at" not in rows:
        return {}
    when = pd.to_datetime(rows["submitted_at"], errors="coerce", format="mixed")
    spans = {}
    for tp, dates in when.groupby(rows["timepoint"]):
        dates = dates.dropna()
        if len(dates):
            spans[str(tp)] = {"first": dates.min().strftime("%Y-%m-%d"),
                              "last": dates.max().strftime("%Y-%m-%d"), "n": int(len(dates))}
    return spans


def _rows_by_group_timepoint(df: pd.DataFrame, excluded: set, config: StudyConfig) -> dict:
    """Rows in / accepted / rejected per group × timepoint (``unknown`` group, ``unmapped``
    timepoint for rows that have none), for the report's flow diagram."""
    groups, timepoints = list(config.design.groups), list(config.design.timepoints)
    group = df["group"] if "group" in df else pd.Series(pd.NA, index=df.index)
    table = pd.DataFrame({
        "group": group.where(group.isin(groups), "unknown").astype("str"),
        "timepoint": df["timepoint"].where(df["timepoint"].isin(timepoints), "unmapped")
        .astype("str"),
        "rejected": df.index.isin(list(excluded)),
    })  # fmt: skip
    out: dict[str, dict[str, dict[str, int]]] = {}
    for (g, t), sub in table.groupby(["group", "timepoint"], sort=True):
        n, rejected = len(sub), int(sub["rejected"].sum())
        out.setdefault(str(g), {})[str(t)] = {"rows_in": n, "rows_accepted": n - rejected,
                                              "rows_rejected": rejected}  # fmt: skip
    return out
