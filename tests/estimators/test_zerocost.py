"""Zero-cost proxies: definitions checked by hand on toy models, determinism, data-freeness, the estimators, and
agreement with NASLib's reference scores on real archs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import estimators
from estimators import zerocost
from harness import data, metrics, network, paths
from harness.estimation import Execution
from harness.train import device_label

TINY = {"channels": 4, "cells": 1}
QUIET = Execution(progress=False)
ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
DISCONNECTED = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"
ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def synthetic_batch(seed: int, size: int = 16) -> zerocost.Batch:
    splits = data.synthetic(num_classes=10, n_train=64, n_eval=4, resolution=8, seed=seed)
    return zerocost.batch_from_split(splits.train, splits.mean, splits.std, splits.num_classes, size, seed)


@pytest.fixture(scope="module")
def batch() -> zerocost.Batch:
    return synthetic_batch(0)


@pytest.mark.parametrize("proxy", zerocost.PROXIES)
def test_each_proxy_is_finite_and_deterministic_for_a_seed(proxy: str, batch: zerocost.Batch) -> None:
    first = zerocost.score(ARCH, [proxy], batch, seed=3, **TINY)[proxy]
    again = zerocost.score(ARCH, [proxy], batch, seed=3, **TINY)[proxy]
    other_seed = zerocost.score(ARCH, [proxy], batch, seed=4, **TINY)[proxy]
    assert np.isfinite(first)
    assert first == again
    assert first != other_seed


def test_proxies_computed_together_equal_proxies_computed_alone(batch: zerocost.Batch) -> None:
    together = zerocost.score(ARCH, zerocost.PROXIES, batch, seed=0, **TINY)
    for proxy in zerocost.PROXIES:
        alone = zerocost.score(ARCH, [proxy], batch, seed=0, **TINY)[proxy]
        assert together[proxy] == pytest.approx(alone, rel=1e-4), proxy


def test_scoring_leaves_the_global_random_state_alone(batch: zerocost.Batch) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    zerocost.score(ARCH, ["snip"], batch, seed=0, **TINY)
    assert torch.equal(torch.rand(3), expected)


def test_synflow_does_not_depend_on_the_data(batch: zerocost.Batch) -> None:
    other = synthetic_batch(seed=9, size=8)
    with_batch = zerocost.score(ARCH, ["synflow"], batch, **TINY)["synflow"]
    assert zerocost.score(ARCH, ["synflow"], other, **TINY)["synflow"] == with_batch
    assert zerocost.score(ARCH, ["synflow"], None, num_classes=10, resolution=8, **TINY)["synflow"] == with_batch


def test_synflow_exceeds_float32_range_at_nb201_size_and_stays_finite() -> None:
    value = zerocost.score(ALL_CONV3, ["synflow"], None, num_classes=10, resolution=32)["synflow"]
    assert float(np.finfo(np.float32).max) < value < np.inf


def test_proxies_of_a_network_whose_output_ignores_the_input(batch: zerocost.Batch) -> None:
    values = zerocost.score(DISCONNECTED, zerocost.PROXIES, batch, **TINY)
    assert values["synflow"] == values["snip"] == values["grasp"] == values["grad_norm"] == 0
    assert np.isnan(values["jacob_cov"])
    assert values["naswot"] == -np.inf
    assert values["fisher"] >= 0


def toy_batch(n: int = 6, classes: int = 3, seed: int = 0) -> zerocost.Batch:
    gen = torch.Generator().manual_seed(seed)
    return zerocost.Batch(torch.randn(n, 3, 2, 2, generator=gen), torch.arange(n) % classes, classes)


def test_gradient_proxies_match_their_definitions_on_a_linear_model() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    batch = toy_batch()
    values = zerocost.batch_proxies(model, batch, {"snip", "grad_norm", "grasp", "fisher"})

    weight, bias = model[1].weight.detach(), model[1].bias.detach()
    x = batch.images.flatten(1)

    def loss_of(w: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(F.linear(x, w.view(3, 12), bias), batch.labels)

    flat = weight.flatten().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_of(flat), flat)
    hessian = torch.autograd.functional.hessian(loss_of, weight.flatten())
    logits = F.linear(x, weight, bias).requires_grad_(True)
    (logit_grad,) = torch.autograd.grad(F.cross_entropy(logits, batch.labels), logits)
    fisher = (0.5 * (logits.detach() * logit_grad).pow(2).mean(0)).sum() * 12

    assert values["snip"] == pytest.approx(float((weight.flatten() * grad).abs().sum()), rel=1e-5)
    assert values["grad_norm"] == pytest.approx(float(grad.norm()), rel=1e-5)
    assert values["grasp"] == pytest.approx(float(-(weight.flatten() * (hessian @ grad)).sum()), rel=1e-4)
    assert values["fisher"] == pytest.approx(float(fisher), rel=1e-5)


def test_jacob_cov_is_minus_n_for_uncorrelated_jacobians_and_never_above() -> None:
    n = 8
    centred = torch.randn(64, n, dtype=torch.float64)
    uncorrelated = torch.linalg.qr(centred - centred.mean(0)).Q.T  # orthogonal rows with zero mean
    random_rows = torch.randn(n, 48, dtype=torch.float64)
    collinear = torch.randn(1, 48, dtype=torch.float64) + 1e-3 * torch.randn(n, 48, dtype=torch.float64)
    assert zerocost.jacob_cov_score(uncorrelated) == pytest.approx(-n, rel=1e-4)
    assert zerocost.jacob_cov_score(random_rows) <= -n
    assert zerocost.jacob_cov_score(collinear) < zerocost.jacob_cov_score(random_rows)
    assert np.isnan(zerocost.jacob_cov_score(torch.ones(n, 5)))


def test_naswot_kernel_counts_units_on_which_two_images_agree() -> None:
    outputs = torch.randn(5, 2, 3, 3)
    agreement = zerocost._Agreement(5)
    agreement.add(nn.ReLU(), (outputs,), outputs)
    agreement.add(nn.ReLU(), (outputs[:, :1],), outputs[:, :1])
    codes = [(o.flatten(1) > 0).numpy() for o in (outputs, outputs[:, :1])]
    expected = sum((c[:, None, :] == c[None, :, :]).sum(-1) for c in codes)
    np.testing.assert_array_equal(agreement.kernel, expected)
    assert agreement.logdet() == pytest.approx(np.linalg.slogdet(expected.astype(float))[1])


def test_naswot_is_higher_for_more_distinct_activation_patterns() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 256), nn.ReLU(), nn.Linear(256, 3))
    distinct = toy_batch(n=8, seed=1)
    base = distinct.images[:1]
    similar = zerocost.Batch(base + 0.05 * torch.randn(8, 3, 2, 2), distinct.labels, 3)
    score_distinct = zerocost.batch_proxies(model, distinct, {"naswot"})["naswot"]
    score_similar = zerocost.batch_proxies(model, similar, {"naswot"})["naswot"]
    assert score_distinct > score_similar


def test_bad_requests_are_refused(batch: zerocost.Batch) -> None:
    with pytest.raises(ValueError, match="proxies must be distinct names"):
        zerocost.score(ARCH, ["snip", "nope"], batch, **TINY)
    with pytest.raises(ValueError, match="need a batch"):
        zerocost.score(ARCH, ["snip"], None, num_classes=10, resolution=8, **TINY)
    with pytest.raises(ValueError, match=r"ZeroCostConfig\.batch_size = 1 is invalid: must be an int >= 2"):
        zerocost.ZeroCostConfig(batch_size=1)
    with pytest.raises(ValueError, match=r"Executor\.threads = 0 is invalid: must be an int >= 1 or None"):
        Execution(threads=0)
    with pytest.raises(ValueError, match="scheduler must be an address"):
        Execution(scheduler="localhost")
    with pytest.raises(ValueError, match="unknown option"):
        estimators.create("snip", None, batchsize=32)
    with pytest.raises(ValueError, match="not a NASLib NB201 op tuple"):
        zerocost.naslib_arch("(0, 2, 9, 2, 3, 1)")


def test_naslib_op_tuples_map_to_arch_strings() -> None:
    assert zerocost.naslib_arch("(0, 2, 3, 2, 3, 1)") == (
        "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
    )


def test_every_proxy_is_registered_as_a_live_zerocost_estimator() -> None:
    entries = {e.name: e for e in estimators.entries()}
    for proxy in zerocost.PROXIES:
        assert entries[proxy].family == "zerocost" and entries[proxy].live and entries[proxy].summary


def test_synflow_estimator_needs_no_data(gt, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(tmp_path))
    archs = np.array([0, 11, 284])
    estimation = estimators.create("synflow", gt, execution=QUIET, **TINY).estimate(archs, "cifar10-valid")
    assert np.all(np.isfinite(estimation.scores)) and np.all(estimation.costs > 0)
    assert estimation.device == device_label("cpu") and not estimation.train_macs.any()
    forward = [network.flops(gt.arch(int(a)), 4, 1, 10, 32) * 1e6 for a in archs]
    np.testing.assert_allclose(estimation.eval_macs, np.array(forward) * 1 * 3)  # one image, forward + backward
    assert estimation.scores.tolist() == [
        zerocost.score(gt.arch(int(a)), ["synflow"], None, num_classes=10, resolution=32, **TINY)["synflow"]
        for a in archs
    ]


def test_estimates_are_stored_and_read_back(gt, tmp_path) -> None:
    options = {"execution": Execution(store=str(tmp_path / "store.h5"), progress=False), **TINY}
    archs = np.array([0, 11])
    first = estimators.create("synflow", gt, **options).estimate(archs, "cifar10-valid")
    again = estimators.create("synflow", gt, **options).estimate(archs, "cifar10-valid")
    assert first.metadata["computed"] == 2 and again.metadata == {**again.metadata, "computed": 0, "reused": 2}
    assert again.scores.tolist() == first.scores.tolist() and again.costs.tolist() == first.costs.tolist()
    assert again.eval_macs.tolist() == first.eval_macs.tolist() and again.device == first.device == device_label("cpu")


@pytest.mark.slow
def test_worker_processes_give_the_inline_scores(gt) -> None:
    archs = np.array([0, 11, 284])
    inline = estimators.create("synflow", gt, execution=QUIET, **TINY).estimate(archs, "cifar10-valid")
    pooled = estimators.create("synflow", gt, execution=Execution(workers=2, progress=False), **TINY)
    pooled = pooled.estimate(archs, "cifar10-valid")
    assert pooled.scores.tolist() == inline.scores.tolist()


def test_missing_dataset_gives_a_clear_error(gt, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="BPEBENCH_DATA_ROOT"):
        estimators.create("snip", gt, execution=QUIET).estimate(np.array([0]), "cifar10-valid")


def test_batch_estimator_reads_its_batch_from_the_data_root(gt, image_root) -> None:
    execution = Execution(str(image_root), progress=False)
    estimator = estimators.create("naswot", gt, execution=execution, batch_size=8, **TINY)
    archs = np.array([11, 284])
    first = estimator.estimate(archs, "cifar10-valid", seed=1)
    again = estimator.estimate(archs, "cifar10-valid", seed=1)
    assert np.all(np.isfinite(first.scores)) and first.scores.tolist() == again.scores.tolist()
    assert estimator.config == {"batch_size": 8, "cells": 1, "channels": 4}
    assert first.metadata["proxy"] == "naswot" and np.all(first.costs > 0)
    forward = np.array([network.flops(gt.arch(int(a)), 4, 1, 10, 32) * 1e6 for a in archs])
    np.testing.assert_allclose(first.eval_macs, forward * 8 * 1)  # naswot: one forward over the 8 images


def test_proxy_macs_count_forward_equivalents_over_the_batch() -> None:
    forward = network.flops(ARCH, 4, 1, 10, 8) * 1e6
    assert set(zerocost.PASSES) == set(zerocost.PROXIES)
    for proxy in zerocost.PROXIES:
        images = 1 if proxy == "synflow" else 16
        macs = zerocost.proxy_macs(ARCH, proxy, 16, 4, 1, 10, 8)
        assert macs == pytest.approx(forward * images * zerocost.PASSES[proxy]), proxy
    assert zerocost.PASSES["naswot"] == 1 and zerocost.PASSES["snip"] == 3 and zerocost.PASSES["grasp"] == 5


def cifar_batch(folder, size: int, seed: int) -> zerocost.Batch:
    """A seeded batch decoded straight from the JPEG training images (no whole-dataset decode in a test)."""
    classes = sorted(p.name for p in (folder / "train").iterdir())
    files = [(f, label) for label, c in enumerate(classes) for f in sorted((folder / "train" / c).iterdir())]
    chosen = np.random.default_rng(seed).choice(len(files), size=size, replace=False)
    images = np.stack([np.asarray(Image.open(files[i][0]).convert("RGB")) for i in chosen])
    labels = np.array([files[i][1] for i in chosen])
    split = data.Split.from_numpy(images, labels)
    return zerocost.batch_from_split(split, CIFAR10_MEAN, CIFAR10_STD, 10, size, seed)


@pytest.mark.slow
@pytest.mark.shared_data
def test_scores_agree_with_naslib_reference(shared_data, gt) -> None:
    reference = json.loads((shared_data / "nb201/naslib-zc-nasbench201-725.json").read_text())["cifar10"]
    keys = sorted(reference)
    keys = [keys[i] for i in np.random.default_rng(0).choice(len(keys), size=16, replace=False)]
    batch = cifar_batch(shared_data / "cifar10-jpeg", size=32, seed=0)
    checked = {"synflow": "synflow", "snip": "snip", "grad_norm": "grad_norm", "jacob_cov": "jacov", "naswot": "nwot"}
    ours = [zerocost.score(zerocost.naslib_arch(k), list(checked), batch) for k in keys]
    for proxy, name in checked.items():
        rho = metrics.spearman(
            np.array([o[proxy] for o in ours]), np.array([reference[k][name]["score"] for k in keys])
        )
        assert rho >= 0.8, f"{proxy}: Spearman {rho:.3f} with NASLib's scores on 16 archs"
    truth = gt.metric("cifar10-valid", "x-valid", "acc")[[gt.index(zerocost.naslib_arch(k)) for k in keys]]
    assert metrics.spearman(np.array([reference[k]["val_accuracy"] for k in keys]), truth) > 0.9
