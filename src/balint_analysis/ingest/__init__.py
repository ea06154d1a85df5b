"""Ingest: read every configured export (and the roster) into one tidy text table.

Only the columns the analysis needs are carried forward (participant id, timepoint, group,
response metadata, instrument items); everything else, direct identifiers and free text first,
is dropped here and listed by name in ``ingest.json``.
"""

from balint_analysis.ingest.items import item_column
from balint_analysis.ingest.read import IngestResult, ingest, load_table, read_export, read_roster

__all__ = ["IngestResult", "ingest", "item_column", "load_table", "read_export", "read_roster"]
