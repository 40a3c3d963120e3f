"""Failures: one row per failed message, with the destination's own words.

`/` filters by email, domain or feedback text (an indexed, paged query per keystroke pause),
`O` sorts, Enter shows the payload that was sent, `space` marks rows, `R` retries the marked
rows (or the highlighted one) through the engine and updates them in place, `D` retries every
failure of a day, `E`/`J` export the filtered view as CSV or JSON into the export directory
(the app's `export_dir`: `$RETENTION_CONSOLE_EXPORT_DIR`, else the user's documents or data
directory; the notice names it).
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer

from console.core.text import printable
from console.reports.export_files import ExportRefused, open_export
from console.reports.views import FAILURE_STATUS_STYLES, FAILURES
from console.ui.formatting import count, counted
from console.ui.messages import ExportWritten, RowsRetried
from console.ui.screens.base import PagedScreen, page_bindings
from console.ui.screens.choose import choose_destination
from console.ui.screens.confirm import ConfirmScreen
from console.ui.widgets.failure_detail import FailureDetail
from console.ui.widgets.filter_bar import FilterBar
from console.ui.widgets.paged_table import PagedTable
from state.db import Connection
from state.failures import (
    FAILURE_SORTS,
    FailureFilter,
    FailureRow,
    OutboxState,
    failure_count,
    failure_ids,
    failure_position,
    failures_page,
    iter_failures,
    outbox_states,
)

RETRY_OUTCOME_SECONDS = 8.0
"""How long a retry's outcome (delivered / failed in place) stays before the page refreshes."""
SORTS = list(FAILURE_SORTS)


def status_cell(status: str) -> Text:
    return Text(status, style=FAILURE_STATUS_STYLES.get(status, ""))


class FailuresScreen(PagedScreen):
    """A top-level screen (all failures) or a drill-down from a summary day."""

    MODE = "failures"
    HELP_NAME = "Failures"
    BINDINGS = [
        Binding(
            "slash",
            "filter",
            "Filter",
            key_display="/",
            tooltip="Filter by email, domain or feedback text",
            id="failures-filter",
        ),
        Binding(
            "O", "sort", "Sort", tooltip="Sort: newest, oldest, email, attempts", id="failures-sort"
        ),
        Binding(
            "enter",
            "detail",
            "Detail",
            key_display="⏎",
            priority=True,
            tooltip="Show or hide the payload that was sent",
            id="failures-detail",
        ),
        Binding(
            "space", "mark", "Mark", tooltip="Mark or unmark the row for R", id="failures-mark"
        ),
        Binding(
            "R",
            "retry",
            "Retry",
            tooltip="Retry the marked rows, or the highlighted one, through the engine",
            id="failures-retry",
        ),
        Binding(
            "D",
            "retry_day",
            "Day",
            tooltip="Retry every failure of the day (the day filter, or the row's day)",
            id="failures-retry-day",
        ),
        Binding(
            "E",
            "export('csv')",
            "CSV",
            tooltip="Export the filtered view as CSV (the notice says where)",
            id="failures-export-csv",
        ),
        Binding(
            "J",
            "export('json')",
            "JSON",
            tooltip="Export the filtered view as JSON (the notice says where)",
            id="failures-export-json",
        ),
        Binding(
            "c",
            "choose_destination",
            "Dest",
            tooltip="Show the failures of one destination, or of all",
            id="failures-destination",
        ),
        *page_bindings("failures"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self, destination: str | None = None, day: str | None = None) -> None:
        super().__init__()
        self.flt = FailureFilter(destination=destination, day=day)
        self.sort = "newest"
        self.total: int | None = 0
        self.marked: set[int] = set()
        self._marked_page = 0
        """The page the marks were made on (Home/End to another page forgets them)."""
        self.states: dict[int, str] = {}
        """Row id -> status shown, once a retry has changed it."""
        self._outcome_timer: Timer | None = None

    def compose_body(self) -> ComposeResult:
        yield FilterBar("email, domain or feedback text; ⏎ done, esc keep", id="filter-bar")
        table: PagedTable[FailureRow] = PagedTable(
            FAILURES, page_size=self.console.page_size, id="failures"
        )
        table.cell_hook = self._own_cell
        yield table
        yield FailureDetail(id="failure-detail", classes="detail")

    @property
    def table(self) -> PagedTable[FailureRow]:
        return self.query_one("#failures", PagedTable)

    @property
    def rows(self) -> list[FailureRow]:
        """The failures on screen, in table order."""
        return self.table.items

    @property
    def feedback_width(self) -> int:
        return self.table.widths["feedback"]

    @property
    def page_pending(self) -> bool:
        """True from a reload request until its page is on screen (tests, the benchmark)."""
        return self.table.pending

    def _own_cell(self, column: str, row: FailureRow) -> Text | None:
        """The two columns this screen owns: its marks and its retries' outcomes."""
        if column == "mark":
            return Text("●", style="bold cyan") if row.id in self.marked else Text("")
        if column == "status":
            return status_cell(self.states.get(row.id, "failed"))
        return None

    def on_mount(self) -> None:
        self.table.focus()
        self.watch(self.app, "engine_tick", self._engine_moved, init=False)
        self._take_jump()
        self.reload_first()

    def jumped(self) -> None:
        if self._take_jump():
            self.reload_first()

    def _take_jump(self) -> bool:
        jumps = self.console.jump_targets
        if "failures" in jumps and self.console.current_mode == "failures":
            self.flt = FailureFilter(jumps.pop("failures"), None, self.flt.text)
            return True
        return False

    def _engine_moved(self, _tick: int) -> None:
        # New failures arrive with runs; keep the page the operator is on, refresh its rows
        # only when nothing is marked (a reload would move rows under the marks) and no retry
        # outcome is being shown (a reload would drop the rows it delivered).
        if self.is_current and not self.marked and not self.states:
            self.table.reload(keep_cursor=True)

    def _retry_outcome_seen(self) -> None:
        """A retry's outcome has been on screen long enough: refresh as runs arrive again."""
        if any(status == "retrying…" for status in self.states.values()):
            return  # another retry is under way; its own outcome restarts the timer
        self.states = {}
        self._engine_moved(self.console.engine_tick)

    # -- loading ------------------------------------------------------------------------------
    def reload_first(self) -> None:
        """The first page of the view the filter and sort now describe."""
        flt, sort = self.flt, self.sort

        def page(conn: Connection, after: Any, limit: int) -> list[FailureRow]:
            return failures_page(conn, flt, limit=limit, after=after, sort=sort)

        self.table.load_query(
            self.console.store,
            page,
            lambda conn: failure_count(conn, flt),
            position=partial(failure_position, sort=sort),
        )

    @on(PagedTable.PageShown, "#failures")
    def _page_shown(self, _event: PagedTable.PageShown) -> None:
        table = self.table
        self.refresh_bindings()  # retry, mark and export depend on having rows
        if table.page != self._marked_page:
            self.marked.clear()  # marks are of rows on the page they were made on
        # The last page is on screen: the total is known without waiting for the count.
        self.total = None if table.has_more else table.page * table.page_size + len(self.rows)
        if self.states:
            # A fresh page shows rows as the store has them: retry outcomes are forgotten.
            self.states = {}
            table.redraw()
        self._update_title()
        self._show_detail()

    @on(PagedTable.Counted, "#failures")
    def _counted(self, event: PagedTable.Counted) -> None:
        self.total = event.total
        self._update_title()

    def _update_title(self) -> None:
        table = self.table
        parts = ["Failures", self.flt.destination or "all destinations"]
        if self.flt.day:
            parts.append(f"day {self.flt.day}")
        if self.flt.text:
            parts.append(f"filter “{self.flt.text}”")
        parts.append(f"sort {self.sort}")
        parts.append(table.page_label(self.total, counting=self.total is None))
        if table.page or table.has_more:
            parts.append("[ ]: page")
        if self.marked:
            parts.append(f"{count(len(self.marked))} marked")
        self.set_title(" · ".join(parts))

    # -- the highlighted row ------------------------------------------------------------------
    def current(self) -> FailureRow | None:
        return self.table.current()

    @on(PagedTable.RowHighlighted)
    def _highlighted(self, _event: PagedTable.RowHighlighted) -> None:
        self._show_detail()

    @property
    def detail(self) -> FailureDetail:
        return self.query_one(FailureDetail)

    @property
    def detail_open(self) -> bool:
        return self.detail.opened

    def _show_detail(self) -> None:
        row = self.current()
        if row is None:
            self.detail.show_empty(
                "No failures match this view."
                if self.flt.text or self.flt.day or self.flt.destination
                else "No failures: everything sent was delivered."
            )
        else:
            self.detail.show(row, self.states.get(row.id, "failed"))

    def action_detail(self) -> None:
        if self.filter_bar.typing:
            self._filter_done()
            return
        self.detail.toggle()
        self._show_detail()

    # -- filter and sort ----------------------------------------------------------------------
    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one(FilterBar)

    def action_filter(self) -> None:
        self.filter_bar.open()

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        if event.text == self.flt.text:
            return
        self.flt = FailureFilter(self.flt.destination, self.flt.day, event.text)
        self.marked.clear()
        self.reload_first()

    def _filter_done(self) -> None:
        self.filter_bar.finish()
        self.table.focus()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.reload_first()

    def action_back(self) -> None:
        if self.filter_bar.typing:
            # Escape while typing: keep what is typed, go back to the table.
            self._filter_done()
        elif self.flt.text:
            self.filter_bar.clear()
            self.flt = FailureFilter(self.flt.destination, self.flt.day, None)
            self.reload_first()
        elif self.detail_open:
            self.action_detail()
        else:
            super().action_back()

    # -- paging -------------------------------------------------------------------------------
    def page_turned(self) -> None:
        self.marked.clear()  # marks are of the rows on screen

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("retry", "mark", "detail", "retry_day"):
            return True if self.rows else None
        return True

    # -- marks and retry ----------------------------------------------------------------------
    def action_mark(self) -> None:
        row = self.current()
        if row is None:
            return
        self.marked.symmetric_difference_update({row.id})
        self._marked_page = self.table.page
        table = self.table
        table.update_row(row)
        table.move_cursor(row=min(table.cursor_row + 1, table.row_count - 1))
        self._update_title()

    def action_retry(self) -> None:
        row = self.current()
        if row is None:
            return
        ids = sorted(self.marked) if self.marked else [row.id]
        self._show_states({i: "retrying…" for i in ids})
        self.run_worker(self._retry(ids), group="failures-retry", exit_on_error=False)

    async def _retry(self, ids: list[int]) -> None:
        requeued = await self.console.retry(ids)
        states = await asyncio.to_thread(self._read_states, ids)
        self.post_message(RowsRetried(states, requeued.count, requeued.refused_line()))

    def _read_states(self, ids: list[int]) -> dict[int, OutboxState]:
        with self.console.store.read() as conn:
            return outbox_states(conn, ids)

    def on_rows_retried(self, message: RowsRetried) -> None:
        shown = {row_id: state.status for row_id, state in message.states.items()}
        self._show_states(shown, message.states)
        delivered = sum(1 for s in shown.values() if s == "delivered")
        still = len(shown) - delivered
        self.notify(
            f"Retried {count(message.requeued)}: {count(delivered)} delivered"
            + (f", {count(still)} not delivered" if still else "")
            + (f"\n{message.refused}" if message.refused else ""),
            severity="information" if not (still or message.refused) else "warning",
            timeout=10 if message.refused else 6,
        )
        self.marked.clear()
        self._update_title()
        if self._outcome_timer is not None:
            self._outcome_timer.stop()
        self._outcome_timer = self.set_timer(RETRY_OUTCOME_SECONDS, self._retry_outcome_seen)

    def _show_states(
        self, shown: dict[int, str], states: dict[int, OutboxState] | None = None
    ) -> None:
        """Update rows in place: status, and what the retry changed (HTTP, attempts, feedback)."""
        table = self.table
        for index, row in enumerate(self.rows):
            if row.id not in shown:
                continue
            self.states[row.id] = shown[row.id]
            state = states.get(row.id) if states else None
            if state is not None:
                row = FailureRow(
                    row.id,
                    row.email,
                    row.destination,
                    row.kind,
                    state.feedback,
                    state.http_status,
                    state.attempts,
                    state.updated_at,
                    row.message_id,
                    row.day,
                )
                self.marked.discard(row.id)
            table.update_row(row, index)
        self._show_detail()

    def action_retry_day(self) -> None:
        row = self.current()
        if row is None:
            return
        # The day it was counted on (the operator's time zone), not the UTC date of `at`.
        day = self.flt.day or row.day or row.at[:10]
        # Everything the view is narrowed to: the operator retries what they are looking at
        # (a `/` search included), not every failure of the day.
        flt = FailureFilter(destination=self.flt.destination, day=day, text=self.flt.text)
        self._confirm_day(flt)

    @work(thread=True, group="failures-day")
    def _confirm_day(self, flt: FailureFilter) -> None:
        with self.console.store.read() as conn:
            total = failure_count(conn, flt)
        where = printable(flt.destination or "all destinations")
        if flt.text:
            where += f", matching {printable(flt.text)!r}"

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._show_states(
                    {r.id: "retrying…" for r in self.rows if (r.day or r.at[:10]) == flt.day}
                )
                self.run_worker(self._retry_day(flt), group="failures-retry", exit_on_error=False)

        self.app.call_from_thread(
            self.app.push_screen,
            ConfirmScreen(
                f"Retry {'the' if total == 1 else 'all'} {counted(total, 'failure')} of "
                f"{flt.day} ({where})?",
                "They go back in the queue and are delivered now through the engine.",
                yes="Retry",
            ),
            confirmed,
        )

    async def _retry_day(self, flt: FailureFilter) -> None:
        def ids() -> list[int]:
            with self.console.store.read() as conn:
                return failure_ids(conn, flt)

        row_ids = await asyncio.to_thread(ids)
        requeued = await self.console.retry(row_ids)
        visible = [r.id for r in self.rows if r.id in set(row_ids)]
        states = await asyncio.to_thread(self._read_states, visible)
        self.post_message(RowsRetried(states, requeued.count, requeued.refused_line()))

    # -- destination --------------------------------------------------------------------------
    def action_choose_destination(self) -> None:
        def chosen(destination: str | None) -> None:
            self.flt = FailureFilter(destination, self.flt.day, self.flt.text)
            self.reload_first()

        choose_destination(self, "Failures of which destination?", self.flt.destination, chosen)

    # -- export -------------------------------------------------------------------------------
    def action_export(self, fmt: str) -> None:
        if not self.rows:
            # Said rather than a silent key: an empty file would be no better.
            self.notify("Nothing to export: no failures in this view.", title="Export", timeout=4)
            return
        stamp = self.console.now().strftime("%Y%m%d-%H%M%S")
        self._export(self.flt, self.sort, self.console.export_dir, f"failures-{stamp}.{fmt}", fmt)

    @work(thread=True, group="failures-export")
    def _export(self, flt: FailureFilter, sort: str, directory: Path, name: str, fmt: str) -> None:
        # The export says what the table and `retention-console failures` say: one column spec.
        try:
            with self.console.store.read() as conn, open_export(directory, name) as out:
                rows = iter_failures(conn, flt, sort=sort)
                written = (
                    FAILURES.write_csv(rows, out)
                    if fmt == "csv"
                    else FAILURES.write_json(rows, out)
                )
        except (ExportRefused, OSError) as exc:  # a full disk mid-write, too
            self.app.call_from_thread(
                self.notify, f"Export refused: {exc}", title="Export", severity="error", timeout=10
            )
            return
        self.post_message(ExportWritten(str(directory / name), written))

    def on_export_written(self, message: ExportWritten) -> None:
        self.notify(
            printable(
                f"Wrote {count(message.rows)} failures to {Path(message.path).name} "
                f"(in {Path(message.path).parent})"
            ),
            title="Export",
            markup=False,
            timeout=8,
        )
