"""`bpebench gpu-check`: the check of live training against NB201's records on a GPU, prepared to run in one call.

Three parts, written to one JSON and one Markdown file (rewritten after each part, so a run stopped midway keeps what
it finished):

1. throughput: train steps of the fused trainer (`harness.fast_train`) at NB201 size (C=16, N=5, 32 px, batch 256,
   the 25k cifar10-valid train split) for groups of 1..K archs in fp32 and bf16: images/s, seconds per arch-epoch,
   multiply-adds per second against the device's dense peak. It runs first: its speed sizes the estimate of part 2.
2. protocol: NB201's 12-epoch schedule (`nb201-hp12`) on archs spread evenly over the recorded 12-epoch x-valid
   accuracies (one per isomorphism class), trained as one fused group, scored against those records: per-arch
   difference, mean and mean absolute difference and Kendall tau-b, each with n and a bootstrap CI.
3. DARTS-V1 on NB201's search setting (C=16, N=5, batch 64, the whole 25k/25k split, its 50-epoch schedule) for as
   many epochs as the remaining time allows; the genotype and its recorded accuracies.

`--tiny` runs the same parts on the CPU with tiny networks on synthetic images, in seconds, and writes the same
schema (the test suite runs it). The real check needs the CIFAR-10 train JPEGs: on a machine that cannot see the
reference data, carry them as one archive made by `--pack` (train JPEGs plus the records the check reads), and pass
it with `--archive`; it is unpacked into the cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import subprocess
import tarfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from harness import data, metrics, paths, records, space
from harness.fast_train import GroupProgress, measure_throughput, train_group
from harness.groundtruth import GroundTruth, schema
from harness.network import flops
from harness.train import BPE, PRESETS, device_label
from searchers.base import Problem
from searchers.darts import NB201_SEARCH, Darts, DartsConfig

DATASET = "cifar10-valid"
ARCHIVE_TRUTH = "nb201-records.json"
ARCHIVE_IMAGES = "cifar10-jpeg/train"
RESULT_STEM = "gpu_check"
NB201_DEVICE = "GTX 1080 Ti"
GOAL_SECONDS_PER_ARCH_EPOCH = 0.1
EAGER_SECONDS_PER_ARCH_EPOCH = 1.0
"""Planning figure for one arch trained eagerly on a fast GPU: launch-bound, about 2,500 ops per step, 98 steps."""
EXPECTED_OFFSET = (
    "The live images are CIFAR-10 re-encoded as JPEG (quality about 75) and the 25k/25k train/x-valid halves are drawn "
    "class-balanced with seed 0, not NB201's split files. Lossy JPEG drops fine detail from training and evaluation "
    "images alike, so live 12-epoch accuracies are expected to run below the records by roughly 1 to 3 points on "
    "average (more for the best archs), with per-arch noise of about 1 point from the single seed; the ranking (tau) "
    "should hold up better than the offset, since the offset is shared."
)
Log = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """The sizes of the check's three parts; `full()` is the GPU check, `cpu()` its tiny CPU-sized copy."""

    tiny: bool
    protocol: BPE
    """Part 2's training setting (NB201's 12-epoch protocol in the full check)."""
    archs: int
    """Archs of part 2, spread over the recorded accuracies; at least 16 in the full check."""
    throughput: BPE
    """Part 1's network and batch (NB201 size in the full check); its precision is replaced by each of `precisions`."""
    group_sizes: tuple[int, ...]
    precisions: tuple[str, ...]
    steps: int
    warmup: int
    darts: BPE
    """DARTS' supernet budget (NB201's search setting in the full check)."""
    darts_seconds: float
    """Longest DARTS may run; less when the overall budget has less left."""
    budget_seconds: float
    """Time the whole check should fit in; DARTS gets what parts 1 and 2 leave."""
    device: str
    compile: bool = False
    synthetic: int = 0
    """When > 0: train on that many synthetic images (and half as many x-valid) instead of the CIFAR-10 JPEGs."""

    def __post_init__(self) -> None:
        if not isinstance(self.archs, int) or self.archs < 4:
            raise ValueError(f"Plan.archs = {self.archs!r} is invalid: must be an int >= 4 (a tau needs several)")
        if not self.tiny and self.archs < 16:
            raise ValueError(f"Plan.archs = {self.archs!r} is invalid: the GPU check scores at least 16 archs")
        if not self.group_sizes or any(not isinstance(k, int) or k < 1 for k in self.group_sizes):
            raise ValueError(f"Plan.group_sizes = {self.group_sizes!r} is invalid: must be ints >= 1")
        if not set(self.precisions) <= {"fp32", "bf16"} or not self.precisions:
            raise ValueError(f"Plan.precisions = {self.precisions!r} is invalid: must be some of 'fp32', 'bf16'")
        for name in ("darts_seconds", "budget_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value < math.inf:
                raise ValueError(f"Plan.{name} = {value!r} is invalid: must be a finite number of seconds > 0")

    @classmethod
    def full(cls, device: str = "auto", budget_seconds: float = 450.0, compile: bool = False) -> Plan:
        """The GPU check: 16 archs at nb201-hp12, groups of 1, 4, 16 and 32 in fp32 and bf16, DARTS up to 120 s."""
        return cls(
            tiny=False,
            protocol=PRESETS["nb201-hp12"],
            archs=16,
            throughput=BPE(epochs=1),
            group_sizes=(1, 4, 16, 32),
            precisions=("fp32", "bf16"),
            steps=15,
            warmup=3,
            darts=NB201_SEARCH,
            darts_seconds=120.0,
            budget_seconds=budget_seconds,
            device=device,
            compile=compile,
        )

    @classmethod
    def cpu(cls) -> Plan:
        """The same parts on the CPU: 6 archs, C=4, N=1, 8 px, 320 synthetic images, DARTS up to 10 s."""
        tiny_net = {"channels": 4, "cells": 1, "resolution": 8}
        return cls(
            tiny=True,
            protocol=BPE(epochs=2, batch_size=64, **tiny_net),
            archs=6,
            throughput=BPE(epochs=1, batch_size=64, **tiny_net),
            group_sizes=(1, 6),
            precisions=("fp32", "bf16"),
            steps=2,
            warmup=1,
            darts=BPE(epochs=2, batch_size=32, lr=0.025, **tiny_net),
            darts_seconds=10.0,
            budget_seconds=60.0,
            device="cpu",
            synthetic=320,
        )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Records:
    """What the check reads from NB201: every arch string, the 12- and 200-epoch seed-mean x-valid accuracies of
    cifar10-valid, and the median recorded seconds per arch-epoch (GTX 1080 Ti)."""

    arch_strings: list[str]
    hp12: np.ndarray
    hp200: np.ndarray
    seconds_per_arch_epoch: float
    source: str

    @classmethod
    def from_groundtruth(cls, gt: GroundTruth) -> Records:
        seconds = gt.cost(DATASET, "train_time", hp=200) / 200 if gt.has_cost(DATASET, "train_time") else [math.nan]
        return cls(
            list(gt.arch_strings),
            gt.metric(DATASET, "x-valid", "acc", hp=12),
            gt.metric(DATASET, "x-valid", "acc", hp=200),
            float(np.nanmedian(seconds)),
            f"ground truth {gt.path} (fingerprint {gt.fingerprint(_RECORD_PATHS)})",
        )

    @classmethod
    def from_json(cls, path: Path) -> Records:
        stored = json.loads(path.read_text())
        nan_list = lambda values: np.array([math.nan if v is None else v for v in values])  # noqa: E731
        return cls(
            stored["arch_strings"],
            nan_list(stored["hp12"]),
            nan_list(stored["hp200"]),
            float(stored["seconds_per_arch_epoch"]),
            f"{path.name} from {stored['source']}",
        )

    def to_json(self) -> str:
        return json.dumps(
            records.strict_json(
                {
                    "arch_strings": self.arch_strings,
                    "hp12": self.hp12.tolist(),
                    "hp200": self.hp200.tolist(),
                    "seconds_per_arch_epoch": self.seconds_per_arch_epoch,
                    "source": self.source,
                }
            )
        )


_RECORD_PATHS = [
    f"{schema.group_path(DATASET, 12, 'x-valid')}/acc",
    f"{schema.group_path(DATASET, 200, 'x-valid')}/acc",
    f"{schema.group_path(DATASET, 200, schema.COST_GROUP)}/train_time",
]


def spread_archs(recorded: np.ndarray, arch_strings: list[str], n: int) -> np.ndarray:
    """`n` arch indices, one per isomorphism class, at evenly spaced quantiles of the recorded accuracy."""
    pool = space.unique_representatives(arch_strings)
    pool = pool[np.isfinite(recorded[pool])]
    ordered = pool[np.argsort(recorded[pool], kind="stable")]
    return ordered[((np.arange(n) + 0.5) * len(ordered) / n).astype(int)]


# --- packing -------------------------------------------------------------------------------------------------------


def pack(archive: str | Path, data_root: str | None, gt: GroundTruth, log: Log = print) -> Path:
    """Write one .tar.gz of the CIFAR-10 train JPEGs under `data_root` (default: the reference data) and the NB201
    records the check reads; the test split is not needed (cifar10-valid's train and x-valid both come from train)."""
    root = Path(paths.data_root(data_root))
    folder = next((f / "train" for f in (root / "cifar10-jpeg", root) if (f / "train").is_dir()), None)
    if folder is None:
        raise ValueError(f"no CIFAR-10 train/<class>/*.jpg under {root} or {root / 'cifar10-jpeg'}; pass --data-root")
    files = sorted(path for path in folder.rglob("*") if path.suffix.lower() in data.IMAGE_EXTENSIONS)
    truth = Records.from_groundtruth(gt).to_json().encode()
    archive = Path(archive)
    log(f"packing {len(files)} images of {folder} and the NB201 records into {archive}")
    with records.atomic_path(archive) as tmp, tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        info = tarfile.TarInfo(ARCHIVE_TRUTH)
        info.size = len(truth)
        tar.addfile(info, fileobj=io.BytesIO(truth))
        for path in files:
            tar.add(path, arcname=f"{ARCHIVE_IMAGES}/{path.relative_to(folder).as_posix()}", recursive=False)
    log(f"wrote {archive} ({archive.stat().st_size / 1e6:.1f} MB)")
    return archive


def unpack(archive: str | Path, log: Log = print) -> Path:
    """The folder `archive` (from `pack`) is unpacked into, under <cache>/gpu-check; unpacked once per archive."""
    archive = Path(archive)
    if not archive.is_file():
        raise ValueError(f"--archive {archive} is not a file; make one with `bpebench gpu-check --pack FILE`")
    stat = archive.stat()
    key = hashlib.sha256(f"{archive.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = paths.cache_dir() / "gpu-check" / key
    done = target / ".unpacked"
    if not done.is_file():
        start = time.perf_counter()
        target.mkdir(parents=True, exist_ok=True)
        tar = shutil.which("tar")
        if tar:  # 15x faster than tarfile on 50k small files (measured: 3.6 s against 53 s)
            subprocess.run([tar, "-xzf", str(archive), "-C", str(target), "--no-same-owner"], check=True)
        else:
            with tarfile.open(archive, "r:*") as handle:
                handle.extractall(target, filter="data")
        done.write_text(str(archive))
        log(f"unpacked {archive} into {target} in {time.perf_counter() - start:.1f} s")
    if not (target / ARCHIVE_TRUTH).is_file() or not (target / ARCHIVE_IMAGES).is_dir():
        raise ValueError(f"{archive} lacks {ARCHIVE_TRUTH} or {ARCHIVE_IMAGES}/: make it with --pack")
    return target


# --- the check -----------------------------------------------------------------------------------------------------


@dataclass
class _Clock:
    """Elapsed seconds since the check started, and what is left of its budget."""

    budget: float
    start: float = field(default_factory=time.perf_counter)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def left(self) -> float:
        return self.budget - self.elapsed


def run(plan: Plan, out_dir: str | Path, records_source: Records, data_root: str | None, log: Log = print) -> dict:
    """Run the check's parts in order, rewriting `<out_dir>/gpu_check[_tiny].json` and `.md` after each one;
    returns the final payload (`status` 'complete', or which parts failed)."""
    clock = _Clock(plan.budget_seconds)
    out = Path(out_dir)
    stem = RESULT_STEM + ("_tiny" if plan.tiny else "")
    root = paths.SYNTHETIC_ROOT if plan.synthetic else paths.data_root(data_root)
    payload: dict = {
        "check": "gpu-check",
        "tiny": plan.tiny,
        "status": "running",
        "provenance": records.collect() | _device_facts(plan.device),
        "plan": plan.to_dict(),
        "records": records_source.source,
        "data_root": root,
        "estimate": _estimate(plan, records_source),
        "errors": {},
    }
    log(_estimate_text(payload["estimate"]))
    threads = torch.get_num_threads()
    if plan.tiny:
        torch.set_num_threads(1)  # tiny networks run fastest on one thread
    try:
        start = time.perf_counter()
        splits = _load(plan, root)
        payload["data"] = {
            "dataset": DATASET if not plan.synthetic else "synthetic",
            "train_images": len(splits.train),
            "x_valid_images": len(splits["x-valid"]),
            "load_seconds": time.perf_counter() - start,
        }
        log(f"data: {len(splits.train)} train / {len(splits['x-valid'])} x-valid images from {root}")
        parts = (
            ("throughput", lambda: _throughput(plan, splits, records_source, log)),
            ("protocol", lambda: _protocol(plan, splits, records_source, payload, clock, log)),
            ("darts", lambda: _darts(plan, root, records_source, clock, log)),
        )
        for name, part in parts:
            log(f"[{clock.elapsed:6.0f} s] part {name}")
            try:
                payload[name] = part()
            except Exception as err:  # a device check is one call: keep the other parts' results
                payload[name] = None
                payload["errors"][name] = "".join(traceback.format_exception_only(err)).strip()
                log(f"part {name} failed: {payload['errors'][name]}")
                log(traceback.format_exc())
            payload["seconds"] = clock.elapsed
            payload["status"] = f"partial: stopped after part {name}"  # what a run cut short leaves
            _write(out, stem, payload)
    finally:
        torch.set_num_threads(threads)
    payload["status"] = "complete" if not payload["errors"] else f"failed parts: {', '.join(payload['errors'])}"
    payload["seconds"] = clock.elapsed
    paths_written = _write(out, stem, payload)
    log(f"[{clock.elapsed:6.0f} s] {payload['status']}; wrote {', '.join(map(str, paths_written))}")
    return payload


def _device_facts(device: str) -> dict:
    facts = {"device": device_label(device), "torch": torch.__version__, "cuda": torch.version.cuda}
    if torch.cuda.is_available():
        facts |= {
            "cudnn": torch.backends.cudnn.version(),
            "tf32_convolutions": torch.backends.cudnn.allow_tf32,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        }
    return facts


def _load(plan: Plan, root: str) -> data.DatasetSplits:
    if plan.synthetic:
        return data.synthetic(10, n_train=plan.synthetic, n_eval=plan.synthetic // 2, resolution=32, seed=0)
    return data.load(DATASET, root, progress=False)


def _estimate(plan: Plan, source: Records) -> dict:
    """Planned seconds of each part at the issue's anchors: the 0.1 s goal, launch-bound eager, NB201's 1080 Ti."""
    arch_epochs = plan.archs * plan.protocol.epochs
    anchors = {
        "goal": GOAL_SECONDS_PER_ARCH_EPOCH,
        "eager": EAGER_SECONDS_PER_ARCH_EPOCH,
        f"nb201 ({NB201_DEVICE})": source.seconds_per_arch_epoch,
    }
    steps_per_epoch = math.ceil((plan.synthetic or 25_000) / plan.throughput.batch_size)
    # arch-steps timed: every group fused, and each of the largest group's archs once alone
    timed_steps = (plan.steps + plan.warmup) * len(plan.precisions) * (sum(plan.group_sizes) + max(plan.group_sizes))
    return {
        "anchors_seconds_per_arch_epoch": anchors,
        "protocol_arch_epochs": arch_epochs,
        "protocol_seconds": {name: arch_epochs * value for name, value in anchors.items()},
        "throughput_seconds": {name: timed_steps / steps_per_epoch * value for name, value in anchors.items()},
        "darts_seconds": plan.darts_seconds,
        "budget_seconds": plan.budget_seconds,
    }


def _estimate_text(estimate: dict) -> str:
    lines = ["plan (seconds at each anchor's seconds per arch-epoch):"]
    for name, value in estimate["anchors_seconds_per_arch_epoch"].items():
        lines.append(
            f"  {name:<22} {value:6.2f} s/arch-epoch: throughput {estimate['throughput_seconds'][name]:7.0f} s, "
            f"protocol ({estimate['protocol_arch_epochs']} arch-epochs) {estimate['protocol_seconds'][name]:7.0f} s"
        )
    darts, budget = estimate["darts_seconds"], estimate["budget_seconds"]
    lines.append(f"  DARTS up to {darts:.0f} s; whole check within {budget:.0f} s")
    return "\n".join(lines)


def _throughput(plan: Plan, splits: data.DatasetSplits, source: Records, log: Log) -> dict:
    indices = space.sample_indices(max(plan.group_sizes), 0, source.arch_strings, unique=True)
    archs = [source.arch_strings[i] for i in indices]
    rows = []
    for number, precision in enumerate(plan.precisions):
        bpe = replace(plan.throughput, precision=precision)
        start = time.perf_counter()
        found = measure_throughput(
            archs,
            bpe,
            splits,
            list(plan.group_sizes),
            steps=plan.steps,
            warmup=plan.warmup,
            device=plan.device,
            compile=plan.compile,
        )
        rows += [row.to_dict() for row in found]
        took = time.perf_counter() - start
        for row in found:
            log(
                f"  {precision} K={row.k:<3} {row.mode:<5} {row.seconds_per_arch_epoch:8.4f} s/arch-epoch  "
                f"{row.images_per_second:10.0f} img/s  {row.error}"
            )
        log(f"  {precision} took {took:.0f} s; ETA {took * (len(plan.precisions) - number - 1):.0f} s")
    fastest = min((r for r in rows if not r["error"]), key=lambda r: r["seconds_per_arch_epoch"], default=None)
    hours = fastest["seconds_per_arch_epoch"] * space.NUM_ARCHS * 12 / 3600 if fastest else math.nan
    return {
        "bpe": plan.throughput.to_dict(),
        "archs": archs,
        "mean_forward_mmacs": float(np.mean([_mmacs(a, plan.throughput) for a in archs])),
        "rows": rows,
        "fastest": fastest,
        "all_archs_12_epochs_hours": hours,
        "goal_seconds_per_arch_epoch": GOAL_SECONDS_PER_ARCH_EPOCH,
        "nb201_seconds_per_arch_epoch": source.seconds_per_arch_epoch,
        "nb201_device": NB201_DEVICE,
    }


def _mmacs(arch: str, bpe: BPE) -> float:
    return flops(arch, bpe.channels, bpe.cells, 10, bpe.resolution)


def _protocol(plan: Plan, splits: data.DatasetSplits, source: Records, payload: dict, clock: _Clock, log: Log) -> dict:
    indices = spread_archs(source.hp12, source.arch_strings, plan.archs)
    archs = [source.arch_strings[i] for i in indices]
    mode, expected, why = _protocol_mode(plan, payload.get("throughput"))
    log(
        f"  {len(archs)} archs x {plan.protocol.epochs} epochs, {mode} ({why}); expected {expected:.0f} s "
        f"({clock.left:.0f} s of the budget left)"
    )
    start = time.perf_counter()

    def progress(epoch: int, losses: np.ndarray, accuracy: np.ndarray) -> None:
        took = time.perf_counter() - start
        eta = took / epoch * (plan.protocol.epochs - epoch)
        loss = np.nanmean(losses)
        log(f"  epoch {epoch}/{plan.protocol.epochs}: mean loss {loss:.3f}, {took:.0f} s, ETA {eta:.0f} s")

    def train(group: list[str], report: GroupProgress | None) -> list:
        return train_group(group, plan.protocol, splits, "x-valid", report, device=plan.device, record_curve=False,
                           compile=plan.compile)  # fmt: skip

    if mode == "fused":
        results = train(archs, progress)
    else:
        results = []
        for number, arch in enumerate(archs, start=1):
            results += train([arch], None)
            took = time.perf_counter() - start
            log(f"  arch {number}/{len(archs)}: {results[-1].score:.2f} %, {took:.0f} s, "
                f"ETA {took / number * (len(archs) - number):.0f} s")  # fmt: skip
    seconds = time.perf_counter() - start
    live = np.array([r.score for r in results])
    recorded = source.hp12[indices]
    rows = [
        {
            "index": int(i),
            "arch": a,
            "recorded": float(t),
            "live": float(s),
            "difference": float(s - t),
            "failed": r.failed,
            "reason": r.reason,
        }
        for i, a, t, s, r in zip(indices, archs, recorded, live, results, strict=True)
    ]
    ok = np.isfinite(live)
    diff = live[ok] - recorded[ok]
    prepared = metrics.prepare(live, recorded)
    return {
        "bpe": plan.protocol.to_dict(),
        "archs": rows,
        "n": int(ok.sum()),
        "n_failed": int((~ok).sum()),
        "mean_difference": _with_ci(lambda a, b: float(np.mean(a - b)), live[ok], recorded[ok]),
        "mean_abs_difference": _with_ci(lambda a, b: float(np.mean(np.abs(a - b))), live[ok], recorded[ok]),
        "max_abs_difference": float(np.max(np.abs(diff))) if len(diff) else math.nan,
        "kendall_tau": _with_ci(metrics.kendall_tau, prepared.scores, prepared.truth),
        "spearman": _with_ci(metrics.spearman, prepared.scores, prepared.truth),
        "expected_offset": EXPECTED_OFFSET,
        "seconds": seconds,
        "seconds_per_arch_epoch": seconds / (len(archs) * plan.protocol.epochs),
        "expected_seconds": expected,
        "mode": mode,
        "mode_reason": why,
    }


def _protocol_mode(plan: Plan, throughput: dict | None) -> tuple[str, float, str]:
    """How part 2 trains its archs ('fused': one group; 'alone': one after another), the seconds that should take
    (the measured fp32 speed at the group size nearest its arch count, plus a third for evaluation) and why."""
    arch_epochs = plan.archs * plan.protocol.epochs
    rows = [r for r in (throughput or {}).get("rows", []) if r["precision"] == "fp32" and not r["error"]]
    if not rows:
        return "fused", arch_epochs * EAGER_SECONDS_PER_ARCH_EPOCH * 4 / 3, "no fp32 throughput measured"
    k = min({r["k"] for r in rows}, key=lambda size: abs(size - plan.archs))
    best = min((r for r in rows if r["k"] == k), key=lambda r: r["seconds_per_arch_epoch"])
    speeds = ", ".join(f"{r['mode']} {r['seconds_per_arch_epoch']:.4f}" for r in rows if r["k"] == k)
    why = f"faster at K={k} in fp32, s/arch-epoch: {speeds}"
    return best["mode"], arch_epochs * best["seconds_per_arch_epoch"] * 4 / 3, why


def _with_ci(metric: Callable[[np.ndarray, np.ndarray], float], a: np.ndarray, b: np.ndarray) -> dict:
    """{value, low, high, n}: `metric` with its 95% percentile bootstrap interval over archs (1000 resamples)."""
    value = metric(a, b) if len(a) >= 2 else math.nan
    low, high = metrics.bootstrap_ci(metric, a, b) if len(a) >= 3 else (math.nan, math.nan)
    return {"value": value, "low": low, "high": high, "n": len(a)}


def _darts(plan: Plan, root: str, source: Records, clock: _Clock, log: Log) -> dict:
    budget = min(plan.darts_seconds, clock.left - 10)
    if budget < plan.darts_seconds / 4:
        raise RuntimeError(f"only {clock.left:.0f} s of the {plan.budget_seconds:.0f} s budget left for DARTS")
    config = DartsConfig(
        train=plan.darts,
        data_root=None if plan.synthetic else root,
        synthetic=plan.synthetic,
        device=plan.device,
    )
    log(f"  DARTS-V1 for up to {budget:.0f} s (ends by {clock.elapsed + budget:.0f} s)")
    result = Darts(replace(config, second_order=False), "darts-v1").search(
        Problem(dataset=DATASET, budget=budget, arch_strings=source.arch_strings), seed=0
    )
    epochs = result.metadata["epochs_done"]
    genotype = source.arch_strings[result.arch]
    log(f"  {epochs} epoch(s) in {result.cost:.0f} s: {genotype}")
    ends = result.trajectory.cost
    return {
        "config": config.to_dict() | {"name": "darts-v1"},
        "budget_seconds": budget,
        "seconds": result.cost,
        "epochs_done": epochs,
        "epoch_end_seconds": ends.tolist(),
        "seconds_per_epoch": float(np.diff(ends).mean()) if len(ends) > 1 else float(ends[0]),
        "stopped": result.metadata.get("stopped", ""),
        "genotype": genotype,
        "index": int(result.arch),
        "genotypes_per_epoch": [source.arch_strings[int(a)] for a in result.trajectory.arch],
        "held_out_accuracy_per_epoch": result.trajectory.score.tolist(),
        "recorded_hp12": float(source.hp12[result.arch]),
        "recorded_hp200": float(source.hp200[result.arch]),
        "alphas": result.metadata["alphas"],
        "device": result.device,
    }


# --- writing -------------------------------------------------------------------------------------------------------


def _write(out: Path, stem: str, payload: dict) -> list[Path]:
    text = json.dumps(records.strict_json(payload), indent=2) + "\n"
    json_path = records.write_atomic(out / f"{stem}.json", text)
    return [json_path, records.write_atomic(out / f"{stem}.md", markdown(payload))]


def markdown(payload: dict) -> str:
    """The check's result as Markdown."""
    fmt, ci = records.fmt_num, records.fmt_estimate
    prov = payload["provenance"]
    title = "GPU check" + (" (tiny, CPU)" if payload["tiny"] else "")
    lines = [
        f"# {title}",
        "",
        f"Status: **{payload['status']}** after {fmt(payload.get('seconds'), 0)} s on {prov['device']} "
        f"(torch {prov['torch']}, CUDA {prov['cuda']}). Commit {prov['commit']}, {prov['date']}, {prov['machine']}.",
        f"Records: {payload['records']}. Data: {payload['data_root']}.",
        "Generated by `bpebench gpu-check`" + (" --tiny" if payload["tiny"] else "") + "; do not edit.",
        "",
    ]
    for name, error in payload["errors"].items():
        lines += [f"**Part {name} failed:** `{error}`", ""]
    if payload.get("throughput"):
        t = payload["throughput"]
        lines += [
            "## Throughput",
            "",
            f"C={t['bpe']['channels']}, N={t['bpe']['cells']}, {t['bpe']['resolution']} px, batch "
            f"{t['bpe']['batch_size']}, mean forward {fmt(t['mean_forward_mmacs'], 1)} M multiply-adds per image; "
            "fused: one group of K archs (`harness.fast_train`); alone: the same K archs stepped one after another "
            "(their seconds added); at K=1 both are the same run timed twice, so their gap is the timing noise. "
            "Seconds per arch-epoch = seconds per step of all K x steps per epoch / K. Peaks "
            "are dense datasheet figures (1 multiply-add = 2 FLOP).",
            "",
        ]
        rows = [
            [
                str(r["k"]),
                r["mode"],
                r["precision"],
                fmt(r["seconds_per_step"] * 1e3, 1),
                fmt(r["images_per_second"], 0),
                fmt(r["seconds_per_arch_epoch"], 4),
                fmt(r["macs_per_second"] / 1e12, 3),
                _of_peak(r),
                fmt(r["peak_memory_gib"], 1),
                r["error"] or "",
            ]
            for r in t["rows"]
        ]
        header = ["K", "mode", "precision", "ms/step", "images/s", "s/arch-epoch", "T MAC/s", "of peak", "GiB", "error"]
        lines += records.markdown_table(header, rows)
        fastest = t["fastest"] or {}
        lines += [
            "",
            f"Fastest: {fmt(fastest.get('seconds_per_arch_epoch'), 4)} s per arch-epoch (goal "
            f"{t['goal_seconds_per_arch_epoch']} s; NB201's records: median {fmt(t['nb201_seconds_per_arch_epoch'], 2)}"
            f" s on a {t['nb201_device']}, another device); all 15,625 archs x 12 epochs at that speed: "
            f"{fmt(t['all_archs_12_epochs_hours'], 1)} device-hours.",
            "",
        ]
    if payload.get("protocol"):
        p = payload["protocol"]
        lines += [
            "## NB201 12-epoch protocol against the records",
            "",
            f"{p['n']} archs ({p['n_failed']} failed) trained once each (seed 0), "
            f"{p['bpe']['epochs']} epochs, trained {p['mode']} ({p['mode_reason']}), {fmt(p['seconds'], 0)} s "
            f"({fmt(p['seconds_per_arch_epoch'], 3)} s per arch-epoch; expected {fmt(p['expected_seconds'], 0)} s). "
            "Live minus recorded x-valid accuracy:",
            "",
            f"- mean difference {ci(p['mean_difference'], 2)} points (n={p['mean_difference']['n']}, 95% bootstrap CI)",
            f"- mean absolute difference {ci(p['mean_abs_difference'], 2)} points, "
            f"max {fmt(p['max_abs_difference'], 2)}",
            f"- Kendall tau-b {ci(p['kendall_tau'])}, Spearman {ci(p['spearman'])} (n={p['kendall_tau']['n']})",
            "",
            f"Expected offset: {p['expected_offset']}",
            "",
        ]
        rows = [
            [str(r["index"]), _code(r["arch"]), fmt(r["recorded"], 2), fmt(r["live"], 2), fmt(r["difference"], 2)]
            for r in p["archs"]
        ]
        lines += [*records.markdown_table(["index", "arch", "recorded", "live", "difference"], rows), ""]
    if payload.get("darts"):
        d = payload["darts"]
        lines += [
            "## DARTS-V1, NB201 search setting",
            "",
            f"{d['epochs_done']} epoch(s) of the {d['config']['epochs']}-epoch schedule in {fmt(d['seconds'], 0)} s "
            f"({fmt(d['seconds_per_epoch'], 1)} s per epoch; budget {fmt(d['budget_seconds'], 0)} s"
            + (f"; {d['stopped']}" if d["stopped"] else "")
            + f"). Genotype `{d['genotype']}` (arch {d['index']}): recorded x-valid accuracy "
            f"{fmt(d['recorded_hp12'], 2)} (12 epochs), {fmt(d['recorded_hp200'], 2)} (200 epochs).",
            "",
        ]
    return "\n".join(lines)


def _of_peak(row: dict) -> str:
    if records.missing(row["fraction_of_peak"]):
        return "n/a (peak unknown)" if row["peak_kind"] == "unknown" else "n/a"
    return f"{100 * row['fraction_of_peak']:.1f} % of {row['peak_kind']}"


def _code(arch: str) -> str:
    """An arch string as Markdown code that survives a table cell (its pipes escaped)."""
    return "`" + arch.replace("|", "\\|") + "`"
