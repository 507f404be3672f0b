"""The NAS-Bench-201 network in PyTorch for any cell, width C and depth N, with NB201's exact parameter and FLOP counts.

Macro structure (Dong & Yang, ICLR 2020): 3x3 conv stem + BN; three stages of N cells at C, 2C, 4C channels with a
stride-2 ResNet basic block between stages; BN, ReLU, global average pool, linear classifier.

`params` and `flops` are analytic and match the official records: parameters count every weight (BN affine
included); FLOPs count multiply-adds of convolutions and the linear layer (with its bias) only. BN, ReLU and
pooling (the cells' 3x3 average pools and the 2x2 pool of each ResNet shortcut) count zero, as in the official
records (checked on archs 0, 11 and 284 for every dataset). The recorded params of 150 of the 15,625 archs differ:
each equals the count of another arch of the same isomorphism class (one differing in dead or duplicated edges),
so those records were shared across the class; `params` counts the arch itself.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.counts import _CONV_KERNEL, _check_sizes, _stage_widths, flops, params
from harness.space import EDGES, parse

__all__ = ["build", "cell_plan", "flops", "make_op", "params"]

NUM_NODES = 4


class ReLUConvBN(nn.Sequential):
    """ReLU, then a bias-free convolution, then BatchNorm (affine)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class ResNetBlock(nn.Module):
    """NB201's stride-2 reduction: two ReLU-Conv3x3-BN plus an avg-pool + 1x1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, stride=1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


def make_op(op: str, channels: int) -> nn.Module:
    """The module of one non-`none` candidate op at `channels` channels, stride 1."""
    if op in _CONV_KERNEL:
        return ReLUConvBN(channels, channels, _CONV_KERNEL[op], stride=1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if op == "skip_connect":
        return nn.Identity()
    raise ValueError(f"no module for op {op!r}")


def cell_plan(ops: tuple[str, ...]) -> tuple[tuple[int, tuple[tuple[int, int], ...]], ...]:
    """Nodes that reach the cell output, in order, each with its non-`none` input edges as (edge index, source)."""
    live = {NUM_NODES - 1}
    for edge in reversed(range(len(EDGES))):
        to, source = EDGES[edge]
        if ops[edge] != "none" and to in live:
            live.add(source)
    return tuple(
        (node, tuple((e, src) for e, (to, src) in enumerate(EDGES) if to == node and ops[e] != "none"))
        for node in range(1, NUM_NODES)
        if node in live
    )


class Cell(nn.Module):
    """A 4-node NB201 cell: node j = sum over i < j of op_{j<-i}(node i); `none` edges contribute zeros."""

    def __init__(self, arch_str: str, channels: int) -> None:
        super().__init__()
        self.arch_str = arch_str
        ops = parse(arch_str)
        self.edges = nn.ModuleDict({_edge_name(e): make_op(op, channels) for e, op in enumerate(ops) if op != "none"})
        # Nodes that cannot reach the output are skipped: the same function with less work.
        self._plan = tuple((node, tuple((_edge_name(e), src) for e, src in inputs)) for node, inputs in cell_plan(ops))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = {0: x}
        for node, inputs in self._plan:
            terms = [self.edges[name](nodes[src]) for name, src in inputs]
            nodes[node] = sum(terms[1:], terms[0]) if terms else torch.zeros_like(x)
        return nodes[NUM_NODES - 1]

    def extra_repr(self) -> str:
        return f"arch={self.arch_str}"


def _edge_name(edge: int) -> str:
    to, source = EDGES[edge]
    return f"{to}<-{source}"


class TinyNetwork(nn.Module):
    """The NB201 macro network around one cell: returns class logits."""

    def __init__(self, arch_str: str, channels: int, cells: int, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        for stage, width in enumerate(_stage_widths(channels)):
            if stage > 0:
                layers.append(ResNetBlock(width // 2, width))
            layers.extend(Cell(arch_str, width) for _ in range(cells))
        self.cells = nn.Sequential(*layers)
        c_last = _stage_widths(channels)[-1]
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_last), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.global_pooling(x), 1))


def build(arch_str: str, channels: int = 16, cells: int = 5, num_classes: int = 10) -> nn.Module:
    """The NB201 network for `arch_str`: base width `channels`, `cells` cells per stage, `num_classes` outputs."""
    _check_sizes(channels, cells, num_classes)
    return TinyNetwork(arch_str, channels, cells, num_classes)
