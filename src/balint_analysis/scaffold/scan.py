"""Read every file of a raw-export folder as the workflow would, and describe its columns.

Each file goes through the same container reader, platform detection and adapter as the
workflow's ingest, so what ``init`` sees is what ``check`` and the run will see. Per column it
keeps only summaries — how many cells are filled, how many distinct values, the numeric range,
whether the values are all integers — never the values themselves, except the few distinct
labels of short categorical columns (group, event, wave), which the config must name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from balint_analysis.errors import InputError
from balint_analysis.ingest import load_table
from balint_analysis.ingest.base import ADAPTER_META, RawExport
from balint_analysis.ingest.detect import TextTable, detect_format
from balint_analysis.ingest.platforms import ADAPTERS
from balint_analysis.ingest.redcap import DICTIONARY_HEADER

__all__ = ["ColumnStats", "FileScan", "scan_folder"]

SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".sav", ".zsav"}
#: Files the simulator writes beside its exports (not survey data).
SKIP = {"truth_scores.csv"}
#: Short categorical columns keep their distinct values (they become config labels).
MAX_LEVELS = 12


@dataclass
class ColumnStats:
    """A column summarised without its values."""

    filled: int
    distinct: int
    numeric: float  # share of filled cells that are numbers
    integer: bool
    low: float | None
    high: float | None
    levels: dict[str, int] = field(default_factory=dict)  # only for short categorical columns


@dataclass
class FileScan:
    """One file of the folder, read as the workflow reads it."""

    path: str
    role: str  # export | dictionary | unreadable | skipped
    table: TextTable | None = None
    raw: RawExport | None = None
    format: str = ""
    error: str = ""
    stats: dict[str, ColumnStats] = field(default_factory=dict)
    #: column → its answered texts (index) and their counts (kept in memory only)
    found: dict[str, pd.Series] = field(default_factory=dict, repr=False)

    @property
    def rows(self) -> int:
        return 0 if self.raw is None else len(self.raw.data)

    @property
    def columns(self) -> list[str]:
        if self.raw is None:
            return []
        return [c for c in self.raw.data.columns if c != "row" and c not in ADAPTER_META]

    def values(self, column: str) -> pd.Series:
        """The stripped answered cells of one column (kept in memory only)."""
        assert self.raw is not None
        cells = self.raw.data[column].str.strip()
        return cells[cells.notna() & (cells != "") & ~cells.isin(self.raw.missing_codes)]

    def distinct(self, column: str) -> set[str]:
        """The distinct answered texts of one column (kept in memory only)."""
        assert self.raw is not None
        if column not in self.found:
            self.found[column] = _distinct(self.raw.data[column], self.raw.missing_codes)
        return set(self.found[column].index)

    def describe(self) -> str:
        """What the file is, for a comment: platform layout, container or encoding, rows."""
        assert self.table is not None and self.raw is not None
        kind = self.raw.variant or self.table.container
        where = (f"sheet '{self.table.notes['sheet']}'" if self.table.container == "xlsx"
                 else self.table.encoding if self.table.container == "text" else "SPSS file")
        return f"{kind}; {where}; {self.rows} rows"


def _distinct(cells: pd.Series, no_answer: frozenset[str]) -> pd.Series:
    """Answered cell texts (stripped; the index) and how often each occurs, from the column's
    distinct values, stripped all at once (an id or time column has as many as it has rows)."""
    index, uniques = pd.factorize(cells, use_na_sentinel=True)
    if not len(uniques):
        return pd.Series([], dtype=np.int64)
    counts = np.bincount(index[index >= 0], minlength=len(uniques))
    texts = np.char.strip(np.asarray(uniques, dtype=object).astype(str))
    keep = texts != ""
    if no_answer:
        keep &= ~np.isin(texts, list(no_answer))
    return pd.Series(counts[keep]).groupby(texts[keep], sort=False).sum()


def _stats(found: pd.Series) -> ColumnStats:
    """A column's summary from its answered texts and their counts."""
    filled = int(found.sum())
    decimal = pd.Series(found.index, dtype=object).str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(decimal, errors="coerce").to_numpy(dtype=float)
    is_number = np.isfinite(numbers)
    n_numeric = int(found.to_numpy()[is_number].sum())
    values = numbers[is_number]
    levels = {}
    if 0 < len(found) <= MAX_LEVELS and n_numeric < filled / 2:
        levels = {str(t): int(n) for t, n in found.sort_values(ascending=False).items()}
    return ColumnStats(
        filled=filled,
        distinct=len(found),
        numeric=n_numeric / filled if filled else 0.0,
        integer=bool(len(values)) and bool(np.all(np.mod(values, 1) == 0)),
        low=float(values.min()) if len(values) else None,
        high=float(values.max()) if len(values) else None,
        levels=levels,
    )


def _scan_file(path: Path, shown: str) -> FileScan:
    try:
        table = load_table(str(path), "the raw-export folder")
    except InputError as exc:
        return FileScan(shown, "unreadable", error=str(exc))
    header = [h.strip().lstrip("\ufeff") for h in table.records[0]]
    if header and header[0] == DICTIONARY_HEADER:
        return FileScan(shown, "dictionary", table=table, format="redcap dictionary")
    fmt = detect_format(table)
    try:
        raw = ADAPTERS[fmt](table)
    except InputError as exc:
        return FileScan(shown, "unreadable", table=table, format=fmt, error=str(exc))
    scan = FileScan(shown, "export", table=table, raw=raw, format=fmt)
    scan.found = {c: _distinct(raw.data[c], raw.missing_codes) for c in scan.columns}
    scan.stats = {c: _stats(scan.found[c]) for c in scan.columns}
    return scan


def scan_folder(folder: str | Path, project: str | Path = ".") -> list[FileScan]:
    """Every readable data file of ``folder`` (paths shown relative to ``project``).

    Raises
    ------
    InputError
        When the folder does not exist or holds no data file.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{folder}: no such folder. Put the exports in data/raw/<cohort>/.")
    every = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith((".", "~$")))
    files = [p for p in every if p.suffix.lower() in SUFFIXES and p.name not in SKIP]
    skipped = [p for p in every if p not in files and p.name not in SKIP
               and p.suffix.lower() not in (".json", ".md")]  # fmt: skip
    if not files:
        if any(p.suffix.lower() == ".xls" for p in skipped):
            raise InputError(f"{folder}: only old Excel 97-2003 (.xls) workbooks; save them as "
                             ".xlsx (or CSV UTF-8) first.")
        raise InputError(
            f"{folder}: no export found (.csv, .tsv, .txt, .xlsx or .sav). Put the survey "
            "exports (and the roster, if any) there."
        )
    base = Path(project).resolve()
    scans = [FileScan(str(p.name), "skipped", error=(
        "old Excel 97-2003 workbook: save it as .xlsx" if p.suffix.lower() == ".xls" else
        "not a kind of file the exports come in")) for p in skipped]  # fmt: skip
    for path in files:
        try:
            shown = str(path.resolve().relative_to(base))
        except ValueError:
            shown = str(path.resolve())
        scans.append(_scan_file(path, shown))
    return scans
