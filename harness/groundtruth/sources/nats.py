"""NATS-Bench topology archives (the NB201 space): fast-mode folders or the single `.pickle.pbz2` file."""

from __future__ import annotations

import bz2
import hashlib
from pathlib import Path

import h5py
from tqdm import tqdm

from harness import safe_pickle
from harness.groundtruth.sources.arch_results import ArchResultsCollector

META_FILE = "meta.pickle.pbz2"


def load_pbz2(path: Path) -> object:
    """Unpickle a bz2-compressed pickle, turning any decoding failure into a clear ValueError."""
    try:
        with bz2.open(path, "rb") as handle:
            return safe_pickle.load(handle)
    except Exception as err:
        raise ValueError(f"{path} is not a readable NATS-Bench .pickle.pbz2 file: {err}") from err


class NatsArchiveSource:
    """Per-epoch curves (hp 12 and 200), every seed and split, params, FLOPs, latency and times.

    Archs absent from a partial archive stay NaN.
    """

    name = "nats-bench"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise ValueError(
                f"NATS-Bench archive {self.path} does not exist (a fast-mode folder or a .pickle.pbz2 file)"
            )
        self._meta = self._read_meta()

    def _read_meta(self) -> dict:
        meta = load_pbz2(self.path / META_FILE if self.path.is_dir() else self.path)
        if not isinstance(meta, dict) or "meta_archs" not in meta:
            raise ValueError(f"{self.path}: not a NATS-Bench topology archive (no 'meta_archs')")
        return meta

    def arch_strings(self) -> list[str]:
        return list(self._meta["meta_archs"])

    def _records(self):
        if self.path.is_dir():
            files = sorted(p for p in self.path.glob("*.pickle.pbz2") if p.name != META_FILE)
            for file in files:
                stem = file.name.split(".")[0]
                if not stem.isdigit():
                    raise ValueError(f"{file}: archive files must be named <index>.pickle.pbz2")
                yield int(stem), load_pbz2(file)
        else:
            infos = self._meta.get("arch2infos") or {}
            for index in sorted(infos):
                yield int(index), infos.pop(index)

    def write(self, h5: h5py.File, progress: bool = True) -> dict:
        collector = ArchResultsCollector(len(self.arch_strings()))
        archs = 0
        for index, by_hp in tqdm(self._records(), desc="NATS-Bench -> HDF5", unit="arch", disable=not progress):
            if not isinstance(by_hp, dict):
                raise ValueError(f"{self.path}: record of arch {index} is a {type(by_hp).__name__}, expected a dict")
            for hp, arch_results in by_hp.items():
                collector.add(index, int(hp), arch_results)
            archs += 1
        if archs == 0:
            raise ValueError(f"{self.path}: the archive holds no architecture records")
        collector.write(h5)
        return {"path": str(self.path), "archs": archs, "sha256": _digest(self.path)}


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(path.glob("*.pickle.pbz2")) if path.is_dir() else [path]:
        digest.update(file.read_bytes())
    return digest.hexdigest()
