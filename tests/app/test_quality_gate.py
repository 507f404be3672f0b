"""Quality-regression gate: cheap estimators must keep the Kendall tau the committed leaderboard shows."""

import csv
from pathlib import Path

import pytest

import estimators
from harness.evaluate import evaluate, select_archs

LEADERBOARD = Path(__file__).resolve().parents[2] / "results" / "leaderboard.csv"


def committed_rows() -> list[dict]:
    if not LEADERBOARD.exists():
        return []
    with LEADERBOARD.open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["kind"] == "estimator" and r["suite"] == "quick"]
    return [r for r in rows if not estimators.entry(r["estimator"]).live and not r["options"]]


def test_committed_leaderboard_has_cheap_estimators():
    assert LEADERBOARD.exists(), (
        "results/leaderboard.csv is missing: run `bpebench suite quick && bpebench leaderboard`"
    )
    assert len(committed_rows()) >= 5


@pytest.mark.parametrize("row", committed_rows(), ids=lambda r: f"{r['estimator']}-{r['dataset']}")
def test_kendall_tau_did_not_regress(row, gt, request):
    if row["estimator"] == "tabular-hp12":
        gt = request.getfixturevalue("gt_hp12")
    archs = select_archs(row["archs"], gt, seed=int(row["seed"]))
    result = evaluate(
        estimators.create(row["estimator"], gt), gt, row["dataset"], archs, seed=int(row["seed"]), n_boot=10
    )
    committed = float(row["kendall_tau"])
    half_width = (float(row["tau_high"]) - float(row["tau_low"])) / 2
    assert result.report.n == int(row["n"])
    assert result.report.kendall_tau.value >= committed - half_width, (
        f"{row['estimator']} on {row['dataset']}: tau {result.report.kendall_tau.value:.3f} fell below the committed "
        f"{committed:.3f} by more than the CI half-width {half_width:.3f}"
    )
