"""Run independent work units inline, in local worker processes, or on a Dask distributed cluster.

Results come back as they complete (not in submission order) so the driver can store each at once, with a tqdm
progress bar and ETA in every mode. A unit that raises yields an `Outcome` with `error` set; the others go on.

- `workers=1`: inline, in this process (torch keeps its thread count unless `threads` is given).
- `workers=N>1`: a `ProcessPoolExecutor` of N processes started with forkserver (spawn where forkserver is absent);
  each runs torch with `threads` threads, by default cpu_count // N, so the processes do not oversubscribe the cores
  (oversubscribed OpenMP threads spin: on 2 busy cores, 2 threads per process trained 10x slower than 1 here).
- `scheduler="tcp://HOST:PORT"`: a Dask cluster the user started (`dask scheduler`, then `dask worker ADDRESS` on each
  machine, from the same environment so the unit's module imports there). Dask's nanny starts workers with
  OMP_NUM_THREADS=1, so torch runs one thread per task unless `threads` is given; a worker runs `--nthreads` tasks
  at a time.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from harness.checks import require_int, require_number


@dataclass(frozen=True)
class Outcome:
    """The result of `items[index]`, or the error (type and message) it raised."""

    index: int
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Executor:
    """Where work units run: inline (workers=1), N local processes, or the Dask scheduler at `scheduler`."""

    workers: int | None = None
    """Local worker processes; None = one per CPU core. Ignored with a scheduler."""
    scheduler: str | None = None
    progress: bool = True
    threads: int | None = None
    """Torch threads per worker; None = cpu_count // workers for local processes, unchanged inline and on Dask."""
    connect_timeout: float = 30.0
    """Seconds to wait for the Dask scheduler."""
    no_workers_timeout: float = 300.0
    """Seconds a Dask run waits while its cluster has no workers before it stops with an error."""

    def __post_init__(self) -> None:
        for name in ("workers", "threads"):
            require_int("Executor", name, getattr(self, name), minimum=1, optional=True)
        for name in ("connect_timeout", "no_workers_timeout"):
            require_number("Executor", name, getattr(self, name), 0, low_open=True)
        if self.scheduler is not None and "://" not in self.scheduler:
            raise ValueError(f"scheduler must be an address like tcp://HOST:PORT, got {self.scheduler!r}")

    @property
    def local_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def describe(self) -> str:
        if self.scheduler:
            return f"dask cluster at {self.scheduler}"
        return "inline" if self.local_workers == 1 else f"{self.local_workers} local processes"

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any], desc: str = "work units") -> Iterator[Outcome]:
        """Yield one `Outcome` per item as each completes; `fn` must be a module-level (picklable) function."""
        if not items:
            return
        bar = tqdm(total=len(items), desc=desc, unit="unit", disable=not self.progress, dynamic_ncols=True)
        failures = 0
        with bar:
            if self.scheduler:
                task = functools.partial(_with_threads, fn, self.threads) if self.threads else fn
                outcomes = _run_dask(task, items, self.scheduler, self.connect_timeout, self.no_workers_timeout)
            elif self.local_workers == 1:
                outcomes = _run_inline(fn, items, self.threads)
            else:
                workers = min(self.local_workers, len(items))
                outcomes = _run_pool(fn, items, workers, self.threads or max(1, (os.cpu_count() or 1) // workers))
            for outcome in outcomes:
                failures += not outcome.ok
                if failures:
                    bar.set_postfix(failed=failures)
                bar.update(1)
                yield outcome


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _run_inline(fn: Callable[[Any], Any], items: Sequence[Any], threads: int | None) -> Iterator[Outcome]:
    import torch

    before = torch.get_num_threads()
    try:
        for index, item in enumerate(items):
            torch.set_num_threads(threads or before)
            try:
                value = fn(item)
            except Exception as err:
                outcome = Outcome(index, error=_error(err))
            else:
                outcome = Outcome(index, value)
            torch.set_num_threads(before)  # the driver's own work between units runs as before
            yield outcome
    finally:
        torch.set_num_threads(before)


def _set_torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _with_threads(fn: Callable[[Any], Any], threads: int, item: Any) -> Any:
    _set_torch_threads(threads)
    return fn(item)


def _pool_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


WATCHDOG_SECONDS = 0.5
"""How often a worker checks that the driver that started it is alive."""


def _init_worker(threads: int, driver: int) -> None:
    """Pool worker set-up: torch threads, and exit as soon as the driver (pid `driver`) is gone."""
    _set_torch_threads(threads)
    _exit_with_parent(driver)


def _exit_with_parent(driver: int) -> None:
    """Never outlive the driver: a parent-death signal (Linux) and a watchdog thread on the driver's pid.

    Workers are children of the forkserver, which exits with the driver; the signal follows its death, the watchdog
    covers other platforms and start methods (it exits once the driver's pid is gone or the parent changed).
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_SECONDS)
            if os.getppid() != parent or not _alive(driver):
                os._exit(1)

    threading.Thread(target=watch, name="driver-watchdog", daemon=True).start()


PR_SET_PDEATHSIG = 1
"""prctl option: the signal a process receives when its parent dies (linux/prctl.h)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_pool(fn: Callable[[Any], Any], items: Sequence[Any], workers: int, threads: int) -> Iterator[Outcome]:
    pool = ProcessPoolExecutor(
        workers, mp_context=_pool_context(), initializer=_init_worker, initargs=(threads, os.getpid())
    )
    finished = False
    try:
        pending: dict[Future, int] = {pool.submit(fn, item): i for i, item in enumerate(items)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                err = future.exception()
                yield Outcome(index, error=_error(err)) if err else Outcome(index, future.result())
        finished = True
    finally:
        if not finished:  # interrupted (Ctrl-C, SIGTERM) or abandoned: stop the units in flight, nothing waits on them
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


DASK_POLL_SECONDS = 0.1
"""How often a run on Dask checks that its cluster still has workers."""


def _run_dask(
    fn: Callable[[Any], Any], items: Sequence[Any], address: str, timeout: float, no_workers_timeout: float
) -> Iterator[Outcome]:
    try:
        from distributed import Client, as_completed
    except ImportError as err:
        raise ValueError("running on a scheduler needs the `distributed` package (pip install distributed)") from err
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except OSError as err:
        raise ValueError(f"cannot reach the Dask scheduler at {address}: {err}") from err
    futures = []
    try:
        futures = [client.submit(fn, item, pure=False) for item in items]
        index = {future.key: i for i, future in enumerate(futures)}
        completed, left, idle_since = as_completed(futures, loop=client.loop), len(futures), None
        while left:
            done = completed.next_batch(block=False)
            left -= len(done)
            for future in done:
                i = index[future.key]
                if future.status == "finished":
                    yield Outcome(i, future.result())
                else:
                    err = future.exception()
                    yield Outcome(i, error=_error(err) if err else f"task {future.status}")
                future.release()
            if done or client.scheduler_info().get("workers"):
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > no_workers_timeout:
                raise ValueError(
                    f"the Dask cluster at {address} has had no workers for {no_workers_timeout:g} s with "
                    f"{left} unit(s) left; start workers (`dask worker {address}`) and rerun (stored results "
                    "are kept)"
                )
            if left and not done:
                time.sleep(DASK_POLL_SECONDS)
    finally:
        unfinished = [f for f in futures if not f.done()]
        if unfinished:
            client.cancel(unfinished)
        client.close()
