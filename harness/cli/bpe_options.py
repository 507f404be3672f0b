"""Command-line options of a BPE (training setting, data, where it runs, where results go), shared by subcommands."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields

from estimators.bpe import PRESETS, SYNTHETIC_ROOT, BPEConfig
from harness.data import DATA_ROOT_ENV

SCHEDULER_ENV = "BPEBENCH_SCHEDULER"

_HELP = {
    "epochs": "training epochs",
    "batch_size": "batch size",
    "lr": "initial learning rate (cosine to 0)",
    "lr_schedule": "cosine steps per 'epoch' (NB201) or per 'step' (iteration)",
    "channels": "base width C",
    "cells": "cells per stage N",
    "resolution": "image size in px (multiple of 4, >= 8)",
    "fraction": "share of the train split, class-balanced",
    "cutout": "cutout square side in px (0 = off)",
    "eval_images": "eval-split images scored, a fixed class-balanced subset (0 = all)",
    "precision": "fp32, bf16 or fp16 (CUDA)",
}
_TYPES = {"epochs": int, "batch_size": int, "lr": float, "lr_schedule": str, "channels": int, "cells": int,
          "resolution": int, "fraction": float, "cutout": int, "eval_images": int, "precision": str}  # fmt: skip


def add_bpe_options(parser: argparse.ArgumentParser, execution: bool = True) -> None:
    """BPE training options, `--preset` and `--data-root`; with `execution`, also where units run and are stored."""
    defaults = BPEConfig()
    group = parser.add_argument_group("BPE (training setting; default: the full NB201 protocol, or the preset's)")
    group.add_argument("--preset", choices=list(PRESETS), help="start from a named BPE; other options override it")
    for spec in fields(BPEConfig):
        group.add_argument(
            f"--{spec.name.replace('_', '-')}",
            dest=f"bpe_{spec.name}",
            type=_TYPES[spec.name],
            metavar=spec.name.upper(),
            help=f"{_HELP[spec.name]} (NB201: {getattr(defaults, spec.name)})",
        )
    group.add_argument(
        "--data-root",
        metavar="PATH",
        help=f"folder holding the datasets, e.g. ../shared/data (default: ${DATA_ROOT_ENV}); "
        f"'{SYNTHETIC_ROOT}' trains on small synthetic images",
    )
    if not execution:
        return
    group.add_argument(
        "--scheduler",
        metavar="ADDR",
        help=f"Dask scheduler tcp://HOST:PORT to run on (default: ${SCHEDULER_ENV} if set, else local processes)",
    )
    group.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: one per core; 1 on a CUDA machine)"
    )
    group.add_argument("--threads", type=int, metavar="N", help="torch threads per worker (default: cores // workers)")
    group.add_argument("--store", metavar="PATH", help="results file (default: <cache>/results.h5); reruns resume")


def bpe_config_from_args(args: argparse.Namespace) -> BPEConfig:
    """The preset (or NB201's protocol) with every option given on the command line applied."""
    overrides = {f.name: getattr(args, f"bpe_{f.name}") for f in fields(BPEConfig)}
    overrides = {name: value for name, value in overrides.items() if value is not None}
    if args.preset:
        return BPEConfig.from_preset(args.preset, **overrides)
    return BPEConfig(**overrides)


def bpe_options_given(args: argparse.Namespace) -> list[str]:
    """Flags of the BPE options set on the command line (to reject them for estimators that ignore them)."""
    names = ["preset", *(f"bpe_{f.name}" for f in fields(BPEConfig))]
    names += ["data_root", "scheduler", "workers", "threads", "store"]
    given = [name for name in names if getattr(args, name, None) is not None]
    return ["--" + name.removeprefix("bpe_").replace("_", "-") for name in given]


EXECUTION_FLAGS = ("data-root", "scheduler", "workers", "threads", "store")
"""Options every live estimator takes: where the data is, where units run, where results are stored."""


def execution_options(args: argparse.Namespace) -> dict:
    """Keyword options shared by live estimator factories (data, executor, store)."""
    return {
        "data_root": args.data_root,
        "store": args.store,
        "scheduler": args.scheduler or os.environ.get(SCHEDULER_ENV) or None,
        "workers": args.workers,
        "threads": args.threads,
    }


def estimator_options(args: argparse.Namespace) -> dict:
    """Keyword options of the `bpe` estimator factory from the parsed arguments."""
    return {"config": bpe_config_from_args(args), **execution_options(args)}
