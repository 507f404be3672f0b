"""DARTS (Liu et al., ICLR 2019) on an NB201 supernet: mixed ops on every edge, architecture weights by gradient.

Every edge of the cell computes a softmax(alpha_e)-weighted sum of the 5 candidate ops (`none` adds zeros); one
alpha (6 edges x 5 ops) is shared by all cells, as in NB201's DARTS.

Protocol, by default NB201's DARTS setting (configs/nas-benchmark/algos/DARTS.config and
exps/NAS-Bench-201-algos/DARTS-V1.py, DARTS-V2.py in NB201's code, D-X-Y/AutoDL-Projects): the supernet weights
learn on the whole `train` split (25k images of cifar10-valid; cifar10 searches on cifar10-valid's splits, as NB201
does) with SGD, momentum 0.9, Nesterov, weight decay 5e-4, gradient clip 5, batch 64, lr 0.025 -> 0.001 on a cosine
changed once per epoch, 50 epochs; alpha learns on the `x-valid` split (cifar10-valid's other 25k train images; for
cifar100 and ImageNet16-120 the x-valid half of the test set) with Adam, lr 3e-4, betas (0.5, 0.999), weight decay
1e-3. `fraction` below 1 keeps that share of each split, class-balanced, train and x-valid drawn apart (seeded).
Every step takes one train batch in a shuffled pass over the train split and one x-valid batch of the same size,
cycling through a shuffled x-valid order (NB201's loader draws each x-valid image at random instead); both batches
are randomly cropped and flipped, as NB201 augments both.

A step is the architecture step, then the weight step: DARTS' order (Liu et al.'s search code; NB201's DARTS-V2.py
keeps it, while NB201's DARTS-V1.py takes the weight step first). V1 steps alpha along the first-order gradient of
the x-valid loss; V2 along the second-order one, through one virtual SGD step of the weights taken as the weight
optimiser steps (momentum, in the Nesterov form when `nesterov` is set; NB201's DARTS-V2.py uses the plain-momentum
form there), with the Hessian-vector product approximated by finite differences (DARTS' eq. 7-8). The answer is the
argmax op of every edge (`none` included, as NB201 derives it). DARTS queries no estimator: its cost is its own wall
time, and it stops early when the next step would overrun the budget (its cost includes preparing the data).

NB201 reports that DARTS collapses to parameter-free ops (skip connections) on this space; this module does nothing
to prevent it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness import data, datasets, paths, space
from harness.checks import Unavailable, require_int, require_number
from harness.network import ResNetBlock, make_op
from harness.train import BPE, FIELDS, Normalizer, check_run, device_label, random_crop_flip, resolve_device
from searchers import register
from searchers.base import Problem, SearchResult, Trajectory

NB201_SEARCH = BPE(epochs=50, batch_size=64, lr=0.025)
"""NB201's DARTS setting: C=16, N=5, 50 epochs, batch 64, lr 0.025, 32 px, all of the train split (and of x-valid)."""
FIXED_FIELDS: tuple[str, ...] = ("lr_schedule", "cutout", "eval_images", "precision")
"""BPE fields DARTS here leaves at their defaults: its own lr schedule (to `lr_min`), no cutout, no eval split, fp32."""
TRAIN_FIELDS: tuple[str, ...] = tuple(name for name in FIELDS if name not in FIXED_FIELDS)
"""BPE fields that set the supernet's training budget."""


@dataclass(frozen=True)
class DartsConfig:
    """The budget the supernet is trained under (`train`, a BPE: its `TRAIN_FIELDS`), the device, DARTS' own
    optimiser settings and the data source; the defaults are NB201's DARTS setting."""

    train: BPE = NB201_SEARCH
    second_order: bool = False
    lr_min: float = 0.001
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    data_root: str | None = None
    """Folder holding the datasets (default: $BPEBENCH_DATA_ROOT, else the shared reference data)."""
    synthetic: int = 0
    """When > 0: search on that many synthetic train and as many x-valid images (harness.data.synthetic)."""
    device: str = "auto"
    """'auto' (CUDA when available, else CPU) or a torch device string such as 'cpu', 'cuda', 'cuda:1'."""

    def __post_init__(self) -> None:
        if not isinstance(self.train, BPE):
            raise ValueError(f"DartsConfig.train = {self.train!r} is invalid: must be a harness.train.BPE")
        changed = {name: getattr(self.train, name) for name in FIXED_FIELDS}
        changed = {name: value for name, value in changed.items() if value != getattr(BPE(), name)}
        if changed:
            settings = ", ".join(f"{name} {value!r}" for name, value in changed.items())
            raise ValueError(
                f"DartsConfig.train has {settings}: DARTS here trains in fp32 without cutout, on its own lr schedule, "
                "without an eval split"
            )
        check_run(self.train, 0, self.device)
        for name in ("lr_min", "weight_decay", "grad_clip", "arch_lr", "arch_weight_decay"):
            require_number("DartsConfig", name, getattr(self, name), 0, high_open=True)
        if not 0 <= self.momentum < 1:
            raise ValueError(f"DartsConfig.momentum = {self.momentum!r} is invalid: must be in [0, 1)")
        if not isinstance(self.nesterov, bool) or (self.nesterov and self.momentum == 0):
            raise ValueError(
                f"DartsConfig.nesterov = {self.nesterov!r} is invalid: must be a bool, and False when momentum is 0"
            )
        if len(self.arch_betas) != 2 or not all(0 <= b < 1 for b in self.arch_betas):
            raise ValueError(f"DartsConfig.arch_betas = {self.arch_betas!r} is invalid: must be two numbers in [0, 1)")
        require_int("DartsConfig", "synthetic", self.synthetic, 0)

    def to_dict(self) -> dict:
        return {name: getattr(self.train, name) for name in TRAIN_FIELDS} | {
            "second_order": self.second_order,
            "lr_min": self.lr_min,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
            "grad_clip": self.grad_clip,
            "arch_lr": self.arch_lr,
            "arch_betas": list(self.arch_betas),
            "arch_weight_decay": self.arch_weight_decay,
            "synthetic": self.synthetic,
        }


def _candidate(op: str, channels: int) -> nn.Module:
    """A candidate op of the supernet; convolutions get BN without affine weights, as in DARTS."""
    if op in ("nor_conv_1x1", "nor_conv_3x3"):
        kernel = 1 if op == "nor_conv_1x1" else 3
        return nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(channels, affine=False),
        )
    return make_op(op, channels)


NONE = space.OPS.index("none")


class MixedOp(nn.Module):
    """sum_k w_k op_k(x) over the 5 ops; `none` contributes zeros, so it is not computed."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(_candidate(op, channels) for op in space.OPS if op != "none")
        self._weight_index = [k for k in range(len(space.OPS)) if k != NONE]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(weights[k] * op(x) for k, op in zip(self._weight_index, self.ops, strict=True))


class SearchCell(nn.Module):
    """The NB201 cell with a mixed op on each of its 6 edges."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(MixedOp(channels) for _ in space.EDGES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            inputs = [(e, source) for e, (to, source) in enumerate(space.EDGES) if to == node]
            nodes.append(sum(self.edges[e](nodes[source], weights[e]) for e, source in inputs))
        return nodes[-1]


class SuperNet(nn.Module):
    """NB201's macro network with search cells: stem, 3 stages of `cells` cells, ResNet reductions, classifier."""

    def __init__(self, channels: int, cells: int, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        for stage, width in enumerate((channels, 2 * channels, 4 * channels)):
            if stage > 0:
                layers.append(ResNetBlock(width // 2, width))
            layers.extend(SearchCell(width) for _ in range(cells))
        self.layers = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * channels), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(4 * channels, num_classes)

    def forward(self, x: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(alphas, dim=-1)
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, weights) if isinstance(layer, SearchCell) else layer(x)
        x = self.lastact(x)
        return self.classifier(x.mean(dim=(2, 3)))


def derive(alphas: torch.Tensor) -> str:
    """The arch string of the argmax op on every edge."""
    return space.format_ops([space.OPS[int(k)] for k in alphas.argmax(dim=1)])


@dataclass(frozen=True)
class Darts:
    """DARTS V1 (first order) or V2 (second order) under a `DartsConfig`."""

    settings: DartsConfig = field(default_factory=DartsConfig)
    name: str = "darts-v1"

    @property
    def config(self) -> dict:
        return self.settings.to_dict()

    def check(self, dataset: str) -> None:
        """Refuse, naming the fix, when the images or the device the search needs are not there."""
        cfg = self.settings
        if cfg.synthetic == 0:
            data.require(datasets.dataset(dataset).search_dataset, paths.data_root(cfg.data_root))
        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            raise Unavailable(f"device {cfg.device!r} asked for but CUDA is not available", "--device cpu or auto")

    def search(self, problem: Problem, seed: int) -> SearchResult:
        start = time.perf_counter()
        cfg = self.settings
        train_cfg = cfg.train
        device = resolve_device(cfg.device)
        splits, arch_split = _load(problem.dataset, cfg, seed)
        splits, arch_split = splits.to(device), arch_split.to(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = SuperNet(train_cfg.channels, train_cfg.cells, splits.num_classes).to(device)
            init = 1e-3 * torch.randn(space.NUM_EDGES, len(space.OPS))
        alphas = nn.Parameter(init.to(device))
        step = _Step(cfg, model, alphas)
        index = {arch: i for i, arch in enumerate(problem.arch_strings)}
        generator = torch.Generator(device).manual_seed(seed)
        normalize = Normalizer(splits.mean, splits.std, device)
        pad = train_cfg.resolution // 8
        images, labels = splits.train.images, splits.train.labels
        arch_images, arch_labels = arch_split.images, arch_split.labels
        steps_per_epoch = math.ceil(len(labels) / train_cfg.batch_size)

        rows: list[tuple[float, int, float, int, bool, int]] = []  # trial -1: DARTS reads no ground truth
        last_step, stopped = 0.0, ""
        for epoch in range(train_cfg.epochs):
            step.set_lr(epoch)
            weight_order = torch.randperm(len(labels), generator=generator, device=device)
            arch_order = torch.randperm(len(arch_labels), generator=generator, device=device)
            correct = seen = 0
            for i in range(steps_per_epoch):
                if time.perf_counter() - start + last_step > problem.budget:
                    stopped = f"budget reached in epoch {epoch + 1}, step {i + 1}"
                    break
                tic = time.perf_counter()
                batch = slice(i * train_cfg.batch_size, (i + 1) * train_cfg.batch_size)
                w_index = weight_order[batch]
                a_index = arch_order[(torch.arange(len(w_index), device=device) + batch.start) % len(arch_order)]
                x_arch = normalize(random_crop_flip(arch_images, a_index, pad, generator))
                x_weight = normalize(random_crop_flip(images, w_index, pad, generator))
                logits = step.arch_step(x_weight, labels[w_index], x_arch, arch_labels[a_index])
                correct += int((logits.argmax(dim=1) == arch_labels[a_index]).sum())
                seen += len(a_index)
                step.weight_step(x_weight, labels[w_index])
                last_step = time.perf_counter() - tic
            if seen:
                arch = index[derive(alphas.detach())]
                held_out_accuracy = 100.0 * correct / seen
                rows.append((time.perf_counter() - start, arch, held_out_accuracy, arch, True, -1))
            if stopped:
                break
        if not rows:
            raise ValueError(f"budget {problem.budget} s is too small for one DARTS step; raise --budget")
        cost = time.perf_counter() - start
        trajectory = Trajectory(*(np.asarray(column) for column in zip(*rows, strict=True)))
        metadata = {
            "alphas": F.softmax(alphas.detach(), dim=-1).cpu().tolist(),
            "epochs_done": len(rows),
            "device": str(device),
        }
        if stopped:
            metadata["stopped"] = stopped
        return SearchResult(int(trajectory.best[-1]), cost, trajectory, metadata, device=device_label(cfg.device))


def _load(dataset: str, cfg: DartsConfig, seed: int) -> tuple[data.DatasetSplits, data.Split]:
    """The splits with `train` cut to `fraction` (the weights' data) and x-valid cut to `fraction` (alpha's data),
    both drawn with `seed`."""
    train_cfg = cfg.train
    if cfg.synthetic:
        splits = data.synthetic(
            datasets.NUM_CLASSES[dataset],
            n_train=cfg.synthetic,
            n_eval=cfg.synthetic,
            resolution=train_cfg.resolution,
            seed=seed,
        )
    else:
        root = paths.data_root(cfg.data_root)
        splits = data.load(datasets.dataset(dataset).search_dataset, root, progress=False)
    splits = splits.downscale(train_cfg.resolution)
    arch_split = splits["x-valid"]
    if train_cfg.fraction < 1:  # a draw of its own, apart from the train split's
        rng = np.random.default_rng([seed, 1])
        arch_split = arch_split.select(data.balanced_subset(arch_split.labels.numpy(), train_cfg.fraction, rng))
    return splits.subsample(train_cfg.fraction, seed), arch_split


class _Step:
    """The two optimisers and DARTS' arch-gradient (first or second order)."""

    def __init__(self, cfg: DartsConfig, model: SuperNet, alphas: nn.Parameter) -> None:
        self.cfg, self.model, self.alphas, self.epochs = cfg, model, alphas, cfg.train.epochs
        self.lr = cfg.train.lr
        self.weights = [p for p in model.parameters() if p.requires_grad]
        self.w_opt = torch.optim.SGD(
            self.weights, lr=self.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov
        )
        self.a_opt = torch.optim.Adam(
            [alphas], lr=cfg.arch_lr, betas=cfg.arch_betas, weight_decay=cfg.arch_weight_decay
        )

    def set_lr(self, epoch: int) -> None:
        """Cosine from lr to lr_min over the epochs, per epoch (DARTS' schedule)."""
        lr_max, lr_min = self.cfg.train.lr, self.cfg.lr_min
        self.lr = lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * epoch / self.epochs))
        for group in self.w_opt.param_groups:
            group["lr"] = self.lr

    def weight_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model.train()
        loss = F.cross_entropy(self.model(x, self.alphas.detach()), y)
        self.w_opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.weights, self.cfg.grad_clip)
        self.w_opt.step()

    def arch_step(self, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor):
        """One Adam step on alpha; returns the held-out logits (before the step)."""
        self.model.train()
        if self.cfg.second_order:
            grad, logits = self._second_order_grad(x_train, y_train, x_val, y_val)
        else:
            logits = self.model(x_val, self.alphas)
            grad = torch.autograd.grad(F.cross_entropy(logits, y_val), self.alphas)[0]
        self.a_opt.zero_grad(set_to_none=True)
        self.alphas.grad = grad
        self.a_opt.step()
        return logits.detach()

    def virtual_step(self, grads: Sequence[torch.Tensor]) -> None:
        """Move the weights in place by the SGD step `w_opt` would take on `grads` (unclipped; buffers unchanged)."""
        momentum = self.cfg.momentum
        with torch.no_grad():
            for w, g in zip(self.weights, grads, strict=True):
                direction = g + self.cfg.weight_decay * w
                buf = self.w_opt.state.get(w, {}).get("momentum_buffer")
                velocity = direction if buf is None else momentum * buf + direction
                w.sub_(self.lr * (direction + momentum * velocity if self.cfg.nesterov else velocity))

    def _second_order_grad(self, x_train, y_train, x_val, y_val) -> tuple[torch.Tensor, torch.Tensor]:
        """d L_val(w', a) / d a - lr * (d L_train(w+, a) - d L_train(w-, a)) / (2 eps), w' = w - lr * (SGD step)."""
        backup = [w.detach().clone() for w in self.weights]
        train_loss = F.cross_entropy(self.model(x_train, self.alphas.detach()), y_train)
        self.virtual_step(torch.autograd.grad(train_loss, self.weights))
        logits = self.model(x_val, self.alphas)
        val_grads = torch.autograd.grad(F.cross_entropy(logits, y_val), [self.alphas, *self.weights])
        alpha_grad, dw = val_grads[0], val_grads[1:]
        eps = 0.01 / torch.sqrt(sum((d * d).sum() for d in dw)).clamp_min(1e-12)
        finite_differences = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for w, b, d in zip(self.weights, backup, dw, strict=True):
                    w.copy_(b + sign * eps * d)
            loss = F.cross_entropy(self.model(x_train, self.alphas), y_train)
            finite_differences.append(torch.autograd.grad(loss, self.alphas)[0])
        with torch.no_grad():
            for w, b in zip(self.weights, backup, strict=True):
                w.copy_(b)
        hessian_vector = (finite_differences[0] - finite_differences[1]) / (2 * eps)
        return alpha_grad - self.lr * hessian_vector, logits


@register("darts-v1", family="supernet", live=True)
def darts_v1(config: DartsConfig | None = None) -> Darts:
    """DARTS, first order: supernet weights and architecture alphas trained alternately; argmax op per edge."""
    return Darts(replace(config or DartsConfig(), second_order=False), "darts-v1")


@register("darts-v2", family="supernet", live=True)
def darts_v2(config: DartsConfig | None = None) -> Darts:
    """DARTS, second order: alpha gradient through one virtual weight step (finite-difference Hessian)."""
    return Darts(replace(config or DartsConfig(), second_order=True), "darts-v2")
