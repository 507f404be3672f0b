"""Zero-cost proxies: score an untrained NB201 network from one batch (or, for synflow, no data at all).

Definitions, each summed over the weights of every convolution and the classifier (Abdelfattah et al., ICLR 2021,
"Zero-Cost Proxies for Lightweight NAS"), on the network at initialisation, BatchNorm in training mode (batch
statistics) unless said otherwise, loss = cross-entropy on the batch:
- `synflow` (Tanaka et al. 2020): sum |theta * dR/dtheta|, R = sum of the outputs of the network with all weights made
  absolute, on an all-ones input of batch size 1, in float64; BatchNorm is switched off (eval mode at initialisation,
  the identity up to its epsilon), like the BN-free copy of the zero-cost paper. Data-free.
- `snip` (Lee et al. 2019): sum |theta * dL/dtheta|.
- `grasp` (Wang et al. 2020): sum -theta * (H g), g = dL/dtheta, H the Hessian of L.
- `fisher` (Theis et al. 2018): per output channel k of each layer, 0.5 * mean over images of
  (sum over positions of activation * dL/dactivation)^2, the activation being the layer's output; each channel's
  value is given to every weight of that channel, then summed.
- `grad_norm`: sum over layers of the Euclidean norm of dL/dweight.
- `jacob_cov` (Mellor et al., arXiv v1): -sum_i [log(l_i + k) + 1 / (l_i + k)], k = 1e-5, l_i the eigenvalues of the
  correlation matrix of the per-image input gradients of the summed outputs.
- `naswot` (Mellor et al., ICML 2021): log |det K|, K_ij = number of ReLU units on which images i and j agree
  (both active or both inactive), over every ReLU that runs. The network skips cell branches that cannot reach the
  cell output, so their ReLUs do not count, as in Mellor et al.'s code (only ReLUs the backward pass visits);
  NASLib's graph runs and counts them.

The batch proxies asked for together share one network instance and one forward pass (the values are those of
separate passes: same batch, same weights, same batch statistics); synflow builds its own copy from the same seed.
Networks whose output does not depend on the input get synflow, snip, grasp and grad_norm 0, jacob_cov NaN
(correlations undefined) and naswot -inf.

Cost of an estimate: the measured seconds per arch (network build and passes) on this machine's CPU, no training
multiply-adds, and as evaluation multiply-adds the proxy's passes over its batch: NB201 forward multiply-adds of the
network at the proxy's size (`channels`, `cells`, the dataset's classes and resolution) x images x `PASSES`
forward-equivalents, a backward counting as 2 forwards (`proxy_macs`). synflow's batch is its one all-ones image.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from estimators import register
from harness import data, paths, space
from harness import store as results_store
from harness.checks import require_int
from harness.datasets import NUM_CLASSES, RESOLUTION
from harness.estimation import Estimation, Execution
from harness.groundtruth import GroundTruth
from harness.lazy import lazy
from harness.registry import configured
from harness.stored import run_stored
from harness.train import device_label

torch = lazy("torch")
F = lazy("torch.nn.functional")
nn = lazy("torch.nn")
network = lazy("harness.network")

PROXIES: tuple[str, ...] = ("synflow", "snip", "grasp", "fisher", "jacob_cov", "grad_norm", "naswot")
DATA_FREE = frozenset({"synflow"})
_LOSS_PROXIES = frozenset({"snip", "grasp", "fisher", "grad_norm"})
_JACOB_EPS = 1e-5
PASSES: dict[str, int] = {
    "synflow": 3,
    "snip": 3,
    "grasp": 5,
    "fisher": 3,
    "jacob_cov": 3,
    "grad_norm": 3,
    "naswot": 1,
}
"""Forward-equivalents a proxy runs over its batch: forward (1) plus a backward (2) to the weights (snip, fisher,
grad_norm, synflow) or to the input (jacob_cov); grasp adds a Hessian-vector product, counted as one more backward;
naswot only runs the forward."""
NASLIB_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NASLIB_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2))
"""(to, from) of each position of a NASLib NB201 op tuple (NASLib's reference zero-cost scores are keyed by these)."""


def naslib_arch(key: str) -> str:
    """Arch string of a NASLib NB201 op tuple such as '(0, 2, 3, 2, 3, 1)' (op codes index `NASLIB_OPS`)."""
    try:
        codes = [int(c) for c in key.strip("()").split(",")]
        by_edge = {edge: NASLIB_OPS[code] for edge, code in zip(NASLIB_EDGES, codes, strict=True)}
    except (ValueError, IndexError) as err:
        raise ValueError(f"not a NASLib NB201 op tuple: {key!r} (expected 6 codes in 0..4)") from err
    return space.format_ops([by_edge[edge] for edge in space.EDGES])


@dataclass(frozen=True, eq=False)
class Batch:
    """Normalised images (N, 3, H, W) float32, labels (N,) int64, and the number of classes of the task."""

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1] != 3 or not self.images.is_floating_point():
            raise ValueError(f"images must be float (N, 3, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != self.images.shape[:1] or self.labels.dtype != torch.int64:
            raise ValueError(f"labels must be int64 (N,) with N = {len(self.images)}, got {tuple(self.labels.shape)}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")


def batch_from_split(
    split: data.Split, mean: Sequence[float], std: Sequence[float], num_classes: int, size: int, seed: int
) -> Batch:
    """`size` images drawn without replacement (seeded) from `split`, scaled to [0, 1] and normalised."""
    if not 2 <= size <= len(split):
        raise ValueError(f"batch size must be in 2..{len(split)} (images in the split), got {size}")
    chosen = split.select(np.sort(np.random.default_rng(seed).choice(len(split), size=size, replace=False)))
    images = chosen.images.permute(0, 3, 1, 2).float().div(255)
    images = (images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    return Batch(images.contiguous(), chosen.labels.clone(), num_classes)


def real_batch(dataset: str, size: int, seed: int, root: str | os.PathLike[str] | None = None) -> Batch:
    """A seeded batch of the dataset's training images; root: argument, $BPEBENCH_DATA_ROOT, else the shared data."""
    root = paths.data_root(root)
    try:
        splits = data.load(dataset, root)
    except ValueError as err:
        raise ValueError(
            f"zero-cost proxies need a batch of real {dataset} images and none could be loaded from {root}: {err}. "
            f"Set ${paths.DATA_ROOT_ENV} to the folder holding the datasets or pass data_root=..."
        ) from err
    return batch_from_split(splits.train, splits.mean, splits.std, splits.num_classes, size, seed)


def score(
    arch_str: str,
    proxies: Sequence[str],
    batch: Batch | None = None,
    *,
    seed: int = 0,
    channels: int = 16,
    cells: int = 5,
    num_classes: int | None = None,
    resolution: int | None = None,
) -> dict[str, float]:
    """Proxy values of one arch, its network initialised with `seed`; the batch proxies share one forward pass.

    `batch` may be None when only data-free proxies are asked for; `num_classes` and `resolution` default to the
    batch's and are needed only without one.
    """
    wanted = _check_proxies(proxies)
    if batch is None and wanted - DATA_FREE:
        raise ValueError(f"proxies {sorted(wanted - DATA_FREE)} need a batch of data")
    if batch is not None:
        num_classes = num_classes or batch.num_classes
        resolution = resolution or int(batch.images.shape[-1])
    if num_classes is None or resolution is None:
        raise ValueError("without a batch, give num_classes and resolution")
    values: dict[str, float] = {}
    if "synflow" in wanted:
        values["synflow"] = synflow(_build(arch_str, seed, channels, cells, num_classes), resolution)
    if batch is not None and wanted - DATA_FREE:
        net = _build(arch_str, seed, channels, cells, num_classes)
        values.update(batch_proxies(net, batch, wanted - DATA_FREE))
    return {p: values[p] for p in proxies}


def proxy_macs(
    arch_str: str, proxy: str, batch_size: int, channels: int, cells: int, num_classes: int, resolution: int
) -> float:
    """Multiply-adds of `proxy`'s passes over its batch (`batch_size` images; synflow's one): forwards x `PASSES`."""
    images = 1 if proxy == "synflow" else batch_size
    forward = network.flops(arch_str, channels, cells, num_classes, resolution) * 1e6
    return forward * images * PASSES[proxy]


def _build(arch_str: str, seed: int, channels: int, cells: int, num_classes: int) -> nn.Module:
    """The NB201 network initialised from `seed`, leaving torch's global random state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return network.build(arch_str, channels, cells, num_classes)


def synflow(net: nn.Module, resolution: int) -> float:
    """Sum of |theta * dR/dtheta| on an all-ones input, |theta| weights, float64, BatchNorm off; changes `net`."""
    net = net.double().eval()
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    net.zero_grad(set_to_none=True)
    device = next(net.parameters()).device
    net(torch.ones(1, 3, resolution, resolution, dtype=torch.float64, device=device)).sum().backward()
    with torch.no_grad():
        return float(sum((w * w.grad).abs().sum() for w in _weights(net) if w.grad is not None))


def batch_proxies(net: nn.Module, batch: Batch, proxies: set[str] | frozenset[str]) -> dict[str, float]:
    """The batch proxies asked for, from one forward pass of `net` (training mode) over `batch`."""
    layers = _layers(net)
    outputs: dict[nn.Module, torch.Tensor] = {}
    agreement = _Agreement(len(batch.labels))
    hooks = []
    if "fisher" in proxies:
        hooks += [layer.register_forward_hook(_store_output(outputs)) for layer in layers]
    if "naswot" in proxies:
        hooks += [m.register_forward_hook(agreement.add) for m in net.modules() if isinstance(m, nn.ReLU)]
    net.train()
    x = batch.images.clone().requires_grad_("jacob_cov" in proxies)
    try:
        out = net(x)
    finally:
        for hook in hooks:
            hook.remove()
    values: dict[str, float] = {}
    loss_proxies = proxies & _LOSS_PROXIES
    if "jacob_cov" in proxies:
        (jacobian,) = torch.autograd.grad(out.sum(), x, retain_graph=bool(loss_proxies), allow_unused=True)
        values["jacob_cov"] = float("nan") if jacobian is None else jacob_cov_score(jacobian)
    if "naswot" in proxies:
        values["naswot"] = agreement.logdet()
    if loss_proxies:
        values.update(_loss_proxies(layers, outputs, F.cross_entropy(out, batch.labels), loss_proxies))
    return values


def _loss_proxies(
    layers: list[nn.Module], outputs: dict[nn.Module, torch.Tensor], loss: torch.Tensor, proxies: set[str]
) -> dict[str, float]:
    weights = [layer.weight for layer in layers]
    acts = [outputs[layer] for layer in layers if layer in outputs] if "fisher" in proxies else []
    grads = torch.autograd.grad(loss, weights + acts, allow_unused=True, create_graph="grasp" in proxies)
    weight_grads, act_grads = grads[: len(weights)], grads[len(weights) :]
    used = [(w, g) for w, g in zip(weights, weight_grads, strict=True) if g is not None]
    values: dict[str, float] = {}
    with torch.no_grad():
        if "snip" in proxies:
            values["snip"] = float(sum((w * g).abs().sum() for w, g in used))
        if "grad_norm" in proxies:
            values["grad_norm"] = float(sum(g.norm() for _, g in used))
        if "fisher" in proxies:
            present = [layer for layer in layers if layer in outputs]
            values["fisher"] = float(
                sum(_fisher(layer, outputs[layer], g) for layer, g in zip(present, act_grads, strict=True))
            )
    if "grasp" in proxies:
        values["grasp"] = _grasp(used)
    return values


def _grasp(used: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """-sum theta * Hg, Hg the gradient of sum(stop_grad(g) * g); 0 when no weight affects the loss."""
    if not used:
        return 0.0
    weights = [w for w, _ in used]
    product = sum((g.detach() * g).sum() for _, g in used)
    if not product.requires_grad:
        return 0.0
    hessian_grad = torch.autograd.grad(product, weights, allow_unused=True)
    return float(sum((-w.detach() * hg).sum() for w, hg in zip(weights, hessian_grad, strict=True) if hg is not None))


def _fisher(layer: nn.Module, act: torch.Tensor, grad: torch.Tensor | None) -> float:
    """Channel saliencies 0.5 * mean_n (sum_hw a * g)^2 of a layer, each counted once per weight of its channel."""
    if grad is None:
        return 0.0
    product = act.detach() * grad
    per_image = product.flatten(2).sum(2) if product.ndim > 2 else product
    saliency = per_image.pow(2).mean(0).mul(0.5)
    weights_per_channel = layer.weight[0].numel()
    return float(saliency.sum()) * weights_per_channel


def jacob_cov_score(jacobian: torch.Tensor) -> float:
    """-sum [log(l + k) + 1/(l + k)] over eigenvalues l of the image-by-image correlation of input gradients."""
    rows = jacobian.detach().flatten(1).double().cpu().numpy()
    if np.any(np.ptp(rows, axis=1) == 0):
        return float("nan")
    eigenvalues = np.linalg.eigvalsh(np.corrcoef(rows))
    shifted = eigenvalues + _JACOB_EPS
    return float(-np.sum(np.log(shifted) + 1.0 / shifted))


class _Agreement:
    """Accumulates K_ij = units where images i and j share a ReLU state, over the ReLU calls it is hooked to."""

    def __init__(self, n: int) -> None:
        self.kernel = np.zeros((n, n), dtype=np.float64)

    def add(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        with torch.no_grad():
            codes = (output.detach().flatten(1) > 0).float()
            active = codes.sum(1, dtype=torch.float64)
            both_active = (codes @ codes.T).double()
            # c c^T + (1 - c)(1 - c)^T = 2 c c^T + units - a_i - a_j
            agree = 2 * both_active + codes.shape[1] - active[:, None] - active[None, :]
        self.kernel += agree.cpu().numpy()

    def logdet(self) -> float:
        sign, value = np.linalg.slogdet(self.kernel)
        return float(value) if sign > 0 else float("-inf")


def _store_output(outputs: dict[nn.Module, torch.Tensor]):
    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        outputs[module] = output

    return hook


def _layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def _weights(net: nn.Module) -> list[torch.Tensor]:
    return [layer.weight for layer in _layers(net)]


def _check_proxies(proxies: Sequence[str]) -> set[str]:
    unknown = [p for p in proxies if p not in PROXIES]
    if unknown or not proxies or len(set(proxies)) != len(proxies):
        raise ValueError(f"proxies must be distinct names from {', '.join(PROXIES)}; got {list(proxies)}")
    return set(proxies)


@dataclass(frozen=True)
class ZeroCostConfig:
    """How a proxy is computed: batch size and network size."""

    batch_size: int = 64
    """Images in the one batch (zero-cost papers: 64 to 128)."""
    channels: int = 16
    cells: int = 5

    def __post_init__(self) -> None:
        for name, least in (("batch_size", 2), ("channels", 1), ("cells", 1)):
            require_int("ZeroCostConfig", name, getattr(self, name), least)


DEFAULT_WORKERS = 1
"""Archs scored at once when the execution leaves it open: inline."""
DEFAULT_THREADS = 1
"""torch threads per arch when the execution leaves it open. These small batches gain little from a second thread,
and on a busy machine extra threads spin (synflow took 20 s with 2 threads instead of 0.6 s with 1 on 2 shared
cores)."""


@dataclass(frozen=True)
class _Unit:
    """One arch to score, with everything a worker process needs."""

    arch_str: str
    proxy: str
    batch: Batch | None
    seed: int
    channels: int
    cells: int
    num_classes: int
    resolution: int


def _score_unit(unit: _Unit) -> tuple[float, float]:
    """(proxy value, seconds spent: network build and passes) of one unit; module-level so that workers can run it."""
    start = time.perf_counter()
    value = score(
        unit.arch_str,
        [unit.proxy],
        unit.batch,
        seed=unit.seed,
        channels=unit.channels,
        cells=unit.cells,
        num_classes=unit.num_classes,
        resolution=unit.resolution,
    )[unit.proxy]
    return value, time.perf_counter() - start


@dataclass(frozen=True)
class ZeroCostEstimator:
    """One zero-cost proxy over NB201 archs; cost = measured seconds per arch (network build and passes)."""

    gt: GroundTruth
    name: str
    settings: ZeroCostConfig = ZeroCostConfig()
    execution: Execution = field(default_factory=Execution)
    _batches: dict[tuple[str, int], Batch] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_proxies([self.name])

    @property
    def config(self) -> dict:
        s = self.settings
        config = {"channels": s.channels, "cells": s.cells}
        if self.name not in DATA_FREE:
            config["batch_size"] = s.batch_size
        return config

    def check(self, dataset: str) -> None:
        """Refuse, naming the fix, when a proxy that needs images finds none."""
        if self.name not in DATA_FREE:
            data.require(dataset, paths.data_root(self.execution.data_root))

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
        archs = np.asarray(archs)
        if self.execution.store is not None:
            unstored = replace(self, execution=self.execution.without_store())
            with results_store.writer(self.execution.store) as store:
                return run_stored(unstored, store, dataset, archs, seed)
        start = time.perf_counter()
        batch = None if self.name in DATA_FREE else self.batch(dataset, seed)
        metadata: dict = {"proxy": self.name, "seed": seed, "batch_seconds": time.perf_counter() - start}
        s = self.settings
        strings = self.gt.arch_strings
        units = [
            _Unit(
                strings[int(a)], self.name, batch, seed, s.channels, s.cells, NUM_CLASSES[dataset], RESOLUTION[dataset]
            )
            for a in archs
        ]
        scores, costs = np.full(len(archs), np.nan), np.full(len(archs), np.nan)
        executor = self.execution.executor(DEFAULT_WORKERS, DEFAULT_THREADS)
        for outcome in executor.run(_score_unit, units, desc=self.name):
            if not outcome.ok:  # an error (not a NaN score) that the other archs would hit as well: stop
                raise ValueError(
                    f"{self.name} on {dataset}: arch {int(archs[outcome.index])} raised {outcome.error}; stopped"
                )
            scores[outcome.index], costs[outcome.index] = outcome.value
        macs = [
            proxy_macs(u.arch_str, u.proxy, s.batch_size, u.channels, u.cells, u.num_classes, u.resolution)
            for u in units
        ]
        eval_macs = np.where(np.isnan(costs), np.nan, np.asarray(macs, dtype=np.float64).reshape(len(archs)))
        # networks and batches live on the CPU here
        return Estimation(archs, scores, costs, device_label("cpu"), np.zeros(len(archs)), eval_macs, metadata)

    def batch(self, dataset: str, seed: int) -> Batch:
        """The batch for `dataset` and `seed`, loaded once per estimator."""
        key = (dataset, seed)
        if key not in self._batches:
            self._batches[key] = real_batch(dataset, self.settings.batch_size, seed, self.execution.data_root)
        return self._batches[key]


def _factory(proxy: str, summary: str) -> Callable[..., ZeroCostEstimator]:
    def factory(
        gt: GroundTruth, config: ZeroCostConfig | None = None, execution: Execution | None = None, **fields: object
    ) -> ZeroCostEstimator:
        return ZeroCostEstimator(gt, proxy, configured(ZeroCostConfig, config, fields), execution or Execution())

    factory.__doc__ = summary
    return factory


SUMMARIES = {
    "synflow": "Synaptic flow at initialisation (data-free: |weights|, all-ones input, float64, no BatchNorm).",
    "snip": "SNIP: sum of |weight * gradient| on one batch at initialisation.",
    "grasp": "GraSP: sum of -weight * (Hessian x gradient) on one batch at initialisation.",
    "fisher": "Fisher channel saliency (Theis et al.) summed over all weights, one batch at initialisation.",
    "jacob_cov": "Correlation of per-image input Jacobians (Mellor et al. v1) on one batch at initialisation.",
    "grad_norm": "Sum of per-layer gradient norms on one batch at initialisation.",
    "naswot": "NASWOT: log-determinant of the ReLU binary-code agreement kernel of one batch (Mellor et al. 2021).",
}
"""One line per proxy: what it computes."""

for _proxy, _summary in SUMMARIES.items():
    register(_proxy, family="zerocost", live=True, options=ZeroCostConfig)(_factory(_proxy, _summary))
