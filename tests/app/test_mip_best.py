"""The `mip-best-cpu` preset is the committed BPE table's winner, re-scored on archs the table never saw."""

import json
from pathlib import Path

import numpy as np
import pytest

from harness import metrics, space
from harness.app import bpe_table, mip_best
from harness.train import BPE, PRESETS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def in_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_preset_is_the_table_winner_under_the_ceiling(gt) -> None:
    winner = mip_best.table_candidates(bpe_table.load(bpe_table.DEFAULT_PATH, gt))[0]
    assert winner.config == PRESETS[mip_best.PRESET]
    assert winner.relative_macs <= mip_best.CEILING
    configs = bpe_table.status(bpe_table.DEFAULT_PATH, gt)["complete_configs"]
    assert winner.table_tau == max(r["kendall_tau"] for r in configs if r["relative_macs"] <= mip_best.CEILING)
    assert winner.table_difference.value == 0


def test_runners_up_are_cheaper_and_not_significantly_worse_on_the_table(gt) -> None:
    winner, *cheaper = mip_best.table_candidates(bpe_table.load(bpe_table.DEFAULT_PATH, gt))
    costs = [c.relative_macs for c in cheaper]
    assert costs == sorted(costs) and all(cost < winner.relative_macs for cost in costs)
    assert all(c.table_difference.low <= c.table_tau - winner.table_tau <= c.table_difference.high for c in cheaper)
    assert all(c.table_difference.high >= 0 for c in cheaper)
    table = bpe_table.load(bpe_table.DEFAULT_PATH, gt)
    relative = table.relative_macs()
    left_out = [
        i
        for i in np.flatnonzero(table.complete & (relative < winner.relative_macs))
        if BPE(**table.configs[i]) not in {c.config for c in cheaper}
    ]
    best = next(i for i, c in enumerate(table.configs) if BPE(**c) == winner.config)
    for i in left_out:
        assert metrics.paired_tau_difference(table.scores[i], table.scores[best], table.truth).high < 0


def test_committed_searches_used_the_search_bpe() -> None:
    stored = json.loads((ROOT / "results" / "mip_best_cpu.json").read_text())
    headline = json.loads((ROOT / "results" / "search_experiment.json").read_text())["headline"]
    assert stored["search_bpe"] == headline["live_bpe"]
    (chosen,) = [c for c in stored["candidates"] if c["setting"] == headline["live_bpe_setting"]]
    assert chosen["fresh_difference"]["high"] >= 0
    cheaper = [c for c in stored["candidates"] if c["relative_macs"] < chosen["relative_macs"]]
    assert all(c["fresh_difference"]["high"] < 0 for c in cheaper)


def test_fresh_archs_are_unique_not_isomorphic_to_the_table_and_reproducible(gt) -> None:
    archs = mip_best.fresh_archs(gt, 120)
    table = json.loads(bpe_table.sidecar(bpe_table.DEFAULT_PATH).read_text())["archs"]
    classes = {space.isomorphism_key(gt.arch_strings[a]) for a in archs}
    assert len(classes) == 120
    assert not classes & {space.isomorphism_key(gt.arch_strings[a]) for a in table}
    stored = json.loads((ROOT / "results" / "mip_best_cpu.json").read_text())
    assert archs.tolist() == stored["fresh_archs"]
