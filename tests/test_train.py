"""The training loop: config validation, batched augmentation, schedule, determinism, failure handling, costs."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness import data, network, train

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
TINY = train.TrainConfig(epochs=3, batch_size=64, channels=8, cells=1, resolution=16, device="cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks gain nothing from intra-op threads, and spinning threads stall on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy() -> data.DatasetSplits:
    return data.synthetic(num_classes=10, n_train=512, n_eval=256, resolution=16, seed=0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"lr": -0.1}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"channels": True}, "channels"),
        ({"cells": 0}, "cells"),
        ({"resolution": 30}, "resolution"),
        ({"resolution": 4}, "resolution"),
        ({"fraction": 1.5}, "fraction"),
        ({"cutout": 40}, "cutout"),
        ({"precision": "fp8"}, "precision"),
        ({"seed": -1}, "seed"),
        ({"device": "gpu0"}, "device"),
        ({"precision": "fp16", "device": "cpu"}, "precision"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"TrainConfig\.{field} = .* must be"):
        train.TrainConfig(**changes)


def test_config_defaults_are_nb201s_protocol() -> None:
    config = train.TrainConfig()
    assert (config.epochs, config.batch_size, config.lr, config.channels, config.cells) == (200, 256, 0.1, 16, 5)
    assert (config.resolution, config.fraction, config.cutout, config.precision) == (32, 1.0, 0, "fp32")
    with pytest.raises(AttributeError):
        config.epochs = 1  # type: ignore[misc]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback of device='auto'")
def test_fp16_on_cpu_is_refused_at_train_time(toy: data.DatasetSplits) -> None:
    with pytest.raises(ValueError, match="fp16 autocast needs CUDA"):
        train.train(ARCH, replace(TINY, precision="fp16", device="auto"), toy)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when CUDA is missing")
def test_cuda_device_without_cuda_is_a_clear_error(toy: data.DatasetSplits) -> None:
    with pytest.raises(ValueError, match=r"TrainConfig\.device = 'cuda'.*not available"):
        train.train(ARCH, replace(TINY, device="cuda"), toy)


def test_cosine_schedule_runs_from_lr_to_zero() -> None:
    assert train.cosine_lr(0.1, 0, 100) == 0.1
    assert train.cosine_lr(0.1, 50, 100) == pytest.approx(0.05)
    assert train.cosine_lr(0.1, 99, 100) == pytest.approx(0.1 * (1 + math.cos(math.pi * 0.99)) / 2)
    values = [train.cosine_lr(0.1, t, 100) for t in range(100)]
    assert all(a > b for a, b in itertools.pairwise(values)) and values[-1] < 3e-5


def _windows(padded: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Every crop of `padded` (H, W, 3) and its mirror image."""
    span = padded.shape[0] - size + 1
    crops = [padded[y : y + size, x : x + size] for y in range(span) for x in range(span)]
    return crops + [c.flip(1) for c in crops]


def test_random_crop_flip_returns_padded_windows_with_both_flips_and_all_offsets() -> None:
    images = torch.randint(0, 256, (6, 8, 8, 3), dtype=torch.uint8)
    index = torch.tensor([5, 0, 3] * 60)
    out = train.random_crop_flip(images, index, pad=1, generator=torch.Generator().manual_seed(0))
    assert out.shape == (180, 8, 8, 3) and out.dtype == torch.uint8
    seen = set()
    for i, source in enumerate(index.tolist()):
        windows = _windows(F.pad(images[source], (0, 0, 1, 1, 1, 1)), 8)
        matches = [k for k, w in enumerate(windows) if torch.equal(w, out[i])]
        assert matches, f"output {i} is not a (flipped) crop of image {source}"
        seen.add(matches[0])
    assert len(seen) == 18  # 9 offsets x 2 flips all drawn


def test_random_crop_flip_is_seeded_and_identity_shaped_without_padding() -> None:
    images = torch.randint(0, 256, (4, 6, 6, 3), dtype=torch.uint8)
    index = torch.arange(4).repeat(20)
    a = train.random_crop_flip(images, index, 2, torch.Generator().manual_seed(7))
    b = train.random_crop_flip(images, index, 2, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    plain = train.random_crop_flip(images, index, 0, torch.Generator().manual_seed(1))
    for i, source in enumerate(index.tolist()):
        assert torch.equal(plain[i], images[source]) or torch.equal(plain[i], images[source].flip(1))


def test_cutout_zeroes_one_clipped_square_per_image() -> None:
    x = torch.ones(200, 2, 10, 10)
    out = train.cutout(x, 4, torch.Generator().manual_seed(0))
    holes = (out == 0).all(dim=1)
    assert torch.equal((out == 0).any(dim=1), holes)  # same pixels in every channel
    sizes = holes.sum(dim=(1, 2))
    assert sizes.max() == 16 and sizes.min() >= 4 and (sizes == 16).float().mean() > 0.3
    for hole in holes:
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        assert hole.sum() == len(rows) * len(cols)  # a rectangle
        assert rows.max() - rows.min() + 1 == len(rows) and cols.max() - cols.min() + 1 == len(cols)


def test_normalizer_matches_per_channel_formula() -> None:
    images = torch.randint(0, 256, (3, 4, 5, 3), dtype=torch.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    out = train.Normalizer(mean, std, torch.device("cpu"))(images)
    expected = (images.permute(0, 3, 1, 2).float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(
        std
    ).view(1, 3, 1, 1)
    torch.testing.assert_close(out, expected)
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_training_learns_and_accounts_costs(toy: data.DatasetSplits) -> None:
    seen: list[tuple[int, float, float]] = []
    result = train.train(ARCH, TINY, toy, progress=lambda *args: seen.append(args))
    assert not result.failed and result.reason == ""
    assert result.curve.shape == (3,) and result.score == result.curve[-1]
    assert result.score > 50  # chance is 10 %
    assert [s[0] for s in seen] == [1, 2, 3] and seen[-1][1] < seen[0][1]  # loss falls
    assert result.macs == pytest.approx(network.flops(ARCH, 8, 1, 10, 16) * 1e6 * 512 * 3 * 3)
    assert result.train_seconds > 0 and result.eval_seconds > 0


def test_same_seed_gives_an_identical_curve(toy: data.DatasetSplits) -> None:
    config = replace(TINY, epochs=2, cutout=4, fraction=0.5)
    first, second = train.train(ARCH, config, toy), train.train(ARCH, config, toy)
    np.testing.assert_array_equal(first.curve, second.curve)
    images = len(toy.subsample(0.5, seed=0).train)  # class-balanced half
    assert abs(images - 256) <= 10
    assert first.macs == pytest.approx(network.flops(ARCH, 8, 1, 10, 16) * 1e6 * images * 2 * 3)


def test_global_rng_is_left_alone(toy: data.DatasetSplits) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train.train(ARCH, replace(TINY, epochs=1), toy)
    assert torch.equal(torch.rand(3), expected)


def test_non_finite_loss_fails_the_run_without_raising(toy: data.DatasetSplits) -> None:
    result = train.train(ARCH, replace(TINY, lr=1e8), toy)
    assert result.failed and math.isnan(result.score)
    assert "non-finite training loss" in result.reason
    assert np.isnan(result.curve).all()


def test_curve_can_be_skipped_and_other_splits_scored(toy: data.DatasetSplits) -> None:
    result = train.train(ARCH, replace(TINY, epochs=2), toy, eval_split="ori-test", record_curve=False)
    assert np.isnan(result.curve[0]) and result.score == result.curve[1]
    assert 0 <= result.score <= 100
    with pytest.raises(ValueError, match="no split 'test'"):
        train.train(ARCH, TINY, toy, eval_split="test")


def test_bf16_autocast_on_cpu_and_lower_resolution(toy: data.DatasetSplits) -> None:
    result = train.train(ARCH, replace(TINY, epochs=1, precision="bf16", resolution=8), toy)
    assert not result.failed and 0 <= result.score <= 100
    assert result.macs == pytest.approx(network.flops(ARCH, 8, 1, 10, 8) * 1e6 * 512 * 3)
