"""Input checks of the model stage: validate ``scores`` and ``participants`` and merge them."""

from __future__ import annotations

import pandas as pd

__all__ = ["SCORE_COLUMNS", "fuzzy_linked_answers", "prepare_inputs"]

SCORE_COLUMNS = ("participant", "group", "timepoint", "instrument", "scale", "score")
_SCORE_COLUMNS = SCORE_COLUMNS


def prepare_inputs(scores, participants, timepoints, intervention, control, covariates,
                   covariate_levels=None):
    """Validate and merge the inputs; returns the analysable rows and notes on what was left.
    Covariates are numbers, or for a categorical one (``covariate_levels``) its declared
    labels (text, so that they are dummy-coded per outcome)."""
    covariate_levels = covariate_levels or {}
    missing = [c for c in _SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scores lacks column(s) {missing}")
    if "participant" not in participants.columns:
        raise ValueError("participants lacks the column 'participant'")
    absent = [c for c in covariates if c not in participants.columns]
    if absent:
        raise ValueError(f"covariate(s) {absent} are not columns of participants")
    df = scores.loc[:, [*_SCORE_COLUMNS, *(["category"] if "category" in scores else [])]].copy()
    for col in ("participant", "group", "timepoint", "instrument", "scale"):
        df[col] = df[col].astype(str)
    try:
        df["score"] = pd.to_numeric(df["score"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"scores.score must be numeric: {exc}") from None
    groups = [intervention] if control is None else [intervention, control]
    for g in groups:
        if not (df["group"] == g).any():
            raise ValueError(f"group {g!r} does not occur in scores")
    notes = {
        "rows_missing_score": int(df["score"].isna().sum()),
        "rows_other_group": int((~df["group"].isin(groups)).sum()),
        "rows_other_timepoint": int((~df["timepoint"].isin(timepoints)).sum()),
    }
    df = df[df["group"].isin(groups) & df["timepoint"].isin(timepoints)]
    if df.duplicated(["participant", "timepoint", "instrument", "scale"]).any():
        raise ValueError("scores has more than one row per participant × timepoint × scale")
    df = df[df["score"].notna()]
    roster = participants.copy()
    roster["participant"] = roster["participant"].astype(str)
    if roster["participant"].duplicated().any():
        raise ValueError("participants has duplicate participant rows")
    if "cluster" not in roster.columns:
        roster["cluster"] = pd.NA
    for c in covariates:
        if c in covariate_levels:
            labels = roster[c].astype("string").replace("", pd.NA)
            undeclared = labels.notna() & ~labels.isin(list(covariate_levels[c])).fillna(False)
            if undeclared.any():
                raise ValueError(f"covariate {c!r} has {int(undeclared.sum())} values that are "
                                 "not among its declared levels")
            roster[c] = labels
            continue
        values = pd.to_numeric(roster[c], errors="coerce")
        bad = values.isna() & roster[c].notna() & (roster[c].astype(str).str.strip() != "")
        if bad.any():
            raise ValueError(f"covariate {c!r} is not numeric ({int(bad.sum())} text values)")
        roster[c] = values.astype(float)
    if "group" in roster.columns:
        check = df[["participant", "group"]].drop_duplicates().merge(
            roster[["participant", "group"]].astype({"group": str}), on="participant",
            suffixes=("", "_roster"))
        clash = check[check["group"] != check["group_roster"]]
        if len(clash):
            raise ValueError(f"participant {clash['participant'].iloc[0]!r} has group "
                             f"{clash['group'].iloc[0]!r} in scores but "
                             f"{clash['group_roster'].iloc[0]!r} in participants")
    notes["participants_not_in_roster"] = int(
        (~df["participant"].drop_duplicates().isin(roster["participant"])).sum())
    keep = ["participant", "cluster", *dict.fromkeys(covariates)]
    df = df.merge(roster[keep], on="participant", how="left")
    return df.reset_index(drop=True), notes


def fuzzy_linked_answers(code_matching: dict, responses: pd.DataFrame) -> pd.DataFrame | None:
    """The (participant, timepoint) answers joined to a participant by a fuzzy code link.

    Parameters
    ----------
    code_matching : dict
        ``flow.json``'s ``code_matching``: with tolerant matching, ``fuzzy_matches`` lists the
        ``source, row`` of every fuzzily linked export row.
    responses : pandas.DataFrame
        ``responses.csv`` (at least ``participant, timepoint, source, row``).

    Returns
    -------
    pandas.DataFrame or None
        ``participant, timepoint`` (possibly empty); None when codes were matched exactly, so
        there is no sensitivity analysis to make.
    """
    if code_matching.get("method") != "tolerant":
        return None
    links = pd.DataFrame(code_matching.get("fuzzy_matches") or [], columns=["source", "row"])
    keys = responses[["participant", "timepoint", "source", "row"]].astype(
        {"participant": str, "timepoint": str, "source": str, "row": int})
    links = links.astype({"source": str, "row": int})
    hit = keys.merge(links[["source", "row"]], on=["source", "row"])
    return hit[["participant", "timepoint"]].drop_duplicates().reset_index(drop=True)
