"""Import layers: the core imports no plugin or application, the two plugin packages never import each other, nothing
outside the application imports it, and only the benchmarks import the benchmarks.

An AST walk over every import of every .py file (top-level or inside a function, `import x`, `from x import y`,
`from harness import app`, relative imports); no third-party dependency. `python tests/test_layers.py ROOT` checks
another checkout: it prints each offending import and exits 1 if there is any.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "estimators", "searchers", "benchmarks")
"""The top-level folders walked."""


class Layer(NamedTuple):
    name: str
    modules: tuple[str, ...]
    """Module prefixes in this layer; a module belongs to the layer of its longest matching prefix."""
    forbidden: tuple[str, ...]
    """Module prefixes its files may not import."""


APP, BENCH, PLUGINS = "harness.app", "benchmarks", ("estimators", "searchers")
LAYERS: tuple[Layer, ...] = (
    #     name           its modules       may not import
    Layer("core",        ("harness",),     (*PLUGINS, APP, BENCH)),
    Layer("estimators",  ("estimators",),  ("searchers", APP, BENCH)),
    Layer("searchers",   ("searchers",),   ("estimators", APP, BENCH)),
    Layer("application", (APP,),           (BENCH,)),
    Layer("benchmarks",  (BENCH,),         ()),
)  # fmt: skip
"""The rule table: one row per layer."""


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> Layer | None:
    """The layer `module` belongs to (its longest matching prefix), None outside every layer."""
    matches = [(len(prefix), layer) for layer in LAYERS for prefix in layer.modules if _within(module, prefix)]
    return max(matches, key=lambda match: match[0])[1] if matches else None


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str) -> list[tuple[int, list[str]]]:
    """(line, candidate targets) of every import statement in `path`, relative ones resolved against `module`.

    `import a.b` gives [a.b]; `from a import b, c` gives [a, a.b, a.c] (b may be a submodule: `from harness import
    app`); the first banned candidate is what a violation names.
    """
    found = []
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, [alias.name]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".") if node.module else []
            if node.level:
                parts = package[: len(package) - node.level + 1] + parts
            base = ".".join(parts)
            names = [f"{base}.{alias.name}" if base else alias.name for alias in node.names if alias.name != "*"]
            found.append((node.lineno, ([base] if base else []) + names))
    return found


def violations(root: Path) -> list[str]:
    """`file:line imports module` for every import against `LAYERS` under `root`."""
    problems = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = module_name(path, root)
            layer = layer_of(module)
            if layer is None:
                continue
            for line, targets in imports(path, module):
                banned = [t for t in targets if any(_within(t, prefix) for prefix in layer.forbidden)]
                if banned:
                    problems.append(f"{path.relative_to(root).as_posix()}:{line} imports {banned[0]}")
    return problems


def test_imports_follow_the_layers() -> None:
    problems = violations(ROOT)
    assert not problems, f"{len(problems)} import(s) against the layers (tests/test_layers.py LAYERS):\n" + "\n".join(
        problems
    )


def test_every_package_walked_has_a_layer() -> None:
    assert all(layer_of(package) is not None for package in PACKAGES)
    assert layer_of("harness.app.cli.main").name == "application" and layer_of("harness.apps").name == "core"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_walk_sees_every_form_of_import(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "harness/__init__.py": "",
            "harness/a.py": "from harness import app, paths\n",
            "harness/b.py": "import os\n\n\ndef f():\n    import estimators.bpe as bpe\n",
            "harness/app/__init__.py": "from benchmarks.x import y\n",
            "harness/app/cli/x.py": "from ... import space\nfrom .. import report\nfrom . import common\n",
            "harness/groundtruth/y.py": "from .. import space\nfrom ..app.cli import x\n",
            "searchers/bad.py": "def f():\n    from estimators import bpe\n",
            "searchers/mip/__init__.py": "from ..base import Problem\nfrom harness.app.suite import run\n",
            "estimators/ok.py": "from harness.estimation import Estimator\nfrom . import tabular\n",
            "benchmarks/ok.py": "import benchmarks.other\nfrom harness.app import cli\nimport estimators, searchers\n",
        },
    )
    assert sorted(violations(root)) == [
        "harness/a.py:1 imports harness.app",
        "harness/app/__init__.py:1 imports benchmarks.x",
        "harness/b.py:5 imports estimators.bpe",
        "harness/groundtruth/y.py:2 imports harness.app.cli",
        "searchers/bad.py:2 imports estimators",
        "searchers/mip/__init__.py:2 imports harness.app.suite",
    ]


if __name__ == "__main__":
    found = violations(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT)
    print("\n".join(found) if found else "no imports against the layers")
    if found:
        print(f"{len(found)} import(s) against the layers", file=sys.stderr)
    sys.exit(1 if found else 0)
