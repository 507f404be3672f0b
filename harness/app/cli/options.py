"""Command-line flags derived from dataclasses: each registry entry's options class, and `Execution`.

Every scalar field becomes `--field-name` (or `--` + `metadata["flag"]`; a name several classes share is one flag);
its help is the field's `metadata["help"]`, its type the annotation. A handler then asks for the entry's config
(`entry_config`, or `given_options` for the fields alone) and, for a live entry, the `Execution`
(`execution_from_args`); a flag that the chosen entry does not take is an error. No subcommand branches on an
estimator's family.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from collections.abc import Sequence

from harness.estimation import Execution
from harness.registry import Entry

SCHEDULER_ENV = "BPEBENCH_SCHEDULER"
OPTION = "option_"
"""Prefix of the argparse destination of an estimator's options-class field."""
SEARCHER_OPTION = "searcher_"
"""Prefix of the argparse destination of a searcher's options-class field."""
EXECUTION = "execution_"
"""Prefix of the argparse destination of an `Execution` field."""
EXECUTION_FIELDS = ("data_root", "store", "workers", "scheduler", "threads")
"""`Execution` fields with a flag (progress follows --json)."""


def _scalar(hint: object) -> type | None:
    """int, float or str from an annotation such as `int` or `str | None`; None for anything else."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        kinds = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = str if str in kinds else kinds[0] if len(kinds) == 1 else None  # a path or a Store: given as a str
    return hint if hint in (int, float, str) else None


def _flag(name: str, spec: dataclasses.Field | None = None) -> str:
    if spec is not None and "flag" in spec.metadata:
        return "--" + spec.metadata["flag"]
    return "--" + name.replace("_", "-")


def _fields(cls: type) -> list[tuple[dataclasses.Field, type]]:
    hints = typing.get_type_hints(cls)
    return [(f, kind) for f in dataclasses.fields(cls) if f.init and (kind := _scalar(hints[f.name])) is not None]


def add_option_flags(parser: argparse.ArgumentParser, entries: Sequence[Entry], title: str, dest: str = OPTION) -> None:
    """One flag per field of the entries' options classes (destination `dest` + field); `--preset` where a class
    has presets."""
    owners: dict[str, list[tuple[Entry, dataclasses.Field, type]]] = {}
    for entry in entries:
        if entry.options is not None:
            for spec, kind in _fields(entry.options):
                owners.setdefault(spec.name, []).append((entry, spec, kind))
    group = parser.add_argument_group(title)
    presets = [e for e in entries if hasattr(e.options, "from_preset")]
    if presets:
        group.add_argument(
            "--preset", metavar="NAME", help=f"start from a named setting ({_names(presets)}); other flags override it"
        )
    for name, taken in owners.items():
        defaults = {f"{_default(spec)}" for _, spec, _ in taken}
        default = defaults.pop() if len(defaults) == 1 else "per estimator"
        _, spec, kind = taken[0]
        group.add_argument(
            _flag(name, spec),
            dest=dest + name,
            type=kind,
            metavar=_flag(name, spec).removeprefix("--").replace("-", "_").upper(),
            help=f"{spec.metadata.get('help', name.replace('_', ' '))} ({_names(e for e, _, _ in taken)}; "
            f"default {default})",
        )


def add_execution_flags(parser: argparse.ArgumentParser, fields: Sequence[str] = EXECUTION_FIELDS) -> None:
    """Flags of the `Execution` fields named: where live entries read data, run and store."""
    group = parser.add_argument_group("execution (live estimators: where they read data, run and store results)")
    specs = {f.name: (f, kind) for f, kind in _fields(Execution)}
    for name in fields:
        spec, kind = specs[name]
        help_text = spec.metadata["help"]
        if name == "scheduler":
            help_text += f" (default: ${SCHEDULER_ENV} if set)"
        group.add_argument(_flag(name), dest=EXECUTION + name, type=kind, metavar=name.upper(), help=help_text)


def given_options(entry: Entry, args: argparse.Namespace, dest: str = OPTION, others: Sequence[Entry] = ()) -> dict:
    """The fields of the entry's options class set by flags (destination prefix `dest`); a flag it does not take is
    a ValueError naming which of `others` take it."""
    given = {name.removeprefix(dest): v for name, v in vars(args).items() if name.startswith(dest) and v is not None}
    own = {spec.name for spec, _ in _fields(entry.options)} if entry.options is not None else set()
    owners: dict[str, tuple[dataclasses.Field, list[str]]] = {}
    for other in others:
        for spec, _ in _fields(other.options) if other.options is not None else ():
            owners.setdefault(spec.name, (spec, []))[1].append(other.name)
    foreign = [name for name in given if name not in own]
    if dest == OPTION and getattr(args, "preset", None) is not None and not hasattr(entry.options, "from_preset"):
        foreign.append("preset")
    if foreign:
        raise ValueError("; ".join(_foreign(name, owners.get(name), entry.name) for name in foreign))
    return given


def _foreign(name: str, owner: tuple[dataclasses.Field, list[str]] | None, entry: str) -> str:
    if owner is None:
        return f"{_flag(name)} do(es) not apply to {entry!r}"
    return f"{_flag(name, owner[0])} applies to {', '.join(owner[1])} only, not {entry!r}"


def entry_config(entry: Entry, args: argparse.Namespace) -> object | None:
    """The entry's options from the flags given (its preset first); a flag it does not take is a ValueError."""
    given = given_options(entry, args)
    preset = getattr(args, "preset", None)
    if entry.options is None:
        return None
    if preset is not None:
        return entry.options.from_preset(preset, **given)
    return entry.options(**given) if given else None


def execution_given(args: argparse.Namespace) -> list[str]:
    """Execution flags set on the command line."""
    return [_flag(name.removeprefix(EXECUTION)) for name, v in vars(args).items() if name.startswith(EXECUTION)
            and v is not None]  # fmt: skip


def execution_from_args(args: argparse.Namespace, progress: bool = True) -> Execution:
    """The `Execution` of the flags given; the scheduler defaults to $BPEBENCH_SCHEDULER."""
    values = {name: getattr(args, EXECUTION + name, None) for name in EXECUTION_FIELDS}
    values["scheduler"] = values["scheduler"] or os.environ.get(SCHEDULER_ENV) or None
    return Execution(**values, progress=progress)


def live_options(entry: Entry, args: argparse.Namespace, progress: bool = True) -> dict:
    """Factory keywords of `entry` from the flags: its `config` and, when it is live, its `execution`."""
    options: dict = {}
    if (config := entry_config(entry, args)) is not None:
        options["config"] = config
    if entry.live:
        options["execution"] = execution_from_args(args, progress)
    elif given := execution_given(args):
        raise ValueError(f"{', '.join(given)} only apply to live estimators, not to {entry.name!r}")
    return options


def _names(entries: typing.Iterable[Entry]) -> str:
    names = [e.name for e in entries]
    return ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:2])} and {len(names) - 2} more"


def _default(spec: dataclasses.Field) -> object:
    if spec.default is not dataclasses.MISSING:
        return spec.default
    return spec.default_factory() if spec.default_factory is not dataclasses.MISSING else "none"
