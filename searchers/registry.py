"""Name -> searcher factory. Modules register themselves; the CLI, tests and reports list from here."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from searchers.base import Searcher

Factory = Callable[..., Searcher]


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Factory
    summary: str
    uses_estimator: bool
    """False for searchers that train their own supernet (DARTS) instead of querying an estimator."""


_REGISTRY: dict[str, Entry] = {}
_INFRASTRUCTURE = {"base", "registry", "run"}


def register(name: str, uses_estimator: bool = True) -> Callable[[Factory], Factory]:
    """Decorator: register `factory(**options) -> Searcher` under `name`; its docstring is the summary."""

    def decorate(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise ValueError(f"searcher {name!r} is registered twice")
        summary = (factory.__doc__ or "").strip().splitlines()[0] if factory.__doc__ else ""
        _REGISTRY[name] = Entry(name, factory, summary, uses_estimator)
        return factory

    return decorate


def _load_all() -> None:
    """Import every module of the `searchers` package so that each registers its entries."""
    import searchers

    for module in pkgutil.iter_modules(searchers.__path__):
        if module.name not in _INFRASTRUCTURE:
            importlib.import_module(f"searchers.{module.name}")


def entries() -> list[Entry]:
    """Every registered searcher, sorted by name."""
    _load_all()
    return sorted(_REGISTRY.values(), key=lambda e: e.name)


def names() -> list[str]:
    return [e.name for e in entries()]


def entry(name: str) -> Entry:
    _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown searcher {name!r}; available: {', '.join(names())}")
    return _REGISTRY[name]


def create(name: str, **options) -> Searcher:
    """Build the searcher registered as `name` with its options (e.g. population=10 for rea)."""
    return entry(name).factory(**options)
