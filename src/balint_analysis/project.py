"""Where things are: the workflow, the config schema, a project directory and a cohort's outputs.

A *project directory* holds ``config/<cohort>.yaml``, ``data/raw/<cohort>/`` and, once the
workflow ran, ``data/processed/<cohort>/``, ``reports/<cohort>/`` and ``logs/<cohort>/``. Paths
inside a cohort config are relative to it. The *workflow* (``workflow/Snakefile``, its rules and
the config schema) is found through the installed package, so ``balint-analysis run`` works
from any directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from balint_analysis.errors import InputError

__all__ = [
    "DEFAULT_CONFIG",
    "CohortPaths",
    "project_dir_for",
    "raw_input_paths",
    "schema_path",
    "workflow_dir",
]

#: The configuration plain ``snakemake`` uses when no ``--configfile`` is given (the demo).
DEFAULT_CONFIG = "config/config.yaml"


def workflow_dir() -> Path:
    """The ``workflow/`` folder of the checkout this package is installed from.

    Raises
    ------
    InputError
        When the package was not installed from a checkout (``pip install -e <checkout>``).
    """
    package = Path(__file__).resolve().parent
    candidate = package.parents[1] / "workflow"
    if (candidate / "Snakefile").is_file():
        return candidate
    raise InputError(
        f"the balint-analysis workflow was not found next to the installed package ({package}); "
        "install the package from a checkout of the repository with `pip install -e <checkout>`."
    )


def schema_path() -> Path:
    """``workflow/schemas/config.schema.yaml``: the one definition of config keys and defaults."""
    return workflow_dir() / "schemas" / "config.schema.yaml"


def project_dir_for(config_path: str | Path, directory: str | Path | None = None) -> Path:
    """The project directory of a cohort config: ``directory`` when given, else the folder that
    holds the config's ``config/`` folder (``<project>/config/<cohort>.yaml``), else the config
    file's own folder."""
    if directory is not None:
        return Path(directory).resolve()
    folder = Path(config_path).resolve().parent
    if folder.name == "programme" and folder.parent.name == "config":
        return folder.parent.parent  # a programme config: <project>/config/programme/<name>.yaml
    return folder.parent if folder.name == "config" else folder


def raw_input_paths(config: Mapping[str, Any]) -> list[str]:
    """Every raw file a cohort's analysis reads, as its config names them (relative to the
    project directory): exports, their data dictionaries, the roster, custom instrument
    definitions. The workflow's inputs, so a changed file re-runs the analysis."""
    files = [e["path"] for e in config["exports"]]
    files.extend(e["dictionary"] for e in config["exports"] if e.get("dictionary"))
    if config.get("participants"):
        files.append(config["participants"]["path"])
    files.extend(config.get("instrument_definitions") or [])
    return files


class CohortPaths:
    """Output locations of one cohort, relative to its project directory."""

    def __init__(self, cohort: str, root: str | Path = ".") -> None:
        self.cohort = cohort
        self.root = Path(root)

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed" / self.cohort

    @property
    def interim(self) -> Path:
        return self.root / "data" / "interim" / self.cohort

    @property
    def report(self) -> Path:
        return self.root / "reports" / self.cohort / "report.html"

    @property
    def power_page(self) -> Path:
        return self.root / "reports" / self.cohort / "power.html"

    @property
    def logs(self) -> Path:
        return self.root / "logs" / self.cohort

    @property
    def run_lock(self) -> Path:
        """Held by the run that analyses the cohort (:mod:`balint_analysis.runlock`)."""
        return self.root / ".snakemake" / "balint" / f"{self.cohort}.lock"
