"""Privacy: identifier classification, keyed pseudonyms, spreadsheet-formula neutralisation.

Participant data are health-related personal data. Direct identifiers never leave ingest;
participant ids are replaced by HMAC-SHA256 pseudonyms keyed from the environment; text
cells written to CSV cannot start a spreadsheet formula.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import numpy as np
import pandas as pd

from balint_analysis.identifiers import (
    DEMO_KEY,
    classify_dropped_columns,
    env_key_fingerprint,
    key_fingerprint,
    resolve_key,
)

__all__ = [
    "DEMO_KEY",
    "classify_dropped_columns",
    "env_key_fingerprint",
    "key_fingerprint",
    "neutralise_formulas",
    "pseudonym",
    "pseudonymise_ids",
    "resolve_key",
    "safe_value",
    "WITHHELD",
]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


_NUMBER_OR_TOKEN = re.compile(r"^\s*([-+]?\d+([.,]\d+)?|.{0,4}|[-–—?.]+)\s*$")
_LABEL = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_NOT_ANSWERS = {"n/a", "na", "brak", "nie dotyczy", "none", "missing", "unknown"}
WITHHELD = "(text withheld)"


def safe_value(value: object, *, label: bool = False) -> str:
    """The raw value when it cannot carry personal data, else ``(text withheld)``.

    Item values are echoed when they are numbers, at most four characters or a common
    not-an-answer token (``N/A``, ``brak``); with ``label`` (timepoint, group, response type)
    also a single word of letters, digits, ``_`` and ``-`` (``screening_arm_1``). Anything with
    ``@`` or ``<`` is withheld.
    """
    text = str(value)
    if "@" in text or "<" in text:
        return WITHHELD
    if _NUMBER_OR_TOKEN.match(text) or text.strip().lower() in _NOT_ANSWERS:
        return text
    if label and _LABEL.match(text):
        return text
    return WITHHELD


def pseudonym(raw_id: str, key: bytes, *, length: int = 16) -> str:
    """HMAC-SHA256 pseudonym of one id: ``p`` + the first ``length`` hex digits."""
    digest = hmac.new(key, raw_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return "p" + digest[:length]


def pseudonymise_ids(ids: pd.Series, key: bytes) -> pd.Series:
    """Map every distinct id to its pseudonym (NaN stays NaN).

    Raises
    ------
    ValueError
        If two distinct ids collide after truncation (astronomically unlikely; checked anyway
        because a collision would silently merge two people).
    """
    distinct = pd.unique(ids.dropna().astype(str))
    mapping = {raw: pseudonym(raw, key) for raw in distinct}
    if len(set(mapping.values())) != len(mapping):
        raise ValueError("pseudonym collision: increase the pseudonym length")
    return ids.map(lambda v: mapping.get(str(v), np.nan) if pd.notna(v) else np.nan)


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with an apostrophe.

    Only text columns are touched; numbers stay numbers (``-3.5`` in a float column is data).
    """
    out = df.copy()
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_string_dtype(series) or series.dtype == object:
            text = series.astype("string")
            risky = text.str.startswith(_FORMULA_START).fillna(False).astype(bool)
            if risky.any():
                out[col] = series.where(~risky, "'" + text)
    return out


def pseudonymise(
    valid: pd.DataFrame,
    roster: pd.DataFrame | None,
    *,
    key: bytes,
    covariates: tuple[str, ...] | list[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replace raw participant ids by keyed pseudonyms; split responses and participants.

    Returns
    -------
    responses : DataFrame
        ``participant, timepoint, group, source, row`` then the item columns.
    participants : DataFrame
        ``participant, group, cluster, sessions`` then the covariates. Balint-group labels
        (which may carry a leader's name) become ``G1``, ``G2``… in the order of their keyed
        hash, so the report can name groups without revealing them.
    """
    items = [c for c in valid.columns if "__" in c]
    responses = pd.DataFrame(
        {
            "participant": pseudonymise_ids(valid["participant_id"], key),
            "timepoint": valid["timepoint"],
            "group": valid["group"],
            "source": valid["source"],
            "row": valid["row"],
        }
    )
    responses = pd.concat([responses, valid[items]], axis=1)
    if roster is not None:
        people = roster.copy()
    else:
        people = (
            valid[["participant_id", "group"]]
            .drop_duplicates("participant_id")
            .assign(cluster=pd.NA, sessions=pd.NA)
        )
        for cov in covariates:
            people[cov] = pd.NA
    clusters = people["cluster"].replace("", pd.NA).dropna().astype(str).unique()
    hashed = sorted(clusters, key=lambda c: pseudonym(c, key))
    cluster_names = {c: f"G{i}" for i, c in enumerate(hashed, start=1)}
    participants = pd.DataFrame(
        {
            "participant": pseudonymise_ids(people["participant_id"], key),
            "group": people["group"],
            "cluster": people["cluster"].map(cluster_names),
            "sessions": pd.to_numeric(people["sessions"], errors="coerce"),
        }
    )
    for cov in covariates:
        # Covariates are numbers (validation set stray text missing and refused text columns):
        # no text a participant typed is ever carried into the processed data.
        participants[cov] = pd.to_numeric(people[cov], errors="coerce")
    responses = responses.sort_values(["participant", "timepoint"], kind="stable")
    participants = participants.sort_values("participant", kind="stable")
    return responses.reset_index(drop=True), participants.reset_index(drop=True)
