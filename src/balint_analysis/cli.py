"""The ``balint-analysis`` command."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from balint_analysis import __version__
from balint_analysis.errors import InputError

__all__ = ["main"]

PROJECT_HELP = (
    "project directory (paths in the config are relative to it; outputs go to its data/ and "
    "reports/). Default: the folder holding the config's config/ folder, else the config's "
    "own folder."
)


def _simulate(args: argparse.Namespace) -> int:
    from balint_analysis.simulate import simulate_cohort, write_cohort, write_config

    cohort = simulate_cohort(preset=args.preset, seed=args.seed, layout=args.layout)
    clash = [n for n, data in cohort.files.items()
             if (Path(args.out) / n).is_file() and (Path(args.out) / n).read_bytes() != data]
    if clash and not args.force:
        raise InputError(f"{Path(args.out) / clash[0]} exists with other content (a real "
                         "export?); choose another --out folder, or pass --force to overwrite "
                         "it.")  # fmt: skip
    written = write_cohort(cohort, args.out)
    if args.config_out:
        name = args.cohort or Path(args.out).name
        written.append(write_config(cohort, args.out, args.config_out, cohort_name=name))
    for path in written:
        print(path)
    return 0


def _simulate_programme(args: argparse.Namespace) -> int:
    import os

    from balint_analysis.programme.example import write_example_programme

    root = Path(args.directory or ".").resolve()
    for path in write_example_programme(args.name, seed=args.seed, cohorts=args.cohorts,
                                        root=root, force=args.force):  # fmt: skip
        print(os.path.relpath(path, root))
    print(f"Next: balint-analysis run --config config/programme/{args.name}.yaml")
    return 0


def _report_path(args: argparse.Namespace) -> int:
    from balint_analysis.config_schema import read_yaml
    from balint_analysis.project import CohortPaths, project_dir_for

    raw = read_yaml(args.config)
    name = raw.get("programme", {}).get("name") if isinstance(raw.get("programme"), dict) else None
    if name is not None:  # a programme config (docs/programme.md)
        from balint_analysis.programme.stage import ProgrammePaths

        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
            raise InputError(f"{args.config}: config key 'programme.name' names folders: use "
                             "letters, digits, '-' and '_' only.")  # fmt: skip

        root = project_dir_for(args.config, args.directory)
        path = ProgrammePaths(name, root).report
        state = "" if path.exists() else " (not yet written)"
        print(f"Report: {path}{state}")
        return 0
    cohort = raw.get("cohort")
    if not isinstance(cohort, str) or not cohort:
        raise InputError(f"{args.config}: no `cohort:` name, so no report location.")
    path = CohortPaths(cohort, project_dir_for(args.config, args.directory)).report
    state = "" if path.exists() else " (not yet written)"
    print(f"Report: {path}{state}")
    return 0


def _instruments_doc(args: argparse.Namespace) -> int:
    from balint_analysis.instruments import docs

    if args.check:
        if docs.check(args.out):
            print(f"{args.out} is up to date.")
            return 0
        print(f"{args.out} is out of date; run `balint-analysis instruments-doc`.", file=sys.stderr)
        return 1
    print(docs.write(args.out))
    return 0


def _preflight(config: Path, extra: list[str]) -> str:
    """What stops a run before Snakemake starts (and, on a re-run, before it removes the last
    good outputs of the step it re-runs): the config (YAML, schema, TODOs, semantic checks)
    and the pseudonymisation key. Returns the cohort name."""
    from balint_analysis.config import read_config
    from balint_analysis.identifiers import checked_key_fingerprint
    from balint_analysis.missing import missing_settings, planned_outcomes
    from balint_analysis.power import power_settings
    from balint_analysis.project import CohortPaths

    cfg = read_config(config)
    power_settings(cfg.raw)  # bounded before Snakemake plans one job per power chunk
    missing_settings(cfg.raw, len(planned_outcomes(cfg.instruments)))  # and imputation jobs
    if "power" not in extra:  # the power analysis reads no participant data
        history = CohortPaths(cfg.cohort).interim / "key_history.json"
        checked_key_fingerprint(cfg, history)
    return cfg.cohort


def _preflight_programme(config: Path, extra: list[str]) -> tuple[str, Path]:
    """A programme config's checks before Snakemake starts: the programme, every cohort
    config it names and each cohort's pseudonymisation key. Returns its lock name and report."""
    from balint_analysis.config import read_config
    from balint_analysis.identifiers import checked_key_fingerprint
    from balint_analysis.programme.config import read_programme
    from balint_analysis.programme.stage import ProgrammePaths
    from balint_analysis.project import CohortPaths

    programme = read_programme(config)
    if "power" not in extra:
        for cohort in programme.cohorts:
            history = CohortPaths(cohort.cohort).interim / "key_history.json"
            checked_key_fingerprint(read_config(cohort.config), history)
    paths = ProgrammePaths(programme.name)
    return paths.lock_name, paths.report


def _is_programme_file(config: Path) -> bool:
    from balint_analysis.config_schema import read_yaml
    from balint_analysis.programme.config import is_programme

    return is_programme(read_yaml(config))


def _run(args: argparse.Namespace) -> int:
    import os

    from balint_analysis.project import CohortPaths, project_dir_for, workflow_dir
    from balint_analysis.runlock import cohort_is_free, executes_jobs

    config = Path(args.config).resolve()
    if not config.is_file():
        raise InputError(f"{args.config}: no such configuration file.")
    if not str(args.cores).isdigit() and args.cores != "all" or str(args.cores) == "0":
        raise InputError(f"--cores {args.cores}: give a number of cores (1 or more) or 'all'.")
    project = project_dir_for(config, args.directory)
    os.chdir(project)  # paths in the config are relative to the project directory
    extra = [a for a in args.snakemake_args if a != "--"]
    relative = Path(os.path.relpath(config, project))
    if _is_programme_file(relative):  # many cohorts, one answer (docs/programme.md)
        cohort, report = _preflight_programme(relative, extra)
    else:
        cohort = _preflight(relative, extra)
        report = CohortPaths(cohort, project).report
    dry_run = any(a in ("--dry-run", "--dryrun") or re.fullmatch(r"-[A-Za-z]*n[A-Za-z]*", a)
                  for a in extra)  # fmt: skip
    if executes_jobs(main_process=True, dry_run=dry_run, argv=extra):
        cohort_is_free(cohort)  # the workflow takes the lock; a second run stops before it starts
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(workflow_dir() / "Snakefile"),
           "--directory", str(project), "--configfile", str(config), "--cores", str(args.cores),
           *extra]  # fmt: skip
    print(f"balint-analysis: project directory {project}", file=sys.stderr, flush=True)
    status = subprocess.call(cmd, env={**os.environ, "BALINT_ANNOUNCED_BY_CLI": "1"})
    report = project / report
    if status == 0 and not dry_run and report.exists():
        print(f"Report: {report}", file=sys.stderr, flush=True)
    return status


def _init(args: argparse.Namespace) -> int:
    import os

    from balint_analysis.scaffold import scaffold_config, write_scaffold

    here = Path.cwd()
    folder = Path(args.folder).resolve()
    parts = folder.parts
    if args.directory:
        project = Path(args.directory).resolve()
    elif len(parts) >= 3 and parts[-3:-1] == ("data", "raw"):
        project = folder.parents[2]  # <project>/data/raw/<cohort>
    else:
        project = Path.cwd()
    os.chdir(project)
    result = scaffold_config(os.path.relpath(folder, project), ".", cohort=args.cohort)
    out = Path(args.out or f"config/{result.config['cohort']}.yaml")
    write_scaffold(result, out, force=args.force)
    exports = result.config["exports"]
    print(f"Wrote {out} (project directory {project}): {len(exports)} export(s); instruments "
          f"{', '.join(result.config['instruments']) or 'none'}.")  # fmt: skip
    for note in result.notes:
        print(f"Note: {note}")
    if result.todos:
        print(f"{len(result.todos)} TODO(s) to decide in {out}:")
        for key, what in result.todos:
            print(f"  {key}: {what}")
    shown = os.path.relpath(project / out, here)
    print(f"Next: replace the TODOs, then balint-analysis check --config {shown}" if result.todos
          else f"Next: balint-analysis check --config {shown}")  # fmt: skip
    return 0


def _check(args: argparse.Namespace) -> int:
    import os

    from balint_analysis.check import check_cohort, format_check
    from balint_analysis.project import project_dir_for

    config = Path(args.config).resolve()
    if not config.is_file():
        raise InputError(f"{args.config}: no such configuration file.")
    project = project_dir_for(config, args.directory)
    os.chdir(project)  # paths in the config are relative to the project directory
    relative = os.path.relpath(config, project)
    if _is_programme_file(Path(relative)):  # a programme: every cohort it pools, in turn
        from balint_analysis.programme.config import read_programme

        programme = read_programme(relative)
        print(f"Project directory: {project}")
        ok = True
        for cohort in programme.cohorts:
            result = check_cohort(cohort.config)
            print(f"\n== cohort {cohort.cohort} ({cohort.site}): {cohort.config}")
            print(format_check(result))
            ok = ok and result.ok
        print(f"\nProgramme '{programme.name}': {len(programme.cohorts)} cohorts, "
              + (f"ready. Run `balint-analysis run --config {relative}`." if ok else
                 "not ready: fix the cohorts' problems above and check again."))  # fmt: skip
        return 0 if ok else 1
    result = check_cohort(relative)
    print(f"Project directory: {project}")
    print(format_check(result))
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="balint-analysis",
        description="Evaluate Balint groups against burnout: survey exports in, report out.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser("simulate", help="generate a synthetic cohort with known truth")
    sim.add_argument("--preset", help="parameter preset (demo, small, survey, tutorial; default: "
                     "the layout's, demo except for the tutorial layout)")
    sim.add_argument("--layout", default="demo",
                     help="export layout: demo (Qualtrics/REDCap/LimeSurvey), tutorial (Excel "
                     "workbook + CSV, two waves, no roster), surveymonkey, sosci")
    sim.add_argument("--seed", type=int, required=True, help="random seed (same seed, same bytes)")
    sim.add_argument("--out", required=True, help="folder for the exports, roster and truth.json")
    sim.add_argument("--config-out", help="also write a config YAML analysing the cohort")
    sim.add_argument("--cohort", help="cohort name in that config (default: the folder name)")
    sim.add_argument("--force", action="store_true",
                     help="overwrite files of another content in --out")
    sim.set_defaults(func=_simulate)

    sp = sub.add_parser("simulate-programme", help="write an example programme: simulated "
                        "cohorts at several sites and config/programme/<name>.yaml")
    sp.add_argument("--name", default="example", help="programme name (default: example)")
    sp.add_argument("--cohorts", type=int, default=3, help="number of sites, 2-6 (default 3)")
    sp.add_argument("--seed", type=int, default=20261201, help="random seed of the first site")
    sp.add_argument("--directory", help="project directory (default: the current directory)")
    sp.add_argument("--force", action="store_true",
                    help="overwrite files of another content in data/raw/<name>_<site>/")
    sp.set_defaults(func=_simulate_programme)

    rp = sub.add_parser("report-path", help="print where a config's report is written")
    rp.add_argument("--config", default="config/config.yaml")
    rp.add_argument("--directory", help=PROJECT_HELP)
    rp.set_defaults(func=_report_path)

    doc = sub.add_parser("instruments-doc", help="write docs/instruments.md from the YAML files")
    doc.add_argument("--check", action="store_true", help="only check that the file is current")
    doc.add_argument("--out", default="docs/instruments.md")
    doc.set_defaults(func=_instruments_doc)

    ini = sub.add_parser("init", help="write config/<cohort>.yaml from a folder of exports")
    ini.add_argument("folder", help="the cohort's raw exports, e.g. data/raw/<cohort>/")
    ini.add_argument("--cohort", help="cohort name (default: the folder's name)")
    ini.add_argument("--out", help="config file to write (default: config/<cohort>.yaml)")
    ini.add_argument("--directory", help="project directory (default: the folder holding "
                     "data/raw/<cohort>, else the current directory)")
    ini.add_argument("--force", action="store_true", help="overwrite an existing config file")
    ini.set_defaults(func=_init)

    chk = sub.add_parser("check", help="check a config and its files without writing anything")
    chk.add_argument("--config", default="config/config.yaml", help="the cohort's config file")
    chk.add_argument("--directory", help=PROJECT_HELP)
    chk.set_defaults(func=_check)

    run = sub.add_parser("run", help="run the whole workflow (snakemake) for a config")
    run.add_argument("--config", default="config/config.yaml", help="the cohort's config file")
    run.add_argument("--directory", help=PROJECT_HELP)
    run.add_argument("--cores", default="all")
    run.add_argument("snakemake_args", nargs=argparse.REMAINDER,
                     help="further Snakemake options after `--` (e.g. -- --forceall)")
    run.set_defaults(func=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a problem with the input or a fault of the machine (read-only folder,
    full disk, file-size limit, memory: :func:`balint_analysis.faults.fault_line`) is one line
    on stderr and status 1, never a traceback."""
    from balint_analysis.faults import fault_line, ignore_file_size_signal

    args = build_parser().parse_args(argv)
    ignore_file_size_signal()
    try:
        return args.func(args)
    except InputError as exc:
        print(f"balint-analysis: {exc}", file=sys.stderr)
        return 1
    except (OSError, MemoryError, ValueError) as exc:  # ValueError: pandas' ParserError
        line = fault_line(exc, f"the {args.command} command's files")
        if line is None:
            raise
        print(f"balint-analysis: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
