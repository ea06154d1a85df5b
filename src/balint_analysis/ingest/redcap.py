"""REDCap raw-data CSV exports (export_formats §2): events, form status, data access groups."""

from __future__ import annotations

import pandas as pd

from balint_analysis.errors import InputError
from balint_analysis.ingest.base import RawExport, frame
from balint_analysis.ingest.detect import TextTable

__all__ = ["read_redcap"]


def read_redcap(table: TextTable) -> RawExport:
    """REDCap raw export: one header row of variable names, one row per record × event.

    A row is complete when every *filled* ``<form>_complete`` column is ``2`` (Complete) and
    at least one is filled (forms not designated to the row's event stay blank), and no survey
    timestamp says ``[not completed]``. The data access group becomes ``site``.
    """
    header = [h.strip().lstrip("\ufeff") for h in table.records[0]]
    if header and header[0] == "Variable / Field Name":
        raise InputError(
            f"{table.path}: this is a REDCap data dictionary, not data. Export the records "
            "with 'CSV / Microsoft Excel (raw data)'."
        )
    if "Complete?" in header or "Record ID" in header:
        raise InputError(
            f"{table.path}: this is a REDCap *labels* export. Export 'CSV / Microsoft Excel "
            "(raw data)' instead: labels are not unique and change when the project is edited."
        )
    raw = frame(table, 1)
    df = raw.data
    complete_cols = [c for c in df.columns if c.endswith("_complete")]
    if complete_cols:
        status = df[complete_cols].apply(lambda s: s.str.strip())
        filled = status != ""
        # 2 = Complete; 0 Incomplete and 1 Unverified are not submitted forms.
        complete = ((status == "2") | ~filled).all(axis=1) & filled.any(axis=1)
    else:
        complete = pd.Series(True, index=df.index)
    stamp_cols = [c for c in df.columns if c.endswith("_timestamp")]
    submitted = pd.Series("", index=df.index, dtype="str")
    for col in stamp_cols:
        stamps = df[col].str.strip()
        complete = complete & (stamps != "[not completed]")
        submitted = submitted.where(stamps.isin(["", "[not completed]"]), stamps)
    site = df["redcap_data_access_group"].str.strip() if "redcap_data_access_group" in df else ""
    df = df.assign(submitted_at=submitted, complete=complete, site=site)
    meta = {"complete": ";".join(complete_cols), "submitted_at": ";".join(stamp_cols)}
    variant = "raw, longitudinal" if "redcap_event_name" in df else "raw"
    return RawExport("redcap", variant, 1, df, meta, raw.notes)
