"""``TokenLink``: the selection and the picked items that linked views share.

Every view built on the same item table holds the same ``TokenLink``. A box or lasso
selection in one scatter sets ``selected``; the token picker sets ``picked``; every
other view follows. Rows are positions in the shared item table.
"""

from __future__ import annotations

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

    selected = traitlets.List(traitlets.Int())
    picked = traitlets.List(traitlets.Int())

    def __init__(self, n_items: int, **kwargs):
        if not isinstance(n_items, int) or n_items < 0:
            raise LensError.bad_argument("n_items", n_items, "a non-negative integer")
        self.n_items = n_items
        super().__init__(**kwargs)

    def _check_rows(self, rows: list[int], name: str) -> list[int]:
        bad = [r for r in rows if not 0 <= r < self.n_items]
        if bad:
            raise LensError.bad_argument(name, bad[:5], f"rows between 0 and {self.n_items - 1}")
        return rows

    @traitlets.validate("selected")
    def _valid_selected(self, proposal) -> list[int]:
        return self._check_rows(sorted(set(int(r) for r in proposal["value"])), "selected")

    @traitlets.validate("picked")
    def _valid_picked(self, proposal) -> list[int]:
        return self._check_rows(list(dict.fromkeys(int(r) for r in proposal["value"])), "picked")
