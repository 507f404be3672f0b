"""Deferred imports: a stand-in module that imports the real one on first attribute access.

Heavy libraries (torch, scikit-learn) cost seconds to import; commands that never touch them (`bpebench --help`,
table estimators) should not pay for them. `torch = lazy("torch")` at the top of a module keeps the usual spelling
(`torch.zeros(...)`) and imports torch when a function first uses it.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class _LazyModule(types.ModuleType):
    """Module stand-in: attribute access imports `name` and reads the attribute from it."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.__name__), attr)


def lazy(name: str) -> Any:
    """A stand-in for module `name`, imported on first use."""
    return _LazyModule(name)
