"""The fused multi-arch trainer: each arch of a group trains as it does alone, archs do not leak into each other,
inputs are checked, and the throughput table's figures are consistent."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness import data, fast_train, network, train

ARCHS = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",  # node 2 dead
    "|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|none~2|",  # nodes 1, 2 dead
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # no path: zeros
)
TINY = train.BPE(epochs=2, batch_size=32, lr=0.02, channels=4, cells=2, resolution=8)
LOSS_RTOL = 2e-5
"""Float rounding (a grouped convolution or the fused classifier sums in another order) moves losses by about 1e-7
per step; at lr 0.1 training amplifies it (1e-5 after 8 steps, measured), at this lr it stays near 1e-7."""

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy() -> data.DatasetSplits:
    return data.synthetic(num_classes=10, n_train=128, n_eval=128, resolution=8, seed=0)


def _alone(arch: str, toy: data.DatasetSplits, seed: int) -> tuple[list[float], train.TrainResult]:
    losses: list[float] = []
    result = train.train(arch, TINY, toy, progress=lambda e, loss, acc: losses.append(loss), seed=seed, device="cpu")
    return losses, result


def test_each_arch_of_a_group_trains_as_it_does_alone(toy) -> None:
    group_losses: list[np.ndarray] = []
    results = fast_train.train_group(
        ARCHS, TINY, toy, progress=lambda e, losses, acc: group_losses.append(losses), seed=5, device="cpu"
    )
    assert len(results) == len(ARCHS) and len(group_losses) == TINY.epochs
    for position, arch in enumerate(ARCHS):
        losses, alone = _alone(arch, toy, seed=5)
        np.testing.assert_allclose([epoch[position] for epoch in group_losses], losses, rtol=LOSS_RTOL)
        assert abs(results[position].score - alone.score) <= 100 / len(toy["x-valid"])  # one image at most
        assert results[position].macs == alone.macs and results[position].eval_macs == alone.eval_macs
    other_seed, _ = _alone(ARCHS[0], toy, seed=6)  # the tolerance can fail: another seed is far outside it
    assert not np.allclose([epoch[0] for epoch in group_losses], other_seed, rtol=LOSS_RTOL)


def test_a_group_member_trains_the_same_in_a_smaller_group(toy) -> None:
    def losses_of(archs: tuple[str, ...]) -> np.ndarray:
        seen: list[np.ndarray] = []
        progress = lambda e, losses, a: seen.append(losses)  # noqa: E731
        fast_train.train_group(archs, TINY, toy, "x-valid", progress, seed=1, device="cpu", record_curve=False)
        return np.array(seen)

    np.testing.assert_allclose(losses_of(ARCHS[:3])[:, 1], losses_of(ARCHS[1:2])[:, 0], rtol=LOSS_RTOL)


def test_fused_forward_equals_each_network_alone() -> None:
    networks = []
    for arch in ARCHS:
        torch.manual_seed(0)
        networks.append(network.build(arch, channels=4, cells=2, num_classes=10).eval())
    fused = fast_train.FusedNetwork(networks).eval().to(memory_format=torch.channels_last)
    x = torch.randn(8, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        logits = fused(x)
        expected = torch.stack([net(x) for net in networks], dim=1)
        plain = fast_train.FusedNetwork(networks).eval()(x.contiguous())  # any memory format gives the same
    assert logits.shape == (8, len(ARCHS), 10)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(plain, expected, rtol=1e-5, atol=1e-5)
    n_conv = sum(1 for module in fused.modules() if isinstance(module, torch.nn.Conv2d))
    assert n_conv < sum(1 for net in networks for module in net.modules() if isinstance(module, torch.nn.Conv2d))


def test_an_arch_gone_nan_leaves_the_others_untouched() -> None:
    torch.manual_seed(0)
    fused = fast_train.build_group(ARCHS[:3], channels=4, cells=1, num_classes=10, seed=0)
    with torch.no_grad():
        fused.weight[1].fill_(math.nan)
        for module in fused.modules():  # the BN of arch 1 in every stem-wide layer
            if isinstance(module, torch.nn.BatchNorm2d) and module.num_features == 3 * 4:
                module.weight[4:8] = math.nan
    x = torch.randn(16, 3, 8, 8)
    logits = fused(x)
    losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), torch.zeros(16, 3, dtype=torch.int64),
                                               reduction="none").mean(0)  # fmt: skip
    losses.sum().backward()
    assert torch.isnan(logits[:, 1]).all() and torch.isfinite(logits[:, [0, 2]]).all()
    assert torch.isfinite(fused.weight.grad[[0, 2]]).all() and torch.isfinite(fused.stem[0].weight.grad[:4]).all()


@pytest.mark.parametrize(
    ("archs", "changes", "match"),
    [
        ((), {}, "arch_strs"),
        (ARCHS[0], {}, "arch_strs"),
        (ARCHS[:1], {"precision": "fp16"}, "precision"),
        (("|bogus~0|",), {}, "bogus"),
    ],
)
def test_bad_groups_are_rejected(toy, archs, changes, match) -> None:
    bpe = train.BPE(**(TINY.to_dict() | changes))
    with pytest.raises(ValueError, match=match):
        fast_train.train_group(archs, bpe, toy, device="cpu")


def test_bf16_group_trains_on_cpu(toy) -> None:
    bpe = train.BPE(**(TINY.to_dict() | {"precision": "bf16", "epochs": 1}))
    results = fast_train.train_group(ARCHS[:2], bpe, toy, device="cpu")
    assert all(0 <= r.score <= 100 and not r.failed for r in results)


@pytest.mark.parametrize(
    ("name", "precision", "tf32", "peak", "kind"),
    [
        ("NVIDIA H200", "bf16", True, 989.4e12, "bf16"),
        ("NVIDIA H200", "fp32", True, 494.7e12, "tf32"),
        ("NVIDIA H100 PCIe", "fp32", False, 51e12, "fp32"),
        ("NVIDIA A100-SXM4-80GB", "bf16", True, 312e12, "bf16"),
        ("NVIDIA GeForce GTX 1080 Ti", "bf16", False, math.nan, "unknown"),
        ("cpu", "fp32", False, math.nan, "unknown"),
    ],
)
def test_peaks_by_device_name(name, precision, tf32, peak, kind) -> None:
    found, found_kind = fast_train.peak_flops(name, precision, tf32)
    assert found_kind == kind and (found == peak or (math.isnan(found) and math.isnan(peak)))


def test_throughput_rows_are_consistent(toy) -> None:
    rows = fast_train.measure_throughput(ARCHS, TINY, toy, ks=[1, 3], steps=2, warmup=1, device="cpu")
    assert [(row.k, row.mode) for row in rows] == [(1, "fused"), (1, "alone"), (3, "fused"), (3, "alone")]
    assert not any(row.error for row in rows)
    steps_per_epoch = math.ceil(len(toy.train) / TINY.batch_size)
    for row in rows:
        assert row.seconds_per_step > 0 and row.peak_kind == "unknown" and math.isnan(row.fraction_of_peak)
        assert row.images_per_second == pytest.approx(row.k * TINY.batch_size / row.seconds_per_step)
        assert row.seconds_per_arch_epoch == pytest.approx(row.seconds_per_step * steps_per_epoch / row.k)
    assert rows[3].seconds_per_step > rows[1].seconds_per_step  # three archs alone take longer than the first alone
    forward = sum(network.flops(a, 4, 2, 10, 8) for a in ARCHS[:3]) * 1e6
    for row in rows[2:]:
        assert row.macs_per_second == pytest.approx(forward * 3 * TINY.batch_size / row.seconds_per_step)
    with pytest.raises(ValueError, match="group sizes"):
        fast_train.measure_throughput(ARCHS, TINY, toy, ks=[5], device="cpu")
    with pytest.raises(ValueError, match="modes"):
        fast_train.measure_throughput(ARCHS, TINY, toy, ks=[1], modes=("streams",), device="cpu")
