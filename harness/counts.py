"""Analytic parameter and multiply-add counts of the NB201 network (no torch): NB201's `params` and `flops`.

Parameters count every weight (BN affine included); FLOPs count multiply-adds of convolutions and the linear layer
(with its bias) only, as the official records do (see `harness.network`).
"""

from __future__ import annotations

from harness.checks import invalid, is_int, require_int
from harness.space import parse

_CONV_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


def params(arch_str: str, channels: int = 16, cells: int = 5, num_classes: int = 10) -> float:
    """Parameters of `build(...)` in millions (NB201's `params`), computed without building the network."""
    _check_sizes(channels, cells, num_classes)
    ops = parse(arch_str)
    widths = _stage_widths(channels)
    total = 3 * channels * 9 + 2 * channels  # stem conv + BN
    for stage, width in enumerate(widths):
        if stage > 0:
            c_in = width // 2
            total += c_in * width * 9 + 2 * width + width * width * 9 + 2 * width + c_in * width
        total += cells * sum(width * width * _CONV_KERNEL[op] ** 2 + 2 * width for op in ops if op in _CONV_KERNEL)
    total += 2 * widths[-1] + widths[-1] * num_classes + num_classes  # last BN + classifier
    return total / 1e6


def flops(arch_str: str, channels: int = 16, cells: int = 5, num_classes: int = 10, resolution: int = 32) -> float:
    """Multiply-adds of one forward pass in millions (NB201's `flop`): convolutions and the classifier only."""
    _check_sizes(channels, cells, num_classes)
    _check_resolution(resolution)
    ops = parse(arch_str)
    widths = _stage_widths(channels)
    total = resolution * resolution * channels * 3 * 9  # stem conv
    for stage, width in enumerate(widths):
        pixels = (resolution >> stage) ** 2
        if stage > 0:
            c_in = width // 2
            total += pixels * (c_in * width * 9 + width * width * 9 + c_in * width)
        total += cells * sum(pixels * width * width * _CONV_KERNEL[op] ** 2 for op in ops if op in _CONV_KERNEL)
    total += widths[-1] * num_classes + num_classes
    return total / 1e6


def _stage_widths(channels: int) -> tuple[int, int, int]:
    return channels, 2 * channels, 4 * channels


def _check_sizes(channels: int, cells: int, num_classes: int) -> None:
    for name, value in (("channels", channels), ("cells", cells), ("num_classes", num_classes)):
        require_int("", name, value, minimum=1)


def _check_resolution(resolution: int) -> None:
    if not is_int(resolution, minimum=4) or resolution % 4:
        raise invalid("", "resolution", resolution, "a positive multiple of 4 (two stride-2 stages)")
