"""Fused group against the same archs trained alone (`harness.fast_train.measure_throughput`), on any device.

Run: python -m benchmarks.bench_fused [--channels 16 --cells 5 --resolution 32 --batch 64] [--ks 1,8] [--device cpu]

Prints one line per (K, mode): seconds per step of all K archs, images/s and seconds per arch-epoch on a 25k split.
The archs are the first K of a seeded sample of unique archs; the images are synthetic (speed does not depend on
them). The module docstring of `harness.fast_train` quotes this script's figures on the project's CPU.
"""

from __future__ import annotations

import argparse

import torch

from harness import data, space
from harness.fast_train import measure_throughput
from harness.groundtruth import GroundTruth
from harness.train import BPE, device_label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--ks", default="1,8", help="group sizes, comma-separated (default: 1,8)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ks = [int(k) for k in args.ks.split(",")]
    with GroundTruth.open() as gt:
        archs = [gt.arch_strings[i] for i in space.sample_indices(max(ks), 0, gt.arch_strings, unique=True)]
    splits = data.synthetic(10, n_train=max(args.batch * (args.steps + 1), 64), n_eval=16, resolution=32)
    bpe = BPE(epochs=1, batch_size=args.batch, channels=args.channels, cells=args.cells,
              resolution=args.resolution, precision=args.precision)  # fmt: skip
    print(f"{device_label(args.device)}, {args.threads} thread(s), {bpe.describe()}")
    for row in measure_throughput(archs, bpe, splits, ks, steps=args.steps, warmup=1, device=args.device):
        per_epoch = row.seconds_per_step * -(-25_000 // args.batch) / row.k
        print(f"K={row.k:<3} {row.mode:<5} {row.seconds_per_step:8.3f} s/step  {row.images_per_second:8.0f} img/s  "
              f"{per_epoch:8.2f} s/arch-epoch (25k images)  {row.error}")  # fmt: skip


if __name__ == "__main__":
    main()
