"""Faults give one line and every setting is bounded (issue 14).

Out-of-range config values, YAML alias bombs, oversized configs and power settings that would
plan millions of jobs are refused when the config is loaded, as a user meets them
(``balint-analysis check``, ``snakemake -n``); read-only folders, full disks, file-size limits
and exhausted memory stop a stage with one line naming the file and the fix.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from project_helpers import DEMO_CONFIG, REPO

from balint_analysis import pipeline
from balint_analysis.cli import main
from balint_analysis.config_schema import apply_defaults, load_schema
from balint_analysis.stages import stage_config

#: A key long enough for every key rule (not the demo key): the runs below are not about keys.
STRONG_KEY = "9f3c2a7e5b8d41c6a0e7f2b9c4d8e1a3b6f0c9d2e5a8b1c4d7e0f3a6b9c2d5e8"


def _demo(**changes) -> dict:
    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return config


def _check(tmp_path: Path, text: str, capsys) -> tuple[int, str]:
    """``balint-analysis check`` on a config file holding ``text``: status and every line."""
    (tmp_path / "config").mkdir(exist_ok=True)
    path = tmp_path / "config" / "c.yaml"
    path.write_text(text, encoding="utf-8")
    status = main(["check", "--config", str(path)])
    out = capsys.readouterr()
    return status, out.out + out.err


@pytest.mark.parametrize(("key", "value", "message"), [
    ("analysis.alpha", 1e-320, "'analysis.alpha': 1e-320 is outside the allowed range: give a "
                               "number >= 1e-06 and <= 0.5"),
    ("analysis.alpha", 0, "'analysis.alpha': 0 is outside the allowed range"),
    ("analysis.alpha", 1, "'analysis.alpha': 1 is outside the allowed range"),
    ("analysis.alpha", float("nan"), "'analysis.alpha': nan is not a finite number"),
    ("analysis.min_cell_size", -2, "'analysis.min_cell_size': -2 is outside the allowed range"),
    ("power.replicates", -1, "'power.replicates': -1 is outside the allowed range: give a "
                             "number >= 1 and <= 100000"),
    ("power.replicates", 10**12, "'power.replicates': 1000000000000 is outside the allowed range"),
    ("power.seed", -5, "'power.seed': -5 is outside the allowed range"),
    ("power.grid.n_per_arm", list(range(4, 100)), "'power.grid.n_per_arm': 96 values; at most 20"),
    ("cohort", "ward7\n", "config key 'cohort': 'ward7\\n' names folders"),
    ("design.timepoints", ["pre\n", "post"], "'design.timepoints[0]': 'pre\\n' does not have "
                                             "the form"),
])  # fmt: skip
def test_check_refuses_values_out_of_range_in_one_line(tmp_path, capsys, key, value, message):
    status, out = _check(tmp_path, yaml.safe_dump(_demo(**{key: value})), capsys)
    assert status == 1
    problems = [line for line in out.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1, out
    assert message in problems[0]
    assert "Traceback" not in out


def test_every_number_in_the_schema_has_both_bounds():
    """An audit of the schema: each numeric key (and numeric list item) has a lower and an
    upper bound, so no config value can run away."""
    unbounded = []

    def visit(node, path):
        if not isinstance(node, dict):
            return
        types = node.get("type")
        types = types if isinstance(types, list) else [types]
        if {"integer", "number"} & set(types):
            low = {"minimum", "exclusiveMinimum"} & set(node)
            high = {"maximum", "exclusiveMaximum"} & set(node)
            if not (low and high):
                unbounded.append(path)
        for key, sub in node.get("properties", {}).items():
            visit(sub, f"{path}.{key}".lstrip("."))
        for key in ("items", "additionalProperties"):
            visit(node.get(key), f"{path}[]")
        for alt in node.get("oneOf", []):
            visit(alt, path)

    schema = load_schema()
    visit(schema, "")
    visit(schema["$defs"]["instrument_columns"], "$defs")
    assert unbounded == ["exports[].test_ids[]"]  # participant ids (names, not quantities)


def test_every_name_pattern_in_the_schema_is_anchored():
    """A JSON-schema pattern is searched (``re.search``) and ``$`` matches before a final
    newline: every pattern that constrains a whole name is ``\\A…\\Z``."""
    patterns = []

    def visit(node):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.append(node["pattern"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(load_schema())
    template = "\\{i(:[0-9]*d)?\\}"  # a column template only has to contain {i}
    # Whole names end in \\Z; a rule on the first character only (no formula) needs no end.
    loose = [p for p in patterns if p != template and (not p.startswith("\\A")
                                                       or p.endswith("$"))]
    assert len(patterns) >= 6 and loose == []
    assert "\\A[A-Za-z0-9][A-Za-z0-9_-]*\\Z" in patterns  # the cohort name


def _alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_in_milliseconds(tmp_path, capsys):
    config = yaml.safe_dump(_demo()) + "title_bomb:\n" + "".join(
        "  " + line + "\n" for line in _alias_bomb().splitlines())
    start = time.perf_counter()
    status, out = _check(tmp_path, config, capsys)
    assert time.perf_counter() - start < 2
    assert status == 1
    assert "expands to more than 100,000 values once its aliases (*name) are followed" in out


def test_an_alias_bomb_given_to_snakemake_is_refused_in_seconds(tmp_path):
    """Snakemake parses --configfile itself (aliases stay shared, so that is quick); the
    workflow's first walk of the config would expand them."""
    (tmp_path / "config").mkdir()
    bomb = tmp_path / "config" / "bomb.yaml"
    bomb.write_text(yaml.safe_dump(_demo()) + "title_bomb:\n" + "".join(
        "  " + line + "\n" for line in _alias_bomb().splitlines()), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "workflow" /
         "Snakefile"), "--directory", str(tmp_path), "--configfile", str(bomb), "--cores", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert (f"{bomb}: the YAML expands to more than 100,000 values once its aliases (*name) "
            "are followed") in proc.stdout + proc.stderr


def test_an_alias_bomb_in_an_instrument_definition_is_refused(tmp_path):
    from balint_analysis.errors import InputError
    from balint_analysis.instruments import load_file

    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(), encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(InputError, match="expands to more than 100,000 values"):
        load_file(path)
    assert time.perf_counter() - start < 2


def test_a_config_over_one_megabyte_is_refused_before_parsing(tmp_path, capsys):
    status, out = _check(tmp_path, "cohort: demo\n" + "# padding\n" * 120_000, capsys)
    assert status == 1
    assert "c.yaml: larger than 1 MB, too big for a configuration" in out


def _dry_run(tmp_path: Path, config: dict) -> tuple[subprocess.CompletedProcess, float]:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "big.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "workflow" /
         "Snakefile"), "--directory", str(tmp_path), "--configfile", "config/big.yaml",
         "--cores", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return proc, time.perf_counter() - start


@pytest.mark.parametrize(("power", "message"), [
    # Planned one job per chunk: 24 GB until the kernel killed the dry run.
    ({"replicates": 10**12, "chunk_size": 1}, "'power.replicates': 1000000000000 is outside the "
     "allowed range: give a number >= 1 and <= 100000."),
    ({"replicates": 100_000, "chunk_size": 1}, "'power.chunk_size': 100,000 replicates in chunks "
     "of 1 are 100,000 jobs, more than the 2,000 the workflow plans; raise power.chunk_size to "
     "at least 50."),
    ({"replicates": 100_000, "chunk_size": 1000}, "'power.replicates': 100,000 replicates x 50 "
     "grid cells are 5,000,000 simulated trials, more than the limit of 1,000,000; lower "
     "power.replicates to at most 20,000"),
])  # fmt: skip
def test_huge_power_settings_stop_a_dry_run_of_the_main_analysis(tmp_path, power, message):
    proc, seconds = _dry_run(tmp_path, _demo(power=power))
    assert proc.returncode == 1
    assert message in proc.stdout + proc.stderr  # a dry run prints its error to stdout
    assert seconds < 10


def _demo_project(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    shutil.copy(DEMO_CONFIG, tmp_path / "config" / "config.yaml")
    shutil.copytree(REPO / "data" / "raw" / "demo", tmp_path / "data" / "raw" / "demo")
    return tmp_path


@pytest.mark.e2e
def test_a_file_size_limit_stops_the_run_with_one_line(tmp_path):
    project = _demo_project(tmp_path)

    def limit_file_size():  # what `ulimit -f 40` does to the run
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    env = {**os.environ, "BALINT_ID_KEY": STRONG_KEY}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
         "--directory", str(project), "--cores", "1"],
        cwd=project, capture_output=True, text=True, env=env, preexec_fn=limit_file_size,
        timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    ours = [line for line in proc.stderr.splitlines() if line.startswith("balint-analysis")]
    expected = ("balint-analysis prepare: data/processed/demo/responses.csv: file too large for "
                "this session's file-size limit (`ulimit -f`) or the file system; raise the limit "
                "and run again.")  # fmt: skip
    assert ours == [expected]
    assert "Traceback" not in proc.stderr and "OSError" not in proc.stderr
    assert (project / "logs" / "demo" / "prepare.log").read_text().splitlines()[-1] == expected
    assert not (project / "data" / "processed" / "demo" / "responses.csv").exists()


def _run_power_gather(tmp_path: Path, stage) -> None:
    """``pipeline.run_stage`` as a workflow job runs it, with ``stage`` as the stage (its one
    line goes to the process's real stderr: ``capfd`` sees it)."""
    config = stage_config(apply_defaults(_demo()), "power_gather")
    out = {"csv": str(tmp_path / "out" / "power.csv"), "html": str(tmp_path / "out" / "p.html")}
    pipeline.STAGES["power_gather"] = stage
    pipeline.run_stage("power_gather", config, {}, out, str(tmp_path / "job.log"))


@pytest.mark.parametrize(("code", "fix"), [
    (errno.EROFS, "the folder is on a read-only file system; run from a writable copy"),
    (errno.ENOSPC, "no space left on the device; free disk space and run again"),
    (errno.EACCES, "permission denied; make the folder writable"),
    (errno.EMFILE, "too many open files in this process; raise the limit (`ulimit -n 4096`)"),
])  # fmt: skip
def test_os_errors_while_writing_are_one_line(tmp_path, monkeypatch, capfd, code, fix):
    from balint_analysis.io import write_csv

    def refuse(*args, **kwargs):  # what the file system answers to the write
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(pipeline, "STAGES", dict(pipeline.STAGES))
    monkeypatch.setattr(pd.DataFrame, "to_csv", refuse)
    with pytest.raises(SystemExit) as stop:
        _run_power_gather(tmp_path, lambda cfg, inp, out: write_csv(pd.DataFrame(), out["csv"]))
    assert stop.value.code == 1
    expected = f"balint-analysis power_gather: {tmp_path}/out/power.csv: {fix}"
    err = capfd.readouterr().err.strip()
    assert err.startswith(expected) and "\n" not in err
    assert (tmp_path / "job.log").read_text().strip() == err
    assert list((tmp_path / "out").iterdir()) == []  # no temporary file left behind


def test_an_unwritable_log_folder_is_one_line(tmp_path, monkeypatch, capfd):
    real_open = open

    def open_refusing_logs(file, *args, **kwargs):
        if str(file).endswith("job.log"):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(pipeline, "STAGES", dict(pipeline.STAGES))
    monkeypatch.setattr("builtins.open", open_refusing_logs)
    with pytest.raises(SystemExit):
        _run_power_gather(tmp_path, lambda cfg, inp, out: None)
    assert capfd.readouterr().err == (f"balint-analysis power_gather: {tmp_path}/job.log: "
                                       "permission denied; make the folder writable (and the "
                                       "file readable) for you, or run from a project folder "
                                       "you own.\n")  # fmt: skip


def test_memory_exhausted_in_a_stage_is_one_line(tmp_path, monkeypatch, capfd):
    def exhaust(cfg, inp, out):
        raise MemoryError

    monkeypatch.setattr(pipeline, "STAGES", dict(pipeline.STAGES))
    with pytest.raises(SystemExit):
        _run_power_gather(tmp_path, exhaust)
    assert capfd.readouterr().err == (
        f"balint-analysis power_gather: out of memory while working on {tmp_path}/out: free "
        "memory (close other programs, or give the job more memory) or split the export into "
        "smaller files.\n"
    )


def test_a_parser_running_out_of_memory_names_the_export(tmp_path, monkeypatch, capsys):
    """pandas' C parser reports exhausted memory as a ParserError ("out of memory"): the check
    says so and names the export instead of a tokenizing error."""
    import balint_analysis.ingest.read as ingest  # where load_table finds read_table

    def parser_out_of_memory(data, path, **kwargs):
        raise pd.errors.ParserError("Error tokenizing data. C error: out of memory")

    project = _demo_project(tmp_path)
    monkeypatch.setenv("BALINT_ID_KEY", STRONG_KEY)
    monkeypatch.setattr(ingest, "read_table", parser_out_of_memory)
    status = main(["check", "--config", str(project / "config" / "config.yaml")])
    out = capsys.readouterr().out
    assert status == 1
    assert ("  - out of memory while reading data/raw/demo/pre_qualtrics.csv: free memory (close "
            "other programs, or give the job more memory) or split the export into smaller "
            "files.") in out.splitlines()  # fmt: skip
    assert "ParserError" not in out and "tokenizing" not in out


def test_the_cli_reports_an_os_error_in_one_line(tmp_path, monkeypatch, capsys):
    import balint_analysis.simulate as simulate

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "w" / "x.csv"))

    monkeypatch.setattr(simulate, "write_cohort", full_disk)
    assert main(["simulate", "--seed", "1", "--out", str(tmp_path / "w")]) == 1
    assert capsys.readouterr().err == (f"balint-analysis: {tmp_path}/w/x.csv: no space left on "
                                       "the device; free disk space and run again.\n")  # fmt: skip


def _can_mount_read_only(tmp_path: Path) -> bool:
    """Whether this process may bind-mount a folder read-only in a private mount namespace
    (root with CAP_SYS_ADMIN): the one way to get a real read-only folder as root, for whom
    permission bits do not count."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    script = f"mount --bind {probe} {probe} && mount -o remount,bind,ro {probe}"
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                          check=False).returncode == 0  # fmt: skip


@pytest.mark.e2e
def test_a_read_only_output_folder_stops_the_run_with_one_line(tmp_path):
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs root and mount namespaces for a real read-only folder")
    project = _demo_project(tmp_path)
    (project / "data" / "processed").mkdir()
    run = (f"mount --bind data/processed data/processed && mount -o remount,bind,ro "
           f"data/processed && exec {sys.executable} -m snakemake --snakefile "
           f"{REPO / 'workflow' / 'Snakefile'} --cores 1")  # fmt: skip
    proc = subprocess.run(["unshare", "-m", "sh", "-c", run], cwd=project, capture_output=True,
                          text=True, env={**os.environ, "BALINT_ID_KEY": STRONG_KEY},
                          timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "OSError" not in proc.stderr
    ours = [line for line in proc.stderr.splitlines() if line.startswith("balint-analysis")]
    assert ours == ["balint-analysis: data/processed/demo: the folder is on a read-only file "
                    "system; run from a writable copy of the project (or mount it read-write)."]


@pytest.mark.e2e
def test_a_full_disk_stops_the_run_with_one_line(tmp_path):
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs root and mount namespaces for a small file system")
    project = _demo_project(tmp_path)
    (project / "data" / "processed").mkdir()
    run = (f"mount -t tmpfs -o size=60k tmpfs data/processed && exec {sys.executable} -m "
           f"snakemake --snakefile {REPO / 'workflow' / 'Snakefile'} --cores 1")  # fmt: skip
    proc = subprocess.run(["unshare", "-m", "sh", "-c", run], cwd=project, capture_output=True,
                          text=True, env={**os.environ, "BALINT_ID_KEY": STRONG_KEY},
                          timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "OSError" not in proc.stderr
    ours = [line for line in proc.stderr.splitlines() if line.startswith("balint-analysis")]
    assert ours == ["balint-analysis prepare: data/processed/demo/responses.csv: no space left "
                    "on the device; free disk space and run again."]
