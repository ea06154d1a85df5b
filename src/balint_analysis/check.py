"""``balint-analysis check``: the researcher's dry run of a cohort config, in seconds.

It validates the config, reads every export and the roster exactly as the workflow's
``prepare`` stage does (ingest and validation, in memory), and prints the planned accounting —
rows per file accepted and rejected by reason, participants per group × timepoint, the
instruments found — plus every problem that would stop the run and every near miss (a label
or code that matches only once case and spacing are ignored). Nothing is written, no
pseudonym is made, and no participant code or answer is printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from balint_analysis.errors import InputError

__all__ = ["CheckResult", "check_cohort", "format_check"]


@dataclass
class CheckResult:
    """What ``check`` found: ``problems`` stop the run, ``warnings`` do not."""

    config_path: str
    cohort: str = ""
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _key_line(cfg) -> tuple[str, str | None]:
    """The key's line, or the one-line reason the run will refuse it (unset, weak, a system
    variable, or not the key the cohort's history records)."""
    from balint_analysis.identifiers import checked_key_fingerprint
    from balint_analysis.project import CohortPaths

    try:
        fingerprint, demo = checked_key_fingerprint(
            cfg, CohortPaths(cfg.cohort).interim / "key_history.json")
    except InputError as exc:
        return "", str(exc)
    if demo:
        return ("Pseudonymisation key: the public demo key (synthetic data only; pseudonyms "
                "protect nothing)."), None  # fmt: skip
    return (f"Pseudonymisation key: {cfg.key_env} is set (fingerprint "
            f"{fingerprint})."), None  # fmt: skip


def _file_lines(flow: dict, rejected: pd.DataFrame) -> list[str]:
    from balint_analysis.coverage import row_reasons

    basic = row_reasons(rejected)  # one reason per rejected row, the most basic
    lines = ["Files (rows in = accepted + rejected):"]
    entries = list(flow["files"]) + ([flow["roster"]] if flow.get("roster") else [])
    for f in entries:
        kind = "roster" if f.get("kind") == "roster" else f"{f.get('format')}"
        variant = f" ({f['variant']})" if f.get("variant") else ""
        container = f.get("container", "text")
        where = f"{f.get('encoding')} text" if container == "text" else container
        lines.append(f"  {f['source']}: {kind}{variant}, {where}; {f['rows_in']} rows = "
                     f"{f['rows_accepted']} accepted + {f['rows_rejected']} rejected")  # fmt: skip
        mine = basic[basic["source"] == f["source"]]
        for reason, rows in mine.groupby("reason", sort=False)["row"]:
            numbers = rows.drop_duplicates().sort_values()
            shown = ", ".join(str(r) for r in numbers.head(8))
            more = ", …" if len(numbers) > 8 else ""
            word = "row" if len(numbers) == 1 else "rows"
            lines.append(f"      {len(numbers)} × {reason} ({word} {shown}{more})")
        if f.get("items_invalidated"):
            n = f["items_invalidated"]
            lines.append(f"      {n} item answer{'s' * (n != 1)} set missing (invalid values; "
                         "listed in rejected.csv by the run)")  # fmt: skip
    return lines


def _participant_lines(flow: dict, timepoints: list[str]) -> list[str]:
    observed = flow["participants"]["observed"]
    width = max([len(g) for g in observed] + [5])
    lines = ["Participants per group × timepoint (accepted responses):",
             "  " + " " * width + "".join(f"{t:>12}" for t in timepoints)]  # fmt: skip
    for group, counts in observed.items():
        lines.append(f"  {group:<{width}}" + "".join(f"{counts.get(t, 0):>12}" for t in timepoints))
    return lines


def _linkage_lines(valid: pd.DataFrame, cfg) -> list[str]:
    from balint_analysis.coverage import linkage

    parts = [f"{group}: {linked} of {n}" for group, (n, linked) in linkage(valid, cfg).items()]
    return [f"Linked across waves (baseline participants who also answered later): "
            f"{'; '.join(parts)}."]  # fmt: skip


def _instrument_lines(cfg, responses: pd.DataFrame) -> list[str]:
    lines = ["Instruments:"]
    for inst_id, inst in cfg.instruments.items():
        cols = [c for c in responses.columns if c.startswith(f"{inst_id}__")]
        answered = responses[cols].notna().any(axis=1)
        per_file = answered.groupby(responses["source"], sort=False).sum()
        where = ", ".join(f"{Path(s).name} ({int(n)} rows)" for s, n in per_file.items())
        lines.append(f"  {inst_id}: {inst.name}; {len(cols)} items mapped; rows with answers: "
                     f"{where}")  # fmt: skip
    return lines


def _shared_cohort(config_path: str | Path, cohort: str) -> list[str]:
    """Other configs beside this one that name the same cohort (and so the same outputs)."""
    from balint_analysis.config_schema import read_yaml

    here = Path(config_path).resolve()
    out = []
    for other in sorted(here.parent.glob("*.y*ml")):
        if other.resolve() == here:
            continue
        try:
            if read_yaml(other).get("cohort") == cohort:
                out.append(f"{other.name} also names cohort '{cohort}': both write "
                           f"data/processed/{cohort}/ and reports/{cohort}/, each run replacing "
                           "the other's results. Give this config its own `cohort:` name.")
        except InputError:
            continue
    return out


def check_cohort(config_path: str | Path) -> CheckResult:
    """Check a cohort config and its files from the current (project) directory.

    Never raises :class:`InputError`: a problem that stops everything becomes the result's
    only problem.
    """
    from balint_analysis.config import load_config
    from balint_analysis.config_schema import check_schema, read_yaml, todo_keys
    from balint_analysis.coverage import coverage_problems, near_misses
    from balint_analysis.faults import fault_line
    from balint_analysis.missing import missing_settings, planned_outcomes
    from balint_analysis.pipeline import read_inputs
    from balint_analysis.power import power_settings
    from balint_analysis.validate import validate

    result = CheckResult(str(config_path))
    try:
        raw = read_yaml(config_path)
    except InputError as exc:
        result.problems.append(str(exc))
        return result
    todos = todo_keys(raw)
    if todos:  # every decision init left open, each on its own line
        result.problems += [f"{config_path}: config key '{k}' is still TODO: {w}"
                            for k, w in todos]  # fmt: skip
        return result
    try:
        check_schema(raw)
    except InputError as exc:
        result.problems.append(f"{config_path}: {exc}")
        return result
    try:
        cfg = load_config(raw)
        power_settings(raw)  # its bounds stop a run before any job is planned
        missing_settings(raw, len(planned_outcomes(cfg.instruments)))  # likewise imputation jobs
    except InputError as exc:
        result.problems.append(str(exc))
        return result
    result.cohort = cfg.cohort
    design = cfg.design
    control = f" vs '{design.control}'" if design.control else " (single arm)"
    result.lines.append(
        f"Config {config_path}: valid. Cohort '{cfg.cohort}': timepoints "
        f"{', '.join(design.timepoints)}; groups '{design.intervention}'{control}."
    )
    result.warnings += _shared_cohort(config_path, cfg.cohort)
    key_line, key_problem = _key_line(cfg)
    if key_problem:
        result.problems.append(key_problem)
    try:
        responses, roster, info = read_inputs(cfg)
        checked = validate(responses, roster, cfg, info)
    except InputError as exc:
        result.problems.append(str(exc))
        return result
    except (OSError, MemoryError) as exc:  # an export unreadable or too big for the memory
        line = fault_line(exc, "the exports")
        if line is None:
            raise
        result.problems.append(line)
        return result
    result.lines += _file_lines(checked.flow, checked.rejected)
    result.lines += _participant_lines(checked.flow, list(design.timepoints))
    result.lines += _linkage_lines(checked.valid, cfg)
    result.lines += _instrument_lines(cfg, responses)
    if key_line:
        result.lines.append(key_line)
    result.problems += coverage_problems(checked.valid, responses, roster, checked.rejected, cfg)
    result.warnings += near_misses(responses, roster, cfg)
    return result


def format_check(result: CheckResult) -> str:
    """The report ``check`` prints."""
    out = list(result.lines)
    if result.warnings:
        out.append("Warnings (the run goes ahead):")
        out += [f"  - {w}" for w in result.warnings]
    if result.problems:
        out.append("Problems that stop the run:")
        out += [f"  - {p}" for p in result.problems]
        out.append("Nothing was written. Fix the problems above and check again.")
    else:
        out.append(f"Ready: nothing was written. Run `balint-analysis run --config "
                   f"{result.config_path}`.")  # fmt: skip
    return "\n".join(out)
