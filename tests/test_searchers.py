"""Searchers: every searcher on a synthetic problem, budget accounting, determinism, REA, REINFORCE, DARTS, CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
import torch

import searchers
from estimators.base import Estimation
from harness import space
from harness.cli import EXIT_BAD_INPUT, main
from harness.train import TrainConfig
from searchers.base import BudgetExhausted, Oracle, Problem
from searchers.darts import DartsConfig, SuperNet, _Step
from searchers.run import SearchSpec, run

ARCHS = space.all_arch_strings_by_code()
"""Arch strings by op code: arch i has code = i in base 5, so scores below are easy to reason about."""
CONV3 = space.OPS.index("nor_conv_3x3")
BLACK_BOX = [e.name for e in searchers.entries() if e.uses_estimator]
TINY_DARTS = DartsConfig(
    TrainConfig(epochs=2, batch_size=16, channels=4, cells=1, resolution=8, lr=0.025, device="cpu"), synthetic=32
)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks run fastest on one thread, and the test machine's cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _codes(archs: np.ndarray) -> np.ndarray:
    """(n, 6) op digits of arch indices in `ARCHS` order."""
    return np.stack([(np.asarray(archs) // 5 ** (5 - e)) % 5 for e in range(space.NUM_EDGES)], axis=1)


@dataclass
class CountingEstimator:
    """Score = number of 3x3 convolutions (+ a tie-breaker); cost 10..16 s; counts the archs it is asked for."""

    name: str = "synthetic"
    asked: list[int] = field(default_factory=list)

    @property
    def config(self) -> dict:
        return {}

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
        archs = np.asarray(archs)
        self.asked.extend(int(a) for a in archs)
        codes = _codes(archs)
        scores = (codes == CONV3).sum(axis=1) + 0.01 * (codes == 2).sum(axis=1)
        return Estimation(archs, scores.astype(float), 10.0 + archs % 7)


def _problem(budget: float = 600.0, lookup: bool = False, max_steps: int = 10_000, estimator=None) -> Problem:
    return Problem("cifar10-valid", budget, ARCHS, estimator or CountingEstimator(), lookup, max_steps)


def _search(name: str, seed: int = 0, budget: float = 600.0):
    if name.startswith("darts"):
        searcher = searchers.create(name, config=TINY_DARTS)
        return searcher.search(Problem("cifar10-valid", 600.0, ARCHS), seed)
    return searchers.create(name).search(_problem(budget), seed)


def test_registry_lists_the_four_algorithms() -> None:
    assert {"rs", "rea", "reinforce", "darts-v1", "darts-v2"} <= set(searchers.names())
    for entry in searchers.entries():
        assert entry.summary, f"{entry.name} needs a docstring summary"
        searcher = searchers.create(entry.name)
        assert isinstance(searcher, searchers.Searcher) and searcher.name == entry.name


@pytest.mark.parametrize("name", searchers.names())
def test_every_searcher_answers_a_valid_arch(name: str) -> None:
    result = _search(name)
    trajectory = result.trajectory
    assert 0 <= result.arch < len(ARCHS)
    assert len(trajectory) > 0 and result.arch == trajectory.best[-1]
    assert np.all(np.diff(trajectory.cost) >= 0) and result.cost >= trajectory.cost[-1]
    if searchers.entry(name).uses_estimator:
        assert result.cost <= 600.0
        scores = CountingEstimator().estimate(trajectory.arch, "cifar10-valid").scores
        np.testing.assert_array_equal(trajectory.score, scores)
        assert trajectory.score[trajectory.arch == result.arch][0] == trajectory.score.max()


@pytest.mark.parametrize("name", searchers.names())
def test_same_seed_same_search(name: str) -> None:
    first, again = _search(name, seed=3), _search(name, seed=3)
    assert first.arch == again.arch
    np.testing.assert_array_equal(first.trajectory.arch, again.trajectory.arch)
    np.testing.assert_array_equal(first.trajectory.score, again.trajectory.score)
    if name.startswith("darts"):
        np.testing.assert_allclose(first.metadata["alphas"], again.metadata["alphas"], rtol=1e-5)
    else:
        other = _search(name, seed=4)
        assert not np.array_equal(first.trajectory.arch[:20], other.trajectory.arch[:20])


@pytest.mark.parametrize("name", BLACK_BOX)
@pytest.mark.parametrize("budget", [16.0, 95.0, 1000.0])
def test_spent_cost_never_exceeds_the_budget(name: str, budget: float) -> None:
    result = _search(name, budget=budget)
    paid = result.trajectory.paid
    costs = 10.0 + result.trajectory.arch[paid] % 7
    assert result.cost <= budget
    assert result.cost == pytest.approx(costs.sum())
    assert budget - result.cost < 16.0 or result.metadata.get("stopped", "").startswith("step limit")
    assert len(set(result.trajectory.arch[paid].tolist())) == paid.sum(), "an arch was paid for twice"


def test_oracle_pays_once_per_arch_and_stops_before_overspending() -> None:
    estimator = CountingEstimator()
    oracle = Oracle(_problem(budget=25.0, estimator=estimator), seed=0)
    first = oracle.score(7)  # costs 10
    assert oracle.score(7) == first and oracle.spent == 10.0
    assert estimator.asked == [7], "a cached arch was estimated again"
    oracle.score(12)  # costs 15: 25 spent
    with pytest.raises(BudgetExhausted):
        oracle.score(13)  # costs 16
    assert oracle.spent == 25.0
    trajectory = oracle.trajectory()
    assert trajectory.paid.tolist() == [True, False, True]
    assert trajectory.cost.tolist() == [10.0, 10.0, 25.0]


def test_lookup_mode_reads_the_table_once_and_searches_identically() -> None:
    per_query, table = CountingEstimator(), CountingEstimator()
    a = searchers.create("rea").search(_problem(estimator=per_query), seed=1)
    b = searchers.create("rea").search(_problem(lookup=True, estimator=table), seed=1)
    np.testing.assert_array_equal(a.trajectory.arch, b.trajectory.arch)
    assert len(table.asked) == len(ARCHS)
    assert len(per_query.asked) == a.trajectory.paid.sum() + 1, "paid queries plus the one the budget refused"


def test_free_estimator_stops_at_the_step_limit() -> None:
    @dataclass
    class Free(CountingEstimator):
        def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
            result = super().estimate(archs, dataset, seed)
            return replace(result, costs=np.zeros(len(archs)))

    result = searchers.create("rs").search(_problem(max_steps=50, estimator=Free()), seed=0)
    assert len(result.trajectory) == 50 and result.cost == 0.0


def test_a_search_that_only_revisits_known_archs_stops() -> None:
    oracle = Oracle(Problem("cifar10-valid", 1e9, ARCHS, CountingEstimator(), max_stall=3), seed=0)
    oracle.score(1)
    for _ in range(3):
        oracle.score(1)
    oracle.score(2)  # a new arch resets the count
    for _ in range(3):
        oracle.score(1)
    with pytest.raises(BudgetExhausted, match="converged"):
        oracle.score(2)
    assert len(oracle.trajectory()) == 8


@pytest.mark.parametrize(("population", "sample_size"), [(10, 3), (5, 5), (4, 1)])
def test_rea_mutates_a_tournament_winner_of_the_living_population(population: int, sample_size: int) -> None:
    result = searchers.create("rea", population=population, sample_size=sample_size).search(_problem(2000.0), seed=2)
    archs, scores, parents = result.trajectory.arch, result.trajectory.score, result.metadata["parents"]
    assert len(parents) == len(archs) - population > 50
    for step, parent in enumerate(parents, start=population):
        alive = archs[step - population : step]  # the oldest died each cycle
        assert parent in alive
        assert ARCHS[archs[step]] in space.mutations(ARCHS[parent])
        if sample_size == population:
            assert scores[step - population : step][alive == parent][0] == scores[step - population : step].max()


def test_rea_rejects_a_tournament_larger_than_the_population() -> None:
    with pytest.raises(ValueError, match="sample_size"):
        searchers.create("rea", population=3, sample_size=4)


def test_reinforce_learns_a_synthetic_objective() -> None:
    problem = replace(_problem(budget=1e9, max_steps=400), max_stall=400)
    result = searchers.create("reinforce").search(problem, seed=0)
    scores = result.trajectory.score
    assert scores[-50:].mean() > scores[:50].mean() + 1.0
    policy = np.array(result.metadata["policy"])
    assert policy[:, CONV3].mean() > 0.4, "the policy should favour 3x3 convolutions"


def test_darts_second_order_gradient_tends_to_first_order_as_lr_vanishes() -> None:
    torch.manual_seed(0)
    model = SuperNet(channels=4, cells=1, num_classes=3)
    alphas = torch.nn.Parameter(1e-3 * torch.randn(space.NUM_EDGES, len(space.OPS)))
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
    config = replace(TINY_DARTS, second_order=True, train=replace(TINY_DARTS.train, lr=1e-6))
    step = _Step(config, model, alphas, config.train)
    step.lr = 1e-6
    second, _ = step._second_order_grad(x, y, x, y)
    first = torch.autograd.grad(torch.nn.functional.cross_entropy(model(x, alphas), y), alphas)[0]
    torch.testing.assert_close(second, first, rtol=1e-3, atol=1e-6)
    step.lr = 0.5
    far, _ = step._second_order_grad(x, y, x, y)
    assert not torch.allclose(far, first, rtol=1e-3, atol=1e-6)


def test_darts_stops_when_the_budget_is_spent() -> None:
    long_run = replace(TINY_DARTS, train=replace(TINY_DARTS.train, epochs=10_000))
    result = searchers.create("darts-v1", config=long_run).search(Problem("cifar10-valid", 2.0, ARCHS), seed=0)
    assert "budget" in result.metadata["stopped"]
    assert result.metadata["epochs_done"] < 10_000


def test_run_stores_seeds_and_resumes(gt, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BPEBENCH_CACHE_DIR", str(tmp_path))
    spec = SearchSpec("rs", "tabular-hp200-seed", "cifar10-valid", 20_000.0)
    first = run(spec, gt, [0, 1], progress=False)
    assert first.resumed == 0 and first.store.is_file()
    with open(first.store, "ab") as log:
        log.write(b'{"seed": 2, "arch": ')  # a kill mid-write
    again = run(spec, gt, [0, 1, 2], progress=False)
    assert again.resumed == 2
    assert [r["arch"] for r in again.records[:2]] == [r["arch"] for r in first.records]
    truth = gt.metric("cifar10-valid", "x-valid", "acc")
    np.testing.assert_array_equal(again.valid, truth[[r["arch"] for r in again.records]])
    fresh = run(spec, gt, [0, 1, 2], resume=False, progress=False)
    assert fresh.resumed == 0 and [r["arch"] for r in fresh.records] == [r["arch"] for r in again.records]


@pytest.mark.slow
def test_parallel_seeds_match_serial_ones(gt, tmp_path, monkeypatch) -> None:
    spec = SearchSpec("rea", "tabular-hp200-seed", "cifar10-valid", 20_000.0)
    monkeypatch.setenv("BPEBENCH_CACHE_DIR", str(tmp_path / "serial"))
    serial = run(spec, gt, [0, 1, 2], progress=False)
    monkeypatch.setenv("BPEBENCH_CACHE_DIR", str(tmp_path / "parallel"))
    parallel = run(spec, gt, [0, 1, 2], workers=2, progress=False)
    assert parallel.resumed == 0
    assert [r["arch"] for r in parallel.records] == [r["arch"] for r in serial.records]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "nope", "--estimator", "params", "--budget", "10"], "unknown searcher"),
        (["search", "rs", "--estimator", "nope", "--budget", "10"], "unknown estimator"),
        (["search", "rs", "--estimator", "params", "--budget", "0"], "--budget"),
        (["search", "rs", "--estimator", "params", "--budget", "-5"], "--budget"),
        (["search", "rs", "--estimator", "params", "--budget", "10", "--seeds", "0"], "--seeds"),
        (["search", "rs", "--budget", "10"], "needs an estimator"),
        (["search", "darts-v1", "--estimator", "params", "--budget", "10"], "uses no estimator"),
        (["search", "rs", "--estimator", "params", "--budget", "10", "--population", "5"], "--population"),
        (["search", "rea", "--estimator", "params", "--budget", "10", "--epochs", "5"], "--epochs"),
        (["search", "rea", "--estimator", "params", "--budget", "10", "--sample-size", "20"], "sample_size"),
    ],
)
def test_cli_bad_input_exits_2_with_a_message(argv: list[str], message: str, capsys) -> None:
    assert main(argv) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_cli_json_reports_ground_truth_per_seed(gt, embedded_gt_path, capsys) -> None:
    argv = ["search", "rea", "--estimator", "tabular-hp200-seed", "--budget", "20000", "--seeds", "3"]
    assert main([*argv, "--groundtruth", str(embedded_gt_path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"mean", "std", "n", "finals", "archs", "total_cost"} <= set(payload)
    assert payload["n"] == 3 and len(payload["finals"]) == 3
    truth = gt.metric("cifar10-valid", "x-valid", "acc")[payload["archs"]]
    np.testing.assert_allclose(payload["finals"], truth)
    assert payload["mean"] == pytest.approx(truth.mean()) and payload["std"] == pytest.approx(truth.std())
    assert all(cost <= 20_000 for cost in payload["costs"])


def test_cli_runs_darts_on_synthetic_data(embedded_gt_path, capsys) -> None:
    argv = ["search", "darts-v2", "--budget", "600", "--seeds", "1", "--synthetic", "48", "--channels", "4"]
    argv += ["--cells", "1", "--epochs", "1", "--batch-size", "16", "--resolution", "8", "--device", "cpu"]
    assert main([*argv, "--groundtruth", str(embedded_gt_path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["n"] == 1 and payload["estimator"] is None and 0 < payload["total_cost"] < 600


@pytest.mark.slow
@pytest.mark.parametrize(("name", "nb201_mean", "nb201_std"), [("rs", 90.93, 0.36), ("rea", 91.19, 0.31)])
def test_table5_within_one_std_of_nb201(name: str, nb201_mean: float, nb201_std: float, gt_hp12) -> None:
    """NB201 Table 5 (cifar10-valid): 12-epoch tabular scores, 12,000 s budget; 100 seeds here."""
    report = run(SearchSpec(name, "tabular-hp12", "cifar10-valid", 12_000.0), gt_hp12, range(100), progress=False)
    summary = report.to_dict()
    assert summary["n"] == 100
    assert abs(summary["mean"] - nb201_mean) < nb201_std
