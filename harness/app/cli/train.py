"""`bpebench train ARCH`: train one architecture under a BPE (the full NB201 protocol by default)."""

from __future__ import annotations

import argparse
import time

import numpy as np

import estimators
from harness.app.cli import COMMANDS
from harness.app.cli.common import add_dataset_option, add_groundtruth_option, open_groundtruth, print_json
from harness.app.cli.options import add_execution_flags, add_option_flags, entry_config


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help=COMMANDS["train"],
        description="Train one NB201 architecture (arch string or index) and compare with NB201's recorded accuracy.",
    )
    parser.add_argument("arch", metavar="ARCH", help="arch string like '|nor_conv_3x3~0|+|...|' or an index 0..15624")
    add_groundtruth_option(parser)
    add_dataset_option(parser)
    add_option_flags(parser, [estimators.entry("bpe")], "BPE (training setting; default: the full NB201 protocol)")
    add_execution_flags(parser, ("data_root",))
    parser.add_argument("--eval-split", default="x-valid", help="split scored after every epoch (default: x-valid)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    parser.add_argument("--device", default="auto", help="'auto' (CUDA if available), 'cpu', 'cuda:0', ...")
    parser.add_argument(
        "--threads", type=int, metavar="N", help="torch CPU threads (default: torch's; 1 is faster on busy cores)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end instead of a log")
    parser.add_argument("--dry-run", action="store_true", help="print the estimated time and exit (nothing trains)")
    parser.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    import torch

    from estimators.bpe import load_splits, store_key
    from harness.app.plan import bpe_seconds
    from harness.paths import data_root
    from harness.records import fmt_seconds
    from harness.train import BPE, check_run, device_label, train

    config = entry_config(estimators.entry("bpe"), args) or BPE()
    root = data_root(args.execution_data_root)
    check_run(config, args.seed, args.device)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    with open_groundtruth(args) as gt:
        index, arch_str = _resolve_arch(args.arch, gt)
        recorded = _recorded_accuracy(gt, args.dataset, args.eval_split, index)
    key = store_key(config, args.eval_split, root)
    predicted = bpe_seconds(config, args.dataset, [arch_str], args.eval_split)
    if not args.json or args.dry_run:
        print(f"arch {index}: {arch_str}")
        print(f"BPE {config.describe()} (store key {key}), seed {args.seed}, {args.dataset}")
        print(f"estimated time: about {fmt_seconds(predicted)} on one CPU core (cost model; a GPU takes far less)")
    if args.dry_run:
        return 0
    start = time.perf_counter()
    splits = load_splits(args.dataset, root)
    load_seconds = time.perf_counter() - start

    started = time.perf_counter()

    def report(epoch: int, loss: float, accuracy: float) -> None:
        if not args.json:
            elapsed = time.perf_counter() - started
            eta = elapsed / epoch * (config.epochs - epoch)
            print(
                f"  epoch {epoch:>3}/{config.epochs}  loss {loss:.4f}  {args.eval_split} acc {accuracy:6.2f}%  "
                f"elapsed {fmt_seconds(elapsed)}, ETA {fmt_seconds(eta)}",
                flush=True,
            )

    result = train(arch_str, config, splits, args.eval_split, report, seed=args.seed, device=args.device)
    payload = {
        "arch": index,
        "arch_str": arch_str,
        "dataset": args.dataset,
        "eval_split": args.eval_split,
        "seed": args.seed,
        "bpe": config.to_dict(),
        "store_key": key,
        "score": result.score,
        "curve": [float(v) for v in result.curve],
        "failed": result.failed,
        "reason": result.reason,
        "train_seconds": result.train_seconds,
        "eval_seconds": result.eval_seconds,
        "data_load_seconds": load_seconds,
        "device": device_label(args.device),
        "macs": result.macs,
        "eval_macs": result.eval_macs,
        "nb201_200_epoch_accuracy": recorded,
    }
    if args.json:
        print_json(payload)
        return 0
    status = f"FAILED ({result.reason})" if result.failed else f"{result.score:.2f}%"
    print(f"final {args.eval_split} accuracy {status}")
    print(
        f"cost: {fmt_seconds(result.train_seconds)} training + {fmt_seconds(result.eval_seconds)} evaluation on "
        f"{payload['device']} (data {fmt_seconds(load_seconds)}); {result.macs:.3g} training + "
        f"{result.eval_macs:.3g} evaluation multiply-adds"
    )
    if recorded is not None:
        print(f"NB201 200-epoch {args.eval_split} accuracy (mean over seeds): {recorded:.2f}%")
    return 0


def _resolve_arch(text: str, gt) -> tuple[int, str]:
    """(index, arch string) from an index or an arch string."""
    text = text.strip()
    if text.isdigit():
        index = int(text)
        return index, gt.arch(index)
    return gt.index(text), text


def _recorded_accuracy(gt, dataset: str, split: str, index: int) -> float | None:
    """NB201's recorded 200-epoch accuracy on `split`, when the ground truth has it."""
    try:
        value = float(gt.metric(dataset, split, "acc")[index])
    except ValueError:
        return None
    return None if np.isnan(value) else value
