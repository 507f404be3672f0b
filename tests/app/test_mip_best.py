"""The `mip-best-cpu` preset is the committed BPE table's winner, re-scored on archs the table never saw."""

import json
from pathlib import Path

import pytest

from harness import space
from harness.app import bpe_table, mip_best
from harness.train import PRESETS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def in_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_preset_is_the_table_winner_under_the_ceiling(gt) -> None:
    winner, tau, relative = mip_best.table_winner(gt)
    assert winner == PRESETS[mip_best.PRESET]
    assert relative <= mip_best.CEILING
    taus = [r["kendall_tau"] for r in bpe_table.status(bpe_table.DEFAULT_PATH, gt)["complete_configs"]]
    assert tau == max(taus)


def test_fresh_archs_are_unique_not_isomorphic_to_the_table_and_reproducible(gt) -> None:
    archs = mip_best.fresh_archs(gt, 120)
    table = json.loads(bpe_table.sidecar(bpe_table.DEFAULT_PATH).read_text())["archs"]
    classes = {space.isomorphism_key(gt.arch_strings[a]) for a in archs}
    assert len(classes) == 120
    assert not classes & {space.isomorphism_key(gt.arch_strings[a]) for a in table}
    stored = json.loads((ROOT / "results" / "mip_best_cpu.json").read_text())
    assert archs.tolist() == stored["fresh_archs"]
