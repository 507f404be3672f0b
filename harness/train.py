"""NB201's training protocol as one fast loop over whole-dataset tensors, with cost accounting.

Protocol (Dong & Yang, ICLR 2020): SGD, momentum 0.9, Nesterov, weight decay 5e-4 on every parameter, cross-entropy
without label smoothing, learning rate from `lr` towards 0 on a cosine changed once per epoch, as NB201's scheduler
(xautodl's CosineAnnealingLR) does: lr_e = lr * (1 + cos(pi * e / E)) / 2 in epoch e = 0..E-1, so a 1-epoch run trains
at a constant `lr` (`lr_schedule="step"` anneals every iteration instead), random crop with zero padding of
resolution // 8 px (4 at 32 px, 2 at 16 px as NB201 uses for ImageNet16) and horizontal flip, optional cutout. Every
batch is drawn, cropped, flipped and normalised on the device with batched tensor ops; no per-image Python work.

Evaluation scores the eval split after the last epoch (and after every epoch when the curve is recorded), on all of
it or on `eval_images` of its images: a class-balanced subset drawn with the fixed seed `EVAL_SUBSET_SEED`, the same
for every arch and run seed. Costs are counted apart: training and evaluation seconds, and multiply-adds of each.

A BPE ("budgeted performance estimation", Zheng et al., CVPR 2020) is one training setting, `BPE`: its one
definition. Each field's metadata carries its help text and its validation rule (`rule`, `check_field`), which the
CLI flags and the MIP search space read; `PRESETS` name the paper's BPEs mapped onto NB201 and a few CPU-sized ones.
A run is a BPE plus a seed and a device (`train`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from harness.checks import invalid, is_int, is_number
from harness.counts import flops
from harness.data import DatasetSplits, Split
from harness.lazy import lazy

torch = lazy("torch")
F = lazy("torch.nn.functional")
nn = lazy("torch.nn")
network = lazy("harness.network")

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
LR_SCHEDULES: tuple[str, ...] = ("epoch", "step")
"""Cosine learning-rate updates: once per epoch (NB201) or every iteration."""
EVAL_SUBSET_SEED = 0
"""Seed of the `eval_images` subset: fixed, so every arch and run seed is scored on the same images."""
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
EVAL_BATCH = 1024
PASSES_PER_IMAGE = 3
"""Training cost in forward-pass equivalents: one forward plus a backward costing about two."""

Progress = Callable[[int, float, float], None]
"""Called after every epoch with (epoch starting at 1, mean train loss, eval accuracy in % or NaN if not evaluated)."""


@dataclass(frozen=True)
class Rule:
    """What one BPE field allows: a predicate on a value and the allowed values in words ('an int >= 1')."""

    check: Callable[[object], bool]
    allowed: str


def _setting(default: object, help_text: str, check: Callable[[object], bool], allowed: str) -> Any:
    """A BPE field: its default, its help text (a CLI flag's help) and its validation rule, in the field's metadata."""
    return field(default=default, metadata={"help": help_text, "rule": Rule(check, allowed)})


def _int_at_least(minimum: int) -> Callable[[object], bool]:
    return lambda value: is_int(value, minimum)


def _one_of(choices: tuple[str, ...]) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str) and value in choices


@dataclass(frozen=True)
class BPE:
    """One training setting (a budgeted training protocol, 'BPE'); the defaults are NB201's full protocol (Dong &
    Yang, ICLR 2020). Each field's metadata holds its help text and its rule (`rule`, `check_field`)."""

    epochs: int = _setting(200, "training epochs", _int_at_least(1), "an int >= 1")
    batch_size: int = _setting(256, "training batch size", _int_at_least(1), "an int >= 1")
    lr: float = _setting(
        0.1,
        "initial learning rate, cosine-annealed towards 0 (SGD, Nesterov momentum 0.9, weight decay 5e-4)",
        lambda value: is_number(value, 0, math.inf, low_open=True, high_open=True),
        "a finite number > 0",
    )
    lr_schedule: str = _setting(
        "epoch",
        "cosine steps: 'epoch' (once per epoch, as NB201) or 'step' (every iteration)",
        _one_of(LR_SCHEDULES),
        f"one of {', '.join(LR_SCHEDULES)}",
    )
    channels: int = _setting(16, "base width C of the network (stages at C, 2C, 4C)", _int_at_least(1), "an int >= 1")
    cells: int = _setting(5, "cells per stage N", _int_at_least(1), "an int >= 1")
    resolution: int = _setting(
        32,
        "training and evaluation image size in px (a multiple of 4, at least 8)",
        lambda value: is_int(value, 8) and value % 4 == 0,
        "an int >= 8 and a multiple of 4 (two stride-2 stages)",
    )
    fraction: float = _setting(
        1.0,
        "share of the train split used, class-balanced, drawn with the run's seed",
        lambda value: is_number(value, 0, 1, low_open=True),
        "a number in (0, 1]",
    )
    cutout: int = _setting(
        0, "cutout square side in px at the resolution (0 = off)", _int_at_least(0), "an int >= 0 (0 = off)"
    )
    eval_images: int = _setting(
        0,
        "eval-split images scored (0 = all): a class-balanced subset with a fixed seed, the same for every arch and "
        "run seed",
        _int_at_least(0),
        "an int >= 0 (0 = all)",
    )
    precision: str = _setting(
        "fp32",
        "'fp32'; 'bf16' (autocast, CUDA or CPU); 'fp16' (autocast with loss scaling, CUDA only)",
        _one_of(PRECISIONS),
        f"one of {', '.join(PRECISIONS)}",
    )

    def __post_init__(self) -> None:
        for name in ("lr", "fraction"):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))  # 1 and 1.0 are one BPE, with one hash
        for spec in fields(self):
            check_field(spec.name, getattr(self, spec.name))
        if self.cutout > self.resolution:
            raise invalid("BPE", "cutout", self.cutout, f"at most resolution ({self.resolution})")

    def to_dict(self) -> dict:
        return asdict(self)

    def config_hash(self) -> str:
        """sha256 (16 hex digits) of the canonical JSON of every field; each one changes the scores."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """Compact one-line form, e.g. 'e10 b128 lr0.03 C8 N2 16px f1 co0 fp32' (plus 'lr-step', 'ev5000' if set)."""
        text = (
            f"e{self.epochs} b{self.batch_size} lr{self.lr:g} C{self.channels} N{self.cells} {self.resolution}px "
            f"f{self.fraction:g} co{self.cutout} {self.precision}"
        )
        if self.lr_schedule != "epoch":
            text += f" lr-{self.lr_schedule}"
        return text + (f" ev{self.eval_images}" if self.eval_images else "")

    @classmethod
    def from_preset(cls, name: str, **overrides: object) -> BPE:
        """Preset `name` (one of `PRESETS`) with some fields replaced."""
        if name not in PRESETS:
            raise ValueError(f"unknown BPE preset {name!r}; available: {', '.join(PRESETS)}")
        unknown = set(overrides) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown BPE field(s) {sorted(unknown)}; fields: {list(FIELDS)}")
        return replace(PRESETS[name], **overrides)


FIELDS: tuple[str, ...] = tuple(spec.name for spec in fields(BPE))
"""The BPE's fields, in order."""
_RULES: dict[str, Rule] = {spec.name: spec.metadata["rule"] for spec in fields(BPE)}


def rule(name: str) -> Rule:
    """The validation rule of BPE field `name`."""
    if name not in _RULES:
        raise ValueError(f"unknown BPE field {name!r}; fields: {', '.join(FIELDS)}")
    return _RULES[name]


def check_field(name: str, value: object) -> None:
    """Raise 'BPE.name = value is invalid: must be ...' unless `value` is allowed for field `name` on its own."""
    field_rule = rule(name)
    if not field_rule.check(value):
        raise invalid("BPE", name, value, field_rule.allowed)


PRESETS: dict[str, BPE] = {
    "nb201": BPE(),
    "nb201-hp12": BPE(epochs=12),
    "bpe1": BPE(epochs=10, batch_size=128, lr=0.03, channels=8, cells=2, resolution=16),
    "bpe2": BPE(epochs=30, batch_size=128, lr=0.03, channels=16, cells=5, resolution=16),
    "cpu-tiny": BPE(epochs=1, batch_size=128, lr=0.1, channels=4, cells=1, resolution=8, fraction=0.1),
    "cpu-small": BPE(epochs=2, batch_size=128, lr=0.1, channels=8, cells=1, resolution=16, fraction=0.1),
    "cpu-medium": BPE(epochs=3, batch_size=128, lr=0.1, channels=8, cells=1, resolution=16, fraction=0.2),
    "cpu-mip-rs": BPE(epochs=4, batch_size=64, lr=0.1, channels=8, cells=2, resolution=8, fraction=0.1),
    "mip-best-cpu": BPE(
        epochs=8, batch_size=128, lr=0.05, channels=16, cells=2, resolution=16, fraction=0.1, eval_images=5000
    ),
}
"""Named BPEs. How they were derived:

- `nb201`: the full NB201 protocol (200 epochs); `nb201-hp12`: NB201's separate 12-epoch schedule (its recorded
  12-epoch accuracies are in the reference data, so live runs can be checked against them).
- `bpe1`, `bpe2`: the paper's BPE1 and BPE2 as its official repository releases them (param_setting.py): BPE1 = 10
  epochs, batch 128, lr 0.03, 6 layers, 8 channels, 16 px; BPE2 = 30 epochs, batch 128, lr 0.03, 16 layers,
  16 channels, 16 px; both fp32 without cutout. Epochs, batch, lr, channels (the stem width C, doubled per stage in
  both spaces), image size, precision and cutout carry over as they are. "Layers" is a DARTS-space count: DARTS
  stacks L cells in three resolution stages, two of them reduction cells. NB201 also has three stages, but its
  reductions are fixed residual blocks and N counts the searched cells per stage, so L layers map to N = L / 3 cells
  per stage, rounded to the nearest: 6 layers -> N = 2 (6 searched cells); 16 layers -> 16 / 3 = 5.33 -> N = 5
  (15 searched cells: NB201's own depth).
- `cpu-tiny`, `cpu-small`, `cpu-medium`: sized for a 2-core CPU (one process, one torch thread); measured on 100
  unique cifar10-valid archs (results/bpe_cpu_experiment.md, 2 workers on 2 shared cores): 0.9, 4.9 and 6.8 s per
  arch, Kendall tau 0.01, 0.19 and 0.19: none of them ranks as well as the parameter count (0.53).
- `cpu-mip-rs`: the best BPE of an earlier CPU-sized MIP run (its random-search arm, since replaced in
  results/mip_cpu.md): Kendall tau 0.364 [0.197, 0.520] on 50 unique archs, the best tau per CPU second measured
  there (with the earlier per-iteration lr schedule).
- `mip-best-cpu`: the best complete config of the BPE table under 1/1000 of full training in multiply-adds
  (results/bpe_table_status.json: tau 0.580 on its 60 archs, all 41 configs complete), about 1/1,980 of full
  training; no cheaper table config is within noise of it there, so it is also the searches' live BPE. Its re-score
  on 120 fresh unique archs: results/mip_best_cpu.md (`python -m harness.app.mip_best`).
"""


@dataclass(frozen=True, eq=False)
class TrainResult:
    """Outcome of one training run."""

    score: float
    """Accuracy in % on the eval split after the last epoch; NaN when the run failed."""
    curve: np.ndarray
    """Eval accuracy in % after each epoch (NaN where not evaluated or after a failure)."""
    train_seconds: float
    eval_seconds: float
    macs: float
    """Multiply-adds spent training: NB201 FLOPs of one forward x images seen x 3 (forward + backward)."""
    eval_macs: float
    """Multiply-adds spent evaluating: NB201 FLOPs of one forward x images evaluated x evaluations."""
    failed: bool
    reason: str
    """Why the run failed; empty when it did not."""


MAX_SEED = 2**32 - 1
"""Largest training seed: torch and numpy take it, and seed arithmetic stays far from int64 overflow."""


def check_run(bpe: BPE, seed: int = 0, device: str = "auto") -> None:
    """Raise unless `bpe` can run with `seed` (an int >= 0) on `device` ('auto' or a torch device string; fp16
    needs CUDA); checks the device string only, not that the device is there (`resolve_device` does)."""
    if not isinstance(bpe, BPE):
        raise invalid("", "bpe", bpe, "a harness.train.BPE")
    if not is_int(seed, 0, MAX_SEED):
        raise invalid("", "seed", seed, f"an int in 0..{MAX_SEED}")
    if not isinstance(device, str) or (device != "auto" and not _is_device(device)):
        raise invalid("", "device", device, "'auto' or a torch device string such as 'cpu' or 'cuda:0'")
    if bpe.precision == "fp16" and device == "cpu":
        raise invalid("BPE", "precision", bpe.precision, "'fp32' or 'bf16' on CPU (fp16 autocast needs CUDA)")


def check_setup(bpe: BPE, splits: DatasetSplits, eval_split: str, seed: int = 0, device: str = "auto") -> torch.device:
    """The torch device, or a ValueError for what every arch trained with these settings would hit (checked once,
    before the first arch): the BPE, seed and device (`check_run`), the device's presence and precision, the eval
    split and its size."""
    check_run(bpe, seed, device)
    torch_device = resolve_device(device)
    if bpe.precision == "fp16" and torch_device.type != "cuda":
        raise invalid(
            "BPE", "precision", bpe.precision, f"'fp32' or 'bf16' on {torch_device.type} (fp16 autocast needs CUDA)"
        )
    evaluation = splits[eval_split]
    if bpe.eval_images > len(evaluation):
        allowed = f"at most the {len(evaluation)} images of {eval_split} (or 0)"
        raise invalid("BPE", "eval_images", bpe.eval_images, allowed)
    return torch_device


def train(
    arch_str: str,
    bpe: BPE,
    splits: DatasetSplits,
    eval_split: str = "x-valid",
    progress: Progress | None = None,
    *,
    seed: int = 0,
    device: str = "auto",
    record_curve: bool = True,
) -> TrainResult:
    """Train `arch_str` under `bpe` with `seed` on `device` ('auto': CUDA when available, else CPU; or a torch
    device string) on `splits.train`; score on `eval_split` (every epoch if `record_curve`)."""
    torch_device = check_setup(bpe, splits, eval_split, seed, device)
    data = splits.downscale(bpe.resolution).subsample(bpe.fraction, seed).to(torch_device)
    evaluation = data[eval_split]
    if bpe.eval_images:
        evaluation = evaluation.select(eval_subset(evaluation.labels.cpu().numpy(), bpe.eval_images))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = network.build(arch_str, bpe.channels, bpe.cells, data.num_classes)
    # Channels-last: faster on CUDA and, measured, on CPU too (oneDNN): 1.3-4x for C=16 N=5 at 32 px.
    model = model.to(torch_device, memory_format=torch.channels_last)
    if torch_device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    loop = _Loop(model, bpe, seed, data, torch_device)

    curve = np.full(bpe.epochs, np.nan)
    train_seconds = eval_seconds = 0.0
    reason, epochs_done, evaluations, losses = "", 0, 0, []
    for epoch in range(bpe.epochs):
        start = time.perf_counter()
        losses.append(loop.epoch(epoch))
        loss = losses[-1]
        train_seconds += time.perf_counter() - start
        epochs_done = epoch + 1
        if reason := exploded(losses):
            break
        if record_curve or epoch == bpe.epochs - 1:
            start = time.perf_counter()
            curve[epoch] = loop.evaluate(evaluation)
            eval_seconds += time.perf_counter() - start
            evaluations += 1
        if progress is not None:
            progress(epochs_done, loss, float(curve[epoch]))
    reason = reason or at_chance(losses, float(curve[-1]), data.num_classes)
    forward = flops(arch_str, bpe.channels, bpe.cells, data.num_classes, bpe.resolution) * 1e6
    return TrainResult(
        score=float("nan") if reason else float(curve[-1]),
        curve=curve,
        train_seconds=train_seconds,
        eval_seconds=eval_seconds,
        macs=forward * len(data.train) * epochs_done * PASSES_PER_IMAGE,
        eval_macs=forward * len(evaluation) * evaluations,
        failed=bool(reason),
        reason=reason,
    )


EXPLOSION_FACTOR = 10.0
"""A run has diverged when an epoch's mean training loss exceeds the first epoch's by this factor (or is not finite)."""
CHANCE_MARGIN = 0.5
"""Accuracy points above chance (100 / classes) within which a run whose loss never fell below epoch 1's is diverged."""


def exploded(losses: Sequence[float]) -> str:
    """Why the run diverged when its last epoch's mean training loss is not finite or exploded; '' otherwise."""
    loss, epoch = losses[-1], len(losses)
    if not math.isfinite(loss):
        return f"diverged: non-finite training loss ({loss}) in epoch {epoch}"
    if epoch > 1 and loss > EXPLOSION_FACTOR * losses[0]:
        return (
            f"diverged: training loss {loss:.3g} in epoch {epoch} is over {EXPLOSION_FACTOR:g}x epoch 1's "
            f"({losses[0]:.3g})"
        )
    return ""


def at_chance(losses: Sequence[float], accuracy: float, num_classes: int) -> str:
    """Why the run diverged when it ends at chance accuracy without its loss ever falling below epoch 1's; '' else."""
    chance = 100.0 / num_classes
    if len(losses) < 2 or not math.isfinite(accuracy) or accuracy > chance + CHANCE_MARGIN:
        return ""
    if min(losses[1:]) < losses[0]:
        return ""
    return (
        f"diverged: ended at chance accuracy ({accuracy:.2f}%, chance {chance:.2f}%) and the training loss never fell "
        f"below epoch 1's ({losses[0]:.3g})"
    )


def eval_subset(labels: np.ndarray, size: int) -> np.ndarray:
    """Sorted indices of `size` images, class-balanced (classes take turns, in an order drawn with EVAL_SUBSET_SEED)."""
    order = np.random.default_rng(EVAL_SUBSET_SEED).permutation(len(labels))
    rank = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = order[labels[order] == c]
        rank[members] = np.arange(len(members))
    by_turn = order[np.argsort(rank[order], kind="stable")]
    return np.sort(by_turn[:size])


def resolve_device(device: str) -> torch.device:
    """The torch device for a device string ('auto': CUDA when available, else CPU)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise invalid("", "device", device, "'auto' or 'cpu' here: CUDA is not available")
    return torch.device(device)


def device_label(device: str = "auto") -> str:
    """The device seconds are measured on for a device string, e.g. 'cpu (x86_64, 2 cores)'."""
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(resolved)})"
    if resolved.type == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return resolved.type


class _Loop:
    """Optimiser, schedule, augmentation and mixed precision for one run."""

    def __init__(self, model: nn.Module, config: BPE, seed: int, data: DatasetSplits, device: torch.device) -> None:
        self.model, self.config, self.train_split, self.device = model, config, data.train, device
        self.optimizer = torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, nesterov=True
        )
        self.steps_per_epoch = math.ceil(len(data.train) / config.batch_size)
        self.total_steps = config.epochs * self.steps_per_epoch
        self.normalizer = Normalizer(data.mean, data.std, device)
        self.generator = torch.Generator(device).manual_seed(seed)
        self.scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")

    def autocast(self) -> AbstractContextManager[object]:
        if self.config.precision == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if self.config.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def epoch(self, epoch: int) -> float:
        """One pass over the train split in a random order; returns the mean loss."""
        self.model.train()
        images, labels, batch = self.train_split.images, self.train_split.labels, self.config.batch_size
        order = torch.randperm(len(labels), generator=self.generator, device=self.device)
        pad = self.config.resolution // 8
        loss_sum = torch.zeros((), device=self.device)
        for step, start in enumerate(range(0, len(labels), batch)):
            index = order[start : start + batch]
            x = self.normalizer(random_crop_flip(images, index, pad, self.generator))
            if self.config.cutout:
                x = cutout(x, self.config.cutout, self.generator)
            self._set_lr(epoch, step)
            with self.autocast():
                loss = F.cross_entropy(self.model(x), labels[index])
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            loss_sum += loss.detach().float() * len(index)
        return float(loss_sum) / len(labels)

    def evaluate(self, split: Split) -> float:
        """Top-1 accuracy in % on `split`, in eval mode."""
        self.model.eval()
        with torch.inference_mode():
            correct = torch.zeros((), dtype=torch.int64, device=self.device)
            for start in range(0, len(split), EVAL_BATCH):
                x = self.normalizer(split.images[start : start + EVAL_BATCH])
                with self.autocast():
                    logits = self.model(x)
                correct += (logits.argmax(dim=1) == split.labels[start : start + EVAL_BATCH]).sum()
        return 100.0 * int(correct) / len(split)

    def _set_lr(self, epoch: int, step: int) -> None:
        if self.config.lr_schedule == "epoch":
            lr = cosine_lr(self.config.lr, epoch, self.config.epochs)
        else:
            lr = cosine_lr(self.config.lr, epoch * self.steps_per_epoch + step, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr


def cosine_lr(base_lr: float, step: int, total_steps: int) -> float:
    """Learning rate of step `step` (from 0; an epoch or an iteration) of `total_steps`: cosine from `base_lr` to 0."""
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * step / total_steps))


class Normalizer:
    """uint8 (B, H, W, 3) images to normalised float (B, 3, H, W), channels-last in memory."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> None:
        std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = -torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1) / std_t

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.addcmul(self.shift, images.permute(0, 3, 1, 2).float(), self.scale)
        return x.contiguous(memory_format=torch.channels_last)


def random_crop_flip(images: torch.Tensor, index: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Images `index` of uint8 (N, H, W, 3) `images`, each randomly cropped from a zero-padded copy, half flipped."""
    batch, height, width = len(index), images.shape[1], images.shape[2]
    device = images.device
    padded = F.pad(images[index], (0, 0, pad, pad, pad, pad)) if pad else images[index]
    top = torch.randint(0, 2 * pad + 1, (batch, 1), generator=generator, device=device)
    left = torch.randint(0, 2 * pad + 1, (batch, 1), generator=generator, device=device)
    flip = torch.rand((batch, 1), generator=generator, device=device) < 0.5
    rows = top + torch.arange(height, device=device)
    columns = torch.arange(width, device=device)
    cols = left + torch.where(flip, width - 1 - columns, columns)
    which = torch.arange(batch, device=device).view(batch, 1, 1)
    return padded[which, rows.view(batch, height, 1), cols.view(batch, 1, width)]


def cutout(x: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one `length`-px square per image of (B, C, H, W) `x`, centred uniformly at random and clipped."""
    batch, _, height, width = x.shape
    centre_y = torch.randint(0, height, (batch, 1), generator=generator, device=x.device)
    centre_x = torch.randint(0, width, (batch, 1), generator=generator, device=x.device)
    ys, xs = torch.arange(height, device=x.device), torch.arange(width, device=x.device)
    in_y = (ys >= centre_y - length // 2) & (ys < centre_y - length // 2 + length)
    in_x = (xs >= centre_x - length // 2) & (xs < centre_x - length // 2 + length)
    hole = in_y[:, :, None] & in_x[:, None, :]
    return x.masked_fill(hole[:, None], 0.0)


def _is_device(device: str) -> bool:
    try:
        torch.device(device)
    except (RuntimeError, ValueError):
        return False
    return True
