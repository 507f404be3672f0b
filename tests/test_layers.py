"""Import layers: the core imports no plugin or application, searchers never import estimators, nothing imports
the application. An AST walk over every import, top-level or inside a function; `python tests/test_layers.py ROOT`
checks another checkout."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "estimators", "searchers", "benchmarks")
FORBIDDEN = {
    "core": ("estimators", "searchers", "harness.app", "benchmarks"),
    "estimators": ("searchers", "harness.app", "benchmarks"),
    "searchers": ("estimators", "harness.app", "benchmarks"),
    "application": (),
}
"""Layer -> module prefixes its files may not import."""


def layer(module: str) -> str:
    if module == "harness.app" or module.startswith("harness.app.") or module.startswith("benchmarks"):
        return "application"
    return "core" if module.startswith("harness") else module.split(".")[0]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) of every import in `path`, relative ones resolved against `module`."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, f"{base}.{alias.name}" if base else alias.name) for alias in node.names]
    return found


def violations(root: Path) -> list[str]:
    problems = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = module_name(path, root)
            for line, target in imports(path, module):
                banned = FORBIDDEN[layer(module)]
                if any(target == b or target.startswith(b + ".") for b in banned):
                    problems.append(f"{path.relative_to(root)}:{line} imports {target}")
    return problems


def test_imports_follow_the_layers() -> None:
    problems = violations(ROOT)
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    (tmp_path / "searchers").mkdir()
    (tmp_path / "searchers" / "bad.py").write_text("def f():\n    from estimators import bpe\n")
    assert violations(tmp_path) == ["searchers/bad.py:2 imports estimators.bpe"]


if __name__ == "__main__":
    found = violations(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
    print("\n".join(found) or "no violations")
    sys.exit(1 if found else 0)
