"""``TokenLink``: the selection and the picked items that linked views share.

Every view built on the same item table holds the same ``TokenLink``. A box or lasso
selection in one scatter sets ``selected``; the token picker sets ``picked``; every
other view follows. Rows are positions in the shared item table.
"""

from __future__ import annotations

import numpy as np
import traitlets

from lensnb.errors import LensError

__all__ = ["TokenLink"]


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
    picked = traitlets.List(traitlets.Int())

    def __init__(self, n_items: int, **kwargs):
        if not isinstance(n_items, int) or n_items < 0:
            raise LensError.bad_argument("n_items", n_items, "a non-negative integer")
        self.n_items = n_items
        super().__init__(**kwargs)

    def _check_rows(self, rows: np.ndarray, name: str) -> list[int]:
        bad = rows[(rows < 0) | (rows >= self.n_items)]
        if len(bad):
            raise LensError.bad_argument(name, bad[:5].tolist(), f"rows between 0 and {self.n_items - 1}")
        return rows.tolist()

    @traitlets.validate("selected")
    def _valid_selected(self, proposal) -> list[int]:
        values = np.asarray(proposal["value"])
        if values.size and not np.issubdtype(values.dtype, np.integer):
            raise LensError.bad_argument("selected", proposal["value"], "integer rows")
        return self._check_rows(np.unique(values.astype(np.int64)), "selected")

    @traitlets.validate("picked")
    def _valid_picked(self, proposal) -> list[int]:
        rows = list(dict.fromkeys(int(r) for r in proposal["value"]))
        return self._check_rows(np.asarray(rows, dtype=np.int64), "picked")
