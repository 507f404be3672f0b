"""MIP over the BPE space: space and settings validation, cost model, pruning on a synthetic objective, resume, CLI."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from harness.app.cli import main
from harness.app.mip_experiment import EstimatorObjective
from harness.estimation import Estimation
from harness.store import Store
from searchers.mip.cost import PRIOR_RATES, CostModel
from searchers.mip.design import halton, stratified
from searchers.mip.search import (
    Measurement,
    MIPSettings,
    Trial,
    analyse,
    choose,
    min_trials,
    pareto_front,
    random_search,
    run_mip,
)
from searchers.mip.space import DIMENSIONS, BPESpace, config_key

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SMALL = {
    "epochs": [1, 2, 4, 8],
    "batch_size": [64, 128],
    "lr": [0.05, 0.1, 0.2],
    "channels": [4, 8, 16],
    "cells": [1, 2],
    "resolution": [8, 16],
    "fraction": [0.1, 0.25],
    "cutout": [0, 8],
    "precision": ["fp32"],
}


def cost_model(n_archs: int = 10) -> CostModel:
    return CostModel((ARCH,), 10, 25_000, 10_000, n_archs, evaluate_every_epoch=False)


# ---- space


def test_builtin_spaces_load_and_are_sorted():
    for name in ("cpu", "gpu"):
        space = BPESpace.load(name)
        assert set(space.values) == set(DIMENSIONS)
        for dim in DIMENSIONS:
            if dim != "precision":
                assert list(space.values[dim]) == sorted(space.values[dim])
    cpu = BPESpace.load("cpu")
    assert cpu.size == math.prod(len(v) for v in cpu.values.values())
    assert "precision" not in cpu.varying


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"width": [4]}, "unknown BPE dimension(s) 'width'"),
        ({"lr": []}, "'lr' has an empty list"),
        ({"lr": [0.1, -0.1]}, "'lr': value -0.1 is invalid: must be a finite number > 0"),
        ({"resolution": [10]}, "'resolution': value 10 is invalid: must be an int >= 8 and a multiple of 4"),
        ({"precision": ["fp8"]}, "'precision': value 'fp8' is invalid: must be one of fp32, bf16, fp16"),
        ({"fraction": [0.0]}, "'fraction': value 0.0 is invalid: must be a number in (0, 1]"),
        ({"epochs": [True]}, "'epochs': value True is invalid"),
        ({"epochs": [2, 2]}, "lists a value twice"),
        ({"epochs": 2}, "'epochs' must be a list"),
        ({"cutout": [0, 16]}, "at most the smallest resolution (8)"),
    ],
)
def test_space_validation_names_dimension_and_allowed(change, fragment):
    with pytest.raises(ValueError) as info:
        BPESpace({**SMALL, **change})
    assert fragment in str(info.value)


def test_space_missing_dimension():
    values = {k: v for k, v in SMALL.items() if k != "cutout"}
    with pytest.raises(ValueError, match=r"lacks dimension.*cutout"):
        BPESpace(values)


def test_space_from_toml(tmp_path):
    good = tmp_path / "s.toml"
    lines = [f"{k} = {json.dumps(v)}" for k, v in SMALL.items()]
    good.write_text('description = "test"\n[dimensions]\n' + "\n".join(lines) + "\n")
    assert BPESpace.load(good).values["lr"] == (0.05, 0.1, 0.2)
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("[dimensions]", "[dims]"))
    with pytest.raises(ValueError, match="unknown key"):
        BPESpace.from_toml(bad)
    with pytest.raises(ValueError, match="does not exist"):
        BPESpace.load(tmp_path / "absent.toml")
    with pytest.raises(ValueError, match=r"one of cpu, gpu or a \.toml file"):
        BPESpace.load("tiny")


def test_fix_and_sample():
    space = BPESpace(SMALL)
    fixed = space.fix("lr", 0.1)
    assert fixed.values["lr"] == (0.1,) and "lr" not in fixed.varying and fixed.fixed == ("lr",)
    with pytest.raises(ValueError, match=r"cannot fix 'lr' to 0\.3"):
        space.fix("lr", 0.3)
    drawn = space.sample(50, np.random.default_rng(0))
    assert len({config_key(c) for c in drawn}) == 50 and all(space.contains(c) for c in drawn)
    assert drawn == space.sample(50, np.random.default_rng(0))
    assert len(fixed.fix("epochs", 1).fix("channels", 4).sample(10_000, np.random.default_rng(0))) == fixed.size // 12


# ---- settings and cost model


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"budget": 0}, "budget = 0 is invalid"),
        ({"budget": math.inf}, "budget = inf is invalid"),
        ({"budget": 10, "per_iteration": 0}, "per_iteration = 0 is invalid"),
        ({"budget": 10, "beta": -1}, "beta = -1 is invalid"),
        ({"budget": 10, "importance": "shap"}, "importance = 'shap' is invalid: must be one of fanova"),
        ({"budget": 10, "mode": "greedy"}, "mode = 'greedy' is invalid: must be one of learn, paper"),
        ({"budget": 10, "confidence": 0.3}, "confidence = 0.3 is invalid"),
        ({"budget": 10, "resamples": 0}, "resamples = 0 is invalid"),
        ({"budget": 10, "choice": "best"}, "choice = 'best' is invalid: must be one of model, observed"),
    ],
)
def test_settings_validation(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        MIPSettings(**kwargs)
    assert fragment in str(info.value)


def test_cost_model_predicts_more_work_as_more_cost():
    model = cost_model()
    base = {
        "epochs": 1,
        "batch_size": 128,
        "lr": 0.1,
        "channels": 4,
        "cells": 1,
        "resolution": 8,
        "fraction": 0.1,
        "cutout": 0,
        "precision": "fp32",
    }
    for dim, bigger in (("epochs", 4), ("channels", 16), ("cells", 2), ("resolution", 32), ("fraction", 0.5)):
        assert model.predict({**base, dim: bigger}) > model.predict(base), dim
    assert model.predict({**base, "batch_size": 64}) > model.predict(base)  # more steps
    assert model.predict({**base, "lr": 0.2}) == model.predict(base)


def test_cost_model_fit_recovers_rates():
    space = BPESpace(SMALL)
    truth = (2e-9, 1e-2, 5e-10)
    hidden = cost_model().fit([], [])
    configs = space.sample(12, np.random.default_rng(1))
    seconds = [float(hidden.n_archs * hidden.features(c) @ np.array(truth)) for c in configs]
    fitted = hidden.fit(configs, seconds)
    assert fitted.fitted_on == 12 and hidden.rates == PRIOR_RATES
    for config, measured in zip(configs, seconds, strict=True):
        assert fitted.predict(config) == pytest.approx(measured, rel=1e-3)
    one = hidden.fit(configs[:1], [seconds[0] * 3])
    assert one.predict(configs[0]) == pytest.approx(seconds[0] * 3)


# ---- designs


def test_stratified_design_covers_every_value_and_halton_extends():
    space = BPESpace(SMALL)
    pool = space.sample(2000, np.random.default_rng(0))
    drawn = stratified(space, pool, 12, np.random.default_rng(1))
    assert len({config_key(c) for c in drawn}) == 12 and all(space.contains(c) for c in drawn)
    for dim in space.varying:  # a Latin hypercube of 12 points hits every value of every dimension
        assert {c[dim] for c in drawn} == set(space.values[dim]), dim
    random_draw = space.sample(12, np.random.default_rng(1))
    assert len(halton(space, 20)) == 20 and halton(space, 30)[:20] == halton(space, 20)
    cheap = stratified(space, pool, 12, np.random.default_rng(1), penalty=np.array([c["epochs"] for c in pool]) / 4)
    assert np.mean([c["epochs"] for c in cheap]) < np.mean([c["epochs"] for c in drawn])
    assert random_draw != drawn


# ---- MIP on synthetic objectives with known answers


E_GAIN = {1: 0.0, 2: 0.6, 4: 0.9, 8: 1.0}
C_GAIN = {4: 0.0, 8: 0.7, 16: 1.0}
LR_GAIN = {0.05: 0.3, 0.1: 1.0, 0.2: 0.5}
R_GAIN = {8: 0.0, 16: 1.0}
KNOWN = ("epochs", "channels", "lr", "resolution")
"""The dimensions `known_tau` depends on; its best region is epochs 8, channels 16, lr 0.1, resolution 16."""


def known_tau(config: dict) -> float:
    gain = 0.4 * E_GAIN[config["epochs"]] + 0.3 * C_GAIN[config["channels"]]
    return -0.1 + 0.6 * (gain + 0.2 * LR_GAIN[config["lr"]] + 0.1 * R_GAIN[config["resolution"]])


def noisy_objective(model: CostModel, noise: float, seed: int):
    """known_tau plus seeded measurement noise; cost = 1.5 x the cost model's prior (what MIP pays is measured)."""

    def objective(config: dict) -> Measurement:
        digest = hashlib.sha256(f"{json.dumps(config, sort_keys=True)}:{seed}".encode()).hexdigest()
        rng = np.random.default_rng(int(digest[:8], 16))
        return Measurement(known_tau(config) + rng.normal(0, noise), 1.5 * model.predict(config))

    return objective


def test_mip_reaches_90_percent_of_the_best_and_beats_random_search_over_10_seeds():
    space, model = BPESpace(SMALL), cost_model()
    best = max(known_tau(c) for c in space.configs())
    budget = 0.04 * sum(1.5 * model.predict(c) for c in space.configs())  # about 46 configs of average cost
    mip, rs, paper = [], [], []
    for seed in range(10):
        objective = noisy_objective(model, 0.05, seed)
        settings = MIPSettings(budget, n_trees=24, resamples=8, seed=seed)
        result = run_mip(space, objective, model, settings)
        mip.append(known_tau(result.chosen.config))
        rs.append(known_tau(random_search(space, objective, model, budget, seed).chosen.config))
        paper_settings = MIPSettings(budget, "paper", per_iteration=4, beta=1.0, n_trees=24, resamples=1, seed=seed)
        paper.append(known_tau(run_mip(space, objective, model, paper_settings).chosen.config))
        assert result.spent <= budget + max(t.cost for t in result.trials)
    print(
        f"\nbest reachable tau {best:.3f}; chosen config's true tau over 10 seeds: MIP {np.mean(mip):.3f} +- "
        f"{np.std(mip):.3f} ({np.mean(mip) / best:.0%} of best), random search {np.mean(rs):.3f} +- {np.std(rs):.3f}, "
        f"paper rule {np.mean(paper):.3f} +- {np.std(paper):.3f}"
    )
    assert np.mean(mip) >= 0.9 * best
    assert np.mean(mip) >= np.mean(rs)


def test_learn_mode_spends_the_budget_and_prunes_only_what_varied():
    space, model = BPESpace(SMALL), cost_model()
    budget = 0.01 * sum(1.5 * model.predict(c) for c in space.configs())
    settings = MIPSettings(budget, per_iteration=4, n_trees=16, resamples=6, seed=1)
    result = run_mip(space, noisy_objective(model, 0.05, 1), model, settings)
    # the budget ends the run, not the number of dimensions (the old rule stopped after 4 x (dims - 1) configs)
    assert result.stop_reason in ("budget spent", "no unevaluated config fits the budget left")
    assert len(result.trials) > 4 * (len(space.varying) - 1)
    assert result.spent >= 0.9 * budget
    seen = []
    for iteration in result.iterations:
        seen += iteration.trials
        if iteration.pruned:
            assert len({t.config[iteration.pruned] for t in seen}) >= 2
            assert len(seen) >= min_trials(len(iteration.remaining))
            assert iteration.low_share[iteration.pruned] >= settings.confidence
    pruned = {it.pruned: it.fixed_to for it in result.iterations if it.pruned}
    for dim in set(pruned) & {"epochs", "channels"}:  # an important dimension is never fixed to a clearly worse value
        assert pruned[dim] in ((8, 4) if dim == "epochs" else (16, 8)), (dim, pruned[dim])
    for dim in set(pruned) & {"cells", "fraction"}:  # costly but irrelevant: fixed to the cheapest value
        assert pruned[dim] == space.values[dim][0], (dim, pruned[dim])


def test_a_dimension_that_never_varied_is_not_pruned_in_learn_mode():
    space, model = BPESpace(SMALL), cost_model()
    objective = noisy_objective(model, 0.0, 0)
    trials = [Trial(c | {"cutout": 0}, known_tau(c), 1.0, 1.0, 0) for c in space.sample(30, np.random.default_rng(0))]
    settings = MIPSettings(1e9, n_trees=16, resamples=6)
    analysis = analyse(space, space, trials, settings)
    assert analysis.mean_importance()["cutout"] == 0.0  # never varied: no evidence either way
    from searchers.mip.search import _prune

    dim, _ = _prune(space, space, trials, analysis, model, settings)
    assert dim != "cutout"
    paper, _ = _prune(space, space, trials, analysis, model, MIPSettings(1e9, "paper"))
    assert paper in ("cutout", "batch_size", "cells", "fraction")  # the paper's rule reads "unknown" as unimportant
    assert objective(trials[0].config).tau == pytest.approx(known_tau(trials[0].config))


def test_paper_mode_prunes_every_iteration_to_the_cheapest_value_and_stops_at_one_dimension():
    space, model = BPESpace(SMALL), cost_model()
    settings = MIPSettings(1e9, "paper", per_iteration=6, beta=0.5, n_trees=16, resamples=1, seed=3)
    result = run_mip(space, noisy_objective(model, 0.0, 0), model, settings)
    pruned = [it.pruned for it in result.iterations if it.pruned]
    assert len(pruned) == len(space.varying) - 1
    assert result.stop_reason in ("one dimension left", "remaining space evaluated")
    assert len(result.final_space.varying) == 1
    for dim in ("cells", "resolution", "fraction", "epochs", "channels"):
        if dim in pruned:
            assert result.final_space.values[dim] == (space.values[dim][0],)
    assert len({config_key(t.config) for t in result.trials}) == len(result.trials)


@pytest.mark.parametrize("method", ["fanova", "permutation", "impurity"])
def test_importance_ranks_the_known_dimensions_first(method):
    space = BPESpace(SMALL)
    trials = [Trial(c, known_tau(c), 1.0, 1.0, 0) for c in space.sample(80, np.random.default_rng(0))]
    analysis = analyse(space, space, trials, MIPSettings(1e9, importance=method, n_trees=24, resamples=4))
    scores = analysis.mean_importance()
    assert set(sorted(scores, key=scores.get)[-2:]) == {"epochs", "channels"}, scores
    assert set(sorted(scores, key=scores.get)[-4:]) == set(KNOWN), scores
    pd = analysis.partial["lr"].mean(0)
    assert int(pd.argmax()) == 1  # lr 0.1 is best


def test_mip_is_seeded_and_respects_the_budget():
    space, model = BPESpace(SMALL), cost_model()
    objective = noisy_objective(model, 0.05, 0)
    settings = MIPSettings(budget=600, per_iteration=3, n_trees=8, resamples=3, seed=0)
    first = run_mip(space, objective, model, settings)
    again = run_mip(space, objective, model, settings)
    assert [t.config for t in first.trials] == [t.config for t in again.trials]
    assert first.stop_reason in ("budget spent", "no unevaluated config fits the budget left")
    assert first.spent <= settings.budget + max(t.cost for t in first.trials)
    spent = np.cumsum([0] + [t.cost for t in first.trials])
    assert all(t.predicted_cost <= settings.budget - before for t, before in zip(first.trials, spent, strict=False))


def test_budget_is_charged_measured_not_predicted_cost():
    space, model = BPESpace(SMALL), cost_model()

    def objective(config):  # every config costs 10x what the prior predicts
        return Measurement(known_tau(config), 10 * model.predict(config))

    budget = 20 * model.predict(space.sample(1, np.random.default_rng(0))[0])
    for result in (
        run_mip(space, objective, model, MIPSettings(budget, per_iteration=4, n_trees=8, resamples=2)),
        random_search(space, objective, model, budget, seed=0),
    ):
        assert result.spent == pytest.approx(sum(t.cost for t in result.trials))
        assert result.spent <= budget + max(t.cost for t in result.trials)
        assert sum(t.predicted_cost for t in result.trials) < result.spent


def test_random_search_spends_the_budget_on_uniform_configs():
    space, model = BPESpace(SMALL), cost_model()
    result = random_search(space, noisy_objective(model, 0.0, 0), model, budget=3000, seed=1)
    assert result.method == "random" and result.trials and result.chosen == choose(result.trials)
    assert result.spent >= 3000 or result.stop_reason != "budget spent"
    assert all(space.contains(t.config) for t in result.trials)
    with pytest.raises(ValueError, match="budget"):
        random_search(space, noisy_objective(model, 0.0, 0), model, budget=-1)


def test_searches_restricted_to_candidates():
    space, model = BPESpace(SMALL), cost_model()
    candidates = space.sample(15, np.random.default_rng(4))
    keys = {config_key(c) for c in candidates}
    objective = noisy_objective(model, 0.0, 0)
    mip = run_mip(space, objective, model, MIPSettings(1e9, n_trees=8, resamples=2), candidates=candidates)
    rs = random_search(space, objective, model, 1e9, candidates=candidates)
    for result in (mip, rs):
        assert {config_key(t.config) for t in result.trials} <= keys
    assert len(mip.trials) <= 15 and len(rs.trials) == 15 and mip.stop_reason == "remaining space evaluated"


def test_pareto_front_and_choose():
    def trial(tau, cost):
        return Trial({"tau": tau}, tau, cost, cost, 0)

    trials = [trial(0.2, 10), trial(0.5, 30), trial(0.4, 40), trial(0.6, 100), trial(math.nan, 5), trial(0.1, 20)]
    front = pareto_front(trials)
    assert [(t.tau, t.cost) for t in front if math.isfinite(t.tau)] == [(0.2, 10), (0.5, 30), (0.6, 100)]
    assert choose(trials).tau == 0.6
    assert choose(trials, cost_cap=50).tau == 0.5
    assert choose(trials, cost_cap=1) is None


# ---- resume through the results store


@dataclass(frozen=True)
class SyntheticEstimator:
    """Scores = truth + noise whose size shrinks with epochs and channels; counts its estimate calls."""

    config: dict
    truth: np.ndarray
    calls: list
    limit: int = 10**9
    name: str = "synthetic"

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
        if len(self.calls) >= self.limit:
            raise KeyboardInterrupt
        self.calls.append(len(archs))
        rng = np.random.default_rng(int(hashlib.sha256(str(sorted(self.config.items())).encode()).hexdigest()[:8], 16))
        noise = 4.0 / (self.config["epochs"] * self.config["channels"])
        scores = self.truth[archs] + rng.normal(0, noise, len(archs))
        zeros = np.zeros(len(archs))
        return Estimation(archs, scores, np.full(len(archs), 2.0), "test-device", zeros, zeros)


def test_killed_run_resumes_from_the_store(tmp_path):
    archs = np.arange(8)
    truth_all = np.linspace(60, 90, 8)[np.random.default_rng(0).permutation(8)]
    space, model = BPESpace(SMALL), cost_model(n_archs=len(archs))
    settings = MIPSettings(budget=16 * 8, per_iteration=2, importance="impurity", n_trees=8)

    def objective(store, calls, limit=10**9):
        def make(config):
            return SyntheticEstimator(config, truth_all, calls, limit)

        return EstimatorObjective(make, "cifar10-valid", archs, truth_all[archs], seed=0, store=store)

    with Store(tmp_path / "r.h5") as store, pytest.raises(KeyboardInterrupt):
        run_mip(space, objective(store, [], limit=3), model, settings)
    calls: list = []
    with Store(tmp_path / "r.h5") as store:
        resumed = run_mip(space, objective(store, calls), model, settings)
        assert len(store.list_configs()) == len(resumed.trials)
    assert [t.reused for t in resumed.trials[:3]] == [True, True, True]
    assert not any(t.reused for t in resumed.trials[3:])
    assert len(calls) == len(resumed.trials) - 3
    with Store(tmp_path / "fresh.h5") as store:
        fresh = run_mip(space, objective(store, []), model, settings)
    assert [(t.config, t.tau, t.cost) for t in fresh.trials] == [(t.config, t.tau, t.cost) for t in resumed.trials]
    assert all(-1 <= t.tau <= 1 for t in resumed.trials)


# ---- CLI


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--space", "tiny"], "one of cpu, gpu or a .toml file"),
        (["--budget", "0"], "budget = 0.0 is invalid"),
        (["--per-iteration", "0"], "per_iteration = 0 is invalid"),
        (["--importance", "shap"], "importance = 'shap' is invalid"),
        (["--mode", "greedy"], "mode = 'greedy' is invalid"),
        (["--unit", "joules"], "unit = 'joules' is invalid"),
        (["--objective", "pearson"], "metric = 'pearson' is invalid"),
        (["--fresh-archs", "-1"], "fresh_archs = -1 is invalid"),
        (["--presets", "bpe9"], "unknown BPE preset(s) ['bpe9']"),
        (["--eval-split", "x-test"], "eval_split 'x-test' is invalid for cifar10-valid"),
        (["--target", "valid"], "unknown split 'valid'"),
        (["--cost-cap", "-5"], "cost_cap = -5.0 is invalid: must be a number > 0"),
    ],
)
def test_cli_bad_input_exits_2(argv, fragment, capsys):
    assert main(["mip", *argv]) == 2
    assert fragment in capsys.readouterr().err


# ---- end to end with the live `bpe` estimator on synthetic images


TINY_SPACE = """description = "tiny"
[dimensions]
epochs = [1]
batch_size = [64, 128]
lr = [0.1]
channels = [4]
cells = [1]
resolution = [8]
fraction = [0.25, 0.5]
cutout = [0]
precision = ["fp32"]
"""


@pytest.mark.slow
def test_experiment_end_to_end_and_rerun_reuses_the_store(gt, tmp_path):
    from estimators.bpe import SYNTHETIC_ROOT
    from harness.app.mip_experiment import MIPExperiment, run_experiment
    from harness.app.mip_report import render
    from harness.estimation import Execution

    space = tmp_path / "tiny.toml"
    space.write_text(TINY_SPACE)
    experiment = MIPExperiment(
        str(space),
        archs="4",
        budget=1e6,
        per_iteration=2,
        n_trees=8,
        resamples=2,
        fresh_archs=4,
        unit="macs",
        metric="spearman",
        presets=(),
    )
    records = []
    for _ in range(2):
        with Store(tmp_path / "r.h5") as store:
            execution = Execution(SYNTHETIC_ROOT, store, workers=1, progress=False)
            records.append(run_experiment(experiment, gt, execution, log=print))
    first, again = records
    mip = first["mip"]
    assert mip["stop_reason"] == "remaining space evaluated" and len(mip["trials"]) == 4
    assert len(first["archs"]) == 4 and first["random_search"]["trials"]
    assert not set(first["fresh_archs"]) & set(first["archs"]) and len(first["fresh_archs"]) == 4
    assert not any(t["reused"] for t in mip["trials"]) and all(t["reused"] for t in again["mip"]["trials"])
    assert [t["tau"] for t in again["mip"]["trials"]] == [t["tau"] for t in mip["trials"]]
    assert all(0 < t["cost"] < 1 for t in mip["trials"])  # multiply-adds relative to full training
    chosen = first["chosen"]["mip"]
    assert chosen["config"] == mip["trials"][mip["chosen"]]["config"] and -1 <= chosen["fresh"]["tau"] <= 1
    hp12 = first["baselines"][-1]  # the packaged 12-epoch table is in the default ground truth
    assert hp12["name"] == "tabular-hp12" and -1 <= hp12["tau"] <= 1
    text = render(first, "bpebench mip ...")
    assert "## MIP iterations" in text and "## Pareto front" in text and "tabular-hp12" in text
