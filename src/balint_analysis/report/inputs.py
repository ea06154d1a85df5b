"""Read one cohort's processed files into :class:`ReportInputs` (with provenance).

The files written by the score and model stages before the report are required; the aggregate
side files that later stages add (``sensitivity.csv``, ``clinical.csv``, ``cutoffs.csv``,
``dose.csv``, ``items.csv``, ``flags.csv``), validate's ``careless.csv`` and the roster are
optional: when absent the matching report section says the analysis is not available in this run.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from balint_analysis.errors import InputError

__all__ = ["OPTIONAL_CSV", "ReportInputs", "load_inputs", "package_versions"]

#: Packages whose versions the provenance section lists.
VERSION_PACKAGES = (
    "balint-analysis",
    "pandas",
    "numpy",
    "statsmodels",
    "pandera",
    "snakemake",
    "scipy",
    "matplotlib",
    "jinja2",
)
#: Optional aggregate files; an absent file becomes an empty table.
OPTIONAL_CSV = (
    "participants",
    "sensitivity",
    "clinical",
    "cutoffs",
    "dose",
    "items",
    "flags",
    "careless",
    "missing_data",
    "tipping",
    "missing_emmeans",
)
_CSV = ("scores", "reliability", "effects", "emmeans", "rejected", *OPTIONAL_CSV)
_JSON = ("flow", "models", "pseudonymisation")
_STR_COLS = {
    c: "str"
    for c in (
        "participant",
        "group",
        "cluster",
        "timepoint",
        "instrument",
        "scale",
        "role",
        "design",
        "df_method",
        "analysis",
        "note",
        "from_category",
        "to_category",
        "item",
        "flag",
        "source",
    )
}


#: Text columns of the multiple-imputation outputs (``reason`` is text there, empty = none).
_MISSING_STR = {name: {"scenario": "str", "direction": "str", "reason": "str",
                       "variance_components": "str"}
                for name in ("missing_data", "tipping", "missing_emmeans")}  # fmt: skip


@dataclass
class ReportInputs:
    """Everything the report reads: the processed tables, side files and provenance.

    The optional aggregate tables default to empty (= "not available in this run").
    """

    scores: pd.DataFrame
    reliability: pd.DataFrame
    effects: pd.DataFrame
    emmeans: pd.DataFrame
    rejected: pd.DataFrame
    participants: pd.DataFrame
    flow: dict
    models: dict
    pseudonymisation: dict
    provenance: dict = field(default_factory=dict)
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    clinical: pd.DataFrame = field(default_factory=pd.DataFrame)
    cutoffs: pd.DataFrame = field(default_factory=pd.DataFrame)
    dose: pd.DataFrame = field(default_factory=pd.DataFrame)
    items: pd.DataFrame = field(default_factory=pd.DataFrame)
    flags: pd.DataFrame = field(default_factory=pd.DataFrame)
    careless: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing_data: pd.DataFrame = field(default_factory=pd.DataFrame)
    tipping: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing_emmeans: pd.DataFrame = field(default_factory=pd.DataFrame)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    """Python and the versions of the packages that shaped the numbers and the report."""
    out = {"python": platform.python_version()}
    for pkg in VERSION_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def load_inputs(
    processed_dir: str | Path, *, input_files: Sequence[str | Path] = ()
) -> ReportInputs:
    """Read one cohort's processed files and compute provenance.

    Parameters
    ----------
    processed_dir
        ``data/processed/<cohort>/``.
    input_files
        The raw exports, roster and config the run used; their SHA-256 goes into the report.

    Raises
    ------
    InputError
        When a processed file or an input file is missing or unreadable.
    """
    d = Path(processed_dir)
    tables: dict[str, pd.DataFrame] = {}
    processed = []
    for name in _CSV:
        path = d / f"{name}.csv"
        if not path.exists():
            if name in OPTIONAL_CSV:
                tables[name] = pd.DataFrame()
                continue
            raise InputError(f"{path}: missing; run the earlier workflow stages first.")
        try:
            if name == "rejected":
                df = pd.read_csv(path, dtype=str, keep_default_na=False)
            else:
                df = pd.read_csv(path, dtype=_STR_COLS | _MISSING_STR.get(name, {}))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot be read as CSV ({exc}).") from exc
        tables[name] = df
        processed.append({"path": path.name, "sha256": _sha256(path)})
    sides: dict[str, dict] = {}
    for name in _JSON:
        path = d / f"{name}.json"
        try:
            sides[name] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{path}: missing; run the earlier workflow stages first.") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not valid JSON ({exc}).") from exc
        processed.append({"path": path.name, "sha256": _sha256(path)})
    inputs = []
    for f in input_files:
        p = Path(f)
        if not p.is_file():
            raise InputError(f"{p}: input file listed for provenance does not exist.")
        inputs.append({"path": str(f), "sha256": _sha256(p)})
    provenance = {
        "inputs": inputs,
        "processed": sorted(processed, key=lambda x: x["path"]),
        "versions": package_versions(),
    }
    return ReportInputs(**tables, **sides, provenance=provenance)
