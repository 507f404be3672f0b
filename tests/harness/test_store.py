"""The results store: round trips, one writer, torn journals, and a writer SIGKILLed again and again mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from harness.store import JOURNAL_SUFFIX, Result, Store, config_key, default_path, writer


def _result(arch: int, seed: int = 0, epochs: int = 3) -> Result:
    curve = np.linspace(10, 10 + arch, epochs)
    return Result(arch, seed, float(curve[-1]), curve, wall_seconds=arch / 10, macs=arch * 1e6)


def test_round_trip_through_compaction_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "results.h5"
    with Store(path, compact_every=2) as store:
        store.add_config("k1", {"estimator": "bpe", "config": {"epochs": 3}})
        for arch in range(5):
            store.put("k1", "cifar10-valid", _result(arch, epochs=2 + arch % 2))
        store.put("k1", "cifar10-valid", Result(7, 1, float("nan"), [12.0, float("nan")], 1.0, 2.0, True, "nan loss"))
    with Store(path, readonly=True) as store:
        assert store.list_configs() == {"k1": {"estimator": "bpe", "config": {"epochs": 3}}}
        assert store.datasets("k1") == ["cifar10-valid"]
        table = store.results("k1", "cifar10-valid")
        assert table.arch.tolist() == [0, 1, 2, 3, 4, 7]
        assert table.curve_length.tolist() == [2, 3, 2, 3, 2, 2]
        np.testing.assert_allclose(table.score[:5], [_result(a, epochs=2 + a % 2).score for a in range(5)])
        failed = store.get("k1", "cifar10-valid", 7, 1)
        assert failed is not None and failed.failed and failed.reason == "nan loss" and np.isnan(failed.score)
        np.testing.assert_array_equal(failed.curve, [12.0, np.nan])
        assert store.get("k1", "cifar10-valid", 7, 0) is None
        assert len(store) == 6
    assert path.with_name(path.name + JOURNAL_SUFFIX).stat().st_size == 0  # close compacted everything


def test_reader_sees_journal_before_compaction(tmp_path: Path) -> None:
    path = tmp_path / "results.h5"
    with Store(path, compact_every=100) as store:
        store.add_config("k", {"x": 1})
        store.put("k", "cifar100", _result(3))
        with Store(path, readonly=True) as reader:
            assert reader.has("k", "cifar100", 3, 0)
            assert reader.results("k", "cifar100").arch.tolist() == [3]


def test_one_writer(tmp_path: Path) -> None:
    path = tmp_path / "results.h5"
    with Store(path) as store:
        with pytest.raises(ValueError, match="already open for writing in this process"):
            Store(path)
        with writer(path) as shared:
            assert shared is store
        code = f"from harness.store import Store\ntry:\n    Store({str(path)!r})\nexcept ValueError as e:\n    print(e)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert "open for writing by another process" in out.stdout, out.stderr
    with Store(path):  # released on close
        pass


def test_writer_opens_and_closes_when_none_is_open(tmp_path: Path) -> None:
    with writer(tmp_path / "r.h5") as store:
        store.add_config("k", {})
        store.put("k", "cifar10", _result(1))
    assert Store(tmp_path / "r.h5", readonly=True).has("k", "cifar10", 1, 0)


def test_rejects_misuse(tmp_path: Path) -> None:
    with Store(tmp_path / "r.h5") as store:
        with pytest.raises(ValueError, match="add_config"):
            store.put("k", "cifar10", _result(1))
        store.add_config("k", {"a": 1})
        store.add_config("k", {"a": 1})
        with pytest.raises(ValueError, match="different config"):
            store.add_config("k", {"a": 2})
        store.put("k", "cifar10", _result(1))
        with pytest.raises(ValueError, match="is stored"):
            store.put("k", "cifar10", _result(1))
    with pytest.raises(ValueError, match="read-only"):
        Store(tmp_path / "r.h5", readonly=True).add_config("j", {})
    with pytest.raises(FileNotFoundError):
        Store(tmp_path / "absent.h5", readonly=True)


def test_torn_journal_tail_is_ignored_and_appends_go_on(tmp_path: Path) -> None:
    path = tmp_path / "r.h5"
    code = textwrap.dedent(
        f"""
        import os
        from harness.store import Result, Store
        store = Store({str(path)!r}, compact_every=100)
        store.add_config("k", {{}})
        for arch in (1, 2):
            store.put("k", "cifar10", Result(arch, 0, float(arch), [1.0, 2.0]))
        os._exit(0)  # dies without compacting, like a kill
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    journal = path.with_name(path.name + JOURNAL_SUFFIX)
    lines = journal.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3 and not path.exists()
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # the last put torn mid-line
    with Store(path) as store:
        assert store.has("k", "cifar10", 1, 0) and not store.has("k", "cifar10", 2, 0)
        store.put("k", "cifar10", Result(2, 0, 2.0, [1.0, 2.0]))
    assert Store(path, readonly=True).results("k", "cifar10").arch.tolist() == [1, 2]


def _journal_of_six(path: Path) -> Path:
    """A killed writer's journal: one config and six results, not compacted."""
    code = textwrap.dedent(
        f"""
        import os
        from harness.store import Result, Store
        store = Store({str(path)!r}, compact_every=100)
        store.add_config("k", {{}})
        for arch in range(6):
            store.put("k", "cifar10", Result(arch, 0, float(arch), [1.0]))
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    return path.with_name(path.name + JOURNAL_SUFFIX)


def test_a_corrupt_journal_line_loses_only_itself_and_is_kept_aside(tmp_path: Path) -> None:
    """One flipped byte in the second result: the five others survive, the journal as it was is moved aside."""
    path = tmp_path / "r.h5"
    journal = _journal_of_six(path)
    lines = journal.read_bytes().splitlines(keepends=True)
    flipped = lines[2].replace(b'"score\\": 1.0', b'"score\\": 9.0')
    assert flipped != lines[2]
    original = b"".join([*lines[:2], flipped, *lines[3:]])
    journal.write_bytes(original)
    with pytest.warns(UserWarning, match="1 unreadable record"):
        reader = Store(path, readonly=True)
    assert reader.unreadable_journal_records == 1 and reader.results("k", "cifar10").arch.tolist() == [0, 2, 3, 4, 5]
    with pytest.warns(UserWarning, match="kept at"), Store(path) as store:
        assert len(store) == 5
    aside = list(tmp_path.glob("r.h5.journal.unreadable-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == original
    assert Store(path, readonly=True).results("k", "cifar10").arch.tolist() == [0, 2, 3, 4, 5]


def test_a_symlinked_store_stays_a_link_and_shares_the_real_stores_lock(tmp_path: Path) -> None:
    real, link = tmp_path / "real.h5", tmp_path / "link.h5"
    link.symlink_to(real)
    with Store(link) as store:
        assert store.path == real
        store.add_config("k", {})
        store.put("k", "cifar10", Result(1, 0, 1.0, [1.0]))
        with pytest.raises(ValueError, match="already open for writing"):
            Store(real)
    assert link.is_symlink() and link.resolve() == real
    assert Store(real, readonly=True).has("k", "cifar10", 1, 0)
    assert not (tmp_path / "link.h5.lock").exists() and not (tmp_path / "link.h5.journal").exists()


def test_config_key_is_stable_and_order_free() -> None:
    a = config_key({"estimator": "bpe", "config": {"epochs": 1, "lr": 0.1}})
    assert a == config_key({"config": {"lr": 0.1, "epochs": 1}, "estimator": "bpe"})
    assert a != config_key({"estimator": "bpe", "config": {"epochs": 2, "lr": 0.1}})
    assert len(a) == 16 and int(a, 16) >= 0


def test_default_path_is_in_the_cache(isolated_cache: Path) -> None:
    assert default_path() == isolated_cache / "results.h5"


_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from harness.store import Result, Store

    path, total = sys.argv[1], int(sys.argv[2])
    with Store(path, compact_every=3) as store:
        store.add_config("k", {"estimator": "test"})
        todo = [a for a in range(total) if not store.has("k", "cifar10-valid", a, 0)]
        print("resume", total - len(todo), flush=True)
        for arch in todo:
            curve = np.arange(200, dtype=float) + arch  # big enough that compactions take a while
            store.put("k", "cifar10-valid", Result(arch, 0, float(arch), curve, 0.5, 1e6))
            print("stored", arch, flush=True)
            time.sleep(0.002)
    print("done", flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_mid_run_loses_only_work_in_flight(tmp_path: Path) -> None:
    """Kill the writer at random moments (mid-put, mid-compaction), reopen, check, resume; finally run to the end."""
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    path, total = tmp_path / "results.h5", 120
    rng = np.random.default_rng(0)
    confirmed: set[int] = set()
    kills = 0
    for _ in range(12):
        child = subprocess.Popen(
            [sys.executable, str(script), str(path), str(total)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        resumed = int(child.stdout.readline().split()[1])
        assert resumed >= len(confirmed)  # every result confirmed before a kill survived it
        target = int(rng.integers(1, 12))
        for line in child.stdout:
            if line.startswith("stored"):
                confirmed.add(int(line.split()[1]))
                target -= 1
            if target == 0 or line.startswith("done"):
                break
        time.sleep(float(rng.uniform(0, 0.01)))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        kills += child.returncode == -signal.SIGKILL
        with Store(path, readonly=True) as reader:  # always readable, never loses a confirmed result
            table = reader.results("k", "cifar10-valid")
            assert set(table.arch.tolist()) >= confirmed
            assert len(set(table.arch.tolist())) == len(table)
            np.testing.assert_array_equal(table.score, table.arch.astype(float))
            assert (table.curves[:, 0] == table.arch).all()
        if path.exists():
            with h5py.File(path, "r") as h5:
                assert h5.attrs["format"] == "bpebench-results"
    assert kills >= 6, "the child finished before most kills; make it slower"
    done = subprocess.run([sys.executable, str(script), str(path), str(total)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.rstrip().endswith("done"), done.stderr
    assert int(done.stdout.splitlines()[0].split()[1]) >= len(confirmed)
    with Store(path, readonly=True) as reader:
        table = reader.results("k", "cifar10-valid")
        assert sorted(table.arch.tolist()) == list(range(total))
    assert not list(tmp_path.glob("results.h5.tmp-*")), "stale compaction temporaries left behind"
    assert os.path.getsize(path.with_name(path.name + JOURNAL_SUFFIX)) == 0
