"""Validation helpers: one wording for a rejected setting, naming its owner and field, the value and what is allowed.

>>> require_int("BPE", "epochs", 0)
Traceback (most recent call last):
ValueError: BPE.epochs = 0 is invalid: must be an int >= 1
"""

from __future__ import annotations

import math
from collections.abc import Collection


def invalid(owner: str, name: str, value: object, allowed: str) -> ValueError:
    """The error for `owner.name = value`: 'Owner.name = 0 is invalid: must be <allowed>' (no owner: 'name = 0 ...')."""
    where = f"{owner}.{name}" if owner else name
    return ValueError(f"{where} = {value!r} is invalid: must be {allowed}")


def is_int(value: object, minimum: int | None = None, maximum: int | None = None) -> bool:
    """A Python int (not a bool) in [minimum, maximum] (None: unbounded)."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (minimum is None or value >= minimum)
        and (maximum is None or value <= maximum)
    )


def is_number(
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> bool:
    """An int or float (not a bool, not NaN) between `low` and `high`, each bound included unless marked open."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return False
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    return above and below


def int_range(minimum: int | None, maximum: int | None = None) -> str:
    """'an int >= 1', 'an int in 1..199', 'an int <= 5' or 'an int'."""
    if minimum is not None and maximum is not None:
        return f"an int in {minimum}..{maximum}"
    if minimum is not None:
        return f"an int >= {minimum}"
    return f"an int <= {maximum}" if maximum is not None else "an int"


def number_range(
    low: float = -math.inf, high: float = math.inf, low_open: bool = False, high_open: bool = False
) -> str:
    """'a finite number > 0', 'a number in (0, 1]', 'a number in [0, 1)', 'a finite number >= 0', ..."""
    if high == math.inf:
        kind = "a finite number" if high_open else "a number"
        return kind if low == -math.inf else f"{kind} {'>' if low_open else '>='} {low:g}"
    if low == -math.inf:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def require_int(
    owner: str,
    name: str,
    value: object,
    minimum: int | None = 1,
    maximum: int | None = None,
    *,
    optional: bool = False,
    allowed: str | None = None,
) -> None:
    """Raise `invalid(...)` unless `value` is an int in [minimum, maximum] (or None, when optional)."""
    if optional and value is None:
        return
    if not is_int(value, minimum, maximum):
        text = allowed or int_range(minimum, maximum) + (" or None" if optional else "")
        raise invalid(owner, name, value, text)


def require_number(
    owner: str,
    name: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
    allowed: str | None = None,
) -> None:
    """Raise `invalid(...)` unless `value` is a number between `low` and `high` (or None, when optional)."""
    if optional and value is None:
        return
    if not is_number(value, low, high, low_open=low_open, high_open=high_open):
        text = allowed or number_range(low, high, low_open, high_open) + (" or None" if optional else "")
        raise invalid(owner, name, value, text)


def require_choice(owner: str, name: str, value: object, allowed: Collection[str]) -> None:
    """Raise `invalid(...)` unless `value` is one of `allowed`."""
    if not isinstance(value, str) or value not in allowed:
        raise invalid(owner, name, value, f"one of {', '.join(allowed)}")


class Unavailable(ValueError):
    """What an entry needs and does not have (data, a merged table, a device), with the one step that provides it."""

    def __init__(self, missing: str, enable: str):
        super().__init__(f"{missing}; to get it: {enable}")
        self.missing = missing
        self.enable = enable
