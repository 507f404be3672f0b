"""`bpebench gpu-check`: live training checked against NB201's records on a GPU (or `--tiny` on the CPU)."""

from __future__ import annotations

import argparse

from harness.app.cli import COMMANDS
from harness.app.cli.common import add_groundtruth_option, open_groundtruth

DEFAULT_OUT = "results/gpu_check"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gpu-check",
        help=COMMANDS["gpu-check"],
        description="Throughput of the fused trainer, the nb201-hp12 protocol on 16 archs scored against the recorded "
        "12-epoch accuracies, and a few epochs of DARTS-V1; one JSON and one Markdown file. Sized for one H200 in "
        "under 8 minutes; --tiny runs the same parts on the CPU in seconds.",
    )
    add_groundtruth_option(parser)
    parser.add_argument("--tiny", action="store_true", help="tiny networks on synthetic images, on the CPU")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help=f"folder for gpu_check.json and .md (default: {DEFAULT_OUT}; --tiny: <cache>/gpu-check-tiny)",
    )
    parser.add_argument(
        "--data-root", metavar="DIR", help="datasets folder (default: $BPEBENCH_DATA_ROOT or the reference data)"
    )
    parser.add_argument(
        "--archive",
        metavar="FILE",
        help="train images and NB201 records packed by --pack: unpacked "
        "into the cache and used instead of --data-root and the ground truth",
    )
    parser.add_argument(
        "--pack",
        metavar="FILE",
        help="only write that archive (.tar.gz, about 17 MB) of the CIFAR-10 train JPEGs and the NB201 records the "
        "check reads, for a machine without the reference data",
    )
    parser.add_argument(
        "--device", help="'auto' (CUDA if available), 'cuda:0', ... (default: auto; --tiny runs on the CPU)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=450.0,
        metavar="SECONDS",
        help="time the whole check should fit in; DARTS gets what is left (default: 450)",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the fused networks (compile time counts)")
    parser.set_defaults(handler=_gpu_check)


def _gpu_check(args: argparse.Namespace) -> int:
    from harness import paths
    from harness.app import gpu_check

    if args.pack:
        with open_groundtruth(args) as gt:
            gpu_check.pack(args.pack, args.data_root, gt)
        return 0
    if args.tiny:
        for flag, given in (("--device", args.device is not None), ("--budget", args.budget != 450.0)):
            if given:
                raise ValueError(f"{flag} applies to the full check; --tiny runs fixed tiny settings on the CPU")
        plan = gpu_check.Plan.cpu()
        out = args.out or paths.cache_dir() / "gpu-check-tiny"
    else:
        import torch

        args.device = args.device or "auto"
        if args.device == "auto" and not torch.cuda.is_available():
            raise ValueError(
                "no CUDA device here: the full check is sized for a GPU (hours on a CPU); run --tiny, or pass "
                "--device cpu to run it anyway"
            )
        plan = gpu_check.Plan.full(args.device, args.budget, args.compile)
        out = args.out or DEFAULT_OUT
    data_root = args.data_root
    if args.archive:
        folder = gpu_check.unpack(args.archive)
        source = gpu_check.Records.from_json(folder / gpu_check.ARCHIVE_TRUTH)
        data_root = str(folder)
    else:
        with open_groundtruth(args) as gt:
            source = gpu_check.Records.from_groundtruth(gt)
    payload = gpu_check.run(plan, out, source, data_root)
    return 0 if payload["status"] == "complete" else 1
