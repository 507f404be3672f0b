"""Run a searcher over many seeds (through `harness.executor`: inline, local processes or Dask), resume, report.

Each seed's search is deterministic and independent. Finished seeds are appended, one JSON line each (flushed and
fsynced), to `<cache>/searches/<searcher>_<estimator>_<dataset>_<budget>s[_<queries>q][_<protocol>]_<key>.jsonl`
(or that name in a directory the caller gives, e.g. under `results/` to commit a costly live search),
where `key` hashes everything that changes a search: searcher and its config, protocol, estimator and its config
(for table estimators a content fingerprint of the ground-truth arrays they read, so a rebuild of the same data
keeps the key and a merge that changes the values does not), dataset, budget and stop limits. Only the calling
process writes (it holds a lock on the file), so a killed run loses at most the seeds in flight, and rerunning the
same command resumes. A torn last line is ignored.

A live estimator (one that trains or runs networks) keeps what it computed in a results store of each seed's own,
`<log without .jsonl>.stores/seed-<N>.h5`: the estimator trains with the search's seed, so no two seeds could share
a result, one writer per file lets seeds run in parallel, and a killed seed replays its trained archs from its store
for free (their recorded cost is still paid from the budget) and goes on where it stopped.

The report reads the ground truth of each chosen arch: the seed-mean 200-epoch accuracy on the dataset's selection
split (x-valid; ori-test for `cifar10`) and, where the file has it, test accuracy (`cifar10` ori-test for
`cifar10-valid`, as NB201's Table 5 reports it; x-test for `cifar100` and `ImageNet16-120`). Where the search read
seeds of that very target (one seed of 200-epoch training), the chosen arch is scored on the seeds the search did
not see (`held-out`; NaN, and left out of the mean, where it saw them all). For the settings of NB201's Table 5 the
report adds Welch's t-test of the mean against NB201's published mean and std over its 500 runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

import estimators
import searchers as registry
from harness import paths
from harness.datasets import default_split, nb201_test
from harness.estimation import Execution, check_ready
from harness.executor import Executor
from harness.groundtruth import GroundTruth, schema
from harness.metrics import welch
from harness.records import fmt_seconds
from searchers.base import (
    DEFAULT_MAX_STALL,
    DEFAULT_MAX_STEPS,
    DEFAULT_PROTOCOL,
    Problem,
    Searcher,
    SearchResult,
    Trajectory,
    check_limits,
    check_protocol,
)

STORE_VERSION = 2
NB201_TABLE5 = {"rs": (90.93, 0.36), "rea": (91.19, 0.31), "reinforce": (91.09, 0.37)}
"""Dong & Yang (ICLR 2020), Table 5: cifar10-valid validation accuracy of the chosen arch, mean and std."""
NB201_RUNS = 500
"""Runs behind each Table 5 figure."""
TABLE5_SETTING = {"estimator": "tabular-hp12", "dataset": "cifar10-valid", "budget": 12_000.0, "protocol": "nb201"}


@dataclass(frozen=True)
class SearchSpec:
    """One search setting: which searcher (with options), which estimator, dataset, budget in seconds."""

    searcher: str
    estimator: str | None
    dataset: str
    budget: float
    options: dict = field(default_factory=dict)
    """Keyword options of the searcher's factory, e.g. {'population': 10} (rea) or {'config': DartsConfig(...)}."""
    max_steps: int = DEFAULT_MAX_STEPS
    max_stall: int = DEFAULT_MAX_STALL
    max_queries: int | None = None
    """Paid queries after which each search ends; with it the budget may be `math.inf`."""
    estimator_options: dict = field(default_factory=dict)
    """Keyword options of the estimator's factory that change its scores, e.g. {'config': BPE(...)} for `bpe`
    (where it runs and stores is the search runner's business)."""
    protocol: str = DEFAULT_PROTOCOL
    """How queries are paid and answered (`searchers.base.PROTOCOLS`); DARTS has no queries and ignores it."""
    data_root: str | None = None
    """Where a live estimator reads its images (`paths.data_root`; `paths.SYNTHETIC_ROOT` for synthetic ones)."""

    def __post_init__(self) -> None:
        check_protocol(self.protocol, "SearchSpec.")
        entry = registry.entry(self.searcher)
        if not entry.live and self.estimator is None:
            raise ValueError(f"searcher {self.searcher} needs an estimator (--estimator); see `bpebench estimate -h`")
        if entry.live and self.estimator is not None:
            raise ValueError(f"searcher {self.searcher} trains a supernet and uses no estimator; drop --estimator")
        if self.estimator is not None:
            estimators.entry(self.estimator)
        elif self.estimator_options:
            raise ValueError(f"estimator options {sorted(self.estimator_options)} given but {self.searcher} uses none")
        schema.check_dataset(self.dataset)
        check_limits(self.budget, self.max_steps, self.max_stall, self.max_queries)
        if entry.live and self.max_queries is not None:
            raise ValueError(f"searcher {self.searcher} queries no estimator: a query limit does not apply")
        self.build()  # bad searcher options fail here, before any work

    @property
    def live(self) -> bool:
        """True when the estimator computes (trains, runs networks) rather than reads a table."""
        return self.estimator is not None and estimators.entry(self.estimator).live

    def build(self) -> Searcher:
        return registry.create(self.searcher, **self.options)

    def build_estimator(self, gt: GroundTruth, store: Path | None = None) -> estimators.Estimator | None:
        """The estimator with its options; a live one reads `data_root`, runs inline and stores in `store`."""
        if self.estimator is None:
            return None
        if not self.live:
            return estimators.create(self.estimator, gt, **self.estimator_options)
        execution = Execution(self.data_root, store, workers=1, progress=False)
        return estimators.create(self.estimator, gt, **self.estimator_options, execution=execution)

    def check(self, gt: GroundTruth) -> None:
        """Raise `Unavailable` once, before any seed, when the searcher or its estimator cannot run here."""
        check_ready(self.build(), self.dataset)
        estimator = self.build_estimator(gt)
        if estimator is not None:
            check_ready(estimator, self.dataset)

    def key(self, gt: GroundTruth) -> str:
        """Stable hash of everything that changes a search's outcome."""
        estimator = self.build_estimator(gt)
        identity = {
            "version": STORE_VERSION,
            "searcher": self.searcher,
            "searcher_config": self.build().config,
            "estimator": self.estimator,
            "estimator_config": estimator.config if estimator is not None else None,
            "dataset": self.dataset,
            "budget": float(self.budget),
            "max_steps": self.max_steps,
            "max_stall": self.max_stall,
            "max_queries": self.max_queries,
            "protocol": self.protocol if not registry.entry(self.searcher).live else None,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def store_path(self, gt: GroundTruth, directory: Path | None = None) -> Path:
        """The search log: in `directory`, else `<cache>/searches`."""
        limit = f"{self.budget:g}s" + (f"_{self.max_queries}q" if self.max_queries is not None else "")
        protocol = f"_{self.protocol}" if not registry.entry(self.searcher).live else ""
        name = f"{self.searcher}_{self.estimator or 'none'}_{self.dataset}_{limit}{protocol}_{self.key(gt)}.jsonl"
        return (directory or paths.cache_dir() / "searches") / name


def seed_store(log: Path, seed: int) -> Path:
    """The results store of a live estimator's archs in one seed's search."""
    return log.with_suffix(".stores") / f"seed-{seed}.h5"


@dataclass(frozen=True)
class SearchReport:
    """Ground truth of the arch each seed chose, over seeds."""

    spec: SearchSpec
    records: tuple[dict, ...]
    """One per seed, in seed order: seed, arch, arch_str, cost, queries, steps, wall_seconds, trajectory, metadata."""
    valid: np.ndarray
    valid_target: str
    test: np.ndarray | None
    test_target: str | None
    resumed: int
    store: Path

    def to_dict(self) -> dict:
        costs = np.array([r["cost"] for r in self.records])
        macs = np.array([r["macs"] for r in self.records])
        devices = sorted({r["device"] for r in self.records})
        payload = {
            "searcher": self.spec.searcher,
            "estimator": self.spec.estimator,
            "dataset": self.spec.dataset,
            "budget": float(self.spec.budget),
            "max_queries": self.spec.max_queries,
            "protocol": self.spec.protocol,
            "target": self.valid_target,
            **_summary(self.valid),
            "finals": self.valid.tolist(),
            "nb201_reference": self.nb201_reference(),
            "test_target": self.test_target,
            "seeds": [r["seed"] for r in self.records],
            "archs": [r["arch"] for r in self.records],
            "arch_strings": [r["arch_str"] for r in self.records],
            "cost_device": devices[0] if len(devices) == 1 else "mixed: " + ", ".join(devices),
            "costs": costs.tolist(),
            "total_cost": float(costs.sum()),
            "mean_cost": float(costs.mean()),
            "mean_macs": float(macs.mean()),
            "mean_queries": float(np.mean([r["queries"] for r in self.records])),
            "resumed": self.resumed,
            "store": str(self.store),
        }
        if self.test is not None:
            test = _summary(self.test)
            payload |= {f"test_{k}": v for k, v in test.items()} | {"test_finals": self.test.tolist()}
        return payload

    def nb201_reference(self) -> dict | None:
        """Welch's t-test of the mean against NB201's Table 5 figure of the same setting (None for other settings)."""
        spec = self.spec
        setting = {"estimator": spec.estimator, "dataset": spec.dataset, "budget": spec.budget}
        setting["protocol"] = spec.protocol
        if spec.searcher not in NB201_TABLE5 or setting != TABLE5_SETTING or spec.max_queries is not None:
            return None
        finite = self.valid[np.isfinite(self.valid)]
        mean, std = NB201_TABLE5[spec.searcher]
        if len(finite) < 2:
            return None
        test = welch(float(finite.mean()), float(finite.std(ddof=1)), len(finite), mean, std, NB201_RUNS)
        return {"mean": mean, "std": std, "n": NB201_RUNS, **test}


def _summary(values: np.ndarray) -> dict:
    """Mean, std (ddof 0) and n over the finite values (a chosen arch may lack ground truth)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"mean": math.nan, "std": math.nan, "n": 0}
    return {"mean": float(finite.mean()), "std": float(finite.std()), "n": int(finite.size)}


def run(
    spec: SearchSpec,
    gt: GroundTruth,
    seeds: Sequence[int],
    workers: int = 1,
    resume: bool = True,
    progress: bool = True,
    scheduler: str | None = None,
    directory: Path | None = None,
) -> SearchReport:
    """Search with every seed not already stored (in `workers` local processes or on the Dask `scheduler`), store
    each as it ends (in `directory`, else the user cache), and report; seeds that raise are reported together after
    the others are stored."""
    if not seeds:
        raise ValueError("give at least one seed")
    spec.check(gt)
    executor = Executor(workers, scheduler, progress=False)
    path = spec.store_path(gt, directory)
    with _ResultsLog(path) as log:
        if not resume:
            log.clear()
            _remove_seed_stores(path)
        done = log.load()
        todo = [s for s in seeds if s not in done]
        bar = tqdm(
            total=len(seeds),
            initial=len(seeds) - len(todo),
            unit="seed",
            disable=not progress,
            desc=f"{spec.searcher} {spec.estimator or ''}".strip(),
        )
        failures: dict[str, list[int]] = {}  # seeds that raised, by error: seeds of one setting fail alike
        with bar:
            task = functools.partial(run_seed, spec, str(gt.path), path, progress=progress)
            for outcome in executor.run(task, todo, desc="seeds"):
                if not outcome.ok:
                    failures.setdefault(outcome.error, []).append(todo[outcome.index])
                    continue
                log.append(outcome.value)
                done[outcome.value["seed"]] = outcome.value
                bar.update()
    if failures:
        failed = sum(len(seeds) for seeds in failures.values())
        causes = "; ".join(
            f"seed{'s' * (len(seeds) > 1)} {', '.join(map(str, sorted(seeds)))}: {error}"
            for error, seeds in failures.items()
        )
        raise ValueError(f"{failed} seed(s) failed (the others are stored; rerun to retry): {causes}")
    return report_of(spec, gt, tuple(done[s] for s in seeds), path, resumed=len(seeds) - len(todo))


def stored_report(spec: SearchSpec, gt: GroundTruth, log: Path, seeds: Sequence[int]) -> SearchReport:
    """The report of `seeds` read from the search log `log` alone; nothing runs."""
    if not log.exists():
        raise ValueError(f"no search log at {log}; rerun the suite")
    with _ResultsLog(log) as results:
        done = results.load()
    if missing := [s for s in seeds if s not in done]:
        raise ValueError(f"{log} lacks {len(missing)} of {len(seeds)} seeds of {spec.searcher}; rerun the suite")
    return report_of(spec, gt, tuple(done[s] for s in seeds), log, resumed=len(seeds))


def report_of(spec: SearchSpec, gt: GroundTruth, records: tuple[dict, ...], log: Path, resumed: int) -> SearchReport:
    """Each seed's chosen arch scored on ground truth the search did not read."""
    archs = np.array([r["arch"] for r in records], dtype=np.int64)
    split = default_split(spec.dataset)
    valid, held_out = _valid(gt, spec.dataset, split, records)
    test_dataset, test_split = nb201_test(spec.dataset)
    test = None
    if test_split is not None and gt.has(test_dataset, test_split, "acc"):
        test = gt.metric(test_dataset, test_split, "acc")[archs]
    return SearchReport(
        spec,
        records,
        valid,
        f"{spec.dataset}:{split}:acc:200:" + ("held-out" if held_out else "mean"),
        test,
        f"{test_dataset}:{test_split}:acc:200:mean" if test is not None else None,
        resumed=resumed,
        store=log,
    )


def _valid(gt: GroundTruth, dataset: str, split: str, records: Sequence[dict]) -> tuple[np.ndarray, bool]:
    """Seed-mean accuracy of each chosen arch, without the seeds the search read of it where it read this target."""
    mean = gt.metric(dataset, split, "acc")
    own_target = [r["reads"] == [split, "acc", 200] for r in records]
    if not any(own_target):
        return mean[[r["arch"] for r in records]], False
    per_seed = gt.metric(dataset, split, "acc", seeds="all")
    stored = gt.seeds(dataset, split, "acc")
    values = []
    for record, reads_target in zip(records, own_target, strict=True):
        arch = record["arch"]
        if not reads_target:
            values.append(mean[arch])
            continue
        seen = Trajectory.from_dict(record["trajectory"]).trials_seen(arch)
        kept = [v for v, s in zip(per_seed[arch], stored, strict=True) if s not in seen and s != schema.MEAN_SEED]
        kept = [v for v in kept if np.isfinite(v)]
        values.append(float(np.mean(kept)) if kept else math.nan)
    return np.asarray(values, dtype=np.float64), True


def _remove_seed_stores(log: Path) -> None:
    shutil.rmtree(log.with_suffix(".stores"), ignore_errors=True)


class _QueryProgress:
    """A live estimator that prints one line per query to stderr: queries and seconds so far, and an ETA."""

    def __init__(self, estimator: estimators.Estimator, seed: int, budget: float, max_queries: int | None):
        self._estimator, self._seed, self._budget, self._max_queries = estimator, seed, budget, max_queries
        self._queries, self._paid, self._start = 0, 0.0, time.perf_counter()

    def __getattr__(self, name: str):
        return getattr(self._estimator, name)

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0):
        estimation = self._estimator.estimate(archs, dataset, seed)
        self._queries += len(estimation.archs)
        self._paid += float(np.nansum(estimation.costs))
        elapsed = time.perf_counter() - self._start
        left = [self._budget / self._paid - 1 if self._paid > 0 and math.isfinite(self._budget) else math.inf]
        if self._max_queries:
            left.append(self._max_queries / self._queries - 1)
        eta = elapsed * max(0.0, min(left))
        limit = f"/{self._max_queries}" if self._max_queries else ""
        eta_text = f", ETA {fmt_seconds(eta)}" if math.isfinite(eta) else ""
        print(
            f"  seed {self._seed}: query {self._queries}{limit}, {fmt_seconds(self._paid)} of the budget paid, "
            f"{fmt_seconds(elapsed)} elapsed{eta_text}",
            file=sys.stderr,
            flush=True,
        )
        return estimation


def run_seed(spec: SearchSpec, gt_path: str, log: Path, seed: int, progress: bool = False) -> dict:
    """One seed's search, as the record stored for it (a live estimator stores its archs in the seed's store);
    `progress`: a live estimator prints a line per query with an ETA."""
    gt = _open(gt_path)
    searcher = spec.build()
    store = None
    if spec.live:
        store = seed_store(log, seed)
        store.parent.mkdir(parents=True, exist_ok=True)
    estimator = spec.build_estimator(gt, store)
    lookup = estimator is not None and not spec.live
    if progress and spec.live:
        estimator = _QueryProgress(estimator, seed, spec.budget, spec.max_queries)
    problem = Problem(
        spec.dataset,
        spec.budget,
        gt.arch_strings,
        estimator,
        lookup,
        spec.max_steps,
        spec.max_stall,
        spec.max_queries,
        spec.protocol,
    )
    reads = None
    if lookup:  # a table read of one arch says which ground truth the estimator reads
        probe = estimator.estimate(np.array([0]), spec.dataset, seed).reads
        reads = None if probe is None else [probe.split, probe.metric, int(probe.hp)]
    tic = time.perf_counter()
    result: SearchResult = searcher.search(problem, seed)
    return {
        "seed": int(seed),
        "arch": result.arch,
        "arch_str": gt.arch_strings[result.arch],
        "cost": float(result.cost),
        "device": result.device,
        "macs": float(result.macs),
        "reads": reads,
        "queries": int(result.trajectory.paid.sum()),
        "steps": len(result.trajectory),
        "wall_seconds": time.perf_counter() - tic,
        "trajectory": result.trajectory.to_dict(),
        "metadata": result.metadata,
    }


@functools.cache
def _open(path: str) -> GroundTruth:
    """One read-only handle per process."""
    return GroundTruth.open(path, build=False)


class _ResultsLog:
    """Append-only JSON lines, one per finished seed; one writer at a time (an exclusive lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> _ResultsLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a+b")
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            self._handle.close()
            raise ValueError(f"{self.path} is being written by another search run (one writer at a time)") from err
        self._drop_torn_tail()
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def load(self) -> dict[int, dict]:
        self._handle.seek(0)
        records: dict[int, dict] = {}
        for raw in self._handle:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                record = json.loads(raw)
                records[int(record["seed"])] = record
        return records

    def append(self, record: dict) -> None:
        line = json.dumps(record, sort_keys=True, allow_nan=True) + "\n"
        self._handle.seek(0, os.SEEK_END)
        self._handle.write(line.encode())
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def clear(self) -> None:
        self._handle.truncate(0)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def _drop_torn_tail(self) -> None:
        """Cut a last line without its newline (a kill mid-write), so the next record starts on a fresh line."""
        self._handle.seek(0)
        content = self._handle.read()
        if content and not content.endswith(b"\n"):
            self._handle.truncate(content.rfind(b"\n") + 1)
            self._handle.flush()
