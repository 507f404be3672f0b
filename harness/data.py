"""Datasets by NB201 name as whole uint8 tensors with NB201's split names, cached decoding, resizing and subsampling.

Splits (Dong & Yang, ICLR 2020; their sizes, classes and resolutions: `harness.datasets`): `cifar10-valid` = CIFAR-10
train halved into `train` / `x-valid` (25k each) plus `ori-test`; `cifar10` = `train` (50k) / `ori-test`; `cifar100`
and `ImageNet16-120` = `train` plus the original test set as `ori-test`, halved into `x-valid` / `x-test`. The
official split index files are not used: halves are drawn
class-balanced with a fixed seed (`split_seed`), so they match NB201's in size and balance, not image by image.

Sources, in order of preference, under a data root (argument, else $BPEBENCH_DATA_ROOT):
torchvision's CIFAR folders (`cifar-10-batches-py`, `cifar-100-python`), an ImageFolder layout
(`train/<class>/*.jpg`, `test/<class>/*.jpg`) at the root or in a named subfolder (e.g. `cifar10-jpeg`; for
`cifar10-valid` a `train/` alone will do, giving `train` and `x-valid` without `ori-test`, as the GPU check carries
it), the official ImageNet16 pickles (`train_data_batch_1..10`, `val_data`), or a torchvision download when
`download=True`. Decoded images are cached as uint8 arrays under <cache>/data ($BPEBENCH_CACHE_DIR overrides the
cache root), never beside the data.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import types
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from harness import paths, records, safe_pickle
from harness.checks import Unavailable, require_int
from harness.datasets import DATASETS, SPLITS, TABLE, Dataset
from harness.lazy import lazy
from harness.paths import cache_dir as _cache_root

torch = lazy("torch")
F = lazy("torch.nn.functional")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
IMAGENET16_TRAIN_FILES = tuple(f"train_data_batch_{i}" for i in range(1, 11))
IMAGENET16_VAL_FILE = "val_data"
_RESIZE_CHUNK = 4096
_DECODE_CHUNK = 500

Arrays = tuple[np.ndarray, np.ndarray]
"""(images uint8 (N, H, W, 3), labels int64 (N,))."""


@dataclass(frozen=True)
class _Spec:
    facts: Dataset
    """Classes, native resolution and splits (`harness.datasets`)."""
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    folders: tuple[str, ...]
    """Subfolder names of the data root searched for this dataset."""

    @property
    def num_classes(self) -> int:
        return self.facts.classes

    @property
    def resolution(self) -> int:
        return self.facts.resolution


def _per255(*values: float) -> tuple[float, float, float]:
    return tuple(v / 255 for v in values)  # type: ignore[return-value]


_CIFAR10 = (_per255(125.3, 123.0, 113.9), _per255(63.0, 62.1, 66.7), ("cifar10-jpeg", "cifar10"))
_LOADING = {
    "cifar10-valid": _CIFAR10,
    "cifar10": _CIFAR10,
    "cifar100": (_per255(129.3, 124.1, 112.4), _per255(68.2, 65.4, 70.4), ("cifar100-jpeg", "cifar100")),
    "ImageNet16-120": (_per255(122.68, 116.66, 104.01), _per255(63.22, 61.26, 65.09), ("ImageNet16", "ImageNet16-120")),
}
"""Per-channel mean and std (of pixels scaled to [0, 1]) and data-root subfolders of each dataset."""
_SPECS: dict[str, _Spec] = {name: _Spec(TABLE[name], *_LOADING[name]) for name in DATASETS}
_TORCHVISION_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


@dataclass(frozen=True, eq=False)
class Split:
    """One split: `images` uint8 (N, H, W, 3) and `labels` int64 (N,), on one device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise ValueError(
                f"labels must be int64 (N,) with N = {len(self.images)}, got {self.labels.dtype} "
                f"{tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[1])

    def select(self, indices: np.ndarray | torch.Tensor) -> Split:
        """The images at `indices`, in that order."""
        index = torch.as_tensor(indices, dtype=torch.int64, device=self.labels.device)
        return Split(self.images[index], self.labels[index])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.images.to(device), self.labels.to(device))

    @classmethod
    def from_numpy(cls, images: np.ndarray, labels: np.ndarray) -> Split:
        return cls(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64)))


@dataclass(frozen=True, eq=False)
class DatasetSplits:
    """A dataset's `train` split and eval splits (`x-valid`, `x-test`, `ori-test` where NB201 has them)."""

    name: str
    train: Split
    evals: Mapping[str, Split]
    num_classes: int
    mean: tuple[float, float, float]
    """Per-channel mean of pixel values scaled to [0, 1], for normalisation."""
    std: tuple[float, float, float]
    fraction: float = 1.0
    """Share of the original train split kept (class-balanced) by `subsample`."""
    subset_seed: int | None = None
    _derived: dict[tuple, DatasetSplits] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.evals) - set(SPLITS[1:])
        if unknown:
            raise ValueError(f"unknown eval split(s) {sorted(unknown)}; allowed: {', '.join(SPLITS[1:])}")
        object.__setattr__(self, "evals", types.MappingProxyType(dict(self.evals)))

    def __getitem__(self, split: str) -> Split:
        if split == "train":
            return self.train
        if split not in self.evals:
            raise ValueError(f"dataset {self.name!r} has no split {split!r}; available: {', '.join(self.split_names)}")
        return self.evals[split]

    @property
    def split_names(self) -> tuple[str, ...]:
        return ("train", *self.evals)

    @property
    def resolution(self) -> int:
        return self.train.resolution

    def downscale(self, resolution: int) -> DatasetSplits:
        """Every split resized to `resolution` px (bilinear, antialiased), computed once and memoised."""
        if resolution == self.resolution:
            return self
        return self._memo(("resolution", resolution), lambda: self._map(lambda s: resize(s, resolution)))

    def subsample(self, fraction: float, seed: int) -> DatasetSplits:
        """`train` cut to `fraction` of its images per class (seeded); eval splits unchanged; memoised."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
        if fraction == self.fraction and (fraction == 1 or seed == self.subset_seed):
            return self
        if self.fraction != 1:
            raise ValueError(f"subsample the full train split, not one already cut to fraction {self.fraction}")
        return self._memo(("fraction", fraction, seed), lambda: self._subsampled(fraction, seed))

    def to(self, device: torch.device | str) -> DatasetSplits:
        """All splits on `device`, memoised."""
        device, current = torch.device(device), self.train.images.device
        if device.type == current.type and device.index in (None, current.index):
            return self
        return self._memo(("device", str(device)), lambda: self._map(lambda s: s.to(device)))

    def _subsampled(self, fraction: float, seed: int) -> DatasetSplits:
        labels = self.train.labels.cpu().numpy()
        keep = balanced_subset(labels, fraction, np.random.default_rng(seed))
        return replace(self, train=self.train.select(keep), fraction=fraction, subset_seed=seed)

    def _map(self, fn: Callable[[Split], Split]) -> DatasetSplits:
        return replace(self, train=fn(self.train), evals={k: fn(v) for k, v in self.evals.items()})

    def _memo(self, key: tuple, make: Callable[[], DatasetSplits]) -> DatasetSplits:
        if key not in self._derived:
            self._derived[key] = make()
        return self._derived[key]


def resize(split: Split, resolution: int) -> Split:
    """`split` with images resized to `resolution` x `resolution` (bilinear, antialiased), in chunks."""
    require_int("", "resolution", resolution, minimum=1)
    if resolution == split.resolution:
        return split
    chunks = []
    for start in range(0, len(split), _RESIZE_CHUNK):
        x = split.images[start : start + _RESIZE_CHUNK].permute(0, 3, 1, 2).float()
        y = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
        chunks.append(y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1))
    images = torch.cat(chunks) if chunks else split.images.new_empty((0, resolution, resolution, 3))
    return Split(images.contiguous(), split.labels)


def balanced_subset(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices keeping round(fraction * n_c) (at least 1) random images of every class c."""
    keep = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        keep.append(rng.choice(members, size=max(1, round(fraction * len(members))), replace=False))
    return np.sort(np.concatenate(keep))


def balanced_halves(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint sorted index sets splitting every class in half (the odd image, if any, to the first)."""
    first, second = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        half = (len(members) + 1) // 2
        first.append(members[:half])
        second.append(members[half:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


def load(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    split_seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> DatasetSplits:
    """Load dataset `name` (one of `DATASETS`) from `root` (default: `paths.data_root()`) with NB201's splits."""
    spec = _spec(name)
    data_root = _data_root(root)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else _cache_root() / "data"
    if name == "ImageNet16-120":
        train, test = _load_imagenet16(data_root, spec, cache)
    else:
        train, test = _load_cifar(name, spec, data_root, download, cache, workers, progress)
    return _make_splits(name, spec, train, test, split_seed)


def synthetic(
    num_classes: int = 10, n_train: int = 512, n_eval: int = 256, resolution: int = 32, seed: int = 0
) -> DatasetSplits:
    """A small learnable dataset: class-specific colour and stripe pattern plus noise; eval splits as NB201's."""
    if num_classes < 2 or n_train < num_classes or n_eval < 1 or resolution < 4:
        raise ValueError(
            f"need num_classes >= 2, n_train >= num_classes, n_eval >= 1, resolution >= 4; got {num_classes}, "
            f"{n_train}, {n_eval}, {resolution}"
        )
    rng = np.random.default_rng(seed)
    colours = rng.uniform(-1, 1, size=(num_classes, 3))
    angles = rng.uniform(0, np.pi, size=num_classes)
    periods = rng.uniform(3, 8, size=num_classes)
    yy, xx = np.mgrid[0:resolution, 0:resolution]

    def make(n: int) -> Split:
        labels = np.arange(n) % num_classes
        rng.shuffle(labels)
        phase = (np.cos(angles)[:, None, None] * xx + np.sin(angles)[:, None, None] * yy) / periods[:, None, None]
        stripes = np.sign(np.sin(2 * np.pi * phase))[labels][..., None]
        noise = rng.normal(0, 40, size=(n, resolution, resolution, 3))
        pixels = 128 + 50 * colours[labels][:, None, None, :] + 40 * stripes + noise
        return Split.from_numpy(np.clip(pixels, 0, 255).round().astype(np.uint8), labels)

    train, x_valid, x_test = make(n_train), make(n_eval), make(n_eval)
    ori_test = Split(torch.cat([x_valid.images, x_test.images]), torch.cat([x_valid.labels, x_test.labels]))
    scaled = train.images.double() / 255
    mean = tuple(scaled.mean(dim=(0, 1, 2)).tolist())
    std = tuple(scaled.std(dim=(0, 1, 2)).tolist())
    evals = {"x-valid": x_valid, "x-test": x_test, "ori-test": ori_test}
    return DatasetSplits("synthetic", train, evals, num_classes, mean, std)  # type: ignore[arg-type]


def locate(name: str, root: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder `load(name, root)` would read (None where there is none), found without reading any image."""
    spec = _spec(name)
    data_root = _data_root(root)
    if name == "ImageNet16-120":
        candidates = [data_root, *(data_root / folder for folder in spec.folders)]
        return next((f for f in candidates if (f / IMAGENET16_VAL_FILE).is_file()), None)
    torchvision_dir = data_root / _TORCHVISION_FOLDERS["cifar100" if name == "cifar100" else "cifar10"]
    return torchvision_dir if torchvision_dir.is_dir() else _find_image_folder(data_root, spec)


def require(name: str, root: str | os.PathLike[str] | None = None) -> None:
    """Raise `Unavailable` (naming the folder looked in and how to get the images) unless `name` can be loaded."""
    if str(root) == paths.SYNTHETIC_ROOT or locate(name, root) is not None:
        return
    where = _data_root(root)
    if name == "ImageNet16-120":
        enable = f"NB201's ImageNet16 pickles in {where}/ImageNet16, or --data-root DIR (${paths.DATA_ROOT_ENV})"
    else:
        family = "cifar100" if name == "cifar100" else "cifar10"
        enable = f"`bpebench data fetch {family}` (a torchvision download), or --data-root DIR (${paths.DATA_ROOT_ENV})"
    raise Unavailable(f"no {name} images under {where}", enable)


FETCHABLE = ("cifar10", "cifar100")
"""Datasets `fetch` downloads (torchvision's CIFAR archives); cifar10 serves cifar10 and cifar10-valid."""


def fetch(family: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Download `family` with torchvision into `root` (default: `paths.fetched_data_dir()`); returns the folder.

    Already-downloaded archives are checked and kept. Without internet the error names `--data-root` as the way to use
    a copy obtained elsewhere.
    """
    if family not in FETCHABLE:
        raise ValueError(f"cannot fetch {family!r}; fetchable: {', '.join(FETCHABLE)} (ImageNet16-120: see the README)")
    from urllib.error import URLError

    from torchvision import datasets as tv_datasets

    target = Path(root).expanduser() if root is not None else paths.fetched_data_dir()
    target.mkdir(parents=True, exist_ok=True)
    cls = tv_datasets.CIFAR100 if family == "cifar100" else tv_datasets.CIFAR10
    try:
        for train in (True, False):
            cls(str(target), train=train, download=True)
    except (URLError, OSError, RuntimeError) as err:
        raise ValueError(
            f"could not download {family} into {target} ({type(err).__name__}: {err}); without internet, copy "
            f"torchvision's {_TORCHVISION_FOLDERS[family]} folder or an ImageFolder tree (train/<class>/*.png, "
            f"test/<class>/*.png) from elsewhere and pass --data-root DIR (or set ${paths.DATA_ROOT_ENV})"
        ) from err
    return target


def _spec(name: str) -> _Spec:
    if name not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    return _SPECS[name]


def _data_root(root: str | os.PathLike[str] | None) -> Path:
    return Path(paths.data_root(root))


def _make_splits(name: str, spec: _Spec, train: Arrays, test: Arrays | None, split_seed: int) -> DatasetSplits:
    """NB201's splits; `test` None (cifar10-valid from a train folder alone) leaves out `ori-test`."""
    rng = np.random.default_rng(split_seed)
    train_split = Split.from_numpy(*train)
    evals = {} if test is None else {"ori-test": Split.from_numpy(*test)}
    if name == "cifar10-valid":
        keep, valid = balanced_halves(train[1], rng)
        train_split, evals["x-valid"] = train_split.select(keep), train_split.select(valid)
    elif name != "cifar10":
        valid, test_half = balanced_halves(test[1], rng)
        evals["x-valid"], evals["x-test"] = evals["ori-test"].select(valid), evals["ori-test"].select(test_half)
    ordered = {k: evals[k] for k in SPLITS if k in evals}
    expected = tuple(k for k in spec.facts.eval_splits if test is not None or k != "ori-test")
    assert tuple(ordered) == expected, (name, tuple(ordered))
    return DatasetSplits(name, train_split, ordered, spec.num_classes, spec.mean, spec.std)


def _load_cifar(
    name: str, spec: _Spec, root: Path, download: bool, cache: Path, workers: int | None, progress: bool
) -> tuple[Arrays, Arrays | None]:
    family = "cifar100" if name == "cifar100" else "cifar10"
    torchvision_dir = root / _TORCHVISION_FOLDERS[family]
    if torchvision_dir.is_dir():
        return _torchvision_cifar(family, root, download=False)
    folder = _find_image_folder(root, spec)
    if folder is not None:
        return tuple(  # type: ignore[return-value]
            _read_image_folder(folder / split, spec, cache, workers, progress) for split in ("train", "test")
        )
    train_only = next((f for f in _folder_candidates(root, spec) if (f / "train").is_dir()), None)
    if name == "cifar10-valid" and train_only is not None:
        return _read_image_folder(train_only / "train", spec, cache, workers, progress), None
    if download:
        return _torchvision_cifar(family, root, download=True)
    looked = [torchvision_dir, *(_folder_candidates(root, spec))]
    raise ValueError(
        f"{name} data not found; looked for a torchvision folder or train/ and test/ ImageFolder layout at: "
        f"{', '.join(map(str, looked))}. Run `bpebench data fetch {family}` (or pass download=True) to fetch it with "
        "torchvision, or point the data root at a folder with train/<class>/*.jpg and test/<class>/*.jpg"
    )


def _torchvision_cifar(family: str, root: Path, download: bool) -> tuple[Arrays, Arrays]:
    from torchvision import datasets

    cls = datasets.CIFAR100 if family == "cifar100" else datasets.CIFAR10
    splits = [cls(str(root), train=train, download=download) for train in (True, False)]
    return tuple((ds.data, np.asarray(ds.targets, dtype=np.int64)) for ds in splits)  # type: ignore[return-value]


def _folder_candidates(root: Path, spec: _Spec) -> list[Path]:
    return [root, *(root / name for name in spec.folders)]


def _find_image_folder(root: Path, spec: _Spec) -> Path | None:
    for folder in _folder_candidates(root, spec):
        if (folder / "train").is_dir() and (folder / "test").is_dir():
            return folder
    return None


def _read_image_folder(folder: Path, spec: _Spec, cache: Path, workers: int | None, progress: bool) -> Arrays:
    """Images and labels of one ImageFolder split, decoded once and then read from the cache."""
    classes, files, labels = _list_image_folder(folder)
    if len(classes) != spec.num_classes:
        raise ValueError(f"{folder} has {len(classes)} class folders, expected {spec.num_classes}")
    key = _hash([str(folder.resolve()), str(spec.resolution), *files])
    path = cache / f"imagefolder-{folder.parent.name}-{folder.name}-{key}.npz"
    paths = [str(folder / f) for f in files]
    return _cached(path, lambda: (_decode_all(paths, spec.resolution, workers, progress), labels))  # type: ignore[return-value]


def _list_image_folder(folder: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Class names (sorted subfolders), image paths relative to `folder` (sorted), and labels (class positions)."""
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    files: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        names = sorted(e.name for e in os.scandir(folder / name) if e.name.lower().endswith(IMAGE_EXTENSIONS))
        files.extend(f"{name}/{n}" for n in names)
        labels.extend([label] * len(names))
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {folder}/<class>/")
    return classes, files, np.asarray(labels, dtype=np.int64)


def _decode_all(paths: Sequence[str], resolution: int, workers: int | None, progress: bool) -> np.ndarray:
    """Decode images with PIL into uint8 (N, resolution, resolution, 3), in a process pool when `workers` > 1."""
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    chunks = [(paths[i : i + _DECODE_CHUNK], resolution) for i in range(0, len(paths), _DECODE_CHUNK)]
    out = np.empty((len(paths), resolution, resolution, 3), dtype=np.uint8)
    bar = tqdm(total=len(paths), unit="img", desc="decoding images", disable=not progress)
    with bar:
        if workers > 1 and len(chunks) > 1:
            with _pool_context().Pool(workers) as pool:
                _fill(out, pool.imap(_decode_chunk, chunks), bar)
        else:
            _fill(out, map(_decode_chunk, chunks), bar)
    return out


def _fill(out: np.ndarray, decoded: Iterable[np.ndarray], bar: tqdm) -> None:
    start = 0
    for block in decoded:
        out[start : start + len(block)] = block
        start += len(block)
        bar.update(len(block))


def _pool_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _decode_chunk(task: tuple[Sequence[str], int]) -> np.ndarray:
    from PIL import Image

    paths, resolution = task
    out = np.empty((len(paths), resolution, resolution, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != (resolution, resolution):
                image = image.resize((resolution, resolution), Image.Resampling.BILINEAR)
            out[i] = np.asarray(image)
    return out


def _load_imagenet16(root: Path, spec: _Spec, cache: Path) -> tuple[Arrays, Arrays]:
    candidates = [root, *(root / name for name in spec.folders)]
    folder = next((f for f in candidates if (f / IMAGENET16_VAL_FILE).is_file()), None)
    if folder is None:
        raise ValueError(
            f"ImageNet16-120 data not found: no {IMAGENET16_VAL_FILE} in {', '.join(map(str, candidates))}. "
            "Get the downsampled ImageNet 16x16 pickles (train_data_batch_1..10, val_data) from the NAS-Bench-201 "
            "authors (https://github.com/D-X-Y/NAS-Bench-201) and put them in <root>/ImageNet16"
        )
    missing = [name for name in IMAGENET16_TRAIN_FILES if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"ImageNet16-120 in {folder} lacks {', '.join(missing)}")
    names = [*IMAGENET16_TRAIN_FILES, IMAGENET16_VAL_FILE]
    key = _hash([str(folder.resolve()), *(f"{n}:{(folder / n).stat().st_size}" for n in names)])
    arrays = _cached(cache / f"imagenet16-120-{key}.npz", lambda: _read_imagenet16(folder, spec.num_classes))
    return arrays[:2], arrays[2:]  # type: ignore[return-value]


def _read_imagenet16(folder: Path, num_classes: int) -> tuple[np.ndarray, ...]:
    """Train and val arrays of the official pickles, keeping labels 1..num_classes (made 0-based)."""
    train = [_read_imagenet16_file(folder / name, num_classes) for name in IMAGENET16_TRAIN_FILES]
    val = _read_imagenet16_file(folder / IMAGENET16_VAL_FILE, num_classes)
    return np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train]), *val


def _read_imagenet16_file(path: Path, num_classes: int) -> Arrays:
    try:
        with open(path, "rb") as f:
            entry = safe_pickle.load(f, encoding="latin1")
    except (pickle.UnpicklingError, EOFError) as err:
        raise ValueError(f"{path} is not a readable ImageNet16 batch file: {err}") from None
    data, labels = np.asarray(entry["data"], dtype=np.uint8), np.asarray(entry["labels"], dtype=np.int64)
    side = round((data.shape[1] / 3) ** 0.5)
    keep = (labels >= 1) & (labels <= num_classes)
    images = data[keep].reshape(-1, 3, side, side).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels[keep] - 1


def _hash(parts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def _cached(path: Path, make: Callable[[], tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """Arrays stored at `path` (.npz), made and written atomically (temp file + rename) when absent."""
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return tuple(stored[f"a{i}"] for i in range(len(stored.files)))
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
            warnings.warn(f"image cache {path} is unreadable ({err}); rebuilding it", stacklevel=2)
            path.unlink(missing_ok=True)
    records.remove_stale_temporaries(path)  # decodes killed mid-write
    arrays = make()
    with records.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{f"a{i}": a for i, a in enumerate(arrays)})
    return arrays
