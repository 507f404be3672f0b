"""`bpebench mip`: Minimum Importance Pruning over a BPE space, against random search and baselines at equal budget."""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
from pathlib import Path

from harness import paths, records
from harness.app.cli import COMMANDS
from harness.app.cli.common import add_dataset_option, add_groundtruth_option, open_groundtruth
from harness.estimation import Execution
from harness.store import Store

DEFAULT_TABLE = Path("results") / "bpe_table.h5"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mip",
        help=COMMANDS["mip"],
        description="Each iteration evaluates a space-filling design of BPE configs over every free dimension "
        "(rank agreement with ground truth on a fixed arch sample, and the measured cost), ranks the free dimensions "
        "by fANOVA importance over bootstrap-resampled random forests, and prunes the least important only when that "
        "is confident, fixing it to the cheapest value within noise of the best; the budget ends the run. "
        "--mode paper runs the published rule. The chosen configs are re-scored on fresh archs. Results go through "
        "the resumable store: rerun the same command to resume a killed run. `mip table build|compare`: the "
        "tabular BPE benchmark.",
    )
    parser.add_argument("--space", default="cpu", help="'cpu', 'gpu' or a TOML file of dimension value lists")
    add_groundtruth_option(parser)
    add_dataset_option(parser)
    parser.add_argument("--archs", default="50", help="sample size of unique archs, 'unique' or i,j,k (default: 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the arch sample, training and MIP (default: 0)")
    parser.add_argument(
        "--budget", type=float, default=3000.0, help="measured cost per method, in --unit (default: 3000)"
    )
    parser.add_argument("--unit", default="seconds", help="budget unit: seconds (measured) or macs (x full training)")
    parser.add_argument("--objective", default="kendall", help="kendall (tau) or spearman (rho) (default: kendall)")
    parser.add_argument("--mode", default="learn", help="learn (design + confident pruning) or paper (default: learn)")
    parser.add_argument("--per-iteration", type=int, default=8, help="configs per design (default: 8)")
    parser.add_argument("--beta", type=float, default=0.5, help="cost bias (0 = none; default: 0.5, mild)")
    parser.add_argument("--importance", default="fanova", help="fanova, permutation or impurity (default: fanova)")
    parser.add_argument("--trees", type=int, default=32, help="trees per random forest (default: 32)")
    parser.add_argument("--resamples", type=int, default=12, help="bootstrap resamples, a forest each (default: 12)")
    parser.add_argument("--confidence", type=float, default=0.8, help="pruning confidence in [0.5, 1] (default 0.8)")
    parser.add_argument("--choice", default="model", help="chosen config: model (forest) or observed (default: model)")
    parser.add_argument(
        "--fresh-archs",
        type=int,
        default=50,
        help="fresh unique archs the chosen configs are re-scored on (default 50)",
    )
    parser.add_argument("--cost-cap", type=float, help="chosen BPE = highest tau costing at most this many seconds")
    parser.add_argument("--eval-split", default="x-valid", help="split BPEs score archs on (default: x-valid)")
    parser.add_argument("--target", help="ground truth SPLIT[:METRIC[:HP[:SEED]]] (default: mean 200-epoch x-valid)")
    parser.add_argument("--no-random-search", action="store_true", help="skip the random-search baseline")
    parser.add_argument(
        "--presets",
        default="bpe1,bpe2",
        help="BPE presets run as baselines when predicted within budget ('' for none; default: bpe1,bpe2)",
    )
    parser.add_argument("--store", metavar="PATH", help="results store (default: <cache>/results.h5)")
    parser.add_argument(
        "--data-root", metavar="PATH", help="datasets folder (default: $BPEBENCH_DATA_ROOT, else the shared data)"
    )
    parser.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler tcp://HOST:PORT")
    parser.add_argument("--out", metavar="PATH", help="run record JSON (default: <cache>/mip/<run key>.json)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the report as Markdown here")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-config lines")
    parser.set_defaults(handler=_mip)
    tables = parser.add_subparsers(dest="mip_command", metavar="{table}")
    table = tables.add_parser("table", help="the tabular BPE benchmark: build it, run MIP and random search on it")
    actions = table.add_subparsers(dest="table_command", required=True, metavar="{build,compare,status}")
    _add_table_build(actions)
    _add_table_compare(actions)
    show = actions.add_parser("status", help="what the table holds, CPU-hours spent and the predicted remainder")
    show.add_argument("--table", default=str(DEFAULT_TABLE), help=f"table store (default: {DEFAULT_TABLE})")
    add_groundtruth_option(show)
    show.set_defaults(handler=_table_status)


def _add_table_build(actions: argparse._SubParsersAction) -> None:
    build = actions.add_parser(
        "build",
        help="train the table's configs the store lacks (resumable: rerun to extend or continue)",
        description="Trains every config of a Halton design over the space (plus presets) on one fixed sample of "
        "unique archs, cheapest predicted config first, with a progress line and ETA after each config. Results go "
        "to the table's store as they arrive: a killed build loses only the units in flight, and a rerun (or a "
        "larger --configs, which keeps the design's first configs) continues.",
    )
    build.add_argument("--space", default="cpu", help="'cpu', 'gpu' or a TOML file (default: cpu)")
    build.add_argument("--configs", type=int, default=40, help="configs of the Halton design (default: 40)")
    build.add_argument("--archs", type=int, default=60, help="unique archs every config trains on (default: 60)")
    build.add_argument("--seed", type=int, default=0, help="seed of design, arch sample and training (default: 0)")
    add_dataset_option(build)
    build.add_argument("--eval-split", default="ori-test", help="split the BPEs score on (default: ori-test)")
    build.add_argument("--eval-images", type=int, default=5000, help="images of it scored, fixed subset (default 5000)")
    build.add_argument("--presets", default="bpe1", help="presets added to the design (default: bpe1; '' for none)")
    build.add_argument("--table", default=str(DEFAULT_TABLE), help=f"table store (default: {DEFAULT_TABLE})")
    build.add_argument("--hours", type=float, help="start no config after this many hours (then rerun to continue)")
    add_groundtruth_option(build)
    build.add_argument("--data-root", metavar="PATH", help="datasets folder (default: $BPEBENCH_DATA_ROOT)")
    build.add_argument("--workers", type=int, default=2, help="local worker processes (default: 2)")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.set_defaults(handler=_table_build)


def _add_table_compare(actions: argparse._SubParsersAction) -> None:
    compare = actions.add_parser(
        "compare",
        help="MIP (and its paper mode) against random search on the table, many seeds, simulated measured cost",
        description="Each seed splits the table's archs in two halves: the search selects a config on one half, "
        "paying the table's measured cost of every config it evaluates, and the chosen config is scored on the "
        "other half. Only configs with a result for every arch take part.",
    )
    compare.add_argument("--table", default=str(DEFAULT_TABLE), help=f"table store (default: {DEFAULT_TABLE})")
    add_groundtruth_option(compare)
    compare.add_argument("--seeds", type=int, default=50, help="seeds per method (default: 50)")
    compare.add_argument(
        "--budget", type=float, default=0.25, help="budget as a share of the whole table's cost (default: 0.25)"
    )
    compare.add_argument("--unit", default="seconds", help="cost charged: seconds or macs (default: seconds)")
    compare.add_argument("--objective", default="kendall", help="kendall or spearman (default: kendall)")
    compare.add_argument("--out", default="results/mip_table", help="writes OUT.md and OUT.json")
    compare.add_argument(
        "--synthetic",
        type=int,
        metavar="CONFIGS",
        help="run on a synthetic table of CONFIGS configs x 60 archs with a known answer instead of --table",
    )
    compare.set_defaults(handler=_table_compare)


def _table_build(args: argparse.Namespace) -> int:
    import time

    from harness.app.bpe_table import TableSpec, build

    spec = TableSpec(
        space=args.space,
        configs=args.configs,
        archs=args.archs,
        seed=args.seed,
        dataset=args.dataset,
        eval_split=args.eval_split,
        eval_images=args.eval_images,
        presets=tuple(p.strip() for p in args.presets.split(",") if p.strip()),
    )
    if args.hours is not None and not args.hours > 0:
        raise ValueError(f"--hours must be > 0, got {args.hours}")
    deadline = time.time() + args.hours * 3600 if args.hours else None
    execution = Execution(args.data_root, args.table, args.workers, progress=not args.quiet)
    with open_groundtruth(args) as gt:
        build(spec, gt, execution, log=lambda line: print(line, flush=True), deadline=deadline)
    return 0


def _table_status(args: argparse.Namespace) -> int:
    from harness.app.bpe_table import status
    from harness.app.cli.common import print_json

    with open_groundtruth(args) as gt:
        print_json(status(args.table, gt))
    return 0


def _table_compare(args: argparse.Namespace) -> int:
    from harness.app.mip_table import compare_command

    return compare_command(args)


def experiment_from_args(args: argparse.Namespace):
    from harness.app.mip_experiment import MIPExperiment

    return MIPExperiment(
        space=args.space,
        dataset=args.dataset,
        archs=args.archs,
        seed=args.seed,
        budget=args.budget,
        unit=args.unit,
        metric=args.objective,
        mode=args.mode,
        per_iteration=args.per_iteration,
        beta=args.beta,
        importance=args.importance,
        n_trees=args.trees,
        resamples=args.resamples,
        confidence=args.confidence,
        choice=args.choice,
        fresh_archs=args.fresh_archs,
        cost_cap=args.cost_cap,
        eval_split=args.eval_split,
        target=args.target,
        random_search=not args.no_random_search,
        presets=tuple(p.strip() for p in args.presets.split(",") if p.strip()),
    )


def command(args: argparse.Namespace) -> str:
    """The `bpebench mip` command line that reproduces this run."""
    parts = [
        "bpebench",
        "mip",
        "--space",
        args.space,
        "--dataset",
        args.dataset,
        "--archs",
        args.archs,
        "--seed",
        str(args.seed),
        "--budget",
        f"{args.budget:g}",
        "--unit",
        args.unit,
        "--objective",
        args.objective,
        "--mode",
        args.mode,
        "--resamples",
        str(args.resamples),
        "--confidence",
        f"{args.confidence:g}",
        "--choice",
        args.choice,
        "--fresh-archs",
        str(args.fresh_archs),
        "--per-iteration",
        str(args.per_iteration),
        "--beta",
        f"{args.beta:g}",
        "--importance",
        args.importance,
        "--trees",
        str(args.trees),
        "--eval-split",
        args.eval_split,
        "--presets",
        args.presets,
    ]
    optional = {
        "--cost-cap": args.cost_cap,
        "--target": args.target,
        "--groundtruth": args.groundtruth,
        "--data-root": args.data_root,
        "--workers": args.workers,
        "--store": args.store,
    }
    for flag, value in optional.items():
        if value is not None:
            parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if args.no_random_search:
        parts.append("--no-random-search")
    return shlex.join(parts)


def _mip(args: argparse.Namespace) -> int:
    from harness.app.mip_experiment import run_experiment
    from harness.app.mip_report import render

    experiment = experiment_from_args(args)
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    key = hashlib.sha256(json.dumps(experiment.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
    out = records.check_output(Path(args.out) if args.out else paths.cache_dir() / "mip" / f"{key}.json", "--out")
    if args.markdown:
        records.check_output(args.markdown, "--markdown")
    log = (lambda _: None) if args.quiet else (lambda line: print(line, flush=True))
    with open_groundtruth(args) as gt, Store(args.store) as store:
        execution = Execution(args.data_root, store, args.workers, args.scheduler, progress=not args.quiet)
        record = run_experiment(experiment, gt, execution, log=log)
    record["command"] = command(args)
    record["provenance"] = records.collect()
    records.write_atomic(out, json.dumps(records.strict_json(record), indent=1, sort_keys=True) + "\n")
    report = render(record, record["command"])
    if args.markdown:
        records.write_atomic(Path(args.markdown).expanduser(), report + "\n")
    print(report)
    print(f"run record: {out}")
    return 0
