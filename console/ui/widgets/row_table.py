"""A DataTable of rows whose Home/End and g/G move the row cursor, as operators expect from k9s
and lazygit (Textual's own Home/End scroll sideways in a row-cursor table, so the cursor stays
on a row the operator no longer sees, and an action key then hits that row)."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.widgets import DataTable


class RowTable(DataTable[Any]):
    """`DataTable(cursor_type="row")` with row keys: Home/g first row, End/G last, j/k down/up."""

    BINDINGS = [
        Binding("home,g", "scroll_top", "First row", show=False, id="row-first"),
        Binding("end,G", "scroll_bottom", "Last row", show=False, id="row-last"),
        Binding("j", "cursor_down", "Down", show=False, id="row-down"),
        Binding("k", "cursor_up", "Up", show=False, id="row-up"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        super().__init__(**kwargs)
