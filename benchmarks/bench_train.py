"""Training throughput (images/s) of harness.train against a plain torchvision DataLoader pipeline, side by side.

Run: python -m benchmarks.bench_train [--json OUT] [--threads T] [--repeats R]

The reference is the usual way to train NB201 networks: a Dataset of PIL images with torchvision transforms
(RandomCrop with padding, RandomHorizontalFlip, ToTensor, Normalize), a DataLoader with 0 or 2 workers, the same
network in the default memory format, the same optimiser, schedule and batch size. Both train on the same synthetic
images; each timing is the best of `--repeats` runs (the machine may be shared), excluding network construction.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from harness import data, network, train

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
EPOCHS = 2


@dataclass(frozen=True)
class Setting:
    name: str
    channels: int
    cells: int
    resolution: int
    images: int
    batch_size: int = 256


SETTINGS = (
    Setting("NB201 C=16 N=5 32px", channels=16, cells=5, resolution=32, images=512),
    Setting("small BPE C=8 N=1 16px", channels=8, cells=1, resolution=16, images=2048),
)


class PILImages(Dataset):
    """A torchvision-style dataset: PIL images transformed one at a time."""

    def __init__(self, split: data.Split, transform: transforms.Compose) -> None:
        self.images = [Image.fromarray(image) for image in split.images.numpy()]
        self.labels = split.labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[index]), self.labels[index]


def reference_seconds(setting: Setting, splits: data.DatasetSplits, workers: int) -> float:
    """Wall time of EPOCHS epochs of the reference pipeline."""
    transform = transforms.Compose(
        [
            transforms.RandomCrop(setting.resolution, padding=setting.resolution // 8),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(splits.mean, splits.std),
        ]
    )
    loader = DataLoader(
        PILImages(splits.train, transform), batch_size=setting.batch_size, shuffle=True, num_workers=workers
    )
    torch.manual_seed(0)
    model = network.build(ARCH, setting.channels, setting.cells, splits.num_classes).train()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=train.MOMENTUM, weight_decay=train.WEIGHT_DECAY, nesterov=True
    )
    total_steps, step = EPOCHS * len(loader), 0
    start = time.perf_counter()
    for _ in range(EPOCHS):
        for x, y in loader:
            for group in optimizer.param_groups:
                group["lr"] = train.cosine_lr(0.1, step, total_steps)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    return time.perf_counter() - start


def ours_seconds(setting: Setting, splits: data.DatasetSplits) -> float:
    """Training time (eval excluded) of EPOCHS epochs through harness.train."""
    config = train.BPE(
        epochs=EPOCHS,
        batch_size=setting.batch_size,
        channels=setting.channels,
        cells=setting.cells,
        resolution=setting.resolution,
    )
    result = train.train(ARCH, config, splits, device="cpu", record_curve=False)
    if result.failed:
        raise RuntimeError(f"benchmark run failed: {result.reason}")
    return result.train_seconds


def measure(setting: Setting, repeats: int) -> list[dict[str, object]]:
    """Best-of-`repeats` images/s of every pipeline for one setting, the pipelines interleaved."""
    splits = data.synthetic(n_train=setting.images, n_eval=64, resolution=32).downscale(setting.resolution)
    pipelines = {
        "bpe-bench (tensor batches, channels-last)": lambda: ours_seconds(setting, splits),
        "reference DataLoader workers=0": lambda: reference_seconds(setting, splits, 0),
        "reference DataLoader workers=2": lambda: reference_seconds(setting, splits, 2),
    }
    best = dict.fromkeys(pipelines, float("inf"))
    for _ in range(repeats):
        for name, run in pipelines.items():
            best[name] = min(best[name], run())
    images = setting.images * EPOCHS
    fastest_reference = min(v for k, v in best.items() if k.startswith("reference"))
    return [
        {
            "setting": setting.name,
            "pipeline": name,
            "images_per_second": images / seconds,
            "speedup_vs_best_reference": fastest_reference / seconds,
            "seconds": seconds,
            "images": images,
        }
        for name, seconds in best.items()
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's own)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per pipeline; the best counts (default 2)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = [row for setting in SETTINGS for row in measure(setting, args.repeats)]
    print(f"{'setting':<24} {'pipeline':<42} {'images/s':>9} {'speedup':>8}")
    for row in rows:
        print(
            f"{row['setting']:<24} {row['pipeline']:<42} {row['images_per_second']:>9.1f} "
            f"{row['speedup_vs_best_reference']:>7.2f}x"
        )
    report = {
        "arch": ARCH,
        "epochs": EPOCHS,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "load_average_1min": os.getloadavg()[0],
        },
        "seconds_total": time.perf_counter() - start,
        "results": rows,
    }
    print(f"threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}, {report['seconds_total']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
