"""pandas DataFrames of records (an optional dependency: `pip install 'bpe-bench[pandas]'`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def frame(rows: Sequence[dict]) -> Any:
    """A pandas DataFrame with one row per record; a clear error when pandas is not installed."""
    try:
        import pandas
    except ImportError as err:
        raise ValueError(
            "DataFrames need pandas, an optional dependency: pip install pandas (or 'bpe-bench[pandas]')"
        ) from err
    return pandas.DataFrame(list(rows))
