"""Default locations: user cache directory, ground-truth file, shared reference data, the datasets' folder."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "BPEBENCH_CACHE_DIR"
GROUNDTRUTH_ENV = "BPEBENCH_GROUNDTRUTH"
SHARED_DATA_ENV = "BPEBENCH_SHARED_DATA"
DATA_ROOT_ENV = "BPEBENCH_DATA_ROOT"
SYNTHETIC_ROOT = "synthetic:"
"""Data root naming `harness.data.synthetic` images instead of a folder: runs anywhere, for tests and smoke runs."""


def cache_dir() -> Path:
    """User cache root: $BPEBENCH_CACHE_DIR, else $XDG_CACHE_HOME/bpebench, else ~/.cache/bpebench."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "bpebench"


def groundtruth_path() -> Path:
    """Ground-truth HDF5 file: $BPEBENCH_GROUNDTRUTH, else <cache>/groundtruth.h5."""
    if os.environ.get(GROUNDTRUTH_ENV):
        return Path(os.environ[GROUNDTRUTH_ENV]).expanduser()
    return cache_dir() / "groundtruth.h5"


def shared_data_dir() -> Path:
    """Reference data folder: $BPEBENCH_SHARED_DATA, else ../shared/data beside the source checkout or the working dir.

    An installed copy (no checkout around it) looks beside the working dir only, never inside the virtualenv.
    """
    if os.environ.get(SHARED_DATA_ENV):
        return Path(os.environ[SHARED_DATA_ENV]).expanduser()
    checkout = Path(__file__).resolve().parents[1]
    beside_cwd = Path.cwd().resolve().parent / "shared" / "data"
    if not (checkout / "pyproject.toml").is_file():
        return beside_cwd
    beside_source = checkout.parent / "shared" / "data"
    return beside_cwd if not beside_source.exists() and beside_cwd.exists() else beside_source


def fetched_data_dir() -> Path:
    """Where `bpebench data fetch` downloads datasets: <cache>/datasets."""
    return cache_dir() / "datasets"


def data_root(root: str | os.PathLike[str] | None = None) -> str:
    """The datasets' folder (or `SYNTHETIC_ROOT`): `root`, else $BPEBENCH_DATA_ROOT, else the shared reference data
    where it exists, else the datasets `bpebench data fetch` downloaded (where it exists), else the shared data folder.

    The one resolution every live estimator, searcher and command uses.
    """
    if root is None or str(root) == "":
        shared, fetched = shared_data_dir(), fetched_data_dir()
        root = os.environ.get(DATA_ROOT_ENV) or (fetched if not shared.is_dir() and fetched.is_dir() else shared)
    return root if root == SYNTHETIC_ROOT else str(Path(root).expanduser())
