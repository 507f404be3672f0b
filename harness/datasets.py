"""Facts about NB201's datasets (Dong & Yang, ICLR 2020), in one table shared by ground truth, estimators, searchers
and training.

Splits: `cifar10-valid` = CIFAR-10 train halved into `train` / `x-valid` (25k each) plus `ori-test`; `cifar10` =
`train` (50k) / `ori-test`; `cifar100` and `ImageNet16-120` = `train` plus the original test set as `ori-test`, halved
into `x-valid` / `x-test`. NB201 selects archs on x-valid (cifar10, which has none, on ori-test) and reports test
accuracy on x-test (cifar10-valid's archs: on cifar10's ori-test; cifar10's selection split already is its test set).

`TABLE` holds them; the constants below it (`DATASETS`, `NUM_CLASSES`, ...) are views of it, not copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Dataset:
    """One NB201 dataset."""

    name: str
    classes: int
    resolution: int
    """Native image size in px."""
    train_images: int
    """Images of NB201's train split."""
    eval_images: Mapping[str, int]
    """The eval splits it has (in `EVAL_SPLITS` order) and the images of each."""
    selection_split: str
    """The split NB201 selects archs on."""
    test: tuple[str, str] | None
    """(dataset, split) NB201 reports test accuracy on for archs selected here (None: the selection split is the
    test set)."""
    search_dataset: str
    """The dataset whose train and x-valid splits a weight-sharing search (DARTS) uses: itself, or cifar10-valid
    for cifar10 (which has no x-valid), as NB201 does."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "eval_images", MappingProxyType(dict(self.eval_images)))

    @property
    def eval_splits(self) -> tuple[str, ...]:
        return tuple(self.eval_images)

    @property
    def selection_images(self) -> int:
        return self.eval_images[self.selection_split]


EVAL_SPLITS: tuple[str, ...] = ("x-valid", "x-test", "ori-test")
"""Every eval split name, in NB201's order."""
SPLITS: tuple[str, ...] = ("train", *EVAL_SPLITS)

_TABLE: tuple[Dataset, ...] = (
    Dataset(
        "cifar10-valid", 10, 32, 25_000, {"x-valid": 25_000, "ori-test": 10_000}, "x-valid", ("cifar10", "ori-test"),
        "cifar10-valid",
    ),
    Dataset("cifar10", 10, 32, 50_000, {"ori-test": 10_000}, "ori-test", None, "cifar10-valid"),
    Dataset(
        "cifar100", 100, 32, 50_000, {"x-valid": 5_000, "x-test": 5_000, "ori-test": 10_000}, "x-valid",
        ("cifar100", "x-test"), "cifar100",
    ),
    Dataset(
        "ImageNet16-120", 120, 16, 151_700, {"x-valid": 3_000, "x-test": 3_000, "ori-test": 6_000}, "x-valid",
        ("ImageNet16-120", "x-test"), "ImageNet16-120",
    ),
)  # fmt: skip
TABLE: Mapping[str, Dataset] = MappingProxyType({d.name: d for d in _TABLE})
"""NB201's datasets by name, in NB201's order: the one table of their facts."""

DATASETS: tuple[str, ...] = tuple(TABLE)
"""NB201's dataset names."""
NUM_CLASSES: Mapping[str, int] = MappingProxyType({d.name: d.classes for d in _TABLE})
RESOLUTION: Mapping[str, int] = MappingProxyType({d.name: d.resolution for d in _TABLE})
TRAIN_IMAGES: Mapping[str, int] = MappingProxyType({d.name: d.train_images for d in _TABLE})
"""Images of NB201's train split of each dataset."""
SELECTION_IMAGES: Mapping[str, int] = MappingProxyType({d.name: d.selection_images for d in _TABLE})
"""Images of the split NB201 selects on (`default_split`): x-valid, or ori-test for `cifar10`."""


def check_dataset(name: str) -> None:
    """Raise unless `name` is one of NB201's datasets."""
    if name not in TABLE:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")


def dataset(name: str) -> Dataset:
    """The table row of dataset `name`."""
    check_dataset(name)
    return TABLE[name]


def default_split(name: str) -> str:
    """The split NB201 selects archs on: x-valid, except `cifar10`, which has only ori-test."""
    return dataset(name).selection_split


def eval_splits(name: str) -> tuple[str, ...]:
    """The eval splits dataset `name` has (as `harness.data.load` builds them)."""
    return dataset(name).eval_splits


def eval_images(name: str, split: str) -> int:
    """Images of eval split `split` of dataset `name`."""
    row = dataset(name)
    if split not in row.eval_images:
        raise ValueError(f"{name} has no {split} split; it has {', '.join(row.eval_splits)}")
    return row.eval_images[split]


def nb201_test(name: str) -> tuple[str, str | None]:
    """(dataset, split) where NB201 reports test accuracy for archs selected on `name`; split None when the
    selection split already is the test set."""
    return dataset(name).test or (name, None)


__all__ = [
    "DATASETS",
    "EVAL_SPLITS",
    "NUM_CLASSES",
    "RESOLUTION",
    "SELECTION_IMAGES",
    "SPLITS",
    "TABLE",
    "TRAIN_IMAGES",
    "Dataset",
    "check_dataset",
    "dataset",
    "default_split",
    "eval_images",
    "eval_splits",
    "nb201_test",
]
