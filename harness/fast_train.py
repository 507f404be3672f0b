"""Many archs trained at once on one device: K NB201 networks fused into one module, stepping on the same batches.

Why a fused group (and not streams or one process per arch), argued from design since no GPU has run it yet: the NB201
network at C=16 is tiny (7-220 M multiply-adds per image), so one arch trained alone on a fast GPU should be bound by
kernel launches, not arithmetic: one SGD step of an arch with 4 convolutions per cell runs about 2,500 leaf ATen ops
(counted with the profiler on the CPU; views included), each a few microseconds of Python and driver work on a GPU,
with the GPU mostly idle between them.
The fused group puts the K archs side by side in the channel dimension: activations are (B, K*C, H, W) tensors,
channels-last; the stem, the ResNet reductions, BN, ReLU and the classifier of all K archs
are one grouped op each, and on every cell edge the archs that chose the same op are gathered into one grouped
convolution (or pool). A step then launches about as many kernels as one arch's step (a few more gathers and adds)
for K archs' work, and each kernel is K times larger, so the launch cost per arch falls by about K and the GPU fills.
CUDA streams in one process still pay every launch from one Python thread; one process per arch pays them in
parallel but needs a CPU core, a CUDA context and a data copy per arch, and without MPS the GPU time-slices between
processes. The group is one process, one data copy, one optimiser. Its price: each edge gathers its archs' channels
and adds the results back (copies forward, zero-filled gradients backward), and grouped convolutions can be slower
per multiply-add than plain ones. Whether it pays, and at which K, is what `measure_throughput` measures, fused
against the same archs stepped alone one after another (`bpebench gpu-check` picks the faster for its protocol run).
On this project's 2-core CPU (one thread, shared; `benchmarks/bench_fused.py`) both regimes show: at NB201 size,
where arithmetic dominates, the group does not pay (8 archs at C=16, N=5, 32 px, batch 64: 16.5 and 19.6 s per step of
the group in two runs, against 6.5 and 8.7 s for the 8 alone; a grouped 3x3 convolution of 8 x 16 channels took 1.75x
as long as the 8 plain ones); at C=4, N=1, 8 px, where per-op overhead dominates as launches do on a GPU, it does (6
archs: 0.094 s per step fused, 0.152 s alone). A group of one runs about 10% slower than `harness.train` (1.67 and
1.86 s per step against 1.49 and 1.73 s, one arch at NB201 size, batch 64).
Activation memory grows with K: about 30 GiB saved for backward at K=16 (fp32, batch 256, sampled archs), 60 GiB
at K=32.

Each arch in a group trains exactly as it does alone (`harness.train.train`) with the same seed: the same initial
weights (each network is built alone with the seed and copied in), the same batches, crops and flips (one generator
drawn in the same order), the same SGD update element by element, and no term that mixes archs (BN statistics are
per channel, the loss is the sum of the archs' mean losses, so each arch's gradient is its own). The only differences
are float rounding (a grouped convolution may sum in another order than a plain one), which training amplifies as it
does any rounding (at lr 0.1 on the CPU, losses 1e-5 apart after 8 steps; far below seed noise), and on CUDA the
non-determinism cuDNN always has. An arch whose loss turns non-finite is marked failed after that epoch, as alone;
its NaNs stay in its own channels while the rest of the group trains on. All archs of a group share one seed; fp16
(one loss scale would skip every arch's step when one overflows) is not supported: use fp32 or bf16.

Options for a GPU: bf16 autocast (precision is a BPE field; fp32, the NB201 protocol, stays the default; on CUDA,
PyTorch's default lets cuDNN run fp32 convolutions in TF32), channels-last everywhere, `torch.compile` (`compile`).
The whole train split lives on the device as uint8 and every batch is drawn, cropped, flipped and normalised there
(`harness.train.random_crop_flip`).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.checks import invalid
from harness.data import DatasetSplits, Split
from harness.network import Cell, TinyNetwork, build, cell_plan, flops
from harness.space import EDGES, OPS, parse
from harness.train import (
    BPE,
    EVAL_BATCH,
    MOMENTUM,
    PASSES_PER_IMAGE,
    WEIGHT_DECAY,
    Normalizer,
    TrainResult,
    check_run,
    cosine_lr,
    cutout,
    eval_subset,
    random_crop_flip,
    resolve_device,
)

GroupProgress = Callable[[int, np.ndarray, np.ndarray], None]
"""Called after every epoch with (epoch from 1, each arch's mean train loss, each arch's eval accuracy in % or NaN)."""


# --- the fused network ---------------------------------------------------------------------------------------------


def _groups(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, K*C, H, W) -> (B, H, W, K, C): a view when `x` is channels-last, else a copy."""
    b, kc, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(b, h, w, k, kc // k)


def _stack(groups: torch.Tensor) -> torch.Tensor:
    """(B, H, W, M, C) -> its (B, M*C, H, W) channels-last view."""
    b, h, w, m, c = groups.shape
    return groups.reshape(b, h, w, m * c).permute(0, 3, 1, 2)


def gather(x: torch.Tensor, members: torch.Tensor, k: int) -> torch.Tensor:
    """The channel groups `members` (sorted arch positions) of a (B, K*C, H, W) tensor, as (B, M*C, H, W)."""
    return x if len(members) == k else _stack(_groups(x, k).index_select(3, members))


def scatter_add(out: torch.Tensor, members: torch.Tensor, y: torch.Tensor, k: int) -> None:
    """Add (B, M*C, H, W) `y` into the channel groups `members` of (B, K*C, H, W) `out`, in place."""
    if len(members) == k:
        out.add_(y)
    else:
        b, kc, h, w = out.shape
        target = out.permute(0, 2, 3, 1).view(b, h, w, k, kc // k)  # a view, or an error: never a silent copy
        target.index_add_(3, members, _groups(y, len(members)))


def _grouped_copy(module: nn.Module, groups: int, shared_input: bool = False) -> nn.Module:
    """A copy of `module` for `groups` archs side by side: every convolution grouped (or, with `shared_input`, one
    convolution of the shared input image to all groups' channels), every BN over groups x channels, the rest as is;
    parameter names as in `module`, values to be loaded."""
    if isinstance(module, nn.Conv2d):
        return nn.Conv2d(
            module.in_channels if shared_input else groups * module.in_channels,
            groups * module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            groups=1 if shared_input else groups,
            bias=module.bias is not None,
        )
    if isinstance(module, nn.BatchNorm2d):
        return nn.BatchNorm2d(groups * module.num_features, affine=module.affine)
    if next(module.parameters(recurse=False), None) is not None:
        raise TypeError(f"no grouped form of {type(module).__name__}")
    fused = copy.deepcopy(module)
    for name, child in module.named_children():
        setattr(fused, name, _grouped_copy(child, groups, shared_input))
    return fused


def fuse(sources: Sequence[nn.Module], shared_input: bool = False) -> nn.Module:
    """One module computing all `sources` (identical structure) side by side in the channel dimension, holding
    their weights and BN buffers concatenated (a grouped conv's weight is its groups' weights stacked)."""
    fused = _grouped_copy(sources[0], len(sources), shared_input)
    states = [source.state_dict() for source in sources]
    merged = {
        name: states[0][name] if tensor.ndim == 0 else torch.cat([state[name] for state in states])
        for name, tensor in fused.state_dict().items()
    }
    fused.load_state_dict(merged)
    return fused


class FusedCell(nn.Module):
    """The cells of K archs at one position: per edge, the archs that chose the same op share one grouped op."""

    def __init__(self, cells: Sequence[Cell]) -> None:
        super().__init__()
        self.k = len(cells)
        ops = [parse(cell.arch_str) for cell in cells]
        inputs = [{node: {edge for edge, _ in edges} for node, edges in cell_plan(arch)} for arch in ops]
        self.ops = nn.ModuleDict()
        self.plan: list[tuple[int, int, str]] = []
        """(node, source node, key of `ops` and of the members buffer), by node, then edge, then op."""
        for node in (1, 2, 3):
            for edge, (to, source) in enumerate(EDGES):
                if to != node:
                    continue
                live = [k for k in range(self.k) if edge in inputs[k].get(node, ())]
                for op in OPS:
                    members = [k for k in live if ops[k][edge] == op]
                    if not members:
                        continue
                    key = f"{to}<-{source}:{op}"
                    self.ops[key] = fuse([cells[k].edges[f"{to}<-{source}"] for k in members])
                    self.register_buffer(f"members_{len(self.plan)}", torch.tensor(members), persistent=False)
                    self.plan.append((node, source, key))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            out = torch.zeros_like(x, memory_format=torch.channels_last)
            for position, (to, source, key) in enumerate(self.plan):
                if to == node:
                    members = getattr(self, f"members_{position}")
                    scatter_add(out, members, self.ops[key](gather(nodes[source], members, self.k)), self.k)
            nodes.append(out)
        return nodes[3]


class FusedNetwork(nn.Module):
    """K NB201 networks of one width, depth and class count (any cells) as one module: logits (B, K, classes)."""

    def __init__(self, networks: Sequence[TinyNetwork]) -> None:
        super().__init__()
        self.k = len(networks)
        self.stem = fuse([net.stem for net in networks], shared_input=True)
        layers = []
        for position, layer in enumerate(networks[0].cells):
            column = [net.cells[position] for net in networks]
            layers.append(FusedCell(column) if isinstance(layer, Cell) else fuse(column))
        self.cells = nn.Sequential(*layers)
        self.lastact = fuse([net.lastact for net in networks])
        self.weight = nn.Parameter(torch.stack([net.classifier.weight.detach() for net in networks]))
        self.bias = nn.Parameter(torch.stack([net.classifier.bias.detach() for net in networks]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        pooled = F.adaptive_avg_pool2d(x, 1).flatten(1).view(len(x), self.k, -1)
        return torch.einsum("bkc,knc->bkn", pooled, self.weight) + self.bias


def build_group(arch_strs: Sequence[str], channels: int, cells: int, num_classes: int, seed: int) -> FusedNetwork:
    """The fused network of `arch_strs`, each initialised as `harness.train.train` initialises it with `seed`."""
    networks = []
    for arch in arch_strs:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            networks.append(build(arch, channels, cells, num_classes))
    return FusedNetwork(networks)


# --- training ------------------------------------------------------------------------------------------------------


def check_group(arch_strs: Sequence[str], bpe: BPE, seed: int, device: str) -> None:
    """Raise unless the group can train: at least one arch, `check_run`'s rules, and no fp16."""
    if isinstance(arch_strs, str) or not arch_strs:
        raise invalid("", "arch_strs", arch_strs, "a non-empty sequence of arch strings")
    for arch in arch_strs:
        parse(arch)
    check_run(bpe, seed, device)
    if bpe.precision == "fp16":
        raise invalid("BPE", "precision", bpe.precision, "'fp32' or 'bf16' in a fused group (one loss scale for all)")


class GroupLoop:
    """Optimiser, schedule, augmentation and precision of one group's run (`harness.train`'s, for K archs)."""

    def __init__(
        self, model: nn.Module, k: int, config: BPE, seed: int, data: DatasetSplits, device: torch.device
    ) -> None:
        self.model, self.k, self.config, self.train_split, self.device = model, k, config, data.train, device
        self.optimizer = torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, nesterov=True
        )
        self.steps_per_epoch = math.ceil(len(data.train) / config.batch_size)
        self.normalizer = Normalizer(data.mean, data.std, device)
        self.generator = torch.Generator(device).manual_seed(seed)

    def autocast(self) -> AbstractContextManager[object]:
        if self.config.precision == "fp32":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def step(self, index: torch.Tensor, lr: float) -> torch.Tensor:
        """One SGD step of every arch on the images `index`; returns each arch's mean loss (K,), detached."""
        images, labels = self.train_split.images, self.train_split.labels
        x = self.normalizer(random_crop_flip(images, index, self.config.resolution // 8, self.generator))
        if self.config.cutout:
            x = cutout(x, self.config.cutout, self.generator)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.autocast():
            logits = self.model(x)
        target = labels[index].unsqueeze(1).expand(-1, self.k)
        losses = F.cross_entropy(logits.float().transpose(1, 2), target, reduction="none").mean(dim=0)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.optimizer.step()
        return losses.detach()

    def epoch(self, epoch: int) -> np.ndarray:
        """One pass over the train split in a random order; returns each arch's mean loss."""
        self.model.train()
        labels, batch = self.train_split.labels, self.config.batch_size
        order = torch.randperm(len(labels), generator=self.generator, device=self.device)
        loss_sum = torch.zeros(self.k, device=self.device)
        for step, start in enumerate(range(0, len(labels), batch)):
            index = order[start : start + batch]
            if self.config.lr_schedule == "epoch":
                lr = cosine_lr(self.config.lr, epoch, self.config.epochs)
            else:
                lr = cosine_lr(
                    self.config.lr, epoch * self.steps_per_epoch + step, self.config.epochs * self.steps_per_epoch
                )
            loss_sum += self.step(index, lr) * len(index)
        return loss_sum.cpu().numpy() / len(labels)

    @torch.inference_mode()
    def evaluate(self, split: Split) -> np.ndarray:
        """Each arch's top-1 accuracy in % on `split`, in eval mode."""
        self.model.eval()
        correct = torch.zeros(self.k, dtype=torch.int64, device=self.device)
        for start in range(0, len(split), EVAL_BATCH):
            x = self.normalizer(split.images[start : start + EVAL_BATCH])
            with self.autocast():
                logits = self.model(x)
            correct += (logits.argmax(dim=2) == split.labels[start : start + EVAL_BATCH, None]).sum(dim=0)
        return 100.0 * correct.cpu().numpy() / len(split)


def prepare(
    arch_strs: Sequence[str], bpe: BPE, splits: DatasetSplits, seed: int, device: str, compile: bool
) -> tuple[GroupLoop, DatasetSplits]:
    """The group's loop (network built, on the device, channels-last, compiled if asked) and its data there."""
    check_group(arch_strs, bpe, seed, device)
    torch_device = resolve_device(device)
    data = splits.downscale(bpe.resolution).subsample(bpe.fraction, seed).to(torch_device)
    model = build_group(arch_strs, bpe.channels, bpe.cells, data.num_classes, seed)
    model = model.to(torch_device, memory_format=torch.channels_last)
    if torch_device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if compile:
        model = torch.compile(model)
    return GroupLoop(model, len(arch_strs), bpe, seed, data, torch_device), data


def train_group(
    arch_strs: Sequence[str],
    bpe: BPE,
    splits: DatasetSplits,
    eval_split: str = "x-valid",
    progress: GroupProgress | None = None,
    *,
    seed: int = 0,
    device: str = "auto",
    record_curve: bool = True,
    compile: bool = False,
) -> list[TrainResult]:
    """Train every arch of `arch_strs` under `bpe` with `seed` at once, as `harness.train.train` trains each alone;
    one result per arch, whose seconds are the group's divided by its size (each arch's share)."""
    loop, data = prepare(arch_strs, bpe, splits, seed, device, compile)
    evaluation = data[eval_split]
    if bpe.eval_images:
        if bpe.eval_images > len(evaluation):
            allowed = f"at most the {len(evaluation)} images of {eval_split} (or 0)"
            raise invalid("BPE", "eval_images", bpe.eval_images, allowed)
        evaluation = evaluation.select(eval_subset(evaluation.labels.cpu().numpy(), bpe.eval_images))
    k = len(arch_strs)
    curves = np.full((k, bpe.epochs), np.nan)
    failed_in = np.zeros(k, dtype=np.int64)  # epoch (from 1) whose loss was non-finite; 0 = none
    failed_loss = np.full(k, np.nan)
    evaluations = np.zeros(k, dtype=np.int64)
    train_seconds = eval_seconds = 0.0
    for epoch in range(bpe.epochs):
        start = time.perf_counter()
        losses = loop.epoch(epoch)
        train_seconds += time.perf_counter() - start
        newly = (failed_in == 0) & ~np.isfinite(losses)
        failed_in[newly], failed_loss[newly] = epoch + 1, losses[newly]
        accuracy = np.full(k, np.nan)
        if record_curve or epoch == bpe.epochs - 1:
            start = time.perf_counter()
            accuracy = loop.evaluate(evaluation)
            eval_seconds += time.perf_counter() - start
            evaluations[failed_in == 0] += 1
            curves[failed_in == 0, epoch] = accuracy[failed_in == 0]
        if progress is not None:
            progress(epoch + 1, losses, np.where(failed_in == 0, accuracy, np.nan))
        if failed_in.all():
            break
    results = []
    for position, arch in enumerate(arch_strs):
        forward = flops(arch, bpe.channels, bpe.cells, data.num_classes, bpe.resolution) * 1e6
        epochs_done = int(failed_in[position]) or bpe.epochs
        failed = bool(failed_in[position])
        reason = f"non-finite training loss ({failed_loss[position]}) in epoch {epochs_done}" if failed else ""
        results.append(
            TrainResult(
                score=float("nan") if failed else float(curves[position, -1]),
                curve=curves[position],
                train_seconds=train_seconds / k,
                eval_seconds=eval_seconds / k,
                macs=forward * len(data.train) * epochs_done * PASSES_PER_IMAGE,
                eval_macs=forward * len(evaluation) * int(evaluations[position]),
                failed=failed,
                reason=reason,
            )
        )
    return results


# --- throughput ----------------------------------------------------------------------------------------------------

PEAKS: dict[str, dict[str, float]] = {
    "H200": {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12},
    "H100 PCIe": {"fp32": 51e12, "tf32": 378e12, "bf16": 756e12},
    "H100": {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12},
    "A100": {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12},
    "L40S": {"fp32": 91.6e12, "tf32": 183e12, "bf16": 362e12},
    "V100": {"fp32": 15.7e12},
    "GTX 1080 Ti": {"fp32": 11.3e12},
}
"""Dense peak FLOP/s by device-name fragment (vendor datasheets, SXM parts unless named; no sparsity), first match
wins: plain fp32 (CUDA cores), TF32 and bf16 (tensor cores). 1 multiply-add = 2 FLOP."""


def peak_flops(device_name: str, precision: str, tf32: bool) -> tuple[float, str]:
    """The peak FLOP/s that bounds training in `precision` on `device_name` and which peak it is ('bf16', 'tf32'
    when fp32 convolutions may run in TF32, 'fp32'); (NaN, 'unknown') for a device or precision not in `PEAKS`."""
    kind = "bf16" if precision == "bf16" else ("tf32" if tf32 else "fp32")
    for fragment, peaks in PEAKS.items():
        if fragment.lower() in device_name.lower():
            return (peaks[kind], kind) if kind in peaks else (math.nan, "unknown")
    return math.nan, "unknown"


MODES: tuple[str, ...] = ("fused", "alone")
"""How K archs are trained in `measure_throughput`: as one fused group, or each alone (a group of one), in turn."""


@dataclass(frozen=True)
class Throughput:
    """Training speed of K archs at one precision, fused or alone, measured over timed steps after warm-up steps."""

    mode: str
    """'fused': one group of K; 'alone': each of the K archs stepped alone, one after another (their times added)."""
    k: int
    precision: str
    compiled: bool
    batch_size: int
    steps: int
    seconds_per_step: float
    """Seconds for one training step of all K archs."""
    images_per_second: float
    """Training images per second summed over the K archs (K x batch / seconds per step)."""
    seconds_per_arch_epoch: float
    """Seconds per step x steps per epoch / K: the device time one arch's epoch costs."""
    macs_per_second: float
    """Training multiply-adds per second (NB201 forward FLOPs x 3 x images), summed over the archs."""
    peak_flops: float
    peak_kind: str
    fraction_of_peak: float
    """2 x macs_per_second / peak_flops (NaN when the peak is unknown)."""
    peak_memory_gib: float
    """Most device memory allocated while timing (CUDA only; NaN elsewhere)."""
    error: str = ""
    """Why it could not run (e.g. out of memory); every figure is then NaN."""

    def to_dict(self) -> dict:
        return asdict(self)


def measure_throughput(
    arch_strs: Sequence[str],
    bpe: BPE,
    splits: DatasetSplits,
    ks: Sequence[int],
    *,
    modes: Sequence[str] = MODES,
    steps: int = 20,
    warmup: int = 5,
    seed: int = 0,
    device: str = "auto",
    compile: bool = False,
) -> list[Throughput]:
    """Train-step speed of the first k of `arch_strs` for each k in `ks` and each of `modes`, under `bpe` (its batch,
    size, precision) on `splits.train`; one row per (k, mode), k first. Each arch is timed alone once and reused for
    every k. A group that runs out of memory is reported with its error, not raised."""
    if not ks or any(not isinstance(k, int) or not 1 <= k <= len(arch_strs) for k in ks):
        raise invalid("", "ks", list(ks), f"group sizes in 1..{len(arch_strs)} (the archs given)")
    if not modes or not set(modes) <= set(MODES):
        raise invalid("", "modes", list(modes), f"some of {', '.join(MODES)}")
    if steps < 1 or warmup < 0:
        raise invalid("", "steps", (steps, warmup), "steps >= 1 and warmup >= 0")
    torch_device = resolve_device(device)
    name = torch.cuda.get_device_name(torch_device) if torch_device.type == "cuda" else torch_device.type
    tf32 = torch_device.type == "cuda" and torch.backends.cudnn.allow_tf32
    peak, kind = peak_flops(name, bpe.precision, tf32)
    steps_per_epoch = math.ceil(len(splits.train) * bpe.fraction / bpe.batch_size)

    def timed(group: list[str]) -> tuple[float, float, float, str]:
        """(seconds per step, images per step, peak GiB, error) of one group."""
        try:
            return (*_time_group(group, bpe, splits, steps, warmup, seed, device, compile), "")
        except torch.OutOfMemoryError as err:
            return math.nan, math.nan, math.nan, f"out of memory: {str(err).splitlines()[0]}"
        finally:
            if torch_device.type == "cuda":
                torch.cuda.empty_cache()

    alone: list[tuple[float, float, float, str]] = []
    rows = []
    for k in ks:
        group = list(arch_strs[:k])
        forward = sum(flops(a, bpe.channels, bpe.cells, splits.num_classes, bpe.resolution) for a in group) * 1e6
        for mode in modes:
            if mode == "fused":
                seconds, images, memory, error = timed(group)
            else:
                alone += [timed([arch]) for arch in group[len(alone) :]]
                seconds = sum(row[0] for row in alone[:k])
                images = alone[0][1]
                memory = max(row[2] for row in alone[:k])
                error = next((row[3] for row in alone[:k] if row[3]), "")
            macs = forward * PASSES_PER_IMAGE * images / seconds
            rows.append(
                Throughput(
                    mode=mode,
                    k=k,
                    precision=bpe.precision,
                    compiled=compile,
                    batch_size=bpe.batch_size,
                    steps=steps,
                    seconds_per_step=seconds,
                    images_per_second=k * images / seconds,
                    seconds_per_arch_epoch=seconds * steps_per_epoch / k,
                    macs_per_second=macs,
                    peak_flops=peak,
                    peak_kind=kind,
                    fraction_of_peak=2 * macs / peak if math.isfinite(peak) else math.nan,
                    peak_memory_gib=memory,
                    error=error,
                )
            )
    return rows


def _time_group(
    group: list[str], bpe: BPE, splits: DatasetSplits, steps: int, warmup: int, seed: int, device: str, compile: bool
) -> tuple[float, float, float]:
    """(seconds per training step, images per step, peak GiB allocated or NaN) of one fused group."""
    loop, data = prepare(group, bpe, splits, seed, device, compile)
    cuda = loop.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(loop.device)
    loop.model.train()
    labels = data.train.labels
    order = torch.randperm(len(labels), generator=loop.generator, device=loop.device)
    batches = [order[(i * bpe.batch_size) % len(labels) :][: bpe.batch_size] for i in range(warmup + steps)]
    for index in batches[:warmup]:
        loop.step(index, bpe.lr)
    if cuda:
        torch.cuda.synchronize(loop.device)
    start = time.perf_counter()
    for index in batches[warmup:]:
        losses = loop.step(index, bpe.lr)
    float(losses.sum())  # waits for the device
    seconds = (time.perf_counter() - start) / steps
    images = float(sum(len(index) for index in batches[warmup:])) / steps
    memory = torch.cuda.max_memory_allocated(loop.device) / 2**30 if cuda else math.nan
    return seconds, images, memory
