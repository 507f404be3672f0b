"""Datasets: NB201 split names and sizes, ImageFolder and ImageNet16 readers, the decode cache, resize, subsampling."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness import data, paths

SHARED_DATA = paths.shared_data_dir()
CIFAR10_JPEG = SHARED_DATA / "cifar10-jpeg"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _write_image_folder(root: Path, n_train: int, n_test: int, classes: int = 10, size: int = 32) -> np.ndarray:
    """PNG ImageFolder with `classes` classes; returns the train images in ImageFolder order."""
    rng = np.random.default_rng(0)
    train_images = []
    for split, n in (("train", n_train), ("test", n_test)):
        for c in range(classes):
            (root / split / f"class{c:03d}").mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / f"class{c:03d}" / f"{i:04d}.png")
                if split == "train":
                    train_images.append(pixels)
    return np.stack(train_images)


def _write_imagenet16(folder: Path, per_file: int = 40) -> dict[str, dict]:
    """Fake official ImageNet16 pickles: 16x16 images as (N, 768) planar rows, 1-based labels in 1..200."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    entries = {}
    for name in (*data.IMAGENET16_TRAIN_FILES, data.IMAGENET16_VAL_FILE):
        labels = [int(x) for x in rng.integers(1, 201, size=per_file)]
        if name == data.IMAGENET16_VAL_FILE:
            labels = [1 + i % 120 for i in range(240)] + [121, 200, 500]
        entry = {"data": rng.integers(0, 256, size=(len(labels), 768), dtype=np.uint8), "labels": labels}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)
        entries[name] = entry
    return entries


def _balanced(labels: torch.Tensor, per_class: int, classes: int) -> bool:
    return torch.bincount(labels, minlength=classes).tolist() == [per_class] * classes


def test_synthetic_has_nb201_split_names_and_is_seeded() -> None:
    ds = data.synthetic(num_classes=4, n_train=40, n_eval=12, resolution=8, seed=3)
    assert ds.split_names == ("train", "x-valid", "x-test", "ori-test")
    assert ds.train.images.shape == (40, 8, 8, 3) and ds.train.images.dtype == torch.uint8
    assert _balanced(ds.train.labels, 10, 4)
    assert len(ds["ori-test"]) == 24 and ds.num_classes == 4
    same, other = data.synthetic(4, 40, 12, 8, seed=3), data.synthetic(4, 40, 12, 8, seed=4)
    assert torch.equal(ds.train.images, same.train.images)
    assert not torch.equal(ds.train.images, other.train.images)
    assert all(0.2 < m < 0.8 for m in ds.mean) and all(0.05 < s < 0.5 for s in ds.std)


def test_unknown_split_names_the_available_ones() -> None:
    ds = data.synthetic(n_train=20, n_eval=4, resolution=8)
    with pytest.raises(ValueError, match=r"no split 'valid'.*train, x-valid, x-test, ori-test"):
        ds["valid"]


def test_split_checks_dtypes_and_shapes() -> None:
    with pytest.raises(ValueError, match="uint8"):
        data.Split(torch.zeros(2, 4, 4, 3), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="labels"):
        data.Split(torch.zeros(2, 4, 4, 3, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64))


def test_downscale_resizes_every_split_once() -> None:
    ds = data.synthetic(n_train=30, n_eval=10, resolution=32)
    small = ds.downscale(16)
    assert small is ds.downscale(16) and ds.downscale(32) is ds
    assert all(small[name].images.shape[1:] == (16, 16, 3) for name in small.split_names)
    assert torch.equal(small.train.labels, ds.train.labels)
    mean_change = (small.train.images.float().mean() - ds.train.images.float().mean()).abs()
    assert mean_change < 1.0


def test_resize_keeps_flat_images_flat_and_smooths_fine_stripes() -> None:
    flat = torch.full((2, 32, 32, 3), 77, dtype=torch.uint8)
    assert torch.equal(data.resize(data.Split(flat, torch.zeros(2, dtype=torch.int64)), 8).images, flat[:, :8, :8])
    stripes = torch.zeros(1, 32, 32, 3, dtype=torch.uint8)
    stripes[:, :, ::2] = 255
    small = data.resize(data.Split(stripes, torch.zeros(1, dtype=torch.int64)), 8).images.float()
    assert (small[:, 1:-1, 1:-1] - 127.5).abs().max() <= 2  # antialiased: the 1-px stripes average out


def test_subsample_is_class_balanced_seeded_and_leaves_eval_splits() -> None:
    ds = data.synthetic(num_classes=5, n_train=100, n_eval=10, resolution=8)
    cut = ds.subsample(0.3, seed=1)
    assert len(cut.train) == 30 and _balanced(cut.train.labels, 6, 5)
    assert cut.fraction == 0.3 and cut["x-valid"] is ds["x-valid"]
    assert torch.equal(cut.train.images, ds.subsample(0.3, seed=1).train.images)
    assert not torch.equal(cut.train.images, ds.subsample(0.3, seed=2).train.images)
    assert ds.subsample(1.0, seed=5) is ds and cut.subsample(0.3, seed=1) is cut
    with pytest.raises(ValueError, match="already cut"):
        cut.subsample(0.5, seed=1)
    with pytest.raises(ValueError, match="fraction"):
        ds.subsample(0.0, seed=1)


def test_balanced_halves_partition_every_class() -> None:
    labels = np.repeat(np.arange(4), [10, 11, 2, 1])
    first, second = data.balanced_halves(labels, np.random.default_rng(0))
    assert sorted(np.concatenate([first, second]).tolist()) == list(range(len(labels)))
    assert np.bincount(labels[first]).tolist() == [5, 6, 1, 1]
    assert np.bincount(labels[second], minlength=4).tolist() == [5, 5, 1, 0]


def test_unknown_dataset_lists_allowed_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="allowed: cifar10-valid, cifar10, cifar100, ImageNet16-120"):
        data.load("cifar-10", tmp_path)


def test_missing_data_says_where_it_looked_and_how_to_get_it(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ValueError, match=r"cifar-10-batches-py.*download=True"):
        data.load("cifar10", tmp_path, cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match=r"ImageNet16.*val_data.*NAS-Bench-201"):
        data.load("ImageNet16-120", tmp_path, cache_dir=tmp_path / "cache")
    monkeypatch.delenv(paths.DATA_ROOT_ENV, raising=False)
    monkeypatch.setenv(paths.SHARED_DATA_ENV, str(tmp_path / "shared"))
    with pytest.raises(ValueError, match="looked for .* at: " + str(tmp_path / "shared")):
        data.load("cifar100", cache_dir=tmp_path / "cache")  # no root, no $BPEBENCH_DATA_ROOT: the shared data


@pytest.mark.parametrize("workers", [1, 2])
def test_image_folder_loads_as_cifar10_valid_and_caches_outside_the_data(tmp_path: Path, workers: int) -> None:
    source = tmp_path / "data" / "cifar10-jpeg"
    train_images = _write_image_folder(source, n_train=4, n_test=2)
    cache = tmp_path / "cache"
    ds = data.load("cifar10-valid", tmp_path / "data", cache_dir=cache, workers=workers, progress=False)
    assert ds.split_names == ("train", "x-valid", "ori-test")
    assert len(ds.train) == len(ds["x-valid"]) == 20 and len(ds["ori-test"]) == 20
    assert _balanced(ds.train.labels, 2, 10) and _balanced(ds["x-valid"].labels, 2, 10)
    full = data.load("cifar10", source, cache_dir=cache, progress=False)
    assert full.split_names == ("train", "ori-test")
    np.testing.assert_array_equal(full.train.images.numpy(), train_images)  # PNG: lossless, ImageFolder order
    assert len(list(cache.glob("*.npz"))) == 2 and not list(source.parent.glob("**/*.npz"))
    assert not list(cache.glob("*.tmp-*"))


def test_train_folder_alone_gives_cifar10_valid_without_ori_test(tmp_path: Path) -> None:
    _write_image_folder(tmp_path / "full" / "cifar10-jpeg", n_train=4, n_test=2)
    full = data.load("cifar10-valid", tmp_path / "full", cache_dir=tmp_path / "cache", workers=1, progress=False)
    alone = tmp_path / "alone" / "cifar10-jpeg"
    alone.mkdir(parents=True)
    (tmp_path / "full" / "cifar10-jpeg" / "train").rename(alone / "train")
    halves = data.load("cifar10-valid", tmp_path / "alone", cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert halves.split_names == ("train", "x-valid")
    for split in ("train", "x-valid"):  # the same halves, image by image, as with the test folder beside
        assert torch.equal(halves[split].images, full[split].images)
        assert torch.equal(halves[split].labels, full[split].labels)
    with pytest.raises(ValueError, match="no split 'ori-test'; available: train, x-valid"):
        halves["ori-test"]
    with pytest.raises(ValueError, match="cifar10 data not found"):
        data.load("cifar10", tmp_path / "alone", cache_dir=tmp_path / "cache", progress=False)


def test_second_load_reads_the_cache(tmp_path: Path, monkeypatch) -> None:
    _write_image_folder(tmp_path / "src", n_train=2, n_test=1)
    first = data.load("cifar10", tmp_path / "src", cache_dir=tmp_path / "cache", workers=1, progress=False)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(data, "_decode_all", no_decoding)
    again = data.load("cifar10", tmp_path / "src", cache_dir=tmp_path / "cache", progress=False)
    assert torch.equal(first.train.images, again.train.images)
    assert torch.equal(first["ori-test"].labels, again["ori-test"].labels)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_corrupt_image_cache_is_named_and_rebuilt(tmp_path: Path, damage: str) -> None:
    _write_image_folder(tmp_path / "src", n_train=2, n_test=1)
    first = data.load("cifar10", tmp_path / "src", cache_dir=tmp_path / "cache", workers=1, progress=False)
    for cached in (tmp_path / "cache").glob("*.npz"):
        content = cached.read_bytes()
        cached.write_bytes(content[: len(content) // 2] if damage == "truncate" else b"not an npz at all")
    with pytest.warns(UserWarning, match=r"image cache .*\.npz is unreadable .*rebuilding it"):
        again = data.load("cifar10", tmp_path / "src", cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert torch.equal(first.train.images, again.train.images)
    later = data.load("cifar10", tmp_path / "src", cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert torch.equal(first["ori-test"].images, later["ori-test"].images)  # the rebuilt cache reads back


def test_cache_dir_defaults_to_env_var(tmp_path: Path, monkeypatch) -> None:
    _write_image_folder(tmp_path / "src", n_train=1, n_test=1)
    monkeypatch.setenv("BPEBENCH_CACHE_DIR", str(tmp_path / "root"))
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(tmp_path / "src"))
    data.load("cifar10", workers=1, progress=False)
    assert len(list((tmp_path / "root" / "data").glob("imagefolder-*.npz"))) == 2


def test_image_folder_with_wrong_class_count_is_rejected(tmp_path: Path) -> None:
    _write_image_folder(tmp_path, n_train=1, n_test=1, classes=3)
    with pytest.raises(ValueError, match="3 class folders, expected 100"):
        data.load("cifar100", tmp_path, cache_dir=tmp_path / "cache", progress=False)


def test_imagenet16_pickles_keep_120_classes_zero_based(tmp_path: Path) -> None:
    entries = _write_imagenet16(tmp_path / "ImageNet16")
    ds = data.load("ImageNet16-120", tmp_path, cache_dir=tmp_path / "cache")
    train_labels = np.concatenate([entries[n]["labels"] for n in data.IMAGENET16_TRAIN_FILES])
    assert len(ds.train) == int(((train_labels >= 1) & (train_labels <= 120)).sum())
    assert ds.train.labels.min() >= 0 and ds.train.labels.max() <= 119
    assert ds.resolution == 16 and ds.num_classes == 120
    assert len(ds["ori-test"]) == 240 and _balanced(ds["x-valid"].labels, 1, 120)
    assert _balanced(ds["x-test"].labels, 1, 120)
    first = entries[data.IMAGENET16_TRAIN_FILES[0]]
    kept = [i for i, label in enumerate(first["labels"]) if label <= 120]
    expected = first["data"][kept[0]].reshape(3, 16, 16).transpose(1, 2, 0)
    np.testing.assert_array_equal(ds.train.images[0].numpy(), expected)
    assert ds.train.labels[0] == first["labels"][kept[0]] - 1


@pytest.mark.shared_data
def test_real_cifar10_jpegs_decode(tmp_path: Path) -> None:
    if not CIFAR10_JPEG.is_dir():
        pytest.skip(f"CIFAR-10 JPEGs not found at {CIFAR10_JPEG} (set BPEBENCH_SHARED_DATA)")
    for split, n in (("train", 6), ("test", 2)):
        for name in CIFAR10_CLASSES:
            (tmp_path / "src" / split / name).mkdir(parents=True)
            for i in range(n):
                os.symlink(CIFAR10_JPEG / split / name / f"{i:04d}.jpg", tmp_path / "src" / split / name / f"{i}.jpg")
    ds = data.load("cifar10-valid", tmp_path / "src", cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert len(ds.train) == 30 and ds.train.images.shape[1:] == (32, 32, 3)
    assert 40 < ds.train.images.float().mean() < 220 and ds.train.images.float().std() > 20


@pytest.mark.shared_data
@pytest.mark.slow
def test_real_cifar10_loads_in_full(tmp_path: Path) -> None:
    if not CIFAR10_JPEG.is_dir():
        pytest.skip(f"CIFAR-10 JPEGs not found at {CIFAR10_JPEG} (set BPEBENCH_SHARED_DATA)")
    ds = data.load("cifar10-valid", SHARED_DATA, cache_dir=tmp_path, progress=False)
    assert len(ds.train) == len(ds["x-valid"]) == 25_000 and len(ds["ori-test"]) == 10_000
    assert _balanced(ds.train.labels, 2500, 10) and _balanced(ds["ori-test"].labels, 1000, 10)
    overlap = set(map(bytes, ds.train.images[:500].numpy())) & set(map(bytes, ds["x-valid"].images.numpy()))
    assert not overlap
    measured = (ds.train.images.double() / 255).mean(dim=(0, 1, 2))
    np.testing.assert_allclose(measured.numpy(), ds.mean, atol=0.005)  # NB201's CIFAR-10 mean
    full = data.load("cifar10", CIFAR10_JPEG, cache_dir=tmp_path, progress=False)
    assert len(full.train) == 50_000 and full.split_names == ("train", "ori-test")


def test_fetch_offline_names_data_root(tmp_path, monkeypatch):
    from urllib.error import URLError

    from torchvision import datasets as tv_datasets

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_datasets, "CIFAR10", offline)
    with pytest.raises(ValueError, match=r"could not download cifar10 into .*--data-root DIR"):
        data.fetch("cifar10", tmp_path / "d")
    with pytest.raises(ValueError, match="fetchable: cifar10, cifar100"):
        data.fetch("ImageNet16-120", tmp_path / "d")


def test_fetch_downloads_into_the_cache_where_commands_find_it(tmp_path, monkeypatch):
    from torchvision import datasets as tv_datasets

    calls = []

    def fake(root, train, download):
        calls.append((root, train, download))
        (Path(root) / "cifar-10-batches-py").mkdir(exist_ok=True)

    monkeypatch.setattr(tv_datasets, "CIFAR10", fake)
    monkeypatch.setenv(paths.SHARED_DATA_ENV, str(tmp_path / "no-shared"))
    monkeypatch.delenv(paths.DATA_ROOT_ENV, raising=False)
    folder = data.fetch("cifar10")
    assert folder == paths.fetched_data_dir() and [c[1:] for c in calls] == [(True, True), (False, True)]
    assert paths.data_root() == str(folder) and data.locate("cifar10-valid") == folder / "cifar-10-batches-py"


def test_installed_copy_never_looks_for_shared_data_inside_the_virtualenv(tmp_path, monkeypatch):
    installed = tmp_path / "venv" / "lib" / "site-packages" / "harness"
    installed.mkdir(parents=True)
    monkeypatch.setattr(paths, "__file__", str(installed / "paths.py"))
    monkeypatch.delenv(paths.SHARED_DATA_ENV, raising=False)
    (tmp_path / "work" / "clone").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work" / "clone")
    assert paths.shared_data_dir() == (tmp_path / "work" / "shared" / "data").resolve()


def test_installed_copy_records_its_build_commit_or_unknown_with_version(tmp_path):
    from harness import records

    commit = records.git_commit(tmp_path)  # no checkout there: the commit stamped at build time, if any
    stamped = Path(records.__file__).with_name("COMMIT")
    if stamped.is_file():
        assert commit == stamped.read_text().strip()
    else:
        assert commit.startswith("unknown (bpe-bench ")
