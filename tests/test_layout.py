"""The repository stands alone and its modules are where a reader expects them.

* Docs, docstrings, comments and config cite only what is in the repository: no specification
  or reference notes kept elsewhere, every backticked repository path and every relative
  Markdown link exists, and every section of ``docs/references.md`` or ``docs/contract.md``
  cited by name is a heading there.
* A package's ``__init__.py`` is a docstring and re-exports: its logic lives in named modules.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from project_helpers import REPO

PACKAGE = REPO / "src" / "balint_analysis"
SCANNED_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".smk", ".rst", ".R", ".cfg", ".toml"}

#: Texts that point outside the repository: a specification or reference notes kept elsewhere.
#: (Assembled from parts so that this file, which only searches for them, is not itself read
#: as citing them by tools that scan the repository for outside citations.)
_SECTION, _SHARED = " " + "§", "shared"
OUTSIDE_CITATIONS = ("SPEC" + _SECTION, "spec" + _SECTION, ".md" + _SECTION, "../" + _SHARED,
                     _SHARED + "/reference", "literature" + ".md")  # fmt: skip

#: Where runs write (git-ignored): a path there exists only after a run.
OUTPUT_FOLDERS = ("data/interim/", "data/processed/", "reports/", "logs/", "artifacts/",
                  "benchmarks/results/", "benchmarks/jobs/", "build/", ".snakemake/")  # fmt: skip

#: Files the reader creates by following the README or the tutorial (``balint-analysis init``).
CREATED_BY_THE_READER = {"config/pilot.yaml", "config/ward7.yaml",
                         "config/programme/example.yaml"}  # docs/programme.md's example

#: ``a/b.ext`` between backticks: a path (placeholders such as ``<cohort>`` or ``*`` never match).
BACKTICKED_PATH = re.compile(r"`([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+\.[A-Za-z]{1,5})`")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")
CITED_SECTION = re.compile(r"\b(references|contract)\.md`{0,2},?\s+\"([^\"]+)\"")

#: Lines of logic (besides the docstring, imports and ``__all__``) a package ``__init__`` may hold.
MAX_INIT_LOGIC_LINES = 60


def scanned_files() -> list[Path]:
    """README.md and the text files under src/, docs/, config/ and workflow/."""
    files = [REPO / "README.md", REPO / "workflow" / "Snakefile"]
    for folder in ("src", "docs", "config", "workflow"):
        files += [
            p
            for p in sorted((REPO / folder).rglob("*"))
            if p.is_file() and p.suffix in SCANNED_SUFFIXES
            and not any(part.endswith(".egg-info") or part.startswith(".") for part in p.parts)
        ]  # fmt: skip
    return files


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _where(path: Path) -> str:
    return str(path.relative_to(REPO))


def missing_paths(path: Path, text: str) -> list[str]:
    """Backticked repository paths in ``text`` that do not exist.

    A path is a repository path when its first folder is a top-level folder of the repository
    (``tests/...``) or a subpackage of ``balint_analysis`` (``models/effects.py``, as module
    docstrings and docs/references.md write them); outputs of a run and the files the reader
    creates are not checked.
    """
    top = {p.name for p in REPO.iterdir() if p.is_dir()}
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    missing = []
    for ref in BACKTICKED_PATH.findall(text):
        if ref.startswith(OUTPUT_FOLDERS) or ref in CREATED_BY_THE_READER:
            continue
        first = ref.split("/", 1)[0]
        if first in top:
            exists = (REPO / ref).exists()
        elif first in subpackages:
            exists = (PACKAGE / ref).exists()
        else:
            continue  # a file name inside some other tree (an example, a platform's folder)
        if not exists:
            missing.append(f"{_where(path)}: `{ref}`")
    if path.suffix == ".md":
        for link in MARKDOWN_LINK.findall(text):
            if "://" in link or link.startswith("mailto:"):
                continue
            if not (path.parent / link).exists():
                missing.append(f"{_where(path)}: link ({link})")
    return missing


def headings(doc: Path) -> set[str]:
    return {line.lstrip("#").strip() for line in _text(doc).splitlines() if line.startswith("#")}


def missing_sections(path: Path, text: str) -> list[str]:
    """Sections of docs/references.md or docs/contract.md cited by name that are not headings.

    A citation may wrap over lines (comment markers and line breaks read as one space).
    """
    flat = re.sub(r"\s*\n\s*(?:#\s*)?", " ", text)
    known = {name: headings(REPO / "docs" / f"{name}.md") for name in ("references", "contract")}
    return [
        f"{_where(path)}: {name}.md \"{section}\""
        for name, section in CITED_SECTION.findall(flat)
        if section not in known[name]
    ]


def test_nothing_cites_a_file_outside_the_repository():
    found = [
        f"{_where(p)}:{n}: {line.strip()}"
        for p in scanned_files()
        for n, line in enumerate(_text(p).splitlines(), 1)
        if any(bad in line for bad in OUTSIDE_CITATIONS)
    ]
    assert found == []


def test_every_cited_repository_path_exists():
    assert [m for p in scanned_files() for m in missing_paths(p, _text(p))] == []


def test_every_section_cited_by_name_is_a_heading():
    assert [m for p in scanned_files() for m in missing_sections(p, _text(p))] == []


def test_the_checks_find_what_they_look_for(tmp_path):
    """The scanners themselves: a dangling path, a dangling link and an unknown section."""
    doc = REPO / "docs" / "example.md"
    text = ("See `tests/no_such_test.py`, `models/effects.py`, `data/processed/demo/effects.csv` "
            "and [the contract](contract.md), [gone](gone.md); docs/references.md, \"Reliable\n"
            "change\" and docs/references.md, \"No such section\".")  # fmt: skip
    assert missing_paths(doc, text) == ["docs/example.md: `tests/no_such_test.py`",
                                        "docs/example.md: link (gone.md)"]  # fmt: skip
    assert missing_sections(doc, text) == ['docs/example.md: references.md "No such section"']


def init_logic_lines(path: Path) -> int:
    """Lines of top-level statements other than the docstring, imports and ``__all__``."""
    tree = ast.parse(_text(path))
    lines = 0
    for index, node in enumerate(tree.body):
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])  # fmt: skip
        if targets and all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            continue
        lines += node.end_lineno - node.lineno + 1
    return lines


@pytest.mark.parametrize(
    "init", sorted(PACKAGE.rglob("__init__.py")), ids=lambda p: _where(p.parent)
)
def test_package_init_files_hold_no_logic(init):
    assert init_logic_lines(init) <= MAX_INIT_LOGIC_LINES, (
        f"{_where(init)} holds {init_logic_lines(init)} lines of logic: move them into a named "
        "module and re-export the public names."
    )
