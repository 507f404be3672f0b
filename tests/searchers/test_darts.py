"""DARTS under NB201's setting: the defaults, the step order, alpha on x-valid and weights on train, the Nesterov
virtual step of V2, all on tiny synthetic searches."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import searchers
from harness import data, space
from harness.train import BPE, device_label
from searchers import darts
from searchers.base import Problem
from searchers.darts import DartsConfig, SuperNet, _Step

ARCHS = space.all_arch_strings_by_code()
TINY = DartsConfig(
    BPE(epochs=1, batch_size=16, channels=4, cells=1, resolution=8, lr=0.025), synthetic=32, device="cpu"
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _search(config: DartsConfig = TINY, name: str = "darts-v1", seed: int = 0):
    return searchers.create(name, config=config).search(Problem("cifar10-valid", 600.0, ARCHS), seed)


def test_defaults_are_nb201s_darts_setting() -> None:
    config = DartsConfig()
    train = config.train
    assert (train.epochs, train.batch_size, train.lr, train.channels, train.cells) == (50, 64, 0.025, 16, 5)
    assert (train.fraction, train.resolution) == (1.0, 32)
    optimiser = (config.lr_min, config.momentum, config.nesterov, config.weight_decay, config.grad_clip)
    assert optimiser == (0.001, 0.9, True, 5e-4, 5.0)
    assert (config.arch_lr, config.arch_betas, config.arch_weight_decay) == (3e-4, (0.5, 0.999), 1e-3)
    assert config.to_dict()["nesterov"] is True and config.to_dict()["weight_decay"] == 5e-4
    step = _Step(config, SuperNet(4, 1, 10), torch.nn.Parameter(torch.zeros(6, 5)))
    group = step.w_opt.param_groups[0]
    assert (group["nesterov"], group["momentum"], group["weight_decay"]) == (True, 0.9, 5e-4)


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"nesterov": 1}, "nesterov"), ({"momentum": 0.0}, "nesterov"), ({"synthetic": -1}, "synthetic")],
)
def test_config_rejects_bad_values_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"DartsConfig\.{field} = .* is invalid"):
        DartsConfig(**changes)


def test_architecture_step_comes_before_the_weight_step(monkeypatch) -> None:
    calls: list[str] = []
    arch_step, weight_step = _Step.arch_step, _Step.weight_step

    def record_arch(self, *args):
        calls.append("arch")
        return arch_step(self, *args)

    def record_weight(self, *args):
        calls.append("weight")
        return weight_step(self, *args)

    monkeypatch.setattr(_Step, "arch_step", record_arch)
    monkeypatch.setattr(_Step, "weight_step", record_weight)
    for name in ("darts-v1", "darts-v2"):
        calls.clear()
        result = _search(name=name)
        assert calls == ["arch", "weight"] * 2, name  # 32 train images / batch 16 = 2 steps
        assert result.device == device_label("cpu") and (result.trajectory.trial == -1).all()


def _marked_splits(value_train: int, value_valid: int):
    """A synthetic stand-in whose train images are all `value_train` and x-valid images all `value_valid`."""
    real = data.synthetic

    def fake(num_classes: int, n_train: int, n_eval: int, resolution: int, seed: int) -> data.DatasetSplits:
        splits = real(num_classes, n_train=n_train, n_eval=n_eval, resolution=resolution, seed=seed)
        train = data.Split(torch.full_like(splits.train.images, value_train), splits.train.labels)
        valid = splits["x-valid"]
        evals = dict(splits.evals) | {"x-valid": data.Split(torch.full_like(valid.images, value_valid), valid.labels)}
        return data.DatasetSplits("marked", train, evals, num_classes, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))

    return fake


def test_alphas_learn_on_x_valid_and_weights_on_train(monkeypatch) -> None:
    monkeypatch.setattr(data, "synthetic", _marked_splits(0, 255))  # normalised: train -2, x-valid +2 (padding -2)
    seen: dict[str, list[torch.Tensor]] = {"arch": [], "weight": [], "virtual": []}
    arch_step, weight_step = _Step.arch_step, _Step.weight_step

    def record_arch(self, x_train, y_train, x_val, y_val):
        seen["virtual"].append(x_train)
        seen["arch"].append(x_val)
        return arch_step(self, x_train, y_train, x_val, y_val)

    def record_weight(self, x, y):
        seen["weight"].append(x)
        return weight_step(self, x, y)

    monkeypatch.setattr(_Step, "arch_step", record_arch)
    monkeypatch.setattr(_Step, "weight_step", record_weight)
    _search(name="darts-v2")
    assert len(seen["arch"]) == len(seen["weight"]) == 2
    for x in seen["weight"] + seen["virtual"]:
        torch.testing.assert_close(x, torch.full_like(x, -2.0))  # only train images (zero padding is black too)
    for x in seen["arch"]:
        white, black = torch.isclose(x, torch.tensor(2.0)), torch.isclose(x, torch.tensor(-2.0))
        assert white.float().mean() > 0.6 and bool((white | black).all())  # x-valid images, some padding


def test_both_splits_are_cut_by_fraction_with_separate_draws() -> None:
    config = replace(TINY, train=replace(TINY.train, fraction=0.5), synthetic=40)
    splits, arch_split = darts._load("cifar10-valid", config, seed=3)
    assert len(splits.train) == len(arch_split) == 20
    assert np.bincount(arch_split.labels.numpy(), minlength=10).tolist() == [2] * 10  # class-balanced
    full = data.synthetic(10, n_train=40, n_eval=40, resolution=8, seed=3)
    valid = full["x-valid"]
    kept = [int(np.flatnonzero((valid.images == image).flatten(1).all(1))[0]) for image in arch_split.images]
    expected = data.balanced_subset(valid.labels.numpy(), 0.5, np.random.default_rng([3, 1]))
    assert sorted(kept) == expected.tolist()
    whole, whole_valid = darts._load("cifar10-valid", TINY, seed=0)
    assert len(whole.train) == len(whole_valid) == 32  # synthetic: as many x-valid images as train images


def test_virtual_step_is_the_optimisers_nesterov_step() -> None:
    torch.manual_seed(0)
    for nesterov in (True, False):
        config = replace(TINY, nesterov=nesterov)
        model = SuperNet(4, 1, 3)
        step = _Step(config, model, torch.nn.Parameter(1e-3 * torch.randn(6, 5)))
        x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
        step.weight_step(x, y)  # fills the momentum buffers
        grads = torch.autograd.grad(F.cross_entropy(model(x, step.alphas.detach()), y), step.weights)
        real = copy.deepcopy(step)
        for w, g in zip(real.weights, grads, strict=True):
            w.grad = g.clone()
        real.w_opt.step()
        step.virtual_step(grads)
        for virtual, stepped in zip(step.weights, real.weights, strict=True):
            torch.testing.assert_close(virtual, stepped, rtol=1e-5, atol=1e-7)
