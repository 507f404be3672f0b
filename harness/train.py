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
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.data import DatasetSplits, Split
from harness.network import build, flops

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
class TrainConfig:
    """One training setting (a BPE): NB201's full protocol by default."""

    epochs: int = 200
    batch_size: int = 256
    lr: float = 0.1
    """Initial learning rate, cosine-annealed towards 0 (see `lr_schedule`)."""
    lr_schedule: str = "epoch"
    """'epoch': the cosine steps once per epoch, as NB201; 'step': it steps every iteration."""
    channels: int = 16
    """Base width C of the network (stages at C, 2C, 4C)."""
    cells: int = 5
    """Cells per stage N."""
    resolution: int = 32
    """Training and evaluation image size in px; a multiple of 4, at least 8."""
    fraction: float = 1.0
    """Share of the train split used, class-balanced, drawn with `seed`."""
    cutout: int = 0
    """Cutout square side in px at `resolution` (0 = off)."""
    eval_images: int = 0
    """Images of the eval split scored (0 = all): a class-balanced subset drawn with `EVAL_SUBSET_SEED`."""
    precision: str = "fp32"
    """'fp32'; 'bf16' (autocast, CUDA or CPU); 'fp16' (autocast with loss scaling, CUDA only)."""
    seed: int = 0
    device: str = "auto"
    """'auto' (CUDA when available, else CPU) or a torch device string such as 'cpu', 'cuda', 'cuda:1'."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "channels", "cells"):
            _require_int(name, getattr(self, name), minimum=1)
        _require_int("seed", self.seed, minimum=0)
        _require_int("cutout", self.cutout, minimum=0)
        _require_int("eval_images", self.eval_images, minimum=0)
        _require_int("resolution", self.resolution, minimum=8)
        if self.resolution % 4:
            _fail("resolution", self.resolution, "a multiple of 4 (two stride-2 stages)")
        if self.cutout > self.resolution:
            _fail("cutout", self.cutout, f"at most resolution ({self.resolution})")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not 0 < self.lr < math.inf:
            _fail("lr", self.lr, "a finite number > 0")
        if isinstance(self.fraction, bool) or not isinstance(self.fraction, (int, float)) or not 0 < self.fraction <= 1:
            _fail("fraction", self.fraction, "a number in (0, 1]")
        if self.lr_schedule not in LR_SCHEDULES:
            _fail("lr_schedule", self.lr_schedule, f"one of {', '.join(LR_SCHEDULES)}")
        if self.precision not in PRECISIONS:
            _fail("precision", self.precision, f"one of {', '.join(PRECISIONS)}")
        if not isinstance(self.device, str) or (self.device != "auto" and not _is_device(self.device)):
            _fail("device", self.device, "'auto' or a torch device string such as 'cpu' or 'cuda:0'")
        if self.precision == "fp16" and self.device == "cpu":
            _fail("precision", self.precision, "'fp32' or 'bf16' on CPU (fp16 autocast needs CUDA)")


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


def train(
    arch_str: str,
    config: TrainConfig,
    splits: DatasetSplits,
    eval_split: str = "x-valid",
    progress: Progress | None = None,
    *,
    record_curve: bool = True,
) -> TrainResult:
    """Train `arch_str` under `config` on `splits.train`; score on `eval_split` (every epoch if `record_curve`)."""
    device = resolve_device(config.device)
    if config.precision == "fp16" and device.type != "cuda":
        _fail("precision", config.precision, f"'fp32' or 'bf16' on {device.type} (fp16 autocast needs CUDA)")
    data = splits.downscale(config.resolution).subsample(config.fraction, config.seed).to(device)
    evaluation = data[eval_split]
    if config.eval_images:
        if config.eval_images > len(evaluation):
            _fail("eval_images", config.eval_images, f"at most the {len(evaluation)} images of {eval_split} (or 0)")
        evaluation = evaluation.select(eval_subset(evaluation.labels.cpu().numpy(), config.eval_images))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build(arch_str, config.channels, config.cells, data.num_classes)
    # Channels-last: faster on CUDA and, measured, on CPU too (oneDNN): 1.3-4x for C=16 N=5 at 32 px.
    model = model.to(device, memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    loop = _Loop(model, config, data, device)

    curve = np.full(config.epochs, np.nan)
    train_seconds = eval_seconds = 0.0
    reason, epochs_done, evaluations = "", 0, 0
    for epoch in range(config.epochs):
        start = time.perf_counter()
        loss = loop.epoch(epoch)
        train_seconds += time.perf_counter() - start
        epochs_done = epoch + 1
        if not math.isfinite(loss):
            reason = f"non-finite training loss ({loss}) in epoch {epochs_done}"
            break
        if record_curve or epoch == config.epochs - 1:
            start = time.perf_counter()
            curve[epoch] = loop.evaluate(evaluation)
            eval_seconds += time.perf_counter() - start
            evaluations += 1
        if progress is not None:
            progress(epochs_done, loss, float(curve[epoch]))
    forward = flops(arch_str, config.channels, config.cells, data.num_classes, config.resolution) * 1e6
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
    """The torch device for a `TrainConfig.device` value."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        _fail("device", device, "'auto' or 'cpu' here: CUDA is not available")
    return torch.device(device)


def device_label(device: str = "auto") -> str:
    """The device seconds are measured on for a `TrainConfig.device` value, e.g. 'cpu (x86_64, 2 cores)'."""
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(resolved)})"
    if resolved.type == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return resolved.type


class _Loop:
    """Optimiser, schedule, augmentation and mixed precision for one run."""

    def __init__(self, model: nn.Module, config: TrainConfig, data: DatasetSplits, device: torch.device) -> None:
        self.model, self.config, self.train_split, self.device = model, config, data.train, device
        self.optimizer = torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, nesterov=True
        )
        self.steps_per_epoch = math.ceil(len(data.train) / config.batch_size)
        self.total_steps = config.epochs * self.steps_per_epoch
        self.normalizer = Normalizer(data.mean, data.std, device)
        self.generator = torch.Generator(device).manual_seed(config.seed)
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

    @torch.inference_mode()
    def evaluate(self, split: Split) -> float:
        """Top-1 accuracy in % on `split`, in eval mode."""
        self.model.eval()
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


def _require_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(name, value, f"an int >= {minimum}")


def _fail(name: str, value: object, allowed: str) -> None:
    raise ValueError(f"TrainConfig.{name} = {value!r} is invalid: must be {allowed}")
