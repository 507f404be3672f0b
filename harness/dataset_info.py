"""Facts about NB201's datasets shared by ground truth, estimators and training."""

from __future__ import annotations

from harness.groundtruth.schema import DATASETS, check_dataset

NUM_CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
RESOLUTION = {"cifar10-valid": 32, "cifar10": 32, "cifar100": 32, "ImageNet16-120": 16}


def default_split(dataset: str) -> str:
    """The split NB201 selects archs on: x-valid, except `cifar10`, which has only ori-test."""
    check_dataset(dataset)
    return "ori-test" if dataset == "cifar10" else "x-valid"


__all__ = ["DATASETS", "NUM_CLASSES", "RESOLUTION", "default_split"]
