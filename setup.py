"""Build hook: write the source commit into the built package (harness/COMMIT), read by provenance records."""

from __future__ import annotations

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCommit(build_py):
    """`build_py` that also writes `harness/COMMIT`: the checkout's commit, or 'unknown' outside a git checkout."""

    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
                cwd=root, capture_output=True, text=True, check=True,
            ).stdout.strip()
            commit += "+dirty" if dirty else ""
        except (OSError, subprocess.CalledProcessError):
            commit = "unknown"
        target = Path(self.build_lib) / "harness" / "COMMIT"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(commit + "\n")


setup(cmdclass={"build_py": BuildWithCommit})
