"""Facts about NB201's datasets shared by ground truth, estimators and training."""

from __future__ import annotations

from harness.groundtruth.schema import DATASETS, check_dataset

NUM_CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
RESOLUTION = {"cifar10-valid": 32, "cifar10": 32, "cifar100": 32, "ImageNet16-120": 16}
TRAIN_IMAGES = {"cifar10-valid": 25_000, "cifar10": 50_000, "cifar100": 50_000, "ImageNet16-120": 151_700}
"""Images of NB201's train split of each dataset."""
SELECTION_IMAGES = {"cifar10-valid": 25_000, "cifar10": 10_000, "cifar100": 5_000, "ImageNet16-120": 3_000}
"""Images of the split NB201 selects on (`default_split`): x-valid, or ori-test for `cifar10`."""


def default_split(dataset: str) -> str:
    """The split NB201 selects archs on: x-valid, except `cifar10`, which has only ori-test."""
    check_dataset(dataset)
    return "ori-test" if dataset == "cifar10" else "x-valid"


__all__ = ["DATASETS", "NUM_CLASSES", "RESOLUTION", "SELECTION_IMAGES", "TRAIN_IMAGES", "default_split"]
