"""Official NAS-Bench-201 `.pth` files (v1_0, v1_1), in the format `nas_201_api.NASBench201API` reads."""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path

import h5py
from tqdm import tqdm

from harness.groundtruth.sources.arch_results import ArchResultsCollector

HP_KEYS = {"less": 12, "full": 200}


class Nb201PthSource:
    """Loads the pickle once and converts arch by arch, dropping each record as it goes.

    `NASBench201API` keeps the loaded dict, a deep copy and an `ArchResults` object per arch alive together
    (about 28 GB for the official file); here only the loaded dict is ever held, and it shrinks as it is read.
    """

    name = "nb201-pth"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"NB201 .pth file {self.path} does not exist")
        self._data = _load(self.path)

    def arch_strings(self) -> list[str]:
        return list(self._data["meta_archs"])

    def write(self, h5: h5py.File, progress: bool = True) -> dict:
        infos = self._data["arch2infos"]
        collector = ArchResultsCollector(len(self._data["meta_archs"]))
        archs = len(infos)
        for index in tqdm(sorted(infos), desc="NB201 .pth -> HDF5", unit="arch", disable=not progress):
            record = infos.pop(index)
            for key, hp in HP_KEYS.items():
                if key in record:
                    collector.add(int(index), hp, record[key])
        collector.write(h5)
        return {"path": str(self.path), "archs": archs, "sha256": _sha256(self.path)}


def _load(path: Path) -> dict:
    import torch

    try:  # weights_only: plain containers, numbers, strings and tensors only; a pickle that runs code is refused
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "GLOBAL" not in str(err):
            raise ValueError(f"{path} is not a readable NB201 .pth file: {str(err).splitlines()[0]}") from None
        culprit = re.search(r"GLOBAL (\S+)", str(err))
        named = f" (it names {culprit.group(1)})" if culprit else ""
        raise ValueError(
            f"{path} was refused: an NB201 .pth holds only plain containers, numbers, strings and tensors, and this "
            f"one holds other types{named}, which could run code when loaded; load only trusted files"
        ) from None
    except Exception as err:
        raise ValueError(f"{path} is not a readable NB201 .pth file: {err}") from err
    missing = [
        k for k in ("meta_archs", "arch2infos", "evaluated_indexes") if not isinstance(data, dict) or k not in data
    ]
    if missing:
        raise ValueError(f"{path}: not an NB201 benchmark file (missing {', '.join(missing)})")
    return data


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
