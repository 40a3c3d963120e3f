"""Sync summary: per destination, one row a day (completions, failures, suppressed, queued)
and a chart of the last 30 days. Enter on a day opens that day's failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Sparkline, Static

from console.reports.views import SUMMARY
from console.ui.formatting import count
from console.ui.screens.base import ConsoleScreen
from console.ui.screens.choose import choose_destination
from console.ui.screens.failures import FailuresScreen
from console.ui.widgets.paged_table import PagedTable
from state.db import Connection
from state.queries import SummaryRow, daily_summary

DAYS = 30


class SummaryScreen(ConsoleScreen):
    """All destinations by default; `c` narrows to one (the chart follows)."""

    MODE = "summary"
    HELP_NAME = "Sync summary"
    BINDINGS = [
        Binding("enter", "open_day", "Failures of day", key_display="⏎", id="summary-open"),
        Binding("c", "choose_destination", "Destination", id="summary-destination"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.destination: str | None = None
        self._rows_seen = 0

    def compose_body(self) -> ComposeResult:
        with Vertical(id="chart"):
            with Horizontal(classes="chart-line"):
                yield Static("Completions", classes="chart-label")
                yield Sparkline([], id="completions-chart", classes="chart")
                yield Static(id="completions-total", classes="chart-total", markup=False)
            with Horizontal(classes="chart-line"):
                yield Static("Failures", classes="chart-label")
                yield Sparkline([], id="failures-chart", classes="chart failures-chart")
                yield Static(id="failures-total", classes="chart-total", markup=False)
            yield Static(id="chart-axis", classes="chart-axis", markup=False)
        # One page: 30 days of a few destinations. The row's key is its place in the list.
        table: PagedTable[SummaryRow] = PagedTable(
            SUMMARY, key=lambda row: f"{row.date}/{row.destination}", id="summary"
        )
        yield table

    @property
    def table(self) -> PagedTable[SummaryRow]:
        return self.query_one("#summary", PagedTable)

    @property
    def rows(self) -> list[SummaryRow]:
        return self.table.items

    def on_mount(self) -> None:
        self.watch(self.app, "engine_tick", self._engine_moved, init=False)
        self.table.focus()
        self._take_jump()
        self.reload()

    def jumped(self) -> None:
        self._take_jump()
        self.reload()

    def _take_jump(self) -> bool:
        """A palette jump ("Summary: name") narrows the screen to that destination."""
        jumps = self.console.jump_targets
        if "summary" in jumps:
            self.destination = jumps.pop("summary")
            return True
        return False

    def _engine_moved(self, _tick: int) -> None:
        if self.is_current:
            self.reload()

    def reload(self) -> None:
        destination = self.destination

        def everything(conn: Connection, _after: Any, _limit: int) -> list[SummaryRow]:
            return daily_summary(conn, destination, DAYS)

        # New counts or another destination: the cursor stays on the row number it was on.
        self.table.load_query(self.console.store, everything, keep_cursor=True)

    @on(PagedTable.PageShown, "#summary")
    def _page_shown(self, _event: PagedTable.PageShown) -> None:
        which = self.destination or "all destinations"
        self.set_title(
            f"Sync summary · {which} · last {DAYS} days · ⏎ failures of the day"
            if self.rows
            else f"Sync summary · {which} · nothing delivered yet"
        )
        self._chart()

    def _chart(self) -> None:
        today = self.console.now().date()
        days = [(today - timedelta(days=DAYS - 1 - i)).isoformat() for i in range(DAYS)]
        completions = dict.fromkeys(days, 0)
        failures = dict.fromkeys(days, 0)
        for row in self.rows:
            if row.date in completions:
                completions[row.date] += row.completions
                failures[row.date] += row.failures
        self.query_one("#completions-chart", Sparkline).data = list(completions.values())
        self.query_one("#failures-chart", Sparkline).data = list(failures.values())
        self.query_one("#completions-total", Static).update(
            f"{count(sum(completions.values()))} in {DAYS} days · today {count(completions[days[-1]])}"
        )
        self.query_one("#failures-total", Static).update(
            f"{count(sum(failures.values()))} in {DAYS} days · today {count(failures[days[-1]])}"
        )
        axis = f"{days[0][5:]}".ljust(DAYS - 5) + days[-1][5:]
        self.query_one("#chart-axis", Static).update(axis)

    @on(DataTable.RowSelected)
    def _selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open_day()

    def action_open_day(self) -> None:
        row = self.table.current()
        if row is None:
            return
        self.app.push_screen(FailuresScreen(destination=row.destination, day=row.date))

    def action_choose_destination(self) -> None:
        def chosen(destination: str | None) -> None:
            self.destination = destination
            self.reload()

        choose_destination(self, "Summary of which destination?", self.destination, chosen)
