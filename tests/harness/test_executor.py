"""The executor inline, in local processes, and on a real Dask cluster (a scheduler and two worker processes)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from estimators.bpe import SYNTHETIC_ROOT, WorkUnit, run_unit
from harness.executor import Executor, Outcome
from harness.train import BPE

TINY = BPE(epochs=1, batch_size=64, lr=0.1, channels=4, cells=1, resolution=8)
ARCHS = {
    0: "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    11: "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
}
STARTUP_TIMEOUT_S = 90


def _units() -> list[WorkUnit]:
    return [WorkUnit(TINY, "cifar10-valid", a, arch_str, 0, data_root=SYNTHETIC_ROOT) for a, arch_str in ARCHS.items()]


def _by_index(outcomes: Iterator[Outcome]) -> dict[int, Outcome]:
    return {o.index: o for o in outcomes}


def test_inline_yields_values_and_errors() -> None:
    outcomes = _by_index(Executor(workers=1, progress=False).run(math.sqrt, [4.0, -1.0, 9.0]))
    assert outcomes[0].value == 2.0 and outcomes[2].value == 3.0
    assert not outcomes[1].ok and outcomes[1].error.startswith("ValueError")
    assert Executor(workers=1).describe() == "inline"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"workers": 0}, "workers"),
        ({"workers": True}, "workers"),
        ({"threads": 0}, "threads"),
        ({"scheduler": "localhost:8786"}, "tcp://"),
    ],
)
def test_rejects_bad_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Executor(**kwargs)


def test_unreachable_scheduler_is_a_clear_error() -> None:
    executor = Executor(scheduler="tcp://127.0.0.1:1", progress=False, connect_timeout=1)
    with pytest.raises(ValueError, match="cannot reach the Dask scheduler"):
        list(executor.run(math.sqrt, [1.0]))


@pytest.mark.slow
def test_local_processes_match_inline_training() -> None:
    units = _units()
    inline = _by_index(Executor(workers=1, threads=1, progress=False).run(run_unit, units))
    pooled = _by_index(Executor(workers=2, progress=False).run(run_unit, [*units, None]))
    assert not pooled[2].ok  # a unit that raises does not stop the others
    for i, unit in enumerate(units):
        assert pooled[i].ok, pooled[i].error
        assert pooled[i].value.arch == unit.arch
        assert np.isfinite(pooled[i].value.score) and pooled[i].value.wall_seconds > 0
        assert abs(pooled[i].value.score - inline[i].value.score) <= 1.0  # same seed; thread counts may differ


def _wait_for(path: Path, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not path.exists() or not path.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start (exit code {process.poll()})")
        time.sleep(0.2)


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A `dask scheduler` and two `dask worker` processes on loopback; yields the scheduler address."""
    pytest.importorskip("distributed")
    from distributed import Client

    scheduler_file = tmp_path / "scheduler.json"
    log = open(tmp_path / "cluster.log", "w")  # noqa: SIM115 (closed below)
    common = ["--no-dashboard"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--scheduler-file", str(scheduler_file), *common],
            stdout=log, stderr=subprocess.STDOUT,
        )
    ]  # fmt: skip
    try:
        _wait_for(scheduler_file, processes[0], "dask scheduler")
        address = json.loads(scheduler_file.read_text())["address"]
        for name in ("w1", "w2"):
            env = os.environ | {"BPEBENCH_TEST_WORKER": name}
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", address, "--name", name, "--nthreads", "1",
                     "--host", "127.0.0.1", "--local-directory", str(tmp_path / name), "--death-timeout", "60",
                     *common],
                    stdout=log, stderr=subprocess.STDOUT, env=env,
                )
            )  # fmt: skip
        with Client(address, timeout=STARTUP_TIMEOUT_S) as client:
            client.wait_for_workers(2, timeout=STARTUP_TIMEOUT_S)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)
        log.close()


@pytest.mark.slow
def test_dask_cluster_runs_units_on_both_workers(dask_cluster: str) -> None:
    executor = Executor(scheduler=dask_cluster, progress=False)
    assert executor.describe() == f"dask cluster at {dask_cluster}"
    names = _by_index(executor.run(os.getenv, ["BPEBENCH_TEST_WORKER"] * 8))
    assert len(names) == 8 and all(o.ok for o in names.values())
    assert {o.value for o in names.values()} == {"w1", "w2"}, "both worker processes should have taken tasks"

    units = _units()
    outcomes = _by_index(executor.run(run_unit, [*units, None]))
    assert not outcomes[2].ok  # an error comes back as an outcome
    inline = _by_index(Executor(workers=1, threads=1, progress=False).run(run_unit, units))
    for i, unit in enumerate(units):
        assert outcomes[i].ok, outcomes[i].error
        result = outcomes[i].value
        assert (result.arch, result.seed, len(result.curve)) == (unit.arch, 0, TINY.epochs)
        assert abs(result.score - inline[i].value.score) <= 1.0


ORPHAN_DRIVER = """
import os, sys, time
sys.path.insert(0, {helpers!r})
from harness.app.cli import _interrupt_on_sigterm
from harness.executor import Executor
import sleeper
_interrupt_on_sigterm()
try:
    for _ in Executor(workers=2, progress=False, threads=1).run(sleeper.sleep_and_report, [{pids!r}] * 4):
        pass
except KeyboardInterrupt:
    sys.exit(130)
"""
SLEEPER = """
import os, time
from pathlib import Path

def sleep_and_report(folder):
    Path(folder, str(os.getpid())).touch()
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_workers_do_not_outlive_a_killed_driver(tmp_path: Path, signal_name: str) -> None:
    import signal

    helpers, pids = tmp_path / "helpers", tmp_path / "pids"
    helpers.mkdir()
    pids.mkdir()
    (helpers / "sleeper.py").write_text(SLEEPER)
    script = ORPHAN_DRIVER.format(helpers=str(helpers), pids=str(pids))
    driver = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = [int(p.name) for p in pids.iterdir()]
    assert len(workers) == 2, "the workers did not start"
    children = subprocess.run(["pgrep", "-P", str(driver.pid)], capture_output=True, text=True).stdout.split()
    driver.send_signal(getattr(signal, signal_name))
    code = driver.wait(timeout=30)
    assert code == (130 if signal_name == "SIGTERM" else -signal.SIGKILL)
    watched = workers + [int(c) for c in children]  # the pool's workers, the forkserver and the resource tracker
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in watched) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in watched if _alive(p)], "processes outlived the driver"


def test_a_dask_cluster_without_workers_times_out_with_a_message() -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        executor = Executor(scheduler=cluster.scheduler_address, progress=False, no_workers_timeout=2.0)
        start = time.monotonic()
        with pytest.raises(ValueError, match=r"has had no workers for 2 s with 3 unit\(s\) left"):
            list(executor.run(math.sqrt, [1.0, 4.0, 9.0]))
        assert time.monotonic() - start < 30


def test_dask_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="no_workers_timeout"):
        Executor(no_workers_timeout=0)
