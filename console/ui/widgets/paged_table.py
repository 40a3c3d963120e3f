"""A DataTable that shows one page of a query at a time, rendered through a column spec.

The screen hands it a query (`rows past a keyset position, at most N`) and a `View` (the
columns); the table reads pages in a worker (`exclusive=True`: a new request cancels the one in
flight), keeps the position each page started at (keyset paging: the next page starts past the
last row shown, the previous one where it started), sizes its columns from the data and the
terminal, and renders every cell as `Text`: the values are the outside world's words and are
never parsed as markup. Rows are never all loaded: on a million-row outbox only `page_size`
rows exist in the widget.

PageDown on the last row or PageUp on the first asks for the next or previous page; the screen
binds `]`/`[` to `turn`. Home/`g` and End/`G` go to the first and the last row of the whole
result, through the pages (End walks the keyset positions in a worker, reading positions in
large chunks, so `[` still steps back page by page from there); `j`/`k` move down and up. When
a page is on screen the table posts `PageShown` so the screen can update its title and detail
panel; a count, when asked for, follows as `Counted`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual import events, on
from textual.message import Message
from textual.widgets import DataTable
from textual.worker import get_current_worker

from console.reports.columns import Column, View
from console.ui.widgets.row_table import RowTable
from state.db import Connection, Store

Item = TypeVar("Item")
Row = TypeVar("Row")

PageQuery = Callable[[Connection, Any, int], Sequence[Row]]
"""Reads at most `limit` rows just past a keyset position (None: from the first row)."""
CountQuery = Callable[[Connection], int]
CellHook = Callable[[str, Row], Text | None]
"""The screen's own cell for a column and row (a mark, a retry's outcome), or None."""
WALK_CHUNK = 5000
"""Rows read at a time while End walks to the last page."""


def row_under_cursor(table: DataTable[Any], items: Sequence[Item]) -> Item | None:
    """The item shown on the table's cursor row, where `items` are the rows in table order;
    None while the table is empty."""
    if not items or table.row_count == 0:
        return None
    return items[min(table.cursor_row, len(items) - 1)]


def text_cell(column: Column[Row], row: Row, width: int) -> Text:
    """One cell: the column's text, cut to `width` (numbers whole), styled, never markup."""
    style = column.style(row) if column.style is not None else ""
    return Text(column.fit(column.screen_text(row), width), style=style, no_wrap=True, end="")


class PagedTable(RowTable, Generic[Row]):
    """`page` is 0-based; `has_more` says whether a next page exists; `items` are the rows on
    screen, in table order."""

    @dataclass
    class PageRequested(Message):
        """The operator wants the page `delta` pages away from the current one."""

        table: PagedTable[Any]
        delta: int

        @property
        def control(self) -> PagedTable[Any]:
            return self.table

    @dataclass
    class PageShown(Message):
        """A page is on screen (its rows in `table.items`)."""

        table: PagedTable[Any]

        @property
        def control(self) -> PagedTable[Any]:
            return self.table

    @dataclass
    class Counted(Message):
        """The count of every row the query matches (it follows the page: it may scan)."""

        table: PagedTable[Any]
        total: int

        @property
        def control(self) -> PagedTable[Any]:
            return self.table

    @dataclass
    class PageRead(Message):
        """A worker read a page (for the table itself)."""

        rows: Sequence[Any]
        token: int
        starts: list[Any] | None = None
        """The pages' start positions when the read moved to another page (End)."""
        cursor: int | None = None
        """Where the cursor goes (None: as asked when the read was requested)."""

    @dataclass
    class CountRead(Message):
        """A worker counted the query's rows (for the table itself)."""

        total: int
        token: int

    def __init__(
        self,
        view: View[Row],
        *,
        page_size: int = 100,
        position: Callable[[Row], Any] | None = None,
        key: Callable[[Row], str] | None = None,
        **kwargs: Any,
    ) -> None:
        """`position(row)` is the keyset position just past `row` (what the query's `after`
        takes); without it the query returns everything at once (one page). `key(row)` is the
        row's key in the table (default: its `id`)."""
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)
        self.spec = view
        self.page_size = page_size
        self.position_of = position
        self.row_key_of = key or (lambda row: str(row.id))  # type: ignore[attr-defined]
        self.items: list[Row] = []
        self.has_more = False
        self.pending = False
        """True from a load request until its page is on screen (tests, the benchmark)."""
        self.cell_hook: CellHook[Row] | None = None
        self.widths: dict[str, int] = {}
        self._starts: list[Any] = [None]
        """The keyset position each page of the way here started past; the last is this page's."""
        self._spec_columns: list[Column[Row]] = view.pick(view.screen)
        self._token = 0
        self._keep_cursor = 0
        self._page_query: PageQuery[Row] | None = None
        self._count_query: CountQuery | None = None
        self._store: Store | None = None

    @property
    def page(self) -> int:
        return len(self._starts) - 1

    def on_mount(self) -> None:
        self._set_columns(self.spec.screen_widths(self.app.size.width))

    # -- loading ------------------------------------------------------------------------------
    def load_query(
        self,
        store: Store,
        query: PageQuery[Row],
        count: CountQuery | None = None,
        *,
        position: Callable[[Row], Any] | None = None,
        keep_cursor: bool = False,
    ) -> None:
        """Read the first page of a (new) query; `position` replaces the keyset position
        function when the new query orders its rows otherwise (another sort)."""
        self._store, self._page_query, self._count_query = store, query, count
        if position is not None:
            self.position_of = position
        self._starts = [None]
        self.reload(keep_cursor)

    def reload(self, keep_cursor: bool = False) -> None:
        """Read the page on screen again (new rows may have arrived)."""
        if self._store is None or self._page_query is None:
            return
        self._token += 1
        self.pending = True
        self._keep_cursor = self.cursor_row if keep_cursor else 0
        store, query, count, token = self._store, self._page_query, self._count_query, self._token
        after = self._starts[-1]
        limit = self.page_size + 1 if self.position_of is not None else 1_000_000

        def load() -> None:
            with store.read() as conn:
                rows = query(conn, after, limit)
            if get_current_worker().is_cancelled:
                return
            self.post_message(self.PageRead(rows, token))
            if count is not None:
                # The page first: a count may scan every row, so it follows on its own.
                with store.read() as conn:
                    total = count(conn)
                self.post_message(self.CountRead(total, token))

        self.run_worker(load, thread=True, exclusive=True, group=f"{self.id}-load")

    def to_first_page(self) -> bool:
        """Show the first page, cursor on its first row; False when it is on screen."""
        if self.page == 0:
            return False
        self._starts = [None]
        self.reload()
        return True

    def to_last_page(self) -> bool:
        """Show the last page of the whole result, cursor on its last row; False when it is
        on screen already. The pages' starts are walked in a worker (positions only kept)."""
        if self._store is None or self._page_query is None or self.position_of is None:
            return False
        if not self.has_more:
            return False
        self._token += 1
        self.pending = True
        store, query, token = self._store, self._page_query, self._token
        position, page_size = self.position_of, self.page_size

        def walk() -> None:
            worker = get_current_worker()
            boundaries: list[Any] = []
            seen = 0
            after: Any = None
            with store.read() as conn:
                while True:
                    rows = query(conn, after, WALK_CHUNK)
                    if worker.is_cancelled:
                        return
                    for row in rows:
                        seen += 1
                        if seen % page_size == 0:
                            boundaries.append(position(row))
                    if len(rows) < WALK_CHUNK:
                        break
                    after = position(rows[-1])
                # Page k starts past row k * page_size; a total that is a whole number of
                # pages has no page past its last boundary.
                starts = [None, *boundaries[: max(seen - 1, 0) // page_size]]
                last = query(conn, starts[-1], page_size + 1)
            if not worker.is_cancelled:
                self.post_message(self.PageRead(last, token, starts, cursor=len(last) - 1))

        self.run_worker(walk, thread=True, exclusive=True, group=f"{self.id}-load")
        return True

    def turn(self, delta: int) -> bool:
        """Show the next (1) or previous (-1) page; False when there is none that way."""
        if delta > 0:
            if not self.has_more or not self.items or self.position_of is None:
                return False
            self._starts.append(self.position_of(self.items[-1]))
        else:
            if self.page == 0:
                return False
            self._starts.pop()
        self.reload()
        return True

    @on(PageRead)
    def _page_read(self, message: PageRead) -> None:
        message.stop()
        if message.token != self._token:
            return  # the answer to a request since replaced
        self.pending = False
        if message.starts is not None:
            self._starts = message.starts
        rows = list(message.rows)
        self.has_more = self.position_of is not None and len(rows) > self.page_size
        self.items = rows[: self.page_size] if self.position_of is not None else rows
        self.redraw(self._keep_cursor if message.cursor is None else message.cursor)
        self.post_message(self.PageShown(self))

    @on(CountRead)
    def _count_read(self, message: CountRead) -> None:
        message.stop()
        if message.token == self._token:
            self.post_message(self.Counted(self, message.total))

    # -- rendering ----------------------------------------------------------------------------
    def _set_columns(self, widths: dict[str, int]) -> None:
        self.clear(columns=True)
        self.widths = widths
        self._spec_columns = [c for c in self.spec.pick(self.spec.screen) if c.name in widths]
        for column in self._spec_columns:
            self.add_column(column.header, key=column.name, width=widths[column.name])

    def redraw(self, cursor: int | None = None) -> None:
        """The rows in `items` into the table again, columns resized if the data or the
        terminal asks for it; the cursor on row `cursor` (default: where it is) or the last."""
        if cursor is None:
            cursor = self.cursor_row
        widths = self.spec.screen_widths(self.app.size.width, self.items)
        if widths != self.widths:
            self._set_columns(widths)
        else:
            self.clear()
        for row in self.items:
            self.add_row(*self.cells(row), key=self.row_key_of(row))
        if self.items:
            self.move_cursor(row=min(max(cursor, 0), len(self.items) - 1))

    def cells(self, row: Row) -> list[Text]:
        hook = self.cell_hook
        cells = []
        for column in self._spec_columns:
            cell = hook(column.name, row) if hook is not None else None
            cells.append(
                cell if cell is not None else text_cell(column, row, self.widths[column.name])
            )
        return cells

    def update_row(self, row: Row, index: int | None = None) -> None:
        """Show `row` again in place (a retry changed it); `index` replaces it in `items`."""
        if index is not None:
            self.items[index] = row
        key = self.row_key_of(row)
        for column, cell in zip(self._spec_columns, self.cells(row), strict=True):
            self.update_cell(key, column.name, cell)

    def on_resize(self, _event: events.Resize) -> None:
        # Over SSH the terminal is resized under the console: the growing column takes the
        # new room (and gives it back); the page is redrawn from memory, marks kept.
        if self.spec.screen_widths(self.app.size.width, self.items) != self.widths:
            self.redraw()

    # -- keys ---------------------------------------------------------------------------------
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

    def action_scroll_top(self) -> None:
        # Home/g: the first row of the result, not of the page on screen.
        if not self.to_first_page():
            super().action_scroll_top()

    def action_scroll_bottom(self) -> None:
        # End/G: the last row of the result, through the pages.
        if not self.to_last_page():
            super().action_scroll_bottom()

    def current(self) -> Row | None:
        return row_under_cursor(self, self.items)

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
