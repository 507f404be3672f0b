"""Name -> estimator factory. Modules register themselves; the CLI, tests and leaderboard list from here."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from estimators.base import Estimator

Factory = Callable[..., Estimator]


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Factory
    summary: str
    family: str
    live: bool
    """True when estimating runs real computation (training, forward passes) rather than a table lookup."""


_REGISTRY: dict[str, Entry] = {}
_INFRASTRUCTURE = {"base", "registry"}


def register(name: str, family: str, live: bool = False) -> Callable[[Factory], Factory]:
    """Decorator: register `factory(gt, **options) -> Estimator` under `name`; its docstring is the summary."""

    def decorate(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise ValueError(f"estimator {name!r} is registered twice")
        summary = (factory.__doc__ or "").strip().splitlines()[0] if factory.__doc__ else ""
        _REGISTRY[name] = Entry(name, factory, summary, family, live)
        return factory

    return decorate


def _load_all() -> None:
    """Import every module of the `estimators` package so that each registers its entries."""
    import estimators

    for module in pkgutil.iter_modules(estimators.__path__):
        if module.name not in _INFRASTRUCTURE:
            importlib.import_module(f"estimators.{module.name}")


def entries() -> list[Entry]:
    """Every registered estimator, sorted by name."""
    _load_all()
    return sorted(_REGISTRY.values(), key=lambda e: e.name)


def names() -> list[str]:
    return [e.name for e in entries()]


def entry(name: str) -> Entry:
    _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown estimator {name!r}; available: {', '.join(names())}")
    return _REGISTRY[name]


def create(name: str, gt, **options) -> Estimator:
    """Build the estimator registered as `name` over ground truth `gt`."""
    return entry(name).factory(gt, **options)
