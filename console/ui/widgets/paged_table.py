"""A DataTable that shows one page of a query at a time.

The screen owns the query; the table asks for the next or previous page when the operator
presses PageDown on the last row or PageUp on the first one (and the screen binds `n`/`p`).
Rows are never all loaded: on a million-row outbox only `page_size` rows exist in the widget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from textual.message import Message
from textual.widgets import DataTable

Item = TypeVar("Item")


def row_under_cursor(table: DataTable, items: Sequence[Item]) -> Item | None:
    """The item shown on the table's cursor row, where `items` are the rows in table order;
    None while the table is empty."""
    if not items or table.row_count == 0:
        return None
    return items[min(table.cursor_row, len(items) - 1)]


class PagedTable(DataTable):
    """`page` is 0-based; `has_more` says whether a next page exists."""

    @dataclass
    class PageRequested(Message):
        """The operator wants the page `delta` pages away from the current one."""

        table: PagedTable
        delta: int

    def __init__(self, page_size: int = 100, **kwargs: object) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.page_size = page_size
        self.page = 0
        self.has_more = False

    def action_page_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1 and self.has_more:
            self.post_message(self.PageRequested(self, 1))
            return
        super().action_page_down()

    def action_page_up(self) -> None:
        if self.cursor_row <= 0 and self.page > 0:
            self.post_message(self.PageRequested(self, -1))
            return
        super().action_page_up()

    def page_label(self, total: int | None = None, counting: bool = False) -> str:
        """`rows 101–200 of 1,234`; `of …` while the total is still being counted, `and more`
        when no total is kept."""
        first = self.page * self.page_size + (1 if self.row_count else 0)
        last = self.page * self.page_size + self.row_count
        if not self.row_count:
            return "no rows"
        if total is None:
            if counting:
                return f"rows {first:,}–{last:,} of …"
            return f"rows {first:,}–{last:,}" + (" and more" if self.has_more else "")
        return f"rows {first:,}–{last:,} of {total:,}"
