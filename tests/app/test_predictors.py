"""`bpebench predictors`: k-curves with CIs and label cost, on the embedded ground truth and a small fake table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from estimators import predictor
from harness import space
from harness.app.cli import EXIT_BAD_INPUT, main
from harness.app.predictors import CurveSpec, format_rows, run_curves
from harness.estimation import Execution
from harness.store import Result, Store
from harness.stored import estimator_key, estimator_record

DATASET = "cifar10-valid"


@pytest.fixture
def table(gt, tmp_path: Path) -> Path:
    """A store with fake table proxies (truth plus noise) of 150 archs under the zero-cost estimators' keys."""
    path = tmp_path / "zc.h5"
    truth = gt.metric(DATASET, "x-valid", "acc")
    rng = np.random.default_rng(0)
    archs = rng.choice(space.NUM_ARCHS, size=150, replace=False)
    with Store(path) as store:
        for estimator in predictor.zerocost_estimators(gt, Execution()).values():
            key = estimator_key(estimator)
            store.add_config(key, estimator_record(estimator))
            for arch in archs.tolist():
                store.put(key, DATASET, Result(arch, 0, float(truth[arch] + rng.normal(0, 2)), wall_seconds=0.1,
                                               device="cpu"))  # fmt: skip
    return path


def test_curves_have_a_ci_per_row_and_count_the_label_cost(gt, table: Path) -> None:
    spec = CurveSpec(DATASET, (10, 40), 3, ("encoding+size", "zc"), ("rf",), str(table), test_size=120, trees=20)
    result = run_curves(gt, spec)
    rows = {(r["features"], r["k"]): r for r in result["rows"]}
    assert set(rows) == {("encoding+size", 10), ("encoding+size", 40), ("zc", 10), ("zc", 40)}
    for row in rows.values():
        tau = row["kendall_tau"]
        assert tau["n"] == 3 and tau["low"] <= tau["mean"] <= tau["high"]
        assert row["label_seconds"] > 0 and row["cost_device"] == "nb201-gpu"
    assert rows[("zc", 40)]["label_seconds"] > 3 * rows[("zc", 10)]["label_seconds"]
    # 150 table archs < 120 + 40: the table sets are tested on the rest of the table
    assert result["test_from"] == "all archs" and result["test_archs"] == 120
    assert rows[("zc", 40)]["test"] == "rest of the zero-cost table" and rows[("zc", 40)]["test_archs"] == 110
    assert rows[("zc", 40)]["seconds_elsewhere"] == {"cpu": pytest.approx(0.1 * 5 * 150)}
    assert {v["estimator"] for v in result["vote"]} >= {"synflow", "vote(synflow+jacob_cov+snip)"}
    assert any("Kendall tau" in line for line in format_rows(result))


def test_cli_prints_json_rows_with_label_cost(gt, embedded_gt_path: Path, table: Path, tmp_path: Path, capsys) -> None:
    gt_file = tmp_path / "gt.h5"
    shutil.copyfile(embedded_gt_path, gt_file)
    argv = ["predictors", "--groundtruth", str(gt_file), "--k", "10", "--seeds", "2", "--features", "onehot",
            "--regressors", "rf,lgbm", "--table", str(table), "--test-size", "50", "--json"]  # fmt: skip
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {(r["regressor"], r["k"]) for r in payload["rows"]} == {("rf", 10), ("lgbm", 10)}
    assert all(r["label_seconds"] > 0 and r["kendall_tau"]["n"] == 2 for r in payload["rows"])


def test_cli_rejects_an_unknown_feature_set(capsys) -> None:
    assert main(["predictors", "--features", "bogus", "--seeds", "2"]) == EXIT_BAD_INPUT
    assert "unknown feature set" in capsys.readouterr().err
