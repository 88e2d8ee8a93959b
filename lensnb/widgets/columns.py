"""Which columns of an item table are bookkeeping and which are labels, for every view.

One set, :data:`NON_LABEL_COLUMNS`, shared by the scatter's colourings, the token
picker's "find by label" and the explorers' label columns. It is built from the core's
reserved columns (token table, word table, text table, span and span-pair tables);
every other column of an item table is a label.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from lensnb.examples import (
    RESERVED_LABEL_NAMES,
    RESERVED_SPAN_COLUMNS,
    RESERVED_TEXT_COLUMNS,
    RESERVED_TOKEN_COLUMNS,
)

__all__ = ["NON_LABEL_COLUMNS", "ITEM_KEY_COLUMNS", "label_columns_of", "is_label_column"]


#: Columns of item tables that are not labels: never coloured by, probed or offered as labels.
NON_LABEL_COLUMNS: frozenset[str] = frozenset(
    {*RESERVED_TOKEN_COLUMNS, *RESERVED_LABEL_NAMES, *RESERVED_TEXT_COLUMNS, *RESERVED_SPAN_COLUMNS}
)

#: Columns that say which item a row is (compared to tell whether two tables hold the same items).
ITEM_KEY_COLUMNS: tuple[str, ...] = (
    "text_id", "window", "position", "token", "word_index", "word", "span_id", "word_start", "word_end",
    "pair_id", "word_start_1", "word_end_1", "word_start_2", "word_end_2",
)  # fmt: skip


def is_label_column(name: str) -> bool:
    """Whether ``name`` is a label column (not one of :data:`NON_LABEL_COLUMNS`)."""
    return name not in NON_LABEL_COLUMNS


def label_columns_of(table: pd.DataFrame | Iterable[str]) -> list[str]:
    """The label columns of an item table (or of a list of column names), in table order."""
    columns = table.columns if isinstance(table, pd.DataFrame) else table
    return [str(c) for c in columns if is_label_column(str(c))]
