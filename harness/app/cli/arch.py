"""`bpebench arch INDEX|STRING`: every stored metric of one architecture, per seed."""

from __future__ import annotations

import argparse

from harness.app.cli import COMMANDS
from harness.app.cli.common import add_groundtruth_option, open_groundtruth, print_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("arch", help=COMMANDS["arch"])
    parser.add_argument("arch", metavar="INDEX|STRING", help="official index (0..15624) or arch string")
    add_groundtruth_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=_arch)


def _arch(args: argparse.Namespace) -> int:
    with open_groundtruth(args) as gt:
        text = args.arch.strip()
        record = gt.record(int(text) if text.isdigit() else gt.index(text))
    if args.json:
        print_json(record)
        return 0
    print(f"arch {record['index']}: {record['arch']}")
    print(
        f"isomorphism class {record['isomorphism_class']}: {record['class_size']} archs, first index "
        f"{record['class_first_index']}"
    )
    print(f"  {'dataset':<15} {'hp':>4} {'split':<9} {'metric':<11} {'seed':>5} {'value':>12}")
    for row in record["values"]:
        value = f"{row['value']:.4f} {row['unit']}".rstrip()
        where = f"{row['dataset']:<15} {row['hp']:>4} {row['split']:<9} {row['metric']:<11}"
        print(f"  {where} {row['seed']!s:>5} {value:>12}")
    return 0
