"""Timing helpers: wall time and peak RSS of a command, medians, the figure record."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
SNAKEFILE = REPO / "workflow" / "Snakefile"


def load() -> float:
    """1-minute load average (other processes on the machine inflate every timing)."""
    return round(os.getloadavg()[0], 2)


@dataclass
class Run:
    """One measured command: wall seconds, peak RSS (MB) of its process tree, the load."""

    wall: float
    rss_mb: float
    load: float
    stdout: str = ""
    timed_out: bool = False
    cpu: float = float("nan")  # user + system seconds of the command and its reaped children


def run_cmd(cmd: Sequence[str], cwd: Path | str, env: dict | None = None,
            check: bool = True, timeout: float | None = None) -> Run:  # fmt: skip
    """Run ``cmd`` and wait for it with ``wait4``: its own rusage, not the parent's total.

    ``ru_maxrss`` of a waited child is the largest resident set of any process in its tree
    (Linux: the child's and its reaped descendants' maximum), i.e. the peak of the heaviest
    single process, not the sum of concurrent ones. After ``timeout`` seconds the command's
    process group (it runs in its own session) is terminated and ``Run.timed_out`` is set.
    """
    before = load()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        expired = threading.Event()

        def stop() -> None:
            expired.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            time.sleep(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, stop) if timeout else None
        if timer:
            timer.daemon = True
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if timer:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        log.seek(0)
        out = log.read()
    if check and proc.returncode != 0 and not expired.is_set():
        tail = "\n".join(out.splitlines()[-30:])
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n"
                           f"{tail}")  # fmt: skip
    return Run(wall=wall, rss_mb=usage.ru_maxrss / 1024, load=max(before, load()), stdout=out,
               timed_out=expired.is_set(), cpu=usage.ru_utime + usage.ru_stime)  # fmt: skip


def slurm_shim_env() -> dict:
    """An environment whose ``scontrol`` fails at once (as when SLURM is not installed).

    snakemake-executor-plugin-slurm runs ``scontrol show config`` while Snakemake imports its
    executor plugins, i.e. on every start-up; with SLURM client tools installed but no reachable
    controller that call blocks ~9 s. The shim makes it fail immediately, which is what a machine
    without SLURM (CI) sees.
    """
    shim = Path(tempfile.gettempdir()) / "balint-bench-shim"
    shim.mkdir(exist_ok=True)
    exe = shim / "scontrol"
    exe.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    exe.chmod(0o755)
    return {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}"}


def probe_scontrol() -> Run | None:
    """Time the plugin's start-up probe (``scontrol show config``) when scontrol is on PATH."""
    import shutil

    if shutil.which("scontrol") is None:
        return None
    return run_cmd(["scontrol", "show", "config"], tempfile.gettempdir(), check=False)


def snakemake(*args: str) -> list[str]:
    return [PY, "-m", "snakemake", "--snakefile", str(SNAKEFILE), *args]


def median(values: Sequence[float]) -> float:
    vals = [v for v in values if v == v]
    return statistics.median(vals) if vals else float("nan")


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


@dataclass
class Figure:
    """One line of the table (and one record of the JSON)."""

    workload: str
    name: str
    unit: str
    runs: list[float]
    target: str = ""
    limit: float | None = None  # pass when value <= limit (or >= limit when higher_is_better)
    higher_is_better: bool = False
    loads: list[float] = field(default_factory=list)
    note: str = ""
    value: float | None = None  # defaults to the median of runs

    def __post_init__(self) -> None:
        if self.value is None:
            self.value = median(self.runs)

    @property
    def key(self) -> str:
        return f"{self.workload}: {self.name}"

    @property
    def passed(self) -> bool | None:
        if self.limit is None or self.value != self.value:
            return None
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    def as_dict(self) -> dict:
        return {"workload": self.workload, "name": self.name, "unit": self.unit,
                "value": self.value, "runs": self.runs, "target": self.target,
                "limit": self.limit, "higher_is_better": self.higher_is_better,
                "pass": self.passed, "load": self.loads, "note": self.note}  # fmt: skip
