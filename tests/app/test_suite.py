import math
import shutil
from dataclasses import replace

import pytest

from harness.app import leaderboard, report
from harness.app.suite import Suite, read_record, record_path
from harness.app.suite_run import FETCH_IMAGES, NO_IMAGES, run_suite

TINY = {
    "description": "test suite",
    "estimate": [
        {"estimators": ["params", "tabular-hp200-seed"], "datasets": ["cifar10-valid", "cifar100"], "archs": "60"},
    ],
    "search": [
        {"searchers": ["rs"], "estimators": ["params"], "datasets": ["cifar10-valid"], "budgets": [1.0], "seeds": 3},
        {"searchers": ["rea"], "estimators": ["params"], "datasets": ["cifar10-valid"], "queries": 5, "seeds": 2},
    ],
}


@pytest.fixture
def tiny_run(embedded_gt_path, tmp_path):
    gt_file = tmp_path / "gt.h5"
    shutil.copyfile(embedded_gt_path, gt_file)
    suite = Suite.from_dict("tiny", TINY)
    return run_suite(suite, gt_path=gt_file, store_path=tmp_path / "results.h5")


def test_suite_stores_entries_and_record(tiny_run):
    assert [e["estimator"] for e in tiny_run["entries"] if e["kind"] == "estimate"] == [
        "params",
        "params",
        "tabular-hp200-seed",
        "tabular-hp200-seed",
    ]
    assert read_record(Suite.from_dict("tiny", TINY))["provenance"]["commit"]
    assert tiny_run["skipped"] == []


def test_rerun_reuses_store(tiny_run, embedded_gt_path, tmp_path, capsys):
    before = (tmp_path / "results.h5").stat().st_size
    run_suite(Suite.from_dict("tiny", TINY), gt_path=tmp_path / "gt.h5", store_path=tmp_path / "results.h5")
    assert (tmp_path / "results.h5").stat().st_size == before


@pytest.mark.slow  # ~7 s: writes every table and plot twice
def test_leaderboard_is_deterministic(tiny_run, tmp_path):
    first = leaderboard.write_all([report.build_report(record_path(Suite.from_dict("tiny", TINY)))], tmp_path / "a")
    second = leaderboard.write_all([report.build_report(record_path(Suite.from_dict("tiny", TINY)))], tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    text = (tmp_path / "a" / "LEADERBOARD.md").read_text()
    assert "tabular-hp200-seed" in text and "pareto_cifar100.png" in text and tiny_run["provenance"]["commit"] in text
    assert "| cifar10-valid | rea | params | 5 archs | nb201 | 2 |" in text
    assert "Noise ceiling: two independent full trainings" in text and ":held-out" in text
    assert {p.name for p in first} >= {"leaderboard.csv", "leaderboard.html", "search_trajectories.png"}


def test_ceiling_outranks_params(tiny_run):
    built = report.build_report(record_path(Suite.from_dict("tiny", TINY)))
    rows = {(r.estimator, r.dataset): r for r in built.estimators}
    ceiling = rows[("tabular-hp200-seed", "cifar10-valid")]
    size = rows[("params", "cifar10-valid")]
    assert ceiling.kendall_tau > size.kendall_tau
    assert ceiling.target.endswith(":held-out") and size.target.endswith(":mean")
    assert ceiling.device == "nb201-gpu" and ceiling.train_macs_per_arch > 0 and size.device == "none"
    assert {c.dataset for c in built.ceilings} == {"cifar10-valid", "cifar100"}
    assert all(c.seeds == "777 vs 888" and c.n == 60 for c in built.ceilings)
    assert math.isnan(ceiling.precision_at_5) and math.isnan(ceiling.tau_top_10)  # 3 and 6 archs: below k = 10


def test_missing_data_is_skipped_with_reason_and_enabling_command(bare_gt_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BPEBENCH_SHARED_DATA", str(tmp_path / "nowhere"))
    monkeypatch.delenv("BPEBENCH_DATA_ROOT", raising=False)
    shutil.copyfile(bare_gt_path, tmp_path / "gt.h5")
    raw = {
        "data": {"csv": [{"path": "nb201/nb201-hp12-final-accuracy.csv", "preset": "nb201-hp12"}], "images": "x"},
        "estimate": [{"estimators": ["tabular-hp12", "synflow"], "datasets": ["cifar10-valid"], "archs": "5"}],
        "search": [
            {"searchers": ["rs"], "estimators": ["bpe"], "datasets": ["cifar10-valid"], "queries": 2, "seeds": 1},
        ],
    }
    record = run_suite(Suite.from_dict("skips", raw), gt_path=tmp_path / "gt.h5", store_path=tmp_path / "r.h5")
    # the 12-epoch table comes from the package when the reference CSV is absent
    assert [e["estimator"] for e in record["entries"]] == ["tabular-hp12"]
    assert {s["what"].split()[0] for s in record["skipped"]} == {"synflow", "search"}
    assert all(s["reason"] == NO_IMAGES and s["enable"] == FETCH_IMAGES for s in record["skipped"])
    summary = capsys.readouterr().out.split("record at", 1)[1]
    assert "enable with" in summary and summary.count("bpebench data fetch cifar10") == 2
    assert "ran " in summary and "tabular-hp12" in summary


def test_search_without_its_table_is_skipped_once_before_any_seed(bare_gt_path, tmp_path, capsys):
    shutil.copyfile(bare_gt_path, tmp_path / "gt.h5")
    raw = {
        "search": [
            {
                "searchers": ["rs", "rea"],
                "estimators": ["tabular-hp12"],
                "datasets": ["cifar10-valid"],
                "queries": 2,
                "seeds": 20,
            },
        ],
    }
    record = run_suite(Suite.from_dict("no-hp12", raw), gt_path=tmp_path / "gt.h5", store_path=tmp_path / "r.h5")
    assert len(record["skipped"]) == 2 and record["entries"] == []
    assert all("bpebench data build" in s["enable"] and "hp=12" in s["reason"] for s in record["skipped"])
    out = capsys.readouterr().out
    assert "seed(s) failed" not in out and max(len(line) for line in out.splitlines()) < 400


def test_user_suite_named_like_a_shipped_one_keeps_its_own_record(tmp_path):
    custom = tmp_path / "quick.toml"
    custom.write_text('description = "mine"\n[[estimate]]\nestimators = ["params"]\ndatasets = ["cifar10"]\n')
    mine, shipped = Suite.load(str(custom)), Suite.load("quick")
    assert mine.name == shipped.name == "quick" and mine.sha256 != shipped.sha256
    assert record_path(mine) != record_path(shipped)
    assert mine.origin == str(custom.resolve()) and shipped.origin == "shipped" and "shipped" in shipped.label


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"estimate": [{"estimators": ["nope"], "datasets": ["cifar10-valid"]}]}, "unknown estimator 'nope'"),
        ({"estimate": [{"estimators": ["params"], "datasets": ["mnist"]}]}, "unknown dataset 'mnist'"),
        ({"estimate": [{"estimators": [], "datasets": ["cifar10"]}]}, "non-empty list"),
        ({"bogus": {}}, "unknown section"),
        (
            {"search": [{"searchers": ["rs"], "estimators": ["params"], "datasets": ["cifar10"], "budgets": [0]}]},
            "positive",
        ),
        (
            {"search": [{"searchers": ["rs"], "estimators": ["params"], "datasets": ["cifar10"], "queries": 0}]},
            "key 'queries' must be an int >= 1",
        ),
    ],
)
def test_suite_validation(raw, fragment):
    with pytest.raises(ValueError, match=fragment):
        Suite.from_dict("bad", raw)


def test_shipped_suites_load():
    for name in ("quick", "standard", "gpu"):
        suite = Suite.load(name)
        assert suite.estimate and suite.search


def test_leaderboard_names_missing_entries_first_and_never_shrinks_silently(tiny_run, tmp_path):
    full = report.build_report(record_path(Suite.from_dict("tiny", TINY)))
    assert "Complete: every entry" in leaderboard.markdown([full])
    leaderboard.write_all([full], tmp_path / "out", force=False)
    skipped = {"what": "synflow on cifar10-valid", "reason": "no images", "enable": "`bpebench data fetch cifar10`"}
    partial = replace(full, searches=[], skipped=[skipped])
    text = leaderboard.markdown([partial])
    assert text.index("Missing entries") < text.index("## Suite") and "`bpebench data fetch cifar10`" in text
    before = (tmp_path / "out" / "leaderboard.csv").read_bytes()
    with pytest.raises(ValueError, match=r"holds a leaderboard of 6 entries and this one has 4.*--force.*--out"):
        leaderboard.write_all([partial], tmp_path / "out", force=False)
    assert (tmp_path / "out" / "leaderboard.csv").read_bytes() == before
    leaderboard.write_all([partial], tmp_path / "out", force=True)
    assert leaderboard.stored_entry_count(tmp_path / "out") == 4


def test_leaderboard_tables_per_sample_regret_and_notes(tiny_run):
    full = report.build_report(record_path(Suite.from_dict("tiny", TINY)))
    first = full.estimators[0]
    other = replace(first, archs="30", n=30, estimator="flops", kendall_tau=-0.3, tau_low=-0.5, tau_high=-0.1)
    search = full.searches[0]
    twin = replace(search, searcher="rea")
    text = leaderboard.markdown([replace(full, estimators=[*full.estimators, other], searches=[search, twin])])
    assert "#### Sample `60` (n = 60 archs)" in text and "#### Sample `30` (n = 30 archs)" in text
    assert text.index("Sample `60`") < text.index("Sample `30`")  # biggest sample first, never mixed
    assert "Anti-correlated: the whole tau interval of flops on" in text
    assert f"Identical outcomes: rea, rs with {search.estimator}" in text
    assert f"optimum {search.optimum:.2f} on cifar10-valid" in text and "regret (points)" in text
    assert search.optimum == pytest.approx(91.61, abs=0.01)  # NB201's best mean x-valid accuracy on cifar10-valid


def _predictor_row(features: str, k: int, tau: float) -> dict:
    stat = {"mean": tau, "low": tau - 0.01, "high": tau + 0.01, "n": 10}
    return {
        "features": features, "regressor": "rf", "k": k, "test_archs": 1000, "kendall_tau": stat, "spearman": stat,
        "label_seconds": 7200.0, "total_seconds": 9000.0, "cost_device": "nb201-gpu",
    }  # fmt: skip


def test_leaderboard_shows_every_k100_predictor_row_best_first(tiny_run, tmp_path):
    stored = {
        "command": "python -m benchmarks.predictors_experiment",
        "made": {"curves": {"commit": "abc1234"}},
        "curves": {
            "label": "tabular-hp200-seed", "target": "cifar10-valid:x-valid:acc:200:mean", "seeds": 10,
            "rows": [_predictor_row("zc", 100, 0.70), _predictor_row("onehot", 100, 0.45),
                     _predictor_row("zc", 400, 0.85)],
        },
    }  # fmt: skip
    built = report.build_report(record_path(Suite.from_dict("tiny", TINY)))
    leaderboard.write_all([built], tmp_path, predictors=stored)
    text = (tmp_path / "LEADERBOARD.md").read_text()
    section = text[text.index("## Learned predictors at k = 100") :]
    assert section.index("| zc | rf |") < section.index("| onehot | rf |")
    assert "0.700 [0.690, 0.710]" in section and "0.850" not in section  # the k = 400 row is left out
    assert "2.00 h on nb201-gpu" in section and "commit abc1234" in section
    assert "Learned predictors at k = 100" in (tmp_path / "leaderboard.html").read_text()
