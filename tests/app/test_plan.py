"""`bpebench plan` and the estimates long commands print first: checks and cost-model figures, nothing runs."""

from __future__ import annotations

import math

import pytest

from harness.app.cli import main
from harness.app.plan import bpe_seconds, describe_seconds, plan_suite
from harness.app.suite import Suite
from harness.app.suite_run import FETCH_IMAGES
from harness.evaluate import select_archs
from harness.train import BPE

RAW = {
    "estimate": [
        {"estimators": ["params", "tabular-hp12"], "datasets": ["cifar10-valid"], "archs": "20"},
        {"estimators": ["bpe"], "options": {"preset": "cpu-tiny"}, "datasets": ["cifar10-valid"], "archs": "10"},
    ],
    "search": [
        {"searchers": ["rea"], "estimators": ["bpe"], "options": {"preset": "cpu-tiny"}, "datasets": ["cifar10-valid"],
         "queries": 5, "seeds": 2},
    ],
}  # fmt: skip


def test_plan_checks_each_entry_without_running(bare_gt):
    rows = plan_suite(Suite.from_dict("p", RAW), bare_gt, data_root=None)
    status = {r.what.split(" on ")[0]: r for r in rows}
    assert status["params"].status == "run" and status["params"].seconds is None
    assert status["tabular-hp12"].status == "skip" and "bpebench data build" in status["tabular-hp12"].enable
    assert all(r.enable == FETCH_IMAGES for r in rows if "bpe" in r.what)


def test_plan_predicts_live_training_from_the_cost_model(gt, tmp_path):
    rows = plan_suite(Suite.from_dict("p", RAW), gt, data_root="synthetic:")
    live = [r for r in rows if "bpe" in r.what]
    assert all(r.status == "run" and r.seconds > 0 for r in live)
    tiny = BPE.from_preset("cpu-tiny")
    sample = [gt.arch(int(a)) for a in select_archs("10", gt, seed=0)]
    assert live[0].seconds == pytest.approx(bpe_seconds(tiny, "cifar10-valid", sample))
    per_query = bpe_seconds(tiny, "cifar10-valid", [gt.arch(int(a)) for a in select_archs("20", gt, seed=0)]) / 20
    assert live[1].seconds == pytest.approx(per_query * 5 * 2)  # 5 queries x 2 seeds
    assert describe_seconds(7200.0, workers=2) == "about 1.00 h on 2 CPU workers"
    assert "not modelled" in describe_seconds(math.nan)


def test_train_dry_run_prints_the_estimate_and_trains_nothing(capsys, embedded_gt_path):
    full = ["train", "11", "--epochs", "12", "--dry-run", "--groundtruth", str(embedded_gt_path)]
    short = ["train", "11", "--epochs", "1", "--dry-run", "--groundtruth", str(embedded_gt_path)]
    assert main(full) == 0
    twelve = capsys.readouterr().out
    assert main(short) == 0
    one = capsys.readouterr().out
    assert "estimated time: about" in twelve and "epoch" not in twelve.split("estimated time")[1]
    assert twelve != one


def test_plan_command(capsys, embedded_gt_path, tmp_path):
    suite = tmp_path / "mine.toml"
    suite.write_text('[[estimate]]\nestimators = ["params"]\ndatasets = ["cifar10"]\narchs = "10"\n')
    assert main(["plan", str(suite), "--groundtruth", str(embedded_gt_path)]) == 0
    out = capsys.readouterr().out
    assert "run   params on cifar10" in out and "1 would run, 0 would be skipped" in out


def test_live_search_prints_its_estimate_then_each_query_with_an_eta(capsys, embedded_gt_path, tmp_path, monkeypatch):
    monkeypatch.setenv("BPEBENCH_CACHE_DIR", str(tmp_path))
    argv = ["search", "rs", "--estimator", "bpe", "--preset", "cpu-tiny", "--queries", "2", "--seeds", "1"]
    assert main([*argv, "--data-root", "synthetic:", "--groundtruth", str(embedded_gt_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("estimated time for 1 seeds: about")
    assert "seed 0: query 1/2" in captured.err and "seed 0: query 2/2" in captured.err and "ETA" in captured.err
