"""What the end-to-end tests do as a user would: copy the repository, run ``init``, edit TODOs."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from balint_analysis.cli import main
from balint_analysis.config_schema import read_yaml, todo_keys

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "exports"
DEMO_CONFIG = REPO / "config" / "config.yaml"


def copy_repository(dest: Path, *, link_venv: bool = False) -> Path:
    """Every file git knows of (tracked, or new and not ignored) copied to ``dest``; with
    ``link_venv`` the installed ``.venv`` too (as a link), for the README's ``make`` commands."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in listed.splitlines():
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    if link_venv:
        # The copy's `make` must find the venv installed for this pyproject.toml (the Makefile's
        # stamp); otherwise it would re-install the package, editable, from the copy into the
        # shared venv, and every later import would read the copy's (soon deleted) sources.
        cksum = subprocess.run(["cksum", "pyproject.toml"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.split()[0]  # fmt: skip
        if not (REPO / ".venv" / f".installed-{cksum}").exists():
            raise RuntimeError("the .venv is not installed for this pyproject.toml: run "
                               "`make venv` (or `make test`) first")  # fmt: skip
        (dest / ".venv").symlink_to(REPO / ".venv")
    return dest


#: For end-to-end runs that are not about multiple imputation: its jobs, pooling and report
#: section still run, at a tenth of the default M = 50's cost (~10 s CPU per small cohort).
FEW_IMPUTATIONS = {"imputations": 5}


def use_few_imputations(config: Path) -> dict:
    """Add :data:`FEW_IMPUTATIONS` as the ``missing_data`` section of the config file
    ``config`` (written by ``init`` or ``simulate``, which leave it out; comments are kept);
    the config now in the file."""
    text = config.read_text(encoding="utf-8")
    assert "missing_data" not in yaml.safe_load(text)
    section = yaml.safe_dump({"missing_data": FEW_IMPUTATIONS}, sort_keys=False)
    config.write_text(text.rstrip("\n") + "\n" + section, encoding="utf-8")
    return yaml.safe_load(config.read_text(encoding="utf-8"))


def run_init(cohort: str, *extra: str) -> dict:
    """``balint-analysis init data/raw/<cohort>`` in the current directory; the config written."""
    assert main(["init", f"data/raw/{cohort}", *extra]) == 0
    return yaml.safe_load(Path(f"config/{cohort}.yaml").read_text(encoding="utf-8"))


def answer_todos(config: Path, answers: dict[str, str]) -> None:
    """What the researcher does in an editor: replace each TODO line ``init`` left; none may
    remain."""
    lines = config.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        key = line.split(":", 1)[0].strip()
        if "TODO" in line and key in answers:
            lines[i] = line[: len(line) - len(line.lstrip())] + f"{key}: {answers[key]}"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert todo_keys(read_yaml(config)) == []


SECTION_PREFIX = {"Top level": "", "design": "design.", "participants": "participants.",
                  "exports": "exports[].", "analysis": "analysis.", "validation": "validation.",
                  "privacy": "privacy.", "power": "power.",
                  "missing_data": "missing_data."}  # fmt: skip


def documented_keys() -> list[str]:
    """Every key of the tables in config/README.md, as a dotted path (``exports[].id``)."""
    keys, prefix = [], None
    for line in (REPO / "config" / "README.md").read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## `?([\w ]+?)`?( \(.*\))?$", line)
        if heading:
            prefix = SECTION_PREFIX.get(heading.group(1))
            continue
        if prefix is None or not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        keys += [prefix + k for k in re.findall(r"`([\w.]+)`", first_cell)]
    return keys


def slurm_unavailable() -> str | None:
    """Why the local SLURM cluster (tests/slurm/setup-local-slurm.sh) cannot run here, or None."""
    if os.environ.get("BALINT_SKIP_SLURM"):
        return "BALINT_SKIP_SLURM is set"
    if os.geteuid() != 0:
        return "the local SLURM cluster needs root"
    if not shutil.which("apt-get") and not shutil.which("slurmctld"):
        return "no apt-get to install SLURM (Debian packages slurmctld slurmd munge)"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (test extra)"
    return None
