"""One registry type: name -> factory, filled by the plugin modules' decorators; the CLI, tests and reports list it."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
C = TypeVar("C")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    factory: Callable[..., T]
    summary: str
    """First line of the factory's docstring."""
    family: str
    live: bool
    """True when the entry runs real computation itself (trains, forward passes) rather than reading a table; a live
    estimator takes `execution=harness.estimation.Execution(...)`."""
    options: type | None = None
    """The frozen dataclass of the entry's own settings, passed as `config=`; the CLI derives its flags from it."""


class Registry(Generic[T]):
    """Entries of one kind of plugin (estimator, searcher), registered by the modules of `package`."""

    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self, name: str, family: str, live: bool = False, options: type | None = None
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register a factory under `name`; its docstring's first line is the summary."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            summary = (factory.__doc__ or "").strip().splitlines()[0] if factory.__doc__ else ""
            self._entries[name] = Entry(name, factory, summary, family, live, options)
            return factory

        return decorate

    def _load_all(self) -> None:
        """Import every plain module of the package (not `base`, not subpackages) so that each registers."""
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.ispkg and module.name != "base" and not module.name.startswith("_"):
                importlib.import_module(f"{self.package}.{module.name}")

    def entries(self) -> list[Entry[T]]:
        """Every registered entry, sorted by name."""
        self._load_all()
        return sorted(self._entries.values(), key=lambda e: e.name)

    def names(self) -> list[str]:
        return [e.name for e in self.entries()]

    def entry(self, name: str) -> Entry[T]:
        self._load_all()
        if name not in self._entries:
            raise ValueError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}")
        return self._entries[name]

    def create(self, name: str, *args: Any, **options: Any) -> T:
        """Build the entry registered as `name`."""
        return self.entry(name).factory(*args, **options)


def configured(options: type[C], config: C | None, fields: dict[str, Any]) -> C:
    """An entry's settings: `config` itself, or `options(**fields)`; an unknown field names the allowed ones."""
    if config is not None:
        if fields:
            raise ValueError(f"give either config=... or {options.__name__} fields, not both (got {sorted(fields)})")
        return config
    allowed = [f.name for f in dataclasses.fields(options)]
    if unknown := sorted(set(fields) - set(allowed)):
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return options(**fields)
