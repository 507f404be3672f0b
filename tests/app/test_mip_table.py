"""The tabular BPE benchmark: a build that resumes and extends, its arrays, and MIP vs random search on a table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.app.bpe_table import TableSpec, build, load, status
from harness.app.cli import main
from harness.app.mip_table import TableObjective, compare, rank_metric, render, synthetic_table, table_space
from harness.estimation import Execution
from harness.paths import SYNTHETIC_ROOT

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_table_objective_scores_its_columns_and_charges_their_measured_cost():
    table = synthetic_table(n_configs=10, n_archs=20)
    columns = np.arange(10)
    for unit in ("macs", "seconds"):
        objective = TableObjective(table, columns, "kendall", unit)
        measured = objective(table.configs[3])
        assert measured.tau == pytest.approx(rank_metric("kendall", table.scores[3, :10], table.truth[:10]))
        raw = table.macs if unit == "macs" else table.seconds
        expected = raw[3, :10].sum() / (table.full_macs[:10].sum() if unit == "macs" else 1)
        assert measured.cost == pytest.approx(expected)
    spearman = TableObjective(table, columns, "spearman")(table.configs[3]).tau
    assert spearman != measured.tau and -1 <= spearman <= 1
    assert table_space(table).size >= len(table.configs)


def test_compare_on_a_synthetic_table():
    table = synthetic_table(n_configs=24, n_archs=40)
    settings = {"n_trees": 12, "resamples": 4, "per_iteration": 4}
    record = compare(table, [ARCH], 10, 25_000, 10_000, seeds=3, budget_share=0.3, settings=settings, log=None)
    assert set(record["methods"]) == {"mip-learn", "mip-paper", "random"}
    for method, summary in record["methods"].items():
        assert summary["n"] == 3 and len(summary["per_seed"]) == 3, method
        for row in summary["per_seed"]:
            assert -1 <= row["held_out"] <= row["best_held_out"] <= 1
            # measured cost is charged: at most one config past the budget
            assert row["spent"] <= row["budget"] * 1.5
        assert 0 <= summary["within_noise_share"] <= 1
    assert record["paired"]["mip-learn"]["n"] == 3
    text = render(record, "bpebench mip table compare ...")
    assert "| mip-learn | 3 |" in text and "minus random" in text


def test_compare_needs_complete_configs():
    table = synthetic_table(n_configs=6, n_archs=10)
    table.seconds[:4, 0] = np.nan  # only 2 configs complete
    with pytest.raises(ValueError, match="2 complete configs"):
        compare(table, [ARCH], 10, 25_000, 10_000, seeds=1, log=None)


def test_table_spec_validation():
    with pytest.raises(ValueError, match="eval_images"):
        TableSpec(eval_images=10**6)
    with pytest.raises(ValueError, match="unknown BPE preset"):
        TableSpec(presets=("bpe9",))
    spec = TableSpec(configs=5, presets=("bpe1",))
    design = spec.design()
    assert len(design) == 6 and all(b.eval_images == 5000 for b in design)
    assert TableSpec(configs=8).design()[:5] == design[:5]  # a larger design keeps the smaller one's configs


def test_cli_table_bad_input_exits_2(capsys):
    assert main(["mip", "table", "build", "--configs", "0"]) == 2
    assert "configs = 0 is invalid" in capsys.readouterr().err
    assert main(["mip", "table", "compare", "--table", "/nonexistent/t.h5"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_build_resumes_and_extends(gt, tmp_path):
    path = tmp_path / "table.h5"
    execution = Execution(SYNTHETIC_ROOT, str(path), workers=1, progress=False)
    small = TableSpec(configs=2, archs=4, eval_images=50, presets=())
    lines: list[str] = []
    build(small, gt, execution, log=lines.append)
    assert sum("(4 trained now)" in line for line in lines) == 2
    lines.clear()
    build(TableSpec(configs=3, archs=4, eval_images=50, presets=()), gt, execution, log=lines.append)
    assert (
        sum("(0 trained now)" in line for line in lines) == 2 and sum("(4 trained now)" in line for line in lines) == 1
    )
    table = load(path, gt)
    assert table.scores.shape == (3, 4) and table.complete.all() and np.isfinite(table.scores).all()
    assert (table.relative_macs() > 0).all() and (table.relative_macs() < 1).all()
    state = status(path, gt)
    assert state["complete"] == 3 and state["results"] == 12 and state["predicted_remaining_unit_hours_cost_model"] == 0
    assert state["unit_hours_spent"] == pytest.approx(np.nansum(table.seconds) / 3600)
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["command"].startswith("bpebench mip table build") and len(record["keys"]) == 3
