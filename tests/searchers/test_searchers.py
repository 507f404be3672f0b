"""Searchers: every searcher on a synthetic problem, budget accounting, determinism, REA, REINFORCE, DARTS, CLI."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
import torch

import estimators.bpe
import searchers
from estimators.bpe import SYNTHETIC_ROOT
from harness import metrics, space
from harness.app.cli import EXIT_BAD_INPUT, main
from harness.app.search_runs import SearchSpec, run, seed_store
from harness.estimation import Estimation
from harness.train import BPE, PRESETS
from searchers.base import BudgetExhausted, Oracle, Problem, Trajectory
from searchers.darts import DartsConfig, SuperNet, _Step

ARCHS = space.all_arch_strings_by_code()
"""Arch strings by op code: arch i has code = i in base 5, so scores below are easy to reason about."""
CONV3 = space.OPS.index("nor_conv_3x3")
BLACK_BOX = [e.name for e in searchers.entries() if not e.live]
TINY_DARTS = DartsConfig(
    BPE(epochs=2, batch_size=16, channels=4, cells=1, resolution=8, lr=0.025), synthetic=32, device="cpu"
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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
        macs = np.full(len(archs), 1e9)
        return Estimation(archs, scores.astype(float), 10.0 + archs % 7, "test-device", macs, macs / 10)


def _problem(
    budget: float = 600.0, lookup: bool = False, max_steps: int = 10_000, estimator=None, protocol: str = "dedup"
) -> Problem:
    """A synthetic problem; most tests check the `dedup` protocol's bookkeeping, the nb201 tests say so."""
    estimator = estimator or CountingEstimator()
    return Problem("cifar10-valid", budget, ARCHS, estimator, lookup, max_steps, protocol=protocol)


def _search(name: str, seed: int = 0, budget: float = 600.0, protocol: str = "dedup"):
    if name.startswith("darts"):
        searcher = searchers.create(name, config=TINY_DARTS)
        return searcher.search(Problem("cifar10-valid", 600.0, ARCHS), seed)
    return searchers.create(name).search(_problem(budget, protocol=protocol), seed)


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
    if not searchers.entry(name).live:
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
    oracle = Oracle(Problem("cifar10-valid", 1e9, ARCHS, CountingEstimator(), max_stall=3, protocol="dedup"), seed=0)
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


def test_surrogate_search_beats_random_search_on_a_learnable_objective() -> None:
    best = {
        name: np.mean(
            [searchers.create(name).search(_problem(700.0), seed).trajectory.score.max() for seed in range(3)]
        )
        for name in ("surrogate", "rs")
    }
    assert best["surrogate"] > best["rs"] + 1.0, best


def test_surrogate_search_never_pays_for_an_arch_twice_and_fits_in_rounds() -> None:
    result = searchers.create("surrogate", initial=4, batch=3).search(_problem(700.0), seed=5)
    paid = result.trajectory.arch[result.trajectory.paid]
    assert len(set(paid.tolist())) == len(paid) == len(result.trajectory)
    full_rounds = math.ceil((len(paid) - 4) / 3)
    assert full_rounds <= result.metadata["rounds"] <= full_rounds + 1  # + the round the budget cut short


def test_darts_second_order_gradient_tends_to_first_order_as_lr_vanishes() -> None:
    torch.manual_seed(0)
    model = SuperNet(channels=4, cells=1, num_classes=3)
    alphas = torch.nn.Parameter(1e-3 * torch.randn(space.NUM_EDGES, len(space.OPS)))
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
    config = replace(TINY_DARTS, second_order=True, train=replace(TINY_DARTS.train, lr=1e-6))
    step = _Step(config, model, alphas)
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


def _held_out(gt, record: dict) -> float:
    """Seed-mean x-valid accuracy of a record's arch without the seeds its search read of it."""
    seen = Trajectory.from_dict(record["trajectory"]).trials_seen(record["arch"])
    values = gt.metric("cifar10-valid", "x-valid", "acc", seeds="all")[record["arch"]]
    kept = [v for v, s in zip(values, (777, 888, 999), strict=True) if s not in seen and np.isfinite(v)]
    return float(np.mean(kept)) if kept else math.nan


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
    assert again.valid_target.endswith(":held-out")
    np.testing.assert_array_equal(again.valid, [_held_out(gt, r) for r in again.records])
    fresh = run(spec, gt, [0, 1, 2], resume=False, progress=False)
    assert fresh.resumed == 0 and [r["arch"] for r in fresh.records] == [r["arch"] for r in again.records]


def test_run_in_a_named_directory_stores_and_resumes_there(gt, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BPEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    spec = SearchSpec("rs", "tabular-hp200-seed", "cifar10-valid", 20_000.0)
    first = run(spec, gt, [0, 1], progress=False, directory=tmp_path / "committed")
    assert first.store == spec.store_path(gt, tmp_path / "committed") and first.store.is_file()
    assert not (tmp_path / "cache" / "searches").exists()
    again = run(spec, gt, [0, 1], progress=False, directory=tmp_path / "committed")
    assert again.resumed == 2 and [r["arch"] for r in again.records] == [r["arch"] for r in first.records]


def test_seeds_that_fail_are_reported_together_and_not_stored(gt, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BPEBENCH_CACHE_DIR", str(tmp_path))
    spec = SearchSpec("darts-v1", None, "cifar10-valid", 1e-9, {"config": TINY_DARTS})
    with pytest.raises(ValueError, match=r"2 seed\(s\) failed .*: seeds 0, 1: ValueError: budget .* too small"):
        run(spec, gt, [0, 1], progress=False)
    assert spec.store_path(gt).read_text() == ""


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
        (["search", "rs", "--estimator", "params"], "--budget SECONDS, --queries N"),
        (["search", "rs", "--estimator", "params", "--queries", "0"], "--queries"),
        (["search", "darts-v1", "--queries", "5"], "query limit does not apply"),
        (["search", "darts-v1", "--budget", "10", "--preset", "bpe1"], "--preset"),
        (["search", "darts-v1", "--budget", "10", "--cutout", "8"], "--cutout"),
        (["search", "darts-v1", "--budget", "10", "--eval-images", "8"], "--eval-images"),
        (["search", "rea", "--estimator", "params", "--budget", "10", "--device", "cpu"], "darts-* only"),
        (["search", "rs", "--estimator", "params", "--budget", "10", "--policy-lr", "0.1"], "reinforce only"),
        (["search", "rs", "--estimator", "params", "--budget", "10", "--data-root", "x"], "--data-root applies"),
        (["search", "rs", "--estimator", "synflow", "--budget", "10", "--epochs", "2"], "not apply to 'synflow'"),
    ],
)
def test_cli_bad_input_exits_2_with_a_message(argv: list[str], message: str, capsys) -> None:
    assert main(argv) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_cli_json_reports_ground_truth_per_seed(gt, embedded_gt_path, capsys) -> None:
    argv = ["search", "rea", "--estimator", "tabular-hp200-seed", "--budget", "20000", "--seeds", "3"]
    assert main([*argv, "--groundtruth", str(embedded_gt_path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"mean", "std", "n", "finals", "archs", "total_cost", "mean_macs", "cost_device"} <= set(payload)
    assert payload["protocol"] == "nb201" and payload["cost_device"] == "nb201-gpu" and payload["mean_macs"] > 0
    assert len(payload["finals"]) == 3 and payload["target"].endswith(":held-out")
    assert payload["nb201_reference"] is None  # not a Table 5 setting
    finite = [v for v in payload["finals"] if v is not None]
    assert payload["n"] == len(finite) and payload["mean"] == pytest.approx(np.mean(finite))
    assert all(cost <= 20_000 for cost in payload["costs"])


def test_cli_runs_darts_on_synthetic_data(embedded_gt_path, capsys) -> None:
    argv = ["search", "darts-v2", "--budget", "600", "--seeds", "1", "--synthetic", "48", "--channels", "4"]
    argv += ["--cells", "1", "--epochs", "1", "--batch-size", "16", "--resolution", "8", "--device", "cpu"]
    assert main([*argv, "--groundtruth", str(embedded_gt_path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["n"] == 1 and payload["estimator"] is None and 0 < payload["total_cost"] < 600


def test_query_limit_ends_a_search_after_that_many_paid_archs() -> None:
    estimator = CountingEstimator()
    problem = Problem("cifar10-valid", math.inf, ARCHS, estimator, max_queries=7, protocol="dedup")
    for name in BLACK_BOX:
        estimator.asked.clear()
        result = searchers.create(name).search(problem, seed=1)
        assert len(set(estimator.asked)) == 7 == result.trajectory.paid.sum(), name
        assert "query limit 7" in result.metadata["stopped"], name


def test_an_infinite_budget_needs_a_query_limit() -> None:
    with pytest.raises(ValueError, match="infinite"):
        Problem("cifar10-valid", math.inf, ARCHS, CountingEstimator())
    with pytest.raises(ValueError, match="max_queries"):
        Problem("cifar10-valid", 10.0, ARCHS, CountingEstimator(), max_queries=0)


def test_the_query_limit_is_part_of_a_search_identity(gt) -> None:
    unlimited = SearchSpec("rs", "params", "cifar10-valid", 1e6)
    limited = replace(unlimited, max_queries=10)
    assert unlimited.key(gt) != limited.key(gt)
    assert limited.store_path(gt).name.startswith("rs_params_cifar10-valid_1e+06s_10q_")


TINY_BPE = {"config": PRESETS["cpu-tiny"]}


def test_live_search_keeps_each_seeds_archs_and_resumes_a_killed_seed(gt, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BPEBENCH_CACHE_DIR", str(tmp_path))
    spec = SearchSpec(
        "rea", "bpe", "cifar10-valid", math.inf, max_queries=3, estimator_options=TINY_BPE, data_root=SYNTHETIC_ROOT
    )
    first = run(spec, gt, [0, 1], progress=False)
    assert [r["queries"] for r in first.records] == [3, 3]
    assert all(seed_store(first.store, seed).is_file() for seed in (0, 1))
    first.store.unlink()  # killed after training, before the seeds' records were written

    def no_training(unit):
        raise AssertionError(f"arch {unit.arch} trained again")

    monkeypatch.setattr(estimators.bpe, "run_unit", no_training)
    again = run(spec, gt, [0, 1], progress=False)
    assert again.resumed == 0
    for before, after in zip(first.records, again.records, strict=True):
        assert after["arch"] == before["arch"] and after["trajectory"] == before["trajectory"]


def test_live_search_scores_and_keys_follow_the_bpe(gt) -> None:
    tiny = SearchSpec("rs", "bpe", "cifar10-valid", 100.0, estimator_options=TINY_BPE, data_root=SYNTHETIC_ROOT)
    small = replace(tiny, estimator_options={"config": PRESETS["cpu-small"]})
    real_data = replace(tiny, data_root=None)
    assert len({tiny.key(gt), small.key(gt), real_data.key(gt)}) == 3
    with pytest.raises(ValueError, match="uses none"):
        SearchSpec("darts-v1", None, "cifar10-valid", 100.0, estimator_options=TINY_BPE)


def test_cli_searches_with_a_live_bpe(embedded_gt_path, capsys) -> None:
    argv = ["search", "rs", "--estimator", "bpe", "--preset", "cpu-tiny", "--data-root", SYNTHETIC_ROOT]
    argv += ["--epochs", "1", "--queries", "2", "--seeds", "1", "--groundtruth", str(embedded_gt_path), "--json"]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["max_queries"] == 2 and payload["mean_queries"] == 2 and payload["budget"] is None
    assert payload["total_cost"] > 0  # measured training seconds


def test_nb201_protocol_pays_every_query_and_draws_a_trial_each_time(gt) -> None:
    """NB201 re-queries and re-pays a repeated arch, and each query sees one recorded trial at random."""
    estimator = CountingEstimator()
    oracle = Oracle(_problem(budget=25.0, estimator=estimator, protocol="nb201"), seed=0)
    oracle.score(7)
    oracle.score(7)
    assert oracle.spent == 20.0 and estimator.asked == [7, 7] and oracle.paid_queries == 2
    with pytest.raises(BudgetExhausted):
        oracle.score(7)
    assert oracle.trajectory().paid.tolist() == [True, True]

    seeds = gt.metric("cifar10-valid", "x-valid", "acc", seeds="all")
    three = int(np.flatnonzero(np.isfinite(seeds).all(axis=1))[0])
    problem = Problem("cifar10-valid", 1e9, gt.arch_strings, estimators.create("tabular-hp200-seed", gt), lookup=True)
    oracle = Oracle(problem, seed=0)
    values = {oracle.score(three) for _ in range(30)}
    trajectory = oracle.trajectory()
    assert values == set(seeds[three].tolist()) and set(trajectory.trial.tolist()) == {777, 888, 999}
    assert trajectory.paid.all() and oracle.spent == pytest.approx(30 * trajectory.cost[0])


def test_nb201_rea_tournament_samples_with_replacement() -> None:
    """With the whole population in the tournament, sampling with replacement sometimes misses the best member."""
    missed = {}
    for protocol in ("nb201", "dedup"):
        searcher = searchers.create("rea", population=5, sample_size=5)
        result = searcher.search(_problem(3000.0, protocol=protocol), seed=2)
        archs, scores, parents = result.trajectory.arch, result.trajectory.score, result.metadata["parents"]
        misses = 0
        for step, parent in enumerate(parents, start=5):
            alive_scores, alive = scores[step - 5 : step], archs[step - 5 : step]
            misses += scores[step - 5 : step][alive == parent][0] < alive_scores.max()
        missed[protocol] = misses
    assert missed["dedup"] == 0 and missed["nb201"] > 5, missed


def test_nb201_mutation_picks_a_node_then_an_incoming_edge() -> None:
    rng = np.random.default_rng(0)
    parent = ARCHS[1234]
    edges = []
    for _ in range(6000):
        child = space.mutate_node_edge(parent, rng)
        changed = [e for e, (a, b) in enumerate(zip(space.parse(parent), space.parse(child), strict=True)) if a != b]
        assert len(changed) == 1
        edges.append(changed[0])
    share = np.bincount(edges, minlength=6) / len(edges)
    np.testing.assert_allclose(share, [1 / 3, 1 / 6, 1 / 6, 1 / 9, 1 / 9, 1 / 9], atol=0.02)


def test_reinforce_can_answer_its_policy_argmax() -> None:
    problem = replace(_problem(budget=300.0, protocol="nb201"))
    result = searchers.create("reinforce", answer="policy").search(problem, seed=0)
    argmax = np.array(result.metadata["policy"]).argmax(axis=1)
    assert result.arch == ARCHS.index(space.format_ops([space.OPS[k] for k in argmax]))
    best = searchers.create("reinforce").search(problem, seed=0)
    assert best.arch == best.trajectory.best[-1]


def test_protocol_is_part_of_a_search_identity(gt) -> None:
    nb201 = SearchSpec("rea", "tabular-hp200-seed", "cifar10-valid", 12_000.0)
    dedup = replace(nb201, protocol="dedup")
    assert nb201.protocol == "nb201" and nb201.key(gt) != dedup.key(gt)
    with pytest.raises(ValueError, match="protocol"):
        replace(nb201, protocol="nope")


def test_welch_test_against_a_published_mean() -> None:
    same = metrics.welch(91.19, 0.31, 500, 91.19, 0.31, 500)
    assert same["t"] == 0 and same["p"] == pytest.approx(1.0)
    far = metrics.welch(91.0, 0.3, 500, 91.19, 0.31, 500)
    assert far["t"] == pytest.approx(-0.19 / math.sqrt(0.3**2 / 500 + 0.31**2 / 500)) and far["p"] < 1e-10
    assert 990 < far["df"] < 998
    with pytest.raises(ValueError, match="at least 2"):
        metrics.welch(1.0, 0.1, 1, 1.0, 0.1, 500)


KNOWN_GAP = "measured 91.01 +- 0.31 (n=500) against NB201's 91.09 +- 0.37: Welch z = -3.6 (README, Table 5)"


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["rs", "rea", pytest.param("reinforce", marks=pytest.mark.xfail(reason=KNOWN_GAP, strict=True))]
)
def test_table5_agrees_with_nb201_by_welch_test(name: str, gt_hp12) -> None:
    """NB201 Table 5 (cifar10-valid): 12-epoch table, 12,000 s budget, nb201 protocol, 500 seeds against NB201's 500."""
    spec = SearchSpec(name, "tabular-hp12", "cifar10-valid", 12_000.0)
    summary = run(spec, gt_hp12, range(500), progress=False).to_dict()
    reference = summary["nb201_reference"]
    assert summary["n"] == 500 and reference["n_a"] == 500 and reference["n_b"] == 500
    assert reference["p"] > 0.01, reference  # no disagreement detectable at the 1% level


def test_surrogate_with_path_features_and_ucb_acquisition_beats_random_search() -> None:
    ucb = searchers.create("surrogate", features="onehot+path", acquisition="ucb")
    best = np.mean([ucb.search(_problem(700.0), seed).trajectory.score.max() for seed in range(3)])
    rs = np.mean([searchers.create("rs").search(_problem(700.0), seed).trajectory.score.max() for seed in range(3)])
    assert best > rs + 1.0, (best, rs)


def test_surrogate_with_zerocost_features_queries_only_the_archs_the_store_scores(tmp_path) -> None:
    from harness.store import Result, Store

    table = np.random.default_rng(0).choice(space.NUM_ARCHS, size=300, replace=False)
    with Store(tmp_path / "zc.h5") as store:
        store.add_config("k1", {"estimator": "synflow", "config": {}})
        for arch in table.tolist():
            store.put("k1", "cifar10-valid", Result(arch, 0, float(arch % 97)))
    searcher = searchers.create("surrogate", features="onehot+zc", zerocost_store=str(tmp_path / "zc.h5"))
    result = searcher.search(_problem(700.0), seed=1)
    assert np.isin(result.trajectory.arch, table).all()
    assert result.metadata["space"] == 300
    with pytest.raises(ValueError, match="go together"):
        searchers.create("surrogate", features="onehot+zc")
