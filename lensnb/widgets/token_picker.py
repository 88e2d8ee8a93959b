"""``TokenPicker``: find items by text, by position or by label, see them in context, pick some.

Tokens read as their characters; a token of only whitespace shows as "⏎" (newline) or
"␣" (space) in the hit list and the picked list, and a search for "⏎" or "␣" finds it.
A query may also be written with the token table's markers: "Ġ" or "▁" for a space,
"Ċ" for a newline ("Ġr" finds the piece " r", "Ċ" the newlines); see
:mod:`lensnb.widgets.item_text`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from lensnb.errors import LensError
from lensnb.widgets.columns import label_columns_of
from lensnb.widgets.item_text import ItemText
from lensnb.widgets.selection import TokenLink, integer_rows
from lensnb.widgets.token_search import TEXT_MATCHES, find_by_label, find_by_position

__all__ = ["TokenPicker", "QUERY_PLACEHOLDER", "QUERY_HELP"]

#: What the search box shows while empty.
QUERY_PLACEHOLDER = "a token or word, e.g. price; \u2423 or \u0120: a space, \u23ce or \u010a: a newline"
#: The search box's tooltip.
QUERY_HELP = (
    "Finds items by their characters. A token of only whitespace shows and is found as \u23ce (newline) or "
    "\u2423 (space); the token table's markers also work: \u0120 or \u2581 for a space, \u010a for a "
    "newline (\u0120r finds the piece ' r')."
)


class TokenPicker(widgets.VBox):
    """Search the items of a table and pick some; other views follow ``picked``.

    The search runs in the kernel: the browser only receives the hits shown (at most
    ``max_hits``; the count of all hits is always shown).

    Parameters
    ----------
    table : DataFrame
        The item table (token table, word table...).
    texts : DataFrame, optional
        The text table, for contexts.
    link : TokenLink, optional
        Shared with other views; its ``picked`` is this picker's ``picked``.
    max_hits : int
        Most hits listed at once.
    label_columns : sequence of str, optional
        Columns offered for search by label (default: the table's label columns).
    max_values : int
        Most label values listed at once in the value menu, most frequent first; when a
        column has more, the menu says so and the ``filter`` box finds the others.

    Attributes
    ----------
    picked : list of int
        Picked rows (a traitlet).
    hits : list of int
        Rows matching the current search, all of them (a traitlet).
    """

    picked = traitlets.List()  # checked below: integer rows of the table
    hits = traitlets.List(traitlets.Int())

    def __init__(
        self,
        table: pd.DataFrame,
        texts: pd.DataFrame | None = None,
        *,
        link: TokenLink | None = None,
        max_hits: int = 200,
        label_columns: Sequence[str] | None = None,
        max_values: int = 200,
    ):
        if not isinstance(table, pd.DataFrame):
            raise LensError.bad_argument("table", table, "a pandas DataFrame (an item table)")
        for name, number in (("max_hits", max_hits), ("max_values", max_values)):
            if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or number < 1:
                raise LensError.bad_argument(name, number, "a positive integer")
        columns = _checked_label_columns(table, label_columns)
        self.table = table
        self.text = ItemText(table, texts)
        self.max_hits = int(max_hits)
        self.max_values = int(max_values)
        self.link = link if link is not None else TokenLink(len(table))
        self.link.bind(self.text.key(), len(table))

        self.mode = widgets.ToggleButtons(options=["text", "position", "label"], value="text", description="find by")
        self.query = widgets.Text(placeholder=QUERY_PLACEHOLDER, description="text", tooltip=QUERY_HELP,
                                  continuous_update=True)  # fmt: skip
        self.match = widgets.Dropdown(options=TEXT_MATCHES, value="contains", description="match",
                                      layout=widgets.Layout(width="180px"))  # fmt: skip
        self.case = widgets.Checkbox(value=False, description="case-sensitive", indent=False)
        text_ids = table["text_id"] if "text_id" in table else pd.Series([0])
        self.text_id = widgets.BoundedIntText(value=int(text_ids.min()), min=int(text_ids.min()),
                                              max=int(text_ids.max()), description="text")  # fmt: skip
        self.position = widgets.IntText(value=-1, description="position", tooltip="-1: every item of the text")
        self.column = widgets.Dropdown(options=columns, value=columns[0] if columns else None, description="label")
        self.value = widgets.Dropdown(options=[], description="value")
        self.value_filter = widgets.Text(placeholder="filter values", description="filter",
                                         continuous_update=True, layout=widgets.Layout(width="220px"))  # fmt: skip
        self.value_note = widgets.HTML()
        self.value_note.add_class("lensnb-value-note")
        self.hit_list = widgets.SelectMultiple(options=[], rows=8, description="hits",
                                               layout=widgets.Layout(width="95%"))  # fmt: skip
        self.count = widgets.HTML()
        self.pick_button = widgets.Button(description="pick", tooltip="add the hits selected above to the picked items")
        self.pick_all_button = widgets.Button(description="pick all shown")
        self.clear_button = widgets.Button(description="clear picked")
        self.picked_view = widgets.HTML()

        self._text_row = widgets.HBox([self.query, self.match, self.case])
        self._position_row = widgets.HBox([self.text_id, self.position])
        self._label_row = widgets.VBox([widgets.HBox([self.column, self.value, self.value_filter]), self.value_note])
        self._search = widgets.VBox([self._text_row])
        super().__init__([
            self.mode, self._search, self.count, self.hit_list,
            widgets.HBox([self.pick_button, self.pick_all_button, self.clear_button]), self.picked_view,
        ])  # fmt: skip
        self.add_class("lensnb-token-picker")

        traitlets.link((self.link, "picked"), (self, "picked"))
        self.mode.observe(self._mode_changed, "value")
        for control in (self.query, self.match, self.case, self.text_id, self.position, self.value):
            control.observe(self._search_changed, "value")
        self.column.observe(self._column_changed, "value")
        self.value_filter.observe(self._filter_changed, "value")
        self.pick_button.on_click(lambda _: self.pick(list(self.hit_list.value)))
        self.pick_all_button.on_click(lambda _: self.pick([row for _, row in self.hit_list.options]))
        self.clear_button.on_click(lambda _: setattr(self, "picked", []))
        self._column_changed(None)
        self._show_picked()

    # -- searching ------------------------------------------------------------------
    def _mode_changed(self, change) -> None:
        row = {"text": self._text_row, "position": self._position_row, "label": self._label_row}[change["new"]]
        self._search.children = [row]
        self._search_changed(None)

    def _column_changed(self, change) -> None:
        self._list_values()
        if self.mode.value == "label":
            self._search_changed(None)

    def _filter_changed(self, change) -> None:
        before = self.value.value
        self._list_values()
        if self.mode.value == "label" and self.value.value == before:
            self._search_changed(None)  # a changed value searches by itself

    def _list_values(self) -> None:
        """Offer the column's values matching the filter, most frequent first, at most ``max_values``."""
        column = self.column.value
        if column is None:
            self.value.options = []
            self.value_note.value = ""
            return
        counts = self.table[column].dropna().astype(str).value_counts()
        query = self.value_filter.value.strip().lower()
        if query:
            counts = counts[[query in name.lower() for name in counts.index]]
        options = [(f"{name} ({count})", name) for name, count in counts.items()]
        shown = options[: self.max_values]
        keep = self.value.value if self.value.value in {v for _, v in shown} else None
        self.value.options = shown
        if keep is None and query and shown:
            keep = shown[0][1]  # a filter chooses its best match, so that it searches at once
        if keep is not None:
            self.value.value = keep
        what = f"values matching {self.value_filter.value.strip()!r}" if query else "values"
        if len(options) > len(shown):
            note = (f"{len(options):,} {what}; the {len(shown):,} most frequent are listed "
                    "(type in the filter box to find the others)")  # fmt: skip
        else:
            note = f"{len(options):,} {what}" if query or not options else ""
        self.value_note.value = f"<span class='lensnb-value-count'>{html.escape(note)}</span>" if note else ""

    def _search_changed(self, change) -> None:
        try:
            hits = self.search().tolist()
        except LensError as error:  # a pattern being typed ("cricket(" on the way to "cricket(s)?"): said here,
            self.hits = []  # since an observer's error only reaches ipywidgets' log, and old hits would stay
            self.count.value = f"<span class='lensnb-hit-count lensnb-search-error'>{html.escape(str(error))}</span>"
            return
        if hits == self.hits:
            self._show_hits({"new": hits})  # unchanged hits: the count may still show an error
        else:
            self.hits = hits

    def search(self) -> np.ndarray:
        """Rows matching the current controls (all of them, in table order)."""
        mode = self.mode.value
        if mode == "text":
            return self.text.find(self.query.value, match=self.match.value, case=self.case.value)
        if mode == "position":
            position = None if self.position.value < 0 else int(self.position.value)
            return find_by_position(self.table, int(self.text_id.value), position)
        if self.column.value is None or self.value.value is None:
            return np.zeros(0, dtype=np.int64)
        return find_by_label(self.table, self.column.value, self.value.value)

    @traitlets.observe("hits")
    def _show_hits(self, change) -> None:
        rows = change["new"]
        shown = rows[: self.max_hits]
        self.hit_list.options = [(self._describe(row), row) for row in shown]
        if len(rows) > len(shown):
            note = f"{len(rows):,} hits; the first {len(shown):,} are listed (refine the search to see others)"
        else:
            note = f"{len(rows):,} hit{'s' if len(rows) != 1 else ''}"
        self.count.value = f"<span class='lensnb-hit-count'>{html.escape(note)}</span>"

    def _describe(self, row: int) -> str:
        where = f"text {self.table['text_id'].iat[row]}" if "text_id" in self.table else f"row {row}"
        if "position" in self.table:
            where += f", pos {self.table['position'].iat[row]}"
        return f"{where}: {self.text.context(row)}"

    # -- picking --------------------------------------------------------------------
    def pick(self, rows: Sequence[int]) -> None:
        """Add ``rows`` (integer rows of the table) to the picked items."""
        checked = integer_rows(rows, "rows", len(self.table))
        self.picked = [*self.picked, *checked]

    @traitlets.validate("picked")
    def _valid_picked(self, proposal) -> list[int]:
        return list(dict.fromkeys(integer_rows(proposal["value"], "picked", len(self.table))))

    @traitlets.observe("picked")
    def _picked_changed(self, change) -> None:
        self._show_picked()

    def _show_picked(self) -> None:
        if not self.picked:
            self.picked_view.value = "<i>nothing picked</i>"
            return
        shown = self.picked[:20]
        items = "".join(
            f"<li>{html.escape(self.text.left[r])}<b>{html.escape(self.text.shown[r])}</b>{html.escape(self.text.right[r])}</li>"
            for r in shown
        )
        more = f"<li>... and {len(self.picked) - len(shown)} more</li>" if len(self.picked) > len(shown) else ""
        self.picked_view.value = f"<div class='lensnb-picked'>picked {len(self.picked)}:<ul>{items}{more}</ul></div>"


def _checked_label_columns(table: pd.DataFrame, label_columns: Sequence[str] | None) -> list[str]:
    if label_columns is None:
        return label_columns_of(table)
    names = [label_columns] if isinstance(label_columns, str) else label_columns
    try:
        names = list(names)
    except TypeError:
        raise LensError.bad_argument("label_columns", label_columns, "a list of column names") from None
    missing = [n for n in names if not isinstance(n, str) or n not in table.columns]
    if missing:
        raise LensError.bad_argument(
            "label_columns", missing if len(missing) > 1 else missing[0], f"columns of the table {list(table.columns)}"
        )
    return names
