"""User-named pickles never run code on load: each loader refuses a marker-file proof of concept."""

from __future__ import annotations

import bz2
import pathlib
import pickle
from pathlib import Path

import numpy as np
import pytest

from harness import safe_pickle


class _Touch:
    """Unpickling this calls Path.touch(marker): what a malicious data file could do with os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _evil(marker: Path, key: str = "data", protocol: int = pickle.DEFAULT_PROTOCOL) -> bytes:
    return pickle.dumps({key: _Touch(marker), "labels": [1]}, protocol=protocol)


def test_plain_data_numpy_and_ordered_dicts_load(tmp_path: Path) -> None:
    from collections import OrderedDict

    value = {"a": [1, 2.5, "x", None], "b": np.arange(6, dtype=np.uint8).reshape(2, 3), "c": OrderedDict(k=np.int64(3))}
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(value))
    with open(path, "rb") as handle:
        loaded = safe_pickle.load(handle)
    assert loaded["a"] == value["a"] and (loaded["b"] == value["b"]).all() and loaded["c"]["k"] == 3


def test_nats_archive_refuses_code(tmp_path: Path) -> None:
    from harness.groundtruth.sources.nats import load_pbz2

    marker, path = tmp_path / "ran", tmp_path / "0.pickle.pbz2"
    path.write_bytes(bz2.compress(_evil(marker)))
    with pytest.raises(ValueError, match=r"0\.pickle\.pbz2.*refused to load pathlib"):
        load_pbz2(path)
    assert not marker.exists()


def test_simple_hpo_tables_refuse_code(tmp_path: Path) -> None:
    from harness.groundtruth.sources.simple_hpo import SimpleHpoBenchSource

    marker = tmp_path / "ran"
    (tmp_path / "cifar10.pkl").write_bytes(_evil(marker))
    with pytest.raises(ValueError, match=r"cifar10\.pkl.*refused"):
        SimpleHpoBenchSource(tmp_path).arch_strings()
    assert not marker.exists()


def test_imagenet16_batches_refuse_code(tmp_path: Path) -> None:
    from harness.data import _read_imagenet16_file

    marker, path = tmp_path / "ran", tmp_path / "val_data"
    path.write_bytes(_evil(marker))
    with pytest.raises(ValueError, match=r"val_data is not a readable ImageNet16 batch file: refused to load pathlib"):
        _read_imagenet16_file(path, 120)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 768), dtype=np.uint8), "labels": [1, 121]}))
    images, labels = _read_imagenet16_file(path, 120)
    assert images.shape == (1, 16, 16, 3) and labels.tolist() == [0]


def test_nb201_pth_is_loaded_weights_only(tmp_path: Path) -> None:
    import torch

    from harness.groundtruth.sources.nb201_pth import Nb201PthSource

    marker, path = tmp_path / "ran", tmp_path / "evil.pth"
    path.write_bytes(_evil(marker, key="meta_archs", protocol=2))  # torch.save's protocol
    with pytest.raises(ValueError, match=r"evil\.pth was refused.*it names getattr"):
        Nb201PthSource(path)
    assert not marker.exists()
    torch.save({"meta_archs": ["|a|"], "arch2infos": {}, "evaluated_indexes": []}, tmp_path / "plain.pth")
    assert Nb201PthSource(tmp_path / "plain.pth").arch_strings() == ["|a|"]
