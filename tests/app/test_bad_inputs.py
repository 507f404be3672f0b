"""The bad-input probe: every entry point, given a bad input, exits 2 with a message naming the problem.

Each CLI row runs `bpebench` in-process (`harness.app.cli.main`) and asserts exit code 2, no traceback, a message
holding the row's fragment (case-insensitive), and that the stored files of the probe folder (a ground-truth file, a
results store, the inputs) are byte-for-byte unchanged. API rows assert a ValueError naming the problem.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from harness.app.cli import main

BIG = str(2**70)


@dataclass(frozen=True)
class Row:
    """One bad input: argv ({probe}, {gt}, {store}, {out} are filled in), the message fragment, extra env."""

    id: str
    argv: tuple[str, ...]
    fragment: str
    env: dict[str, str] = field(default_factory=dict)


def row(id: str, argv: str, fragment: str, **env: str) -> Row:
    return Row(id, tuple(argv.split("\x1f") if "\x1f" in argv else argv.split()), fragment, env)


LIVE = "--data-root synthetic: --workers 1 --store {out}/s.h5 --archs 2 --preset cpu-tiny"
TOML = {
    "invalid": "estimate = [",
    "section": "[bogus]\nx = 1\n",
    "arch-typo": '[[estimate]]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\narch = "5"\n',
    "seed-typo": '[[estimate]]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\narchs = "5"\nseed = [1]\n',
    "budget-typo": '[[search]]\nsearchers = ["rs"]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\n'
    "budget = [100]\nseeds = 1\n",
    "seeds-true": '[[estimate]]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\narchs = "5"\nseeds = true\n',
    "search-seeds-true": '[[search]]\nsearchers = ["rs"]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\n'
    "budgets = [100]\nseeds = true\n",
    "seeds-str": '[[estimate]]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\narchs = "5"\nseeds = "3"\n',
    "seeds-neg": '[[estimate]]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\narchs = "5"\nseeds = [-1]\n',
    "est-str": '[[estimate]]\nestimators = "params"\ndatasets = ["cifar10-valid"]\narchs = "5"\n',
    "est-unknown": '[[estimate]]\nestimators = ["nope"]\ndatasets = ["cifar10-valid"]\narchs = "5"\n',
    "dataset-unknown": '[[estimate]]\nestimators = ["params"]\ndatasets = ["mnist"]\narchs = "5"\n',
    "preset-unknown": '[[estimate]]\nestimators = ["bpe"]\noptions = { preset = "nope" }\n'
    'datasets = ["cifar10-valid"]\narchs = "5"\n',
    "option-unknown": '[[estimate]]\nestimators = ["bpe"]\noptions = { bogus = 1 }\n'
    'datasets = ["cifar10-valid"]\narchs = "5"\n',
    "option-type": '[[estimate]]\nestimators = ["bpe"]\noptions = { epochs = "two" }\n'
    'datasets = ["cifar10-valid"]\narchs = "5"\n',
    "options-not-table": '[[estimate]]\nestimators = ["bpe"]\noptions = 5\ndatasets = ["cifar10-valid"]\narchs = "5"\n',
    "options-no-options": '[[estimate]]\nestimators = ["params"]\noptions = { epochs = 2 }\n'
    'datasets = ["cifar10-valid"]\narchs = "5"\n',
    "archs-zero": '[[estimate]]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\narchs = "0"\n',
    "archs-word": '[[estimate]]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\narchs = "some"\n',
    "archs-bool": '[[estimate]]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\narchs = true\n',
    "budgets-neg": '[[search]]\nsearchers = ["rs"]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\n'
    "budgets = [-1]\nseeds = 1\n",
    "budgets-str": '[[search]]\nsearchers = ["rs"]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\n'
    'budgets = ["x"]\nseeds = 1\n',
    "budgets-scalar": '[[search]]\nsearchers = ["rs"]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\n'
    "budgets = 100\nseeds = 1\n",
    "queries-zero": '[[search]]\nsearchers = ["rs"]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\n'
    "queries = 0\nseeds = 1\n",
    "searcher-unknown": '[[search]]\nsearchers = ["nope"]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\n'
    "budgets = [100]\nseeds = 1\n",
    "search-options-type": '[[search]]\nsearchers = ["rs"]\nestimators = ["bpe"]\ndatasets = ["cifar10-valid"]\n'
    'budgets = [100]\nseeds = 1\noptions = { preset = 3 }\n',
    "csv-no-preset": '[data]\ncsv = [{ path = "x.csv" }]\n',
    "csv-preset-unknown": '[data]\ncsv = [{ path = "x.csv", preset = "nope" }]\n',
    "csv-key": '[data]\ncsv = [{ path = "x.csv", preset = "nb201-hp12", sep = ";" }]\n',
    "images-int": "[data]\nimages = 5\n",
    "data-key": '[data]\nimage = "cifar10-jpeg"\n',
    "estimate-table": '[estimate]\nestimators = ["params"]\n',
    "description-int": "description = 5\n",
    "step-missing": '[[estimate]]\nestimators = ["params"]\narchs = "5"\n',
}
CSV = {
    "short-row": "arch,cifar10-val\n0,50\n1\n",
    "inf": "arch,cifar10-val\n0,inf\n1,50\n",
    "negative": "arch,cifar10-val\n0,-5\n1,50\n",
    "over-100": "arch,cifar10-val\n0,250\n1,50\n",
    "word": "arch,cifar10-val\n0,good\n",
    "no-column": "arch,other\n0,50\n",
    "arch-range": "arch,cifar10-val\n99999,50\n",
    "arch-dup": "arch,cifar10-val\n3,50\n3,51\n",
    "arch-word": "arch,cifar10-val\nnope,50\n",
    "arch-negative": "arch,cifar10-val\n-3,50\n",
    "empty": "",
    "time-negative": "arch,t\n0,-1\n",
    "params-nan-word": "arch,p\n0,-2\n",
}
CSV_FLAGS = "--hp 12 --column cifar10-val=cifar10-valid:x-valid:acc"

ROWS: list[Row] = [
    # ---- estimate
    row("estimate-unknown", "estimate nope --groundtruth {gt}", "unknown estimator 'nope'"),
    row("estimate-archs-dup", "estimate params --groundtruth {gt} --archs 0,0", "distinct indices"),
    row("estimate-archs-neg", "estimate params --groundtruth {gt} --archs -1", "archs"),
    row("estimate-archs-word", "estimate params --groundtruth {gt} --archs some", "archs"),
    row("estimate-archs-big", "estimate params --groundtruth {gt} --archs 20000", "20000"),
    row("estimate-archs-zero", "estimate params --groundtruth {gt} --archs 0", "archs"),
    row("estimate-archs-range", "estimate params --groundtruth {gt} --archs 3,15625", "0..15624"),
    row("estimate-target-split", "estimate params --groundtruth {gt} --target valid", "unknown split 'valid'"),
    row("estimate-target-hp", "estimate params --groundtruth {gt} --target x-valid:acc:13", "hp=13"),
    row("estimate-target-metric", "estimate params --groundtruth {gt} --target x-valid:speed", "speed"),
    row("estimate-target-seed", "estimate params --groundtruth {gt} --target x-valid:acc:200:5", "seed"),
    row("estimate-bootstrap", "estimate params --groundtruth {gt} --bootstrap 0", "--bootstrap must be at least 1"),
    row("estimate-seed-neg", "estimate params --groundtruth {gt} --seed -1", "seed"),
    row(
        "estimate-no-hp12",
        "estimate tabular-hp12 --groundtruth {probe}/bare.h5",
        "has no 12-epoch (hp=12) accuracy table",
    ),
    row("estimate-gt-missing", "estimate params --groundtruth {probe}/nope.h5", "nope.h5"),
    row("estimate-gt-garbage", "estimate params --groundtruth {probe}/garbage.h5", "garbage.h5"),
    row("estimate-gt-truncated", "estimate params --groundtruth {probe}/truncated.h5", "truncated.h5"),
    row("estimate-gt-noschema", "estimate params --groundtruth {probe}/noschema.h5", "schema_version"),
    row("estimate-gt-dir", "estimate params --groundtruth {probe}/folder", "folder"),
    row("estimate-gt-csv", "estimate params --groundtruth {probe}/csv-word.csv", "csv-word.csv"),
    row("estimate-live-flag", "estimate params --groundtruth {gt} --data-root x", "only apply to live"),
    row("estimate-foreign-flag", "estimate params --groundtruth {gt} --epochs 3", "not apply to 'params'"),
    row("estimate-bpe-epochs", f"estimate bpe --groundtruth {{gt}} {LIVE} --epochs 0", "epochs"),
    row("estimate-bpe-preset", "estimate bpe --groundtruth {gt} --preset nope", "unknown BPE preset 'nope'"),
    row("estimate-bpe-no-root", "estimate bpe --groundtruth {gt} --preset cpu-tiny --archs 2 --workers 1 "
        "--store {out}/s.h5 --data-root {probe}/nothing-here", "nothing-here"),
    row("estimate-bpe-empty-root", "estimate bpe --groundtruth {gt} --preset cpu-tiny --archs 2 --workers 1 "
        "--store {out}/s.h5 --data-root {probe}/folder", "folder"),
    row("estimate-bpe-classes", "estimate bpe --groundtruth {gt} --preset cpu-tiny --archs 2 --workers 1 "
        "--store {out}/s.h5 --data-root {probe}/badimages", "no images"),
    row("estimate-bpe-imagenet", "estimate bpe --groundtruth {gt} --preset cpu-tiny --archs 2 --workers 1 "
        "--store {out}/s.h5 --dataset ImageNet16-120 --data-root {probe}/folder", "ImageNet16-120"),
    row("estimate-bpe-fp16", f"estimate bpe --groundtruth {{gt}} {LIVE} --precision fp16", "fp16"),
    row("estimate-bpe-seed-big", f"estimate bpe --groundtruth {{gt}} {LIVE} --seed {BIG}", "seed"),
    row("estimate-bpe-eval-images", f"estimate bpe --groundtruth {{gt}} {LIVE} --eval-images 999999", "eval_images"),
    row("estimate-bpe-workers", f"estimate bpe --groundtruth {{gt}} {LIVE} --workers 0", "workers"),
    row("estimate-bpe-threads", f"estimate bpe --groundtruth {{gt}} {LIVE} --threads 0", "threads"),
    row("estimate-bpe-scheduler", f"estimate bpe --groundtruth {{gt}} {LIVE} --scheduler nowhere", "tcp://"),
    row("estimate-bpe-resolution", f"estimate bpe --groundtruth {{gt}} {LIVE} --resolution 0", "resolution"),
    row("estimate-bpe-fraction", f"estimate bpe --groundtruth {{gt}} {LIVE} --fraction 2", "fraction"),
    row("estimate-bpe-lr", f"estimate bpe --groundtruth {{gt}} {LIVE} --lr -1", "lr"),
    row("estimate-bpe-batch", f"estimate bpe --groundtruth {{gt}} {LIVE} --batch-size 0", "batch_size"),
    row("estimate-bpe-cutout", f"estimate bpe --groundtruth {{gt}} {LIVE} --cutout 99", "cutout"),
    row("estimate-bpe-store-garbage", "estimate bpe --groundtruth {gt} --data-root synthetic: --workers 1 "
        "--archs 2 --preset cpu-tiny --store {probe}/garbage.h5", "garbage.h5"),
    row("estimate-bpe-store-dir", "estimate bpe --groundtruth {gt} --data-root synthetic: --workers 1 "
        "--archs 2 --preset cpu-tiny --store {probe}/folder", "folder"),
    row("estimate-bpe-store-under-file", "estimate bpe --groundtruth {gt} --data-root synthetic: --workers 1 "
        "--archs 2 --preset cpu-tiny --store {probe}/garbage.h5/s.h5", "garbage.h5"),
    row("estimate-bpe-store-foreign", "estimate bpe --groundtruth {gt} --data-root synthetic: --workers 1 "
        "--archs 2 --preset cpu-tiny --store {gt}", "results file"),
    row("estimate-snip-root", "estimate snip --groundtruth {gt} --archs 2 --workers 1 --store {out}/s.h5 "
        "--data-root {probe}/nothing-here", "nothing-here"),
    row("estimate-dataset", "estimate params --groundtruth {gt} --dataset mnist", "invalid choice"),
    row("estimate-no-name", "estimate", "the following arguments are required"),
    row("estimate-bootstrap-word", "estimate params --groundtruth {gt} --bootstrap many", "invalid int value"),
    row("estimate-cache-under-file", "estimate params", "garbage.h5", BPEBENCH_CACHE_DIR="{probe}/garbage.h5/c"),
    # ---- data build
    row("build-nats-no-path", "data build --source nats --out {out}/g.h5", "needs a path"),
    row("build-pth-missing", "data build --source nb201-pth --path {probe}/nope.pth --out {out}/g.h5", "nope.pth"),
    row("build-pth-garbage", "data build --source nb201-pth --path {probe}/garbage.h5 --out {out}/g.h5", "garbage.h5"),
    row("build-pth-pickle", "data build --source nb201-pth --path {probe}/evil.pth --out {out}/g.h5", "evil.pth"),
    row("build-nats-empty", "data build --source nats --path {probe}/folder --out {out}/g.h5", "folder"),
    row("build-nats-garbage", "data build --source nats --path {probe}/garbage.h5 --out {out}/g.h5", "garbage.h5"),
    row("build-embedded-path", "data build --path {probe}/garbage.h5 --out {out}/g.h5", "--path"),
    row("build-out-dir", "data build --out {probe}/folder", "folder"),
    row("build-out-under-file", "data build --out {probe}/garbage.h5/g.h5", "garbage.h5"),
    row("build-merge-garbage", "data build --merge --out {probe}/garbage.h5", "garbage.h5"),
    row("build-merge-truncated", "data build --merge --out {probe}/truncated.h5", "truncated.h5"),
    row("build-merge-noschema", "data build --merge --out {probe}/noschema.h5", "schema_version"),
    row("build-source-unknown", "data build --source bogus", "invalid choice"),
    row("build-replace-bad-source", "data build --source nb201-pth --path {probe}/garbage.h5 --out {gt}",
        "garbage.h5"),
    row("build-cache-under-file", "data build", "garbage.h5", BPEBENCH_CACHE_DIR="{probe}/garbage.h5/c"),
    # ---- data info
    row("info-garbage", "data info --groundtruth {probe}/garbage.h5", "garbage.h5"),
    row("info-noschema", "data info --groundtruth {probe}/noschema.h5", "schema_version"),
    row("info-missing", "data info --groundtruth {probe}/nope.h5", "nope.h5"),
    row("info-dir", "data info --groundtruth {probe}/folder", "folder"),
    row("info-truncated", "data info --groundtruth {probe}/truncated.h5", "truncated.h5"),
    row("info-store", "data info --groundtruth {probe}/store.h5", "store.h5"),
    # ---- data add-csv
    row("csv-missing", "data add-csv {probe}/nope.csv --preset nb201-hp12 --groundtruth {gt}", "does not exist"),
    row("csv-no-hp", "data add-csv {probe}/nope.csv --groundtruth {gt}", "--hp EPOCHS"),
    *(row(f"csv-{name}", f"data add-csv {{probe}}/csv-{name}.csv --groundtruth {{gt}} {CSV_FLAGS}", fragment)
      for name, fragment in {
          "short-row": "line 3",
          "inf": "line 2",
          "negative": "line 2",
          "over-100": "line 2",
          "word": "good",
          "no-column": "lacks column",
          "arch-range": "out of range",
          "arch-dup": "line 3",
          "arch-word": "nope",
          "arch-negative": "-3",
          "empty": "lacks column",
      }.items()),
    row("csv-time-negative", "data add-csv {probe}/csv-time-negative.csv --groundtruth {gt} --hp 12 "
        "--column t=cifar10-valid:cost:train_time", "line 2"),
    row("csv-params-negative", "data add-csv {probe}/csv-params-nan-word.csv --groundtruth {gt} --hp 12 "
        "--column p=cifar10-valid:cost:params", "line 2"),
    row("csv-seed-neg", f"data add-csv {{probe}}/csv-ok.csv --groundtruth {{gt}} {CSV_FLAGS} --seed -5", "seed"),
    row("csv-hp-zero", "data add-csv {probe}/csv-ok.csv --groundtruth {gt} --hp 0 "
        "--column cifar10-val=cifar10-valid:x-valid:acc", "hp"),
    row("csv-spec", "data add-csv {probe}/csv-ok.csv --groundtruth {gt} --hp 12 --column x", "COLUMN=DATASET"),
    row("csv-spec-dataset", "data add-csv {probe}/csv-ok.csv --groundtruth {gt} --hp 12 "
        "--column cifar10-val=mnist:x-valid:acc", "mnist"),
    row("csv-spec-split", "data add-csv {probe}/csv-ok.csv --groundtruth {gt} --hp 12 "
        "--column cifar10-val=cifar10-valid:valid:acc", "valid"),
    row("csv-spec-cost", "data add-csv {probe}/csv-ok.csv --groundtruth {gt} --hp 12 "
        "--column cifar10-val=cifar10-valid:cost:speed", "speed"),
    row("csv-key", f"data add-csv {{probe}}/csv-ok.csv --groundtruth {{gt}} {CSV_FLAGS} --key id", "id"),
    row("csv-binary", f"data add-csv {{probe}}/garbage.h5 --groundtruth {{gt}} {CSV_FLAGS}", "garbage.h5"),
    row("csv-dir", f"data add-csv {{probe}}/folder --groundtruth {{gt}} {CSV_FLAGS}", "folder"),
    row("csv-target-garbage", f"data add-csv {{probe}}/csv-ok.csv --groundtruth {{probe}}/garbage.h5 {CSV_FLAGS}",
        "garbage.h5"),
    row("csv-target-noschema", f"data add-csv {{probe}}/csv-ok.csv --groundtruth {{probe}}/noschema.h5 {CSV_FLAGS}",
        "schema_version"),
    row("csv-target-missing", f"data add-csv {{probe}}/csv-ok.csv --groundtruth {{probe}}/nope.h5 {CSV_FLAGS}",
        "nope.h5"),
    # ---- train
    row("train-index", "train 99999 --groundtruth {gt} --data-root synthetic:", "0..15624"),
    row("train-string", "train |bogus| --groundtruth {gt} --data-root synthetic:", "bogus"),
    row("train-no-root", "train 0 --groundtruth {gt} --preset cpu-tiny --data-root {probe}/nothing-here",
        "nothing-here"),
    row("train-cuda", "train 0 --groundtruth {gt} --preset cpu-tiny --data-root synthetic: --device cuda", "CUDA"),
    row("train-device", "train 0 --groundtruth {gt} --preset cpu-tiny --data-root synthetic: --device toaster",
        "device"),
    row("train-fp16", "train 0 --groundtruth {gt} --preset cpu-tiny --data-root synthetic: --precision fp16 "
        "--device cpu", "fp16"),
    row("train-seed-neg", "train 0 --groundtruth {gt} --preset cpu-tiny --data-root synthetic: --seed -1", "seed"),
    row("train-seed-big", f"train 0 --groundtruth {{gt}} --preset cpu-tiny --data-root synthetic: --seed {BIG}",
        "seed"),
    row("train-threads", "train 0 --groundtruth {gt} --preset cpu-tiny --data-root synthetic: --threads 0", "threads"),
    row("train-eval-split", "train 0 --groundtruth {gt} --preset cpu-tiny --data-root synthetic: --eval-split bogus",
        "bogus"),
    row("train-epochs", "train 0 --groundtruth {gt} --data-root synthetic: --epochs 0", "epochs"),
    row("train-preset", "train 0 --groundtruth {gt} --data-root synthetic: --preset nope", "nope"),
    row("train-gt-garbage", "train 0 --groundtruth {probe}/garbage.h5 --data-root synthetic:", "garbage.h5"),
    # ---- search
    row("search-unknown", "search nope --groundtruth {gt} --estimator params --budget 10", "nope"),
    row("search-no-estimator", "search rea --groundtruth {gt} --budget 100", "estimator"),
    row("search-estimator-unknown", "search rea --groundtruth {gt} --estimator nope --budget 100", "nope"),
    row("search-no-budget", "search rea --groundtruth {gt} --estimator params", "--budget"),
    row("search-budget-neg", "search rea --groundtruth {gt} --estimator params --budget -5", "--budget"),
    row("search-budget-inf", "search rea --groundtruth {gt} --estimator params --budget inf", "--budget"),
    row("search-seeds", "search rea --groundtruth {gt} --estimator params --budget 100 --seeds 0", "--seeds"),
    row("search-queries", "search rea --groundtruth {gt} --estimator params --queries 0", "--queries"),
    row("search-workers", "search rea --groundtruth {gt} --estimator params --budget 100 --workers 0", "workers"),
    row("search-population", "search rea --groundtruth {gt} --estimator params --budget 100 --population 0",
        "population"),
    row("search-policy-lr", "search reinforce --groundtruth {gt} --estimator params --budget 100 --policy-lr -1",
        "lr"),
    row("search-foreign", "search rs --groundtruth {gt} --estimator params --budget 100 --population 5", "rea"),
    row("search-max-steps", "search rea --groundtruth {gt} --estimator params --budget 100 --max-steps 0",
        "max_steps"),
    row("search-darts-estimator", "search darts-v1 --groundtruth {gt} --estimator params --budget 100", "darts"),
    row("search-scheduler", "search rs --groundtruth {gt} --estimator params --budget 100 --scheduler nowhere",
        "tcp://"),
    row("search-bpe-no-root", "search rs --groundtruth {gt} --estimator bpe --preset cpu-tiny --queries 2 --seeds 1 "
        "--data-root {probe}/nothing-here", "nothing-here"),
    row("search-bpe-fp16", "search rs --groundtruth {gt} --estimator bpe --preset cpu-tiny --queries 2 --seeds 1 "
        "--data-root synthetic: --precision fp16", "fp16"),
    row("search-gt-garbage", "search rs --groundtruth {probe}/garbage.h5 --estimator params --budget 100",
        "garbage.h5"),
    # ---- mip
    row("mip-space", "mip --groundtruth {gt} --space nope --out {out}/m.json", "nope"),
    row("mip-space-toml", "mip --groundtruth {gt} --space {probe}/suite-invalid.toml --out {out}/m.json",
        "suite-invalid.toml"),
    row("mip-archs", "mip --groundtruth {gt} --archs 0 --out {out}/m.json", "archs"),
    row("mip-budget", "mip --groundtruth {gt} --budget -1 --out {out}/m.json", "budget"),
    row("mip-per-iteration", "mip --groundtruth {gt} --per-iteration 0 --out {out}/m.json", "per_iteration"),
    row("mip-importance", "mip --groundtruth {gt} --importance nope --out {out}/m.json", "nope"),
    row("mip-trees", "mip --groundtruth {gt} --trees 0 --out {out}/m.json", "trees"),
    row("mip-workers", "mip --groundtruth {gt} --workers 0 --out {out}/m.json", "--workers"),
    row("mip-presets", "mip --groundtruth {gt} --presets nope --out {out}/m.json", "nope"),
    row("mip-eval-split", "mip --groundtruth {gt} --eval-split bogus --out {out}/m.json", "bogus"),
    row("mip-target", "mip --groundtruth {gt} --target bogus --out {out}/m.json", "bogus"),
    row("mip-out-dir", "mip --groundtruth {gt} --archs 5 --budget 20 --data-root synthetic: --workers 1 "
        "--store {out}/s.h5 --out {probe}/folder", "folder"),
    row("mip-markdown-dir", "mip --groundtruth {gt} --archs 5 --budget 20 --data-root synthetic: --workers 1 "
        "--store {out}/s.h5 --out {out}/m.json --markdown {probe}/folder", "folder"),
    row("mip-store-garbage", "mip --groundtruth {gt} --archs 5 --budget 20 --data-root synthetic: --workers 1 "
        "--store {probe}/garbage.h5 --out {out}/m.json", "garbage.h5"),
    row("mip-no-root", "mip --groundtruth {gt} --archs 5 --budget 20 --workers 1 --no-random-search --presets '' "
        "--store {out}/s.h5 --out {out}/m.json --data-root {probe}/nothing-here", "nothing-here"),
    # ---- suite
    row("suite-unknown", "suite nope --groundtruth {gt} --store {out}/s.h5", "nope"),
    *(row(f"suite-{name}", f"suite {{probe}}/suite-{name}.toml --groundtruth {{gt}} --store {{out}}/s.h5", fragment)
      for name, fragment in {
          "invalid": "invalid TOML",
          "section": "bogus",
          "arch-typo": "'arch'",
          "seed-typo": "'seed'",
          "budget-typo": "'budget'",
          "seeds-true": "seeds",
          "search-seeds-true": "seeds",
          "seeds-str": "seeds",
          "seeds-neg": "seeds",
          "est-str": "estimators",
          "est-unknown": "nope",
          "dataset-unknown": "mnist",
          "preset-unknown": "nope",
          "option-unknown": "bogus",
          "option-type": "epochs",
          "options-not-table": "options",
          "options-no-options": "options",
          "archs-zero": "archs",
          "archs-word": "archs",
          "archs-bool": "archs",
          "budgets-neg": "budgets",
          "budgets-str": "budgets",
          "budgets-scalar": "budgets",
          "queries-zero": "queries",
          "searcher-unknown": "nope",
          "search-options-type": "preset",
          "csv-no-preset": "preset",
          "csv-preset-unknown": "nope",
          "csv-key": "sep",
          "images-int": "images",
          "data-key": "image",
          "estimate-table": "estimate",
          "description-int": "description",
          "step-missing": "datasets",
      }.items()),
    row("suite-workers", "suite quick --groundtruth {gt} --store {out}/s.h5 --workers 0", "--workers"),
    row("suite-store-garbage", "suite {probe}/suite-ok.toml --groundtruth {gt} --store {probe}/garbage.h5",
        "garbage.h5"),
    row("suite-dir", "suite {probe}/folder --groundtruth {gt} --store {out}/s.h5", "folder"),
    # ---- leaderboard
    row("leaderboard-none", "leaderboard --out {out}/lb", "no stored suite runs"),
    row("leaderboard-suite", "leaderboard --suite nope --out {out}/lb", "unknown suite 'nope'"),
    row("leaderboard-predictors", "leaderboard --out {out}/lb --predictors {probe}/garbage.h5", "not a predictors"),
    row("leaderboard-predictors-json", "leaderboard --out {out}/lb --predictors {probe}/suite-ok.toml", "JSON"),
    row("arch-index", "arch 99999 --groundtruth {gt}", "0..15624"),
    row("arch-string", "arch |foo~0| --groundtruth {gt}", "invalid arch string"),
    row("plan-unknown", "plan nope --groundtruth {gt}", "unknown suite 'nope'"),
    row("plan-missing", "plan", "required: SUITE"),
    row("predictors-seeds", "predictors --groundtruth {gt} --seeds 1", "seeds must be an int >= 2"),
    row("predictors-k", "predictors --groundtruth {gt} --k x", "comma-separated integers"),
    row("predictors-features", "predictors --groundtruth {gt} --features nope", "unknown feature set"),
    row("predictors-regressor", "predictors --groundtruth {gt} --regressors nope", "unknown regressor"),
    row("gpu-check-archive", "gpu-check --device cpu --archive {probe}/none.tar.gz", "none.tar.gz is not a file"),
    row("gpu-check-tiny-device", "gpu-check --tiny --device cuda", "--device applies to the full check"),
    row("gpu-check-budget", "gpu-check --device cpu --budget x", "invalid float value"),
    row("leaderboard-out-file", "leaderboard --out {probe}/garbage.h5", "garbage.h5"),
]


# ---- API constructors: each raises ValueError naming the problem


def _api_rows() -> list[tuple[str, Callable[[Path], object], str]]:
    from harness.estimation import Execution
    from harness.executor import Executor
    from harness.groundtruth import GroundTruth
    from harness.groundtruth.build import make_source
    from harness.groundtruth.sources.csv_table import ColumnSpec, CsvTableSource
    from harness.store import Store
    from harness.train import BPE

    return [
        ("api-bpe-epochs", lambda p: BPE(epochs=0), "epochs"),
        ("api-bpe-preset", lambda p: BPE.from_preset("nope"), "nope"),
        ("api-bpe-field", lambda p: BPE.from_preset("cpu-tiny", bogus=1), "bogus"),
        ("api-execution-workers", lambda p: Execution(workers=0), "workers"),
        ("api-execution-scheduler", lambda p: Execution(scheduler="x"), "tcp://"),
        ("api-executor-threads", lambda p: Executor(threads=0), "threads"),
        ("api-store-compact", lambda p: Store(p / "new.h5", compact_every=0), "compact_every"),
        ("api-store-garbage", lambda p: Store(p / "garbage.h5", readonly=True), "garbage.h5"),
        ("api-gt-garbage", lambda p: GroundTruth.open(p / "garbage.h5", build=False), "garbage.h5"),
        ("api-gt-noschema", lambda p: GroundTruth.open(p / "noschema.h5", build=False), "schema_version"),
        ("api-source", lambda p: make_source("bogus"), "bogus"),
        ("api-column", lambda p: ColumnSpec("c", "mnist", "x-valid", "acc"), "mnist"),
        ("api-csv-columns", lambda p: CsvTableSource(p / "csv-ok.csv", "arch", (), hp=12), "column"),
        ("api-csv-seed", lambda p: CsvTableSource(p / "csv-ok.csv", "arch", (ColumnSpec(
            "cifar10-val", "cifar10-valid", "x-valid", "acc"),), hp=12, seed=-5), "seed"),
    ]


# ---- fixtures


@pytest.fixture(scope="module")
def probe(embedded_gt_path: Path, bare_gt_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stored files the rows must leave unchanged."""
    import h5py

    root = tmp_path_factory.mktemp("probe")
    shutil.copyfile(embedded_gt_path, root / "gt.h5")
    shutil.copyfile(bare_gt_path, root / "bare.h5")  # no 12-epoch table
    (root / "garbage.h5").write_bytes(np.random.default_rng(0).bytes(4096))
    (root / "truncated.h5").write_bytes(embedded_gt_path.read_bytes()[:100_000])
    with h5py.File(root / "noschema.h5", "w") as h5:
        h5.attrs["format"] = "bpebench-groundtruth"
    (root / "folder").mkdir()
    for c in range(3):
        (root / "badimages" / "cifar10-jpeg" / "train" / f"c{c}").mkdir(parents=True)
        (root / "badimages" / "cifar10-jpeg" / "test" / f"c{c}").mkdir(parents=True)
    (root / "evil.pth").write_bytes(
        b"\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06getcwd\x94\x93\x94)R\x94."
    )
    for name, text in CSV.items():
        (root / f"csv-{name}.csv").write_text(text)
    (root / "csv-ok.csv").write_text("arch,cifar10-val\n0,50\n1,60\n")
    for name, text in TOML.items():
        (root / f"suite-{name}.toml").write_text(text)
    (root / "suite-ok.toml").write_text(
        '[[estimate]]\nestimators = ["params"]\ndatasets = ["cifar10-valid"]\narchs = "5"\n'
    )
    from harness.store import Result, Store

    with Store(root / "store.h5") as store:
        store.add_config("k" * 16, {"estimator": "x", "config": {}})
        store.put("k" * 16, "cifar10-valid", Result(0, 0, 50.0))
    return root


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def _fill(text: str, probe: Path, out: Path) -> str:
    return text.format(probe=probe, gt=probe / "gt.h5", out=out)


@pytest.mark.parametrize("case", ROWS, ids=[r.id for r in ROWS])
def test_bad_cli_input_exits_2_with_a_message(case: Row, probe: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("BPEBENCH_DATA_ROOT", raising=False)
    monkeypatch.delenv("BPEBENCH_SCHEDULER", raising=False)
    monkeypatch.delenv("BPEBENCH_GROUNDTRUTH", raising=False)
    monkeypatch.setenv("BPEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    for name, value in case.env.items():
        monkeypatch.setenv(name, _fill(value, probe, tmp_path))
    argv = [_fill(a, probe, tmp_path).strip("'") for a in case.argv]
    before = _snapshot(probe)
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}, stderr: {err[-2000:]}"
    assert "Traceback" not in err
    assert case.fragment.lower() in err.lower(), err[-2000:]
    assert _snapshot(probe) == before, "stored files changed"
    assert not list(probe.rglob("*.tmp-*")), "a temporary file was left behind"


@pytest.mark.parametrize("case", _api_rows(), ids=lambda c: c[0] if isinstance(c, tuple) else "")
def test_bad_api_input_raises_value_error(case: tuple, probe: Path) -> None:
    _, call, fragment = case
    before = _snapshot(probe)
    with pytest.raises(ValueError) as info:
        call(probe)
    assert fragment.lower() in str(info.value).lower()
    assert _snapshot(probe) == before


def test_the_probe_covers_every_entry_point() -> None:
    """At least 100 rows, and every subcommand has some."""
    from harness.app.cli import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    covered = {r.argv[0] for r in ROWS}
    assert len(ROWS) + len(_api_rows()) >= 100
    assert commands <= covered, commands - covered
