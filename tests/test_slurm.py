"""The local-SLURM harness stops only a cluster it started, and a run whose SLURM controller is
gone stops within a minute with one line (tests/slurm/, balint_analysis.cluster)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from project_helpers import REPO, slurm_unavailable

from balint_analysis.cluster import controller_gone_message, watch_controller

SETUP = REPO / "tests" / "slurm" / "setup-local-slurm.sh"
TEARDOWN = REPO / "tests" / "slurm" / "teardown-local-slurm.sh"
STATE = Path("/run/balint-local-slurm")
CONF = Path("/etc/slurm/slurm.conf")
# One local cluster per machine: all tests that start or stop it run in one pytest-xdist worker
# (`make test` runs the suite with --dist loadgroup), one after the other.
pytestmark = pytest.mark.xdist_group("slurm")


# --- the watcher, with a fake controller -------------------------------------------------------

def _watch(executor: str | None, answers: list[bool], interval: float = 0.01,
           give_up_after: float = 0.05) -> list[str]:  # fmt: skip
    stopped, pings = [], iter(answers)
    thread = watch_controller(lambda: executor, stopped.append, ping=lambda: next(pings, False),
                              interval=interval, give_up_after=give_up_after)  # fmt: skip
    thread.join(5)
    assert not thread.is_alive()
    return stopped


def test_a_run_against_a_dead_controller_stops_before_it_submits():
    assert _watch("slurm", [False]) == [controller_gone_message(None)]


def test_a_controller_lost_during_the_run_stops_it_once_the_grace_time_is_over():
    (line,) = _watch("slurm", [True, True, True, False, True] + [False] * 50)
    assert line.startswith("the SLURM controller stopped answering (`scontrol ping`, 0 s)")
    assert "\n" not in line and "--rerun-incomplete" in line and "`squeue --me`" in line


def test_local_runs_are_not_watched():
    assert _watch("local", []) == []


# --- the harness, for real ---------------------------------------------------------------------

@pytest.fixture
def own_cluster():
    """The harness's state lock, held for the whole test: these tests stop the controller, so
    another test run's setup waits meanwhile (the scripts are told the caller holds the lock)."""
    reason = slurm_unavailable()
    if reason:
        pytest.skip(reason)
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "lock", "a") as lock:
        deadline = time.monotonic() + 300
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                assert time.monotonic() < deadline, "the SLURM harness stayed locked"
                time.sleep(1)
        if (STATE / "started").exists() or Path("/run/slurmctld.pid").exists():
            pytest.skip("a local SLURM cluster is running already (another test run's)")
        yield


def _harness(script: Path, user: str, pid: int, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BALINT_SLURM_STATE_LOCK_HELD": "1"}  # by own_cluster
    return subprocess.run(["bash", str(script), "--user", user, "--pid", str(pid), *extra],
                          capture_output=True, text=True, timeout=300, check=False,
                          env=env)  # fmt: skip


def _controller_up() -> bool:
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20,
                              check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return False
    return " is UP" in ping.stdout


@pytest.fixture
def users():
    """Stand-ins for test runs: live processes the harness registers as its users."""
    procs = [subprocess.Popen(["sleep", "600"]) for _ in range(3)]
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.mark.slurm
def test_teardown_stops_only_a_cluster_it_started_once_no_live_user_remains(own_cluster, users):
    run_a, run_b, run_c = users
    try:
        first = _harness(SETUP, "run-a", run_a.pid)
        assert (first.returncode, first.stdout) == (0, "started\n"), first.stderr
        controller = Path("/run/slurmctld.pid").read_text().strip()
        second = _harness(SETUP, "run-b", run_b.pid)
        assert (second.returncode, second.stdout) == (0, "reused\n"), second.stderr
        assert Path("/run/slurmctld.pid").read_text().strip() == controller  # not restarted
        # A third run registered and then died: it no longer keeps the cluster.
        assert _harness(SETUP, "run-c", run_c.pid).stdout == "reused\n"
        run_c.kill()
        run_c.wait()

        # The run that started the cluster finishes first: the other one keeps its cluster.
        done_a = _harness(TEARDOWN, "run-a", run_a.pid)
        assert "left running: 1 other live user(s)" in done_a.stderr
        assert _controller_up() and CONF.exists()

        # The last live user stops it, and no slurm.conf names a stopped controller afterwards
        # (every scontrol call, and so every Snakemake start with the SLURM plugin, would wait).
        done_b = _harness(TEARDOWN, "run-b", run_b.pid)
        assert "stopped" in done_b.stderr
        assert not CONF.exists() and not (STATE / "started").exists()
        assert not any((STATE / "users").iterdir())
    finally:
        for user, proc in (("run-a", run_a), ("run-b", run_b)):
            _harness(TEARDOWN, user, proc.pid)


@pytest.mark.slurm
def test_a_cluster_the_harness_did_not_start_is_never_stopped(own_cluster, users):
    run_a = users[0]
    try:
        assert _harness(SETUP, "run-a", run_a.pid).stdout == "started\n"
        (STATE / "started").rename(STATE / "started.hidden")  # as if started by hand
        assert _harness(SETUP, "run-b", users[1].pid).stdout == "foreign\n"
        done = _harness(TEARDOWN, "run-a", run_a.pid)
        assert "nothing stopped" in done.stderr
        assert _controller_up() and CONF.exists()
    finally:
        if (STATE / "started.hidden").exists():
            (STATE / "started.hidden").rename(STATE / "started")
        for i, user in enumerate(("run-a", "run-b")):
            _harness(TEARDOWN, user, users[i].pid)
    assert not CONF.exists()


def _power_project(tmp_path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "balint_analysis.cli", "simulate", "--preset", "small",
                    "--seed", "1", "--out", "data/raw/plan", "--config-out", "config/config.yaml",
                    "--cohort", "plan"], cwd=tmp_path, check=True, capture_output=True)  # fmt: skip
    config_path = tmp_path / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["power"] = {"replicates": 20, "chunk_size": 10, "seed": 7,
                       "grid": {"n_per_arm": [40], "group_size": [10], "effect_d": [0.5],
                                "icc": [0.05], "attrition": [0.1], "timepoints": [3],
                                "prepost_r": [0.6]}}  # fmt: skip
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp_path


def _slurm_power_run(project: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "snakemake", "power", "--snakefile",
                             str(REPO / "workflow" / "Snakefile"), "--directory", str(project),
                             "--workflow-profile", str(REPO / "workflow" / "profiles" / "slurm"),
                             "--slurm-init-seconds-before-status-checks", "2", "--jobs", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _stop_controller(remove_conf: bool) -> None:
    """What another run's teardown did: the controller stopped (and its slurm.conf removed).

    Returns once the controller is gone and ``scontrol ping`` no longer reaches one: setup made
    sure the pid file names the live controller that owns the port and answers."""
    pid = int(Path("/run/slurmctld.pid").read_text())
    assert _state(pid) not in ("Z", "X"), f"no live controller with the pid file's pid {pid}"
    assert _controller_up(), "setup returned, but the controller does not answer"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists() and _state(pid) not in ("Z", "X"):
        assert time.monotonic() < deadline, "the controller did not stop"
        time.sleep(0.2)
    while _controller_up():
        assert time.monotonic() < deadline, "a controller still answers"
        time.sleep(0.2)
    if remove_conf:
        CONF.unlink()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


@pytest.mark.slurm
@pytest.mark.e2e
def test_a_slurm_run_whose_controller_goes_away_stops_within_a_minute(own_cluster, tmp_path):
    project = _power_project(tmp_path)
    me, run = f"test-{os.getpid()}", None
    try:
        assert _harness(SETUP, me, os.getpid()).stdout == "started\n"
        run = _slurm_power_run(project)
        deadline = time.monotonic() + 120
        while not list((project / ".snakemake").glob("slurm_logs/rule_power_chunk/*/*.log")):
            assert time.monotonic() < deadline and run.poll() is None, "no job was submitted"
            time.sleep(0.5)
        _stop_controller(remove_conf=True)
        stopped = time.monotonic()
        out, err = run.communicate(timeout=120)
        took = time.monotonic() - stopped
    finally:
        if run is not None and run.poll() is None:
            run.kill()  # before the fix: it waits forever
            run.wait()
        _harness(TEARDOWN, me, os.getpid())
    # The teardown also ended the job steps left waiting for the controller (their sockets).
    assert "/var/spool/slurmd/" not in Path("/proc/net/unix").read_text()
    assert took < 60 and run.returncode == 1
    lines = [line for line in (out + err).splitlines() if "SLURM controller" in line]
    assert len(lines) == 1 and lines[0].startswith("balint-analysis: the SLURM controller "
                                                   "stopped answering")  # fmt: skip
    assert "Traceback" not in out + err


@pytest.mark.slurm
@pytest.mark.e2e
def test_a_slurm_run_against_a_stopped_controller_stops_at_once(own_cluster, tmp_path):
    project = _power_project(tmp_path)
    me, run = f"test-{os.getpid()}", None
    try:
        assert _harness(SETUP, me, os.getpid()).stdout == "started\n"
        _stop_controller(remove_conf=False)
        started = time.monotonic()
        run = _slurm_power_run(project)
        out, err = run.communicate(timeout=120)
        took = time.monotonic() - started
    finally:
        if run is not None and run.poll() is None:
            run.kill()
            run.wait()
        _harness(TEARDOWN, me, os.getpid())
    assert took < 60
    assert f"balint-analysis: {controller_gone_message(None)}" in err.splitlines()
    assert "Traceback" not in out + err and "Submitted batch job" not in out + err
