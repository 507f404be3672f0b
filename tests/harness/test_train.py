"""The training loop: config validation, batched augmentation, schedule, determinism, failure handling, costs,
the evaluation subset and the device label."""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness import data, network, train

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
TINY = train.BPE(epochs=3, batch_size=64, channels=8, cells=1, resolution=16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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
        ({"lr_schedule": "cosine"}, "lr_schedule"),
        ({"channels": True}, "channels"),
        ({"cells": 0}, "cells"),
        ({"resolution": 30}, "resolution"),
        ({"resolution": 4}, "resolution"),
        ({"fraction": 1.5}, "fraction"),
        ({"cutout": 40}, "cutout"),
        ({"eval_images": -1}, "eval_images"),
        ({"eval_images": 2.5}, "eval_images"),
        ({"precision": "fp8"}, "precision"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"BPE\.{field} = .* must be"):
        train.BPE(**changes)


@pytest.mark.parametrize(
    ("bpe", "run", "message"),
    [
        (TINY, {"seed": -1}, r"seed = -1 is invalid: must be an int in 0\.\.4294967295"),
        (TINY, {"seed": 2**70}, r"seed = 1180591620717411303424 is invalid: must be an int in 0\.\.4294967295"),
        (TINY, {"device": "gpu0"}, r"device = 'gpu0' is invalid: must be 'auto' or a torch device"),
        (replace(TINY, precision="fp16"), {"device": "cpu"}, r"BPE\.precision = 'fp16' .*fp16 autocast needs CUDA"),
    ],
)
def test_run_rejects_a_bad_seed_or_device(bpe: train.BPE, run: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        train.check_run(bpe, **run)


def test_every_field_has_help_and_a_rule_that_check_field_applies() -> None:
    for spec in dataclasses.fields(train.BPE):
        assert spec.metadata["help"] and spec.metadata["rule"].allowed
        train.check_field(spec.name, spec.default)
    with pytest.raises(ValueError, match=r"BPE\.resolution = 10 is invalid: must be an int >= 8 and a multiple of 4"):
        train.check_field("resolution", 10)
    with pytest.raises(ValueError, match="unknown BPE field 'width'"):
        train.rule("width")


def test_config_defaults_are_nb201s_protocol() -> None:
    config = train.BPE()
    assert (config.epochs, config.batch_size, config.lr, config.channels, config.cells) == (200, 256, 0.1, 16, 5)
    assert (config.resolution, config.fraction, config.cutout, config.precision) == (32, 1.0, 0, "fp32")
    assert (config.lr_schedule, config.eval_images) == ("epoch", 0)
    with pytest.raises(AttributeError):
        config.epochs = 1  # type: ignore[misc]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback of device='auto'")
def test_fp16_on_cpu_is_refused_at_train_time(toy: data.DatasetSplits) -> None:
    with pytest.raises(ValueError, match="fp16 autocast needs CUDA"):
        train.train(ARCH, replace(TINY, precision="fp16"), toy, device="auto")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when CUDA is missing")
def test_cuda_device_without_cuda_is_a_clear_error(toy: data.DatasetSplits) -> None:
    with pytest.raises(ValueError, match=r"device = 'cuda'.*not available"):
        train.train(ARCH, TINY, toy, device="cuda")


def test_cosine_schedule_runs_from_lr_to_zero() -> None:
    assert train.cosine_lr(0.1, 0, 100) == 0.1
    assert train.cosine_lr(0.1, 50, 100) == pytest.approx(0.05)
    assert train.cosine_lr(0.1, 99, 100) == pytest.approx(0.1 * (1 + math.cos(math.pi * 0.99)) / 2)
    values = [train.cosine_lr(0.1, t, 100) for t in range(100)]
    assert all(a > b for a, b in itertools.pairwise(values)) and values[-1] < 3e-5


def _learning_rates(monkeypatch: pytest.MonkeyPatch, toy: data.DatasetSplits, config: train.BPE) -> list:
    """The learning rate of every optimiser step of a run under `config`."""
    seen: list[float] = []
    step = torch.optim.SGD.step

    def recording(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", recording)
    train.train(ARCH, config, toy, device="cpu", record_curve=False)
    return seen


def test_default_schedule_steps_once_per_epoch_as_nb201(monkeypatch, toy: data.DatasetSplits) -> None:
    config = replace(TINY, epochs=2)
    assert config.lr_schedule == "epoch"
    steps = 512 // 64  # per epoch
    assert _learning_rates(monkeypatch, toy, config) == pytest.approx([0.1] * steps + [0.05] * steps)
    three = _learning_rates(monkeypatch, toy, replace(TINY, epochs=3))
    expected = [0.1 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)]
    assert three == pytest.approx([lr for lr in expected for _ in range(steps)])
    assert _learning_rates(monkeypatch, toy, replace(TINY, epochs=1)) == pytest.approx([0.1] * steps)


def test_step_schedule_anneals_within_the_epoch(monkeypatch, toy: data.DatasetSplits) -> None:
    rates = _learning_rates(monkeypatch, toy, replace(TINY, epochs=2, lr_schedule="step"))
    assert len(rates) == 16 and rates[0] == 0.1
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert rates == pytest.approx([train.cosine_lr(0.1, t, 16) for t in range(16)])


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
    result = train.train(ARCH, TINY, toy, device="cpu", progress=lambda *args: seen.append(args))
    assert not result.failed and result.reason == ""
    assert result.curve.shape == (3,) and result.score == result.curve[-1]
    assert result.score > 50  # chance is 10 %
    assert [s[0] for s in seen] == [1, 2, 3] and seen[-1][1] < seen[0][1]  # loss falls
    forward = network.flops(ARCH, 8, 1, 10, 16) * 1e6
    assert result.macs == pytest.approx(forward * 512 * 3 * 3)
    assert result.eval_macs == pytest.approx(forward * 256 * 3)  # the 256 x-valid images after each of 3 epochs
    assert result.train_seconds > 0 and result.eval_seconds > 0


def test_same_seed_gives_an_identical_curve(toy: data.DatasetSplits) -> None:
    config = replace(TINY, epochs=2, cutout=4, fraction=0.5)
    first, second = train.train(ARCH, config, toy, device="cpu"), train.train(ARCH, config, toy, device="cpu")
    np.testing.assert_array_equal(first.curve, second.curve)
    images = len(toy.subsample(0.5, seed=0).train)  # class-balanced half
    assert abs(images - 256) <= 10
    assert first.macs == pytest.approx(network.flops(ARCH, 8, 1, 10, 16) * 1e6 * images * 2 * 3)


def test_global_rng_is_left_alone(toy: data.DatasetSplits) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train.train(ARCH, replace(TINY, epochs=1), toy, device="cpu")
    assert torch.equal(torch.rand(3), expected)


def test_non_finite_loss_fails_the_run_without_raising(toy: data.DatasetSplits) -> None:
    result = train.train(ARCH, replace(TINY, lr=1e8), toy, device="cpu")
    assert result.failed and math.isnan(result.score)
    assert "non-finite training loss" in result.reason
    assert np.isnan(result.curve).all()


def test_curve_can_be_skipped_and_other_splits_scored(toy: data.DatasetSplits) -> None:
    result = train.train(ARCH, replace(TINY, epochs=2), toy, device="cpu", eval_split="ori-test", record_curve=False)
    assert np.isnan(result.curve[0]) and result.score == result.curve[1]
    assert 0 <= result.score <= 100
    assert result.eval_macs == pytest.approx(network.flops(ARCH, 8, 1, 10, 16) * 1e6 * 512)  # ori-test, once
    with pytest.raises(ValueError, match="no split 'test'"):
        train.train(ARCH, TINY, toy, device="cpu", eval_split="test")


def test_bf16_autocast_on_cpu_and_lower_resolution(toy: data.DatasetSplits) -> None:
    result = train.train(ARCH, replace(TINY, epochs=1, precision="bf16", resolution=8), toy, device="cpu")
    assert not result.failed and 0 <= result.score <= 100
    assert result.macs == pytest.approx(network.flops(ARCH, 8, 1, 10, 8) * 1e6 * 512 * 3)


def test_eval_subset_is_class_balanced_fixed_and_of_the_size_asked() -> None:
    labels = np.repeat(np.arange(10), 30)[np.random.default_rng(1).permutation(300)]
    first = train.eval_subset(labels, 45)
    assert len(first) == len(set(first.tolist())) == 45 and np.all(np.diff(first) > 0)
    counts = np.bincount(labels[first], minlength=10)
    assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(train.eval_subset(labels, 45), first)
    assert set(first.tolist()) <= set(train.eval_subset(labels, 100).tolist())  # a larger subset extends it
    np.testing.assert_array_equal(train.eval_subset(labels, 300), np.arange(300))


def test_eval_images_scores_the_same_subset_for_every_run_seed(monkeypatch, toy: data.DatasetSplits) -> None:
    scored: list[data.Split] = []
    evaluate = train._Loop.evaluate

    def recording(self, split: data.Split) -> float:
        scored.append(split)
        return evaluate(self, split)

    monkeypatch.setattr(train._Loop, "evaluate", recording)
    forward = network.flops(ARCH, 8, 1, 10, 16) * 1e6
    runs = {}
    for seed, size in ((0, 64), (1, 64), (0, 128)):
        config = replace(TINY, epochs=1, eval_images=size)
        runs[seed, size] = train.train(ARCH, config, toy, seed=seed, device="cpu", record_curve=False)
        assert runs[seed, size].eval_macs == pytest.approx(forward * size)
    assert [len(s) for s in scored] == [64, 64, 128]
    assert torch.equal(scored[0].images, scored[1].images) and torch.equal(scored[0].labels, scored[1].labels)
    assert runs[0, 128].eval_macs == pytest.approx(2 * runs[0, 64].eval_macs)
    with pytest.raises(ValueError, match=r"BPE\.eval_images = 300 is invalid: must be at most the 256"):
        train.train(ARCH, replace(TINY, eval_images=300), toy, device="cpu")


def test_device_label_names_the_device_and_resolves_auto() -> None:
    cpu = train.device_label("cpu")
    assert cpu.startswith("cpu (") and cpu.endswith(" cores)")
    if torch.cuda.is_available():
        assert train.device_label("auto").startswith("cuda (")
    else:
        assert train.device_label("auto") == cpu


def test_divergence_is_an_explosion_of_the_loss_or_a_run_that_ends_at_chance_without_learning() -> None:
    from harness.train import at_chance, exploded

    assert exploded([2.3, 1.9, float("nan")]).startswith("diverged: non-finite")
    assert "over 10x epoch 1's" in exploded([2.3, 4e25])
    assert exploded([2.3, 2.0, 22.0]) == "" and exploded([2.3, 24.0]) != ""
    assert exploded([1e9]) == ""  # one epoch: nothing to compare with
    assert "chance accuracy" in at_chance([2.30, 2.31, 2.35], 10.0, 10)
    assert at_chance([2.30, 2.10], 10.0, 10) == ""  # the loss fell: a weak run, not a diverged one
    assert at_chance([2.30, 2.31], 35.0, 10) == ""  # above chance
    assert at_chance([2.30], 10.0, 10) == ""  # one epoch


def test_a_run_at_lr_50_is_recorded_as_diverged(one_torch_thread) -> None:
    from harness.data import synthetic
    from harness.train import BPE, train

    config = BPE.from_preset("cpu-tiny", epochs=3, lr=50.0)
    result = train("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
                   config, synthetic(num_classes=10), seed=0, device="cpu", record_curve=False)  # fmt: skip
    assert result.failed and np.isnan(result.score)
    assert result.reason.startswith("diverged:")
