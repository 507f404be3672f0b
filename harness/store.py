"""Resumable results store: one result per (estimator config hash, dataset, arch, seed), curve and cost included.

Crash safety without trusting HDF5 under SIGKILL (HDF5 has no journal: a process killed inside a flush can leave
metadata half written). Two files side by side:

- `results.h5`, the compacted store, only ever replaced whole: a new copy is written under a temporary name,
  fsynced and renamed over the old one (`os.replace` is atomic), so the file on disk is always a complete HDF5 file;
- `results.h5.journal`, an append-only log: each result is one JSON line carrying its CRC-32, written, flushed and
  fsynced as soon as the result arrives. A last line torn by a kill (no newline) is dropped; any other line that
  fails its CRC or does not parse is skipped and counted (`unreadable_journal_records`, a warning names the file),
  the records after it are kept, and a writer moves that journal aside whole before compacting, so nothing it could
  not read is ever truncated.

The writer folds the journal into a new `results.h5` every `compact_every` results and on close, then empties the
journal; a kill between the rename and the truncation only leaves records that are already compacted, which are
read once (results are keyed). So a kill at any moment loses at most the results not yet handed to `put`.

One writer: `Store(path)` takes an exclusive lock (`results.h5.lock`, released by the OS if the process dies);
`Store(path, readonly=True)` takes none and sees everything written so far (the compacted file plus the journal).
Code that may run inside a caller holding the writer (an estimator under a suite runner) uses `writer(path)`, which
hands back this process's open writer of that file, or opens one for the duration.

HDF5 layout (schema 2): `/configs/<hash>` (attr `json`: the estimator config) and, per config and dataset,
`/results/<hash>/<dataset>/` with one row per result in columns `arch`, `seed`, `score`, `failed`, `wall_seconds`,
`eval_seconds`, `macs`, `eval_macs`, `curve_length`, `reason`, `device` and `curve` (rows x longest curve,
NaN-padded past each row's `curve_length`). Schema 2 added the evaluation-cost and device columns; a schema-1 file
is refused with a message.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from harness import paths, records
from harness.checks import require_int

SCHEMA_VERSION = 2
FORMAT = "bpebench-results"
JOURNAL_SUFFIX = ".journal"
LOCK_SUFFIX = ".lock"
_COLUMNS = ("arch", "seed", "score", "failed", "wall_seconds", "eval_seconds", "macs", "eval_macs", "curve_length")
_DTYPES = {"arch": np.int64, "seed": np.int64, "failed": np.bool_, "curve_length": np.int64}


def config_key(record: dict) -> str:
    """Stable 16-hex-digit key of an estimator record {"estimator": name, "config": {...}}: sha256 of sorted JSON."""
    canonical = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def default_path() -> Path:
    """<cache>/results.h5 ($BPEBENCH_CACHE_DIR overrides the cache root)."""
    return paths.cache_dir() / "results.h5"


@dataclass(frozen=True)
class Result:
    """One work unit's outcome: final score, per-epoch curve and cost; `failed` results have a NaN score."""

    arch: int
    seed: int
    score: float
    curve: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wall_seconds: float = 0.0
    """Seconds of the whole unit on its device: training plus evaluation."""
    macs: float = 0.0
    """Training multiply-adds (forward + backward, x images x epochs)."""
    failed: bool = False
    reason: str = ""
    eval_seconds: float = 0.0
    """The evaluation's part of `wall_seconds`."""
    eval_macs: float = 0.0
    """Evaluation multiply-adds (forward only, x images evaluated)."""
    device: str = ""
    """The device the seconds were measured on (`harness.train.device_label`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "curve", np.asarray(self.curve, dtype=np.float64).reshape(-1))


@dataclass(frozen=True)
class Table:
    """All stored results of one config on one dataset, as columns (row order = arrival order)."""

    arch: np.ndarray
    seed: np.ndarray
    score: np.ndarray
    failed: np.ndarray
    wall_seconds: np.ndarray
    eval_seconds: np.ndarray
    macs: np.ndarray
    eval_macs: np.ndarray
    curve_length: np.ndarray
    curves: np.ndarray
    """(rows, longest curve), NaN-padded past each row's `curve_length`."""
    reasons: tuple[str, ...]
    devices: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.arch)

    def rows(self) -> Iterator[Result]:
        for i in range(len(self)):
            yield Result(
                int(self.arch[i]),
                int(self.seed[i]),
                float(self.score[i]),
                self.curves[i, : self.curve_length[i]],
                float(self.wall_seconds[i]),
                float(self.macs[i]),
                bool(self.failed[i]),
                self.reasons[i],
                float(self.eval_seconds[i]),
                float(self.eval_macs[i]),
                self.devices[i],
            )


class Store:
    """Results keyed by (config hash, dataset, arch, seed), in an HDF5 file plus its journal."""

    def __init__(self, path: str | os.PathLike[str] | None = None, readonly: bool = False, compact_every: int = 32):
        require_int("Store", "compact_every", compact_every, minimum=1)
        # every derived name (lock, journal, temporaries) comes from the real file: a symlink stays a link to it
        self.path = (Path(path).expanduser() if path is not None else default_path()).resolve()
        self.readonly = readonly
        self.compact_every = compact_every
        self._configs: dict[str, dict] = {}
        self._compacted: dict[tuple[str, str], dict[tuple[int, int], int]] = {}
        """(hash, dataset) -> (arch, seed) -> row in the compacted file."""
        self._pending: dict[tuple[str, str], dict[tuple[int, int], Result]] = {}
        """Results in the journal, not yet compacted."""
        self._pending_configs: set[str] = set()
        self.unreadable_journal_records = 0
        """Journal lines that failed their CRC or did not parse (skipped, reported; a writer moves them aside)."""
        self._lock = None
        self._journal = None
        if readonly:
            if not self.path.exists() and not self._journal_path.exists():
                raise FileNotFoundError(f"no results store at {self.path}")
        else:
            if _resolved(self.path) in _WRITERS:
                raise ValueError(f"{self.path} is already open for writing in this process; use harness.store.writer()")
            if self.path.is_dir():
                raise ValueError(f"results store {self.path} is a folder; name a file")
            records.check_output(self.path, "results store")
            if self.path.exists():
                self._open_h5().close()  # a garbage or foreign file is named before a lock file is made beside it
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = _acquire_lock(self.path.with_name(self.path.name + LOCK_SUFFIX))
            self._remove_stale_temporaries()
        try:
            self._load()
            if not readonly:
                if self.unreadable_journal_records:
                    self._move_journal_aside()
                if self._pending:
                    self.compact()  # also drops a torn journal tail, so new lines never glue onto it
                self._journal = open(self._journal_path, "ab")  # noqa: SIM115 (kept open for the store's life)
        except BaseException:
            if self._lock is not None:
                self._lock.close()
            raise
        if not readonly:
            _WRITERS[_resolved(self.path)] = self

    @property
    def _journal_path(self) -> Path:
        return self.path.with_name(self.path.name + JOURNAL_SUFFIX)

    # ---- reading

    def list_configs(self) -> dict[str, dict]:
        """Config hash -> the estimator config stored with it."""
        return dict(self._configs)

    def config(self, config_hash: str) -> dict:
        if config_hash not in self._configs:
            raise ValueError(f"no config {config_hash!r} in {self.path}")
        return self._configs[config_hash]

    def datasets(self, config_hash: str) -> list[str]:
        """Datasets holding results of `config_hash`."""
        keys = set(self._compacted) | set(self._pending)
        return sorted(d for h, d in keys if h == config_hash)

    def has(self, config_hash: str, dataset: str, arch: int, seed: int) -> bool:
        key, row = (config_hash, dataset), (int(arch), int(seed))
        return row in self._pending.get(key, {}) or row in self._compacted.get(key, {})

    def get(self, config_hash: str, dataset: str, arch: int, seed: int) -> Result | None:
        key, row = (config_hash, dataset), (int(arch), int(seed))
        if row in self._pending.get(key, {}):
            return self._pending[key][row]
        index = self._compacted.get(key, {}).get(row)
        if index is None:
            return None
        return next(self._read_table(key, np.array([index])).rows())

    def results(self, config_hash: str, dataset: str) -> Table:
        """Every stored result of `config_hash` on `dataset` (an empty table when none)."""
        key = (config_hash, dataset)
        stored = self._read_table(key) if key in self._compacted else _empty_table()
        pending = list(self._pending.get(key, {}).values())
        return _concat(stored, _table_of(pending)) if pending else stored

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._compacted.values()) + sum(len(rows) for rows in self._pending.values())

    # ---- writing

    def add_config(self, config_hash: str, config: dict) -> None:
        """Record the estimator config behind `config_hash` (idempotent; a different config under it is an error)."""
        self._writable()
        canonical = json.loads(json.dumps(config, sort_keys=True))
        if config_hash in self._configs:
            if self._configs[config_hash] != canonical:
                raise ValueError(f"config hash {config_hash} already names a different config in {self.path}")
            return
        self._append({"kind": "config", "hash": config_hash, "config": canonical})
        self._configs[config_hash] = canonical
        self._pending_configs.add(config_hash)

    def put(self, config_hash: str, dataset: str, result: Result) -> None:
        """Store `result` durably now (journal, fsynced); compacts into the HDF5 file every `compact_every` results."""
        self._writable()
        if config_hash not in self._configs:
            raise ValueError(f"add_config({config_hash!r}, ...) before storing its results")
        if self.has(config_hash, dataset, result.arch, result.seed):
            raise ValueError(f"result for arch {result.arch}, seed {result.seed} of {config_hash}/{dataset} is stored")
        self._append(_result_record(config_hash, dataset, result))
        self._pending.setdefault((config_hash, dataset), {})[(result.arch, result.seed)] = result
        if sum(len(rows) for rows in self._pending.values()) >= self.compact_every:
            self.compact()

    def compact(self) -> None:
        """Fold the journal into a new HDF5 file, atomically replace the old one, then empty the journal."""
        self._writable()
        if not self._pending and not self._pending_configs and self.path.exists():
            self._truncate_journal()
            return
        with records.atomic_path(self.path, durable=True) as tmp:
            if self.path.exists():
                with open(self.path, "rb") as src, open(tmp, "wb") as dst:
                    while chunk := src.read(1 << 22):
                        dst.write(chunk)
            with h5py.File(tmp, "a") as h5:
                h5.attrs["format"] = FORMAT
                h5.attrs["schema_version"] = SCHEMA_VERSION
                configs = h5.require_group("configs")
                for config_hash in self._pending_configs:
                    if config_hash not in configs:
                        configs.create_group(config_hash).attrs["json"] = json.dumps(self._configs[config_hash])
                for (config_hash, dataset), rows in self._pending.items():
                    _append_rows(h5.require_group(f"results/{config_hash}"), dataset, list(rows.values()))
        self._truncate_journal()
        self._pending.clear()
        self._pending_configs.clear()
        self._load_compacted_index()

    def close(self) -> None:
        """Compact (writer) and release the lock; safe to call twice."""
        if self._lock is None:
            return
        try:
            self.compact()
        finally:
            if self._journal is not None:
                self._journal.close()
                self._journal = None
            self._lock.close()
            self._lock = None
            _WRITERS.pop(_resolved(self.path), None)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals

    def _writable(self) -> None:
        if self.readonly or self._lock is None:
            raise ValueError(f"store {self.path} is {'read-only' if self.readonly else 'closed'}")

    def _append(self, record: dict) -> None:
        assert self._journal is not None
        body = json.dumps(record, sort_keys=True)
        line = json.dumps({"crc": zlib.crc32(body.encode()), "record": body}) + "\n"
        self._journal.write(line.encode())
        self._journal.flush()
        os.fsync(self._journal.fileno())

    def _truncate_journal(self) -> None:
        if self._journal is not None:
            self._journal.truncate(0)
            self._journal.flush()
            os.fsync(self._journal.fileno())
        elif self._journal_path.exists():
            with open(self._journal_path, "r+b") as journal:
                journal.truncate(0)
                os.fsync(journal.fileno())

    def _move_journal_aside(self) -> None:
        """Keep a journal with unreadable lines as it is, under a new name, before compaction empties it."""
        aside = self._journal_path.with_name(f"{self._journal_path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(self._journal_path, aside)
        records.fsync_dir(self.path.parent)
        warnings.warn(
            f"{self._journal_path}: {self.unreadable_journal_records} unreadable record(s) skipped; the journal as it "
            f"was is kept at {aside}",
            stacklevel=3,
        )

    def _load(self) -> None:
        self._load_compacted_index()
        records, self.unreadable_journal_records = _read_journal(self._journal_path)
        if self.unreadable_journal_records and self.readonly:
            warnings.warn(
                f"{self._journal_path}: {self.unreadable_journal_records} unreadable record(s) skipped", stacklevel=3
            )
        for record in records:
            if record["kind"] == "config":
                if record["hash"] not in self._configs:
                    self._configs[record["hash"]] = record["config"]
                    self._pending_configs.add(record["hash"])
            else:
                key = (record["config_hash"], record["dataset"])
                result = Result(
                    record["arch"],
                    record["seed"],
                    record["score"],
                    record["curve"],
                    record["wall_seconds"],
                    record["macs"],
                    record["failed"],
                    record["reason"],
                    record["eval_seconds"],
                    record["eval_macs"],
                    record["device"],
                )
                if not self.has(*key, result.arch, result.seed):
                    self._pending.setdefault(key, {})[(result.arch, result.seed)] = result

    def _load_compacted_index(self) -> None:
        self._compacted = {}
        if not self.path.exists():
            return
        with self._open_h5() as h5:
            for config_hash, group in h5.get("configs", {}).items():
                self._configs[config_hash] = json.loads(group.attrs["json"])
            for config_hash, by_dataset in h5.get("results", {}).items():
                for dataset, table in by_dataset.items():
                    pairs = zip(table["arch"][:].tolist(), table["seed"][:].tolist(), strict=True)
                    self._compacted[(config_hash, dataset)] = {pair: i for i, pair in enumerate(pairs)}

    def _open_h5(self) -> h5py.File:
        try:
            h5 = h5py.File(self.path, "r")
        except OSError as err:
            raise ValueError(f"{self.path} is not a readable HDF5 file ({err})") from err
        if h5.attrs.get("format") != FORMAT or int(h5.attrs.get("schema_version", -1)) != SCHEMA_VERSION:
            h5.close()
            raise ValueError(
                f"{self.path} is not a BPE-Bench results file of schema {SCHEMA_VERSION}; move it aside (an older "
                "schema lacks the evaluation-cost columns) and rerun to recompute"
            )
        return h5

    def _read_table(self, key: tuple[str, str], rows: np.ndarray | None = None) -> Table:
        with self._open_h5() as h5:
            group = h5[f"results/{key[0]}/{key[1]}"]
            pick = slice(None) if rows is None else rows
            columns = {name: group[name][pick] for name in _COLUMNS}
            curves = group["curve"][pick]
            reasons, devices = (
                tuple(r.decode() if isinstance(r, bytes) else str(r) for r in group[name][pick])
                for name in ("reason", "device")
            )
        return Table(**columns, curves=curves, reasons=reasons, devices=devices)

    def _remove_stale_temporaries(self) -> None:
        """Half-written compactions of a killed writer (safe: we hold the lock)."""
        for stale in records.stale_temporaries(self.path):
            stale.unlink(missing_ok=True)


_WRITERS: dict[Path, Store] = {}
"""Writers open in this process, by resolved path."""


@contextlib.contextmanager
def writer(store: Store | str | os.PathLike[str] | None = None) -> Iterator[Store]:
    """A writable store: `store` itself, this process's open writer of that path, or a new one closed on exit."""
    if isinstance(store, Store):
        yield store
        return
    path = Path(store).expanduser() if store is not None else default_path()
    if _resolved(path) in _WRITERS:
        yield _WRITERS[_resolved(path)]
        return
    with Store(path) as opened:
        yield opened


def _resolved(path: Path) -> Path:
    return path.expanduser().resolve()


def _acquire_lock(path: Path):
    handle = open(path, "a")  # noqa: SIM115 (held until close)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as err:
        handle.close()
        store = path.with_suffix("")
        raise ValueError(f"{store} is open for writing by another process (one writer at a time)") from err
    return handle


def _result_record(config_hash: str, dataset: str, result: Result) -> dict:
    return {
        "kind": "result",
        "config_hash": config_hash,
        "dataset": dataset,
        "arch": int(result.arch),
        "seed": int(result.seed),
        "score": float(result.score),
        "curve": [float(v) for v in result.curve],
        "wall_seconds": float(result.wall_seconds),
        "eval_seconds": float(result.eval_seconds),
        "macs": float(result.macs),
        "eval_macs": float(result.eval_macs),
        "failed": bool(result.failed),
        "reason": result.reason,
        "device": result.device,
    }


def _read_journal(path: Path) -> tuple[list[dict], int]:
    """Valid records in order and the number of unreadable lines skipped (failed CRC, not JSON).

    A last line without its newline is a write cut short by a kill: dropped, not counted as unreadable.
    """
    if not path.exists():
        return [], 0
    records, unreadable = [], 0
    with open(path, "rb") as journal:
        for raw in journal:
            if not raw.endswith(b"\n"):
                break
            try:
                envelope = json.loads(raw)
                body = envelope["record"]
                if zlib.crc32(body.encode()) != envelope["crc"]:
                    raise ValueError("CRC mismatch")
                records.append(json.loads(body))
            except (ValueError, KeyError, TypeError, AttributeError):
                unreadable += 1
    return records, unreadable


def _append_rows(parent: h5py.Group, dataset: str, results: list[Result]) -> None:
    """Append results as rows of `parent/dataset`: resizable chunked columns grow in place (no garbage left)."""
    new = _table_of(results)
    if dataset not in parent:
        group = parent.create_group(dataset)
        for name in _COLUMNS:
            group.create_dataset(name, shape=(0,), maxshape=(None,), chunks=True, dtype=getattr(new, name).dtype)
        group.create_dataset("curve", shape=(0, 0), maxshape=(None, None), chunks=True, dtype=np.float64,
                             fillvalue=np.nan)  # fmt: skip
        for name in ("reason", "device"):
            group.create_dataset(name, shape=(0,), maxshape=(None,), chunks=True, dtype=h5py.string_dtype())
    group = parent[dataset]
    start, stop = len(group["arch"]), len(group["arch"]) + len(new)
    for name in _COLUMNS:
        group[name].resize((stop,))
        group[name][start:stop] = getattr(new, name)
    curve = group["curve"]
    curve.resize((stop, max(curve.shape[1], new.curves.shape[1])))  # new cells are NaN (the fill value)
    if new.curves.shape[1]:
        curve[start:stop, : new.curves.shape[1]] = new.curves
    for name, values in (("reason", new.reasons), ("device", new.devices)):
        group[name].resize((stop,))
        group[name][start:stop] = np.array(values, dtype=object)


def _table_of(results: list[Result]) -> Table:
    width = max((len(r.curve) for r in results), default=0)
    curves = np.full((len(results), width), np.nan)
    for i, r in enumerate(results):
        curves[i, : len(r.curve)] = r.curve
    values = {name: [getattr(r, name) for r in results] for name in _COLUMNS if name != "curve_length"}
    values["curve_length"] = [len(r.curve) for r in results]
    columns = {name: np.array(values[name], dtype=_DTYPES.get(name, np.float64)) for name in _COLUMNS}
    reasons, devices = tuple(r.reason for r in results), tuple(r.device for r in results)
    return Table(**columns, curves=curves, reasons=reasons, devices=devices)


def _empty_table() -> Table:
    return _table_of([])


def _concat(a: Table, b: Table) -> Table:
    width = max(a.curves.shape[1], b.curves.shape[1])
    curves = np.full((len(a) + len(b), width), np.nan)
    curves[: len(a), : a.curves.shape[1]] = a.curves
    curves[len(a) :, : b.curves.shape[1]] = b.curves
    columns = {name: np.concatenate([getattr(a, name), getattr(b, name)]) for name in _COLUMNS}
    return Table(**columns, curves=curves, reasons=a.reasons + b.reasons, devices=a.devices + b.devices)
