"""Processes: workers die with their parent, and a second run of a cohort gets one line."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from project_helpers import REPO, copy_repository

from balint_analysis.errors import InputError
from balint_analysis.runlock import cohort_is_free, executes_jobs, hold_cohort
from balint_analysis.workers import die_with_parent, map_in_processes, map_inherited, run_beside

REFERENCE = REPO / "tests" / "reference"


def _marked_processes(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment carries ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


def _wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# The model stage on a cohort of six outcomes with two workers; each outcome first waits, so
# the workers are certainly busy when the stage's main process is killed.
MODEL_STAGE = textwrap.dedent("""
    import sys, time
    import pandas as pd
    import balint_analysis.models as models
    import balint_analysis.models.analyse as analyse

    fit_outcome = analyse.outcome_results
    def slow_outcome(*args, **kwargs):
        time.sleep(300)
        return fit_outcome(*args, **kwargs)
    analyse.outcome_results = slow_outcome
    ref = sys.argv[1]
    models.analyse_outcomes(
        pd.read_csv(f"{ref}/twoarm_scores.csv"), pd.read_csv(f"{ref}/twoarm_participants.csv"),
        timepoints=["pre", "post", "followup"], intervention="balint", control="control",
        primary="mbi_hss.emotional_exhaustion", n_jobs=2)
""")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_killed_model_stage_leaves_no_worker_behind():
    marker = f"BALINT_TEST_MARKER={uuid.uuid4().hex}"
    env = {**os.environ, "BALINT_TEST_MARKER": marker.split("=", 1)[1]}
    main = subprocess.Popen([sys.executable, "-c", MODEL_STAGE, str(REFERENCE)], env=env)
    try:
        # the main process and both workers
        assert _wait_for(lambda: len(_marked_processes(marker)) >= 3, 60), "no workers started"
        workers = [pid for pid in _marked_processes(marker) if pid != main.pid]
        assert len(workers) == 2
        main.send_signal(signal.SIGKILL)
        main.wait()
        assert _wait_for(lambda: not _marked_processes(marker), 5), (
            f"left behind: {_marked_processes(marker)}")
    finally:
        _kill_all(_marked_processes(marker))
        if main.poll() is None:
            main.kill()


WATCHED_CHILD = textwrap.dedent("""
    import os, sys, time
    from balint_analysis.workers import die_with_parent

    parent = os.getpid()
    child = os.fork()
    if child == 0:
        print(die_with_parent(parent, use_prctl=sys.argv[1] == "prctl"), flush=True)
        time.sleep(300)
        os._exit(0)
    time.sleep(300)
""")


@pytest.mark.parametrize("mechanism", ["prctl", "watcher"])
def test_a_worker_dies_with_its_parent_by_either_mechanism(mechanism):
    if mechanism == "prctl" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    marker = uuid.uuid4().hex
    env = {**os.environ, "BALINT_TEST_MARKER": marker}
    parent = subprocess.Popen([sys.executable, "-c", WATCHED_CHILD, mechanism], env=env,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert parent.stdout.readline().strip() == mechanism
        assert len(_marked_processes(marker)) == 2
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_for(lambda: not _marked_processes(marker), 3)
    finally:
        _kill_all(_marked_processes(marker))


def _orphan_check(not_my_parent: int) -> None:
    die_with_parent(not_my_parent)
    time.sleep(30)


def test_a_worker_whose_parent_died_before_it_started_ends_at_once():
    """The kernel signal only covers a parent that dies after it is armed: a worker forked by a
    parent that is already gone (here: told a pid that is not its parent) must end itself."""
    process = multiprocessing.get_context("fork").Process(target=_orphan_check, args=(1,))
    process.start()
    process.join(5)
    assert process.exitcode == -signal.SIGKILL


def _square_plus(x: int, y: int) -> int:
    return x * x + y


def test_map_in_processes_keeps_task_order_for_any_number_of_workers():
    tasks = [(x, 10 * x) for x in range(7)]
    expected = [x * x + 10 * x for x in range(7)]
    for n_jobs in (1, 2, 3, 20):
        assert map_in_processes(_square_plus, tasks, n_jobs) == expected


def test_run_beside_computes_in_a_fork_what_it_would_compute_here():
    """The background task runs in another process on the tables it inherits (a closure,
    never pickled); its result comes back, the foreground's is computed here."""
    table = list(range(1000))
    here = os.getpid()
    there, mine = run_beside(lambda: (os.getpid(), sum(table)), lambda: (os.getpid(), len(table)),
                             what="x", alone="y")  # fmt: skip
    assert there[0] != here and there[1] == sum(range(1000))
    assert mine == (here, 1000)


def test_map_inherited_runs_closures_in_forks_in_task_order():
    """The tasks close over a table the workers inherit (a lambda cannot be pickled)."""
    table = list(range(500))
    tasks = [lambda k=k: (k, sum(table[k:]), os.getpid()) for k in range(3)]
    for n_jobs in (1, 2):
        results = map_inherited(tasks, n_jobs, what="x", alone="y")
        assert [r[:2] for r in results] == [(k, sum(range(k, 500))) for k in range(3)]
        assert (os.getpid() in {r[2] for r in results}) == (n_jobs == 1)


def _fails(message: str):
    def fail():
        raise InputError(message)

    return fail


def test_run_beside_raises_the_background_error_first_as_in_turn():
    with pytest.raises(InputError, match="^background$"):
        run_beside(_fails("background"), _fails("foreground"), what="x", alone="y")
    with pytest.raises(InputError, match="^foreground$"):
        run_beside(lambda: 1, _fails("foreground"), what="x", alone="y")


def test_a_dead_background_worker_is_one_line():
    expected = r"^a process validating the responses ended unexpectedly .*`--cores 1` to validate"
    with pytest.raises(InputError, match=expected):
        run_beside(lambda: os._exit(3), lambda: 2, what="validating the responses",
                   alone="validate in one process")  # fmt: skip


# --- one run per cohort ------------------------------------------------------------------------

HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from balint_analysis.runlock import hold_cohort

    lock = hold_cohort(sys.argv[1], sys.argv[2])
    print("held", flush=True)
    time.sleep(300)
""")


def _hold_in_other_process(cohort: str, root: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, cohort, str(root)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_holder_gets_one_line_naming_the_first(tmp_path):
    first = hold_cohort("c1", tmp_path)
    with pytest.raises(InputError) as caught:
        hold_cohort("c1", tmp_path)
    message = str(caught.value)
    assert message.startswith("another run is analysing cohort 'c1' in this project directory "
                              f"(pid {os.getpid()}, started ")  # fmt: skip
    assert "\n" not in message and "snakemake --unlock" in message
    assert hold_cohort("c2", tmp_path) is not None  # another cohort of the project is free
    first.release()
    hold_cohort("c1", tmp_path).release()
    cohort_is_free("c1", tmp_path)


def test_a_killed_run_leaves_its_cohort_free(tmp_path):
    holder = _hold_in_other_process("c1", tmp_path)
    with pytest.raises(InputError, match=f"pid {holder.pid}"):
        cohort_is_free("c1", tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    cohort_is_free("c1", tmp_path)  # no --unlock, no waiting: the kernel dropped the lock


@pytest.mark.parametrize(("main_process", "dry_run", "argv", "expected"), [
    (True, False, ["--cores", "1"], True),
    (True, False, ["power", "--workflow-profile", "workflow/profiles/slurm"], True),
    (True, False, ["--delete-all-output"], True),
    (True, True, ["--cores", "1"], False),
    (True, False, ["--unlock"], False),
    (True, False, ["--list"], False),
    (True, False, ["--summary"], False),
    (True, False, ["--lint"], False),
    (False, False, ["--target-jobs", "model:", "--mode", "remote"], False),
])  # fmt: skip
def test_only_a_run_that_executes_jobs_takes_the_lock(main_process, dry_run, argv, expected):
    assert executes_jobs(main_process, dry_run, argv) is expected


def _snakemake(project: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "BALINT_ID_KEY"}
    return subprocess.Popen([sys.executable, "-m", "snakemake", "--directory", str(project),
                             "--snakefile", str(project / "workflow" / "Snakefile"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip


def _finished(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory):
    return copy_repository(tmp_path_factory.mktemp("concurrent"))


@pytest.mark.e2e
def test_a_second_run_of_a_cohort_gets_one_line_and_the_first_finishes(demo_project):
    first = _snakemake(demo_project, "--cores", "1")
    try:
        lock = demo_project / ".snakemake" / "balint" / "demo.lock"
        incomplete = demo_project / ".snakemake" / "incomplete"
        # Holding the cohort, and with a job under way (Snakemake's own check would then stop
        # the second run with IncompleteFilesException).
        assert _wait_for(lambda: lock.is_file() and f"pid {first.pid}," in lock.read_text()
                         and incomplete.is_dir() and any(incomplete.iterdir()), 120)  # fmt: skip
        status, output = _finished(_snakemake(demo_project, "--cores", "1"))
        assert status == 1
        lines = [line for line in output.splitlines() if "another run" in line]
        assert lines == [f"another run is analysing cohort 'demo' in this project directory "
                         f"(pid {first.pid}, {lines[0].split(', ', 1)[1]}"]  # fmt: skip
        assert "Incomplete" not in output and "Traceback" not in output
        assert "Building DAG" not in output  # stopped before Snakemake looked at any file

        env = {k: v for k, v in os.environ.items() if k != "BALINT_ID_KEY"}
        cli = subprocess.run([sys.executable, "-m", "balint_analysis.cli", "run", "--config",
                              str(demo_project / "config" / "config.yaml"), "--cores", "1"],
                             capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
        assert cli.returncode == 1
        assert cli.stderr.splitlines() == [f"balint-analysis: {lines[0]}"]
        assert first.poll() is None, "the first run ended before the second was refused"
    finally:
        status, output = _finished(first)
    assert status == 0, output[-2000:]


@pytest.mark.e2e
def test_dry_runs_and_read_only_commands_work_while_a_run_holds_the_cohort(demo_project):
    holder = _hold_in_other_process("demo", demo_project)
    try:
        for args in (["-n", "--cores", "1"], ["--list"], ["--summary"]):
            status, output = _finished(_snakemake(demo_project, *args))
            assert status == 0, (args, output[-2000:])
            assert "another run" not in output
        status, output = _finished(_snakemake(demo_project, "--cores", "1"))
        assert status == 1 and f"(pid {holder.pid}, started " in output
    finally:
        holder.kill()
        holder.wait()
