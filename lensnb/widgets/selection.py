"""``TokenLink``: the selection and the picked items that linked views share.

Every view built on the same item table holds the same ``TokenLink``. A box or lasso
selection in one scatter sets ``selected``; the token picker sets ``picked``; every
other view follows. Rows are positions in the shared item table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import traitlets

from lensnb.errors import LensError

__all__ = ["TokenLink", "integer_rows"]


class TokenLink(traitlets.HasTraits):
    """Selected and picked rows of one item table, shared by linked views.

    Parameters
    ----------
    n_items : int
        Rows in the shared item table.

    Attributes
    ----------
    selected : list of int
        Rows in the current box / lasso selection (sorted, no repeats).
    picked : list of int
        Rows picked in a token picker (kept in picking order).
    """

    selected = traitlets.List()  # checked as a whole with numpy (a box can hold 50k points)
    picked = traitlets.List()  # checked as a whole: integer rows, no float or string silently converted

    def __init__(self, n_items: int, **kwargs):
        if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 0:
            raise LensError.bad_argument("n_items", n_items, "a non-negative integer")
        self.n_items = n_items
        self.items_key: str | None = None  # what the rows are, set by the first view that uses the link
        super().__init__(**kwargs)

    def bind(self, items_key: str, n_items: int) -> None:
        """Check that a view over ``n_items`` rows that read as ``items_key`` (``ItemText.key``)
        may share this link: the first view sets what the rows are; a view over other items
        (another subset of the same size, another order) is refused, since row i would then
        select different tokens in different views.

        Raises
        ------
        LensError
            Naming ``link``.
        """
        if not isinstance(items_key, str) or not items_key:
            raise LensError.bad_argument("items_key", items_key, "a digest of the view's items (ItemText.key())")
        if n_items != self.n_items:
            raise LensError.bad_argument("link", self.n_items, f"a TokenLink over {n_items} items")
        if self.items_key is None:
            self.items_key = items_key
        elif items_key != self.items_key:
            raise LensError.bad_argument(
                "link", f"a TokenLink over {self.n_items} other items",
                f"a TokenLink shared by views over the same {n_items} items in the same order",
                "The views it links show other tokens (another subset or order of the same size), so a selection "
                "in one would pick other tokens in the other. Give this view its own link, or build both views "
                "on the same Activations.",
            )  # fmt: skip

    @traitlets.validate("selected")
    def _valid_selected(self, proposal) -> list[int]:
        return np.unique(np.asarray(integer_rows(proposal["value"], "selected", self.n_items), np.int64)).tolist()

    @traitlets.validate("picked")
    def _valid_picked(self, proposal) -> list[int]:
        return list(dict.fromkeys(integer_rows(proposal["value"], "picked", self.n_items)))


def integer_rows(rows: Any, name: str, n_items: int) -> list[int]:
    """``rows`` as a list of ints, after checking they are integer rows of a table of ``n_items``.

    Parameters
    ----------
    rows : sequence or 1-D array of int
    name : str
        The argument named in errors.
    n_items : int

    Raises
    ------
    LensError
        For anything but a flat sequence of integers (floats, strings, booleans and
        nested lists are refused, not converted) or a row outside ``0..n_items - 1``.
    """
    if isinstance(rows, (str, bytes)) or not isinstance(rows, (Sequence, np.ndarray)):
        raise LensError.bad_argument(name, rows, "a list of integer rows")
    try:
        values = np.asarray(rows)
    except ValueError:  # a ragged nesting
        raise LensError.bad_argument(name, rows, "a flat list of integer rows") from None
    if values.size == 0:
        return []
    if values.ndim != 1:
        raise LensError.bad_argument(name, rows, "a flat list of integer rows")
    if values.dtype == object:  # mixed Python objects: each must be an integer itself
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values):
            raise LensError.bad_argument(name, rows, "integer rows (no floats, strings or booleans)")
        values = values.astype(np.int64)
    elif not np.issubdtype(values.dtype, np.integer):
        raise LensError.bad_argument(name, rows, "integer rows (no floats, strings or booleans)")
    values = values.astype(np.int64)
    bad = values[(values < 0) | (values >= n_items)]
    if len(bad):
        raise LensError.bad_argument(name, bad[:5].tolist(), f"rows between 0 and {n_items - 1}")
    return values.tolist()
