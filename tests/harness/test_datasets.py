"""NB201's dataset facts: one table, and the names other modules read derived from it."""

from __future__ import annotations

import pytest

from harness import data, datasets
from harness.groundtruth import schema


def test_the_table_holds_nb201s_datasets_and_splits() -> None:
    assert datasets.DATASETS == ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
    assert datasets.SPLITS == ("train", "x-valid", "x-test", "ori-test")
    assert datasets.NUM_CLASSES == {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
    assert datasets.RESOLUTION["ImageNet16-120"] == 16 and datasets.TRAIN_IMAGES["ImageNet16-120"] == 151_700
    assert datasets.SELECTION_IMAGES == {"cifar10-valid": 25_000, "cifar10": 10_000, "cifar100": 5_000,
                                         "ImageNet16-120": 3_000}  # fmt: skip
    assert datasets.eval_splits("cifar10-valid") == ("x-valid", "ori-test")
    assert datasets.eval_splits("cifar10") == ("ori-test",)
    assert datasets.eval_splits("cifar100") == datasets.EVAL_SPLITS
    assert datasets.eval_images("ImageNet16-120", "ori-test") == 6_000
    with pytest.raises(ValueError, match="cifar10 has no x-valid split"):
        datasets.eval_images("cifar10", "x-valid")


def test_selection_and_test_splits_are_nb201s() -> None:
    assert [datasets.default_split(d) for d in datasets.DATASETS] == ["x-valid", "ori-test", "x-valid", "x-valid"]
    assert datasets.nb201_test("cifar10-valid") == ("cifar10", "ori-test")
    assert datasets.nb201_test("cifar10") == ("cifar10", None)
    assert datasets.nb201_test("cifar100") == ("cifar100", "x-test")
    assert datasets.dataset("cifar10").search_dataset == "cifar10-valid"
    with pytest.raises(ValueError, match="unknown dataset 'cifar11'; allowed: cifar10-valid"):
        datasets.dataset("cifar11")


def test_other_modules_read_the_table() -> None:
    assert schema.DATASETS is datasets.DATASETS and schema.SPLITS is datasets.SPLITS
    assert data.DATASETS is datasets.DATASETS
    for name in datasets.DATASETS:
        spec = data._spec(name)
        assert (spec.num_classes, spec.resolution) == (datasets.NUM_CLASSES[name], datasets.RESOLUTION[name])
