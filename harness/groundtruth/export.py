"""Ground truth as the dict an official NB201 `.pth` holds (for interoperability tests and benchmarks)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.datasets import default_split
from harness.groundtruth.reader import GroundTruth


def official_pth_dict(
    gt: GroundTruth, datasets: tuple[str, ...], hp: int = 200, indices: Sequence[int] | None = None
) -> dict:
    """A `NASBench201API`-loadable dict with final accuracy per seed (as 'full' results) of `indices` (default all)."""
    per_dataset = {}
    for dataset in datasets:
        split = default_split(dataset)
        seeds = [s for s in gt.seeds(dataset, split, "acc", hp=hp) if s >= 0]
        per_dataset[dataset] = (split, seeds, gt.metric(dataset, split, "acc", hp=hp, seeds="all"))
    arch2infos = {}
    for index in range(gt.num_archs) if indices is None else indices:
        arch = gt.arch_strings[index]
        full = {"arch_index": index, "arch_str": arch, "all_results": {}, "dataset_seed": {}, "clear_net_done": True}
        for dataset, (split, seeds, values) in per_dataset.items():
            present = [(seed, float(values[index, column])) for column, seed in enumerate(seeds)]
            present = [(seed, value) for seed, value in present if not math.isnan(value)]
            full["dataset_seed"][dataset] = [seed for seed, _ in present]
            for seed, value in present:
                full["all_results"][(dataset, seed)] = _run_record(dataset, arch, seed, hp, split, value)
        less = {"arch_index": index, "arch_str": arch, "all_results": {}, "dataset_seed": {}, "clear_net_done": True}
        arch2infos[index] = {"less": less, "full": full}
    return {
        "meta_archs": list(gt.arch_strings),
        "arch2infos": arch2infos,
        "evaluated_indexes": set(arch2infos),
    }


def _run_record(dataset: str, arch: str, seed: int, hp: int, split: str, accuracy: float) -> dict:
    last = hp - 1
    return {
        "name": dataset,
        "net_state_dict": None,
        "train_acc1es": {last: math.nan},
        "train_acc5es": None,
        "train_losses": {last: math.nan},
        "train_times": None,
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": 0},
        "params": math.nan,
        "flop": math.nan,
        "seed": seed,
        "epochs": hp,
        "latency": [],
        "eval_names": [split],
        "eval_acc1es": {f"{split}@{last}": accuracy},
        "eval_losses": {f"{split}@{last}": math.nan},
        "eval_times": {},
    }
