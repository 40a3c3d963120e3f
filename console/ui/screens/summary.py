"""Sync summary: per destination, one row a day (completions split into contacts and events,
failures, suppressed, queued) over the full history, a page at a time, optionally within a date
range (`/`), and a chart of the last 30 days, as wide as the terminal, with each line's peak
(`console/ui/widgets/day_chart.py`). Enter on a day opens that day's failures."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from console.core import clock
from console.reports.views import SUMMARY
from console.ui.screens.base import PagedScreen, page_bindings
from console.ui.screens.choose import choose_destination
from console.ui.screens.failures import FailuresScreen
from console.ui.screens.mapping_forms import text_dialog
from console.ui.widgets.day_chart import DayChart, Series
from console.ui.widgets.paged_table import PagedTable
from state.db import Connection
from state.summary import SummaryRow, daily_summary, summary_page, summary_position

DAYS = 30


def parse_range(text: str) -> tuple[str | None, str | None]:
    """`2026-11-01..2026-11-30` (either side may be empty; empty text: every day) ->
    (since, until); raises ValueError with the reason."""
    text = text.strip()
    if not text:
        return None, None
    since, dots, until = text.partition("..")
    if not dots:
        raise ValueError("write the days as FROM..TO, e.g. 2026-11-01..2026-11-30")
    days: list[str | None] = []
    for part in (since.strip(), until.strip()):
        if not part:
            days.append(None)
            continue
        try:
            days.append(date.fromisoformat(part).isoformat())
        except ValueError:
            raise ValueError(f"{part!r} is not a day (YYYY-MM-DD)") from None
    first, last = days
    if first and last and first > last:
        raise ValueError(f"{first} is after {last}")
    return first, last


class SummaryScreen(PagedScreen):
    """All destinations by default; `c` narrows to one (the chart follows)."""

    MODE = "summary"
    HELP_NAME = "Sync summary"
    BINDINGS = [
        Binding("enter", "open_day", "Failures of day", key_display="⏎", id="summary-open"),
        Binding("c", "choose_destination", "Destination", id="summary-destination"),
        Binding(
            "slash",
            "filter",
            "Days",
            key_display="/",
            tooltip="Show the days of a date range (FROM..TO, either side may be empty)",
            id="summary-range",
        ),
        *page_bindings("summary"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.destination: str | None = None
        self.since: str | None = None
        self.until: str | None = None
        self._rows_seen = 0

    def compose_body(self) -> ComposeResult:
        yield DayChart(id="chart")
        # The full history a page at a time (keyset on day and destination).
        table: PagedTable[SummaryRow] = PagedTable(
            SUMMARY,
            page_size=self.console.page_size,
            position=summary_position,
            key=lambda row: f"{row.date}/{row.destination}",
            id="summary",
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
        self.reload(first_page=self._take_jump())

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

    def reload(self, first_page: bool = False) -> None:
        """Read the rows again: the page on screen (new counts), or the first page of a new
        view (`first_page`: another destination or range)."""
        destination, since, until = self.destination, self.since, self.until

        def page(conn: Connection, after: Any, limit: int) -> list[SummaryRow]:
            return summary_page(
                conn, destination, since=since, until=until, after=after, limit=limit
            )

        if self.table.page and not first_page:
            self.table.reload(keep_cursor=True)
        else:
            # New counts: the cursor stays on the row number it was on.
            self.table.load_query(self.console.store, page, keep_cursor=not first_page)
        self._load_chart(destination)

    @work(thread=True, exclusive=True, group="summary-chart")
    def _load_chart(self, destination: str | None) -> None:
        with self.console.store.read() as conn:
            rows = daily_summary(conn, destination, DAYS)
        self.app.call_from_thread(self._chart, rows)

    @on(PagedTable.PageShown, "#summary")
    def _page_shown(self, _event: PagedTable.PageShown) -> None:
        which = self.destination or "all destinations"
        days = (
            f"{self.since or 'first day'} to {self.until or 'today'}"
            if self.since or self.until
            else "every day"
        )
        parts = ["Sync summary", which, days]
        if (zone := clock.zone_name()) != "UTC":
            parts.append(f"days in {zone}")  # the --tz / timezone setting
        if self.rows:
            parts.append(self.table.page_label())
            if self.table.page or self.table.has_more:
                parts.append("[ ]: page")
            parts.append("⏎ failures of the day")
        else:
            parts.append(
                "nothing in these days" if self.since or self.until else "nothing delivered yet"
            )
        self.set_title(" · ".join(parts))

    def _chart(self, rows: list[SummaryRow]) -> None:
        today = self.console.now().date()
        days = [(today - timedelta(days=DAYS - 1 - i)).isoformat() for i in range(DAYS)]
        completions = dict.fromkeys(days, 0)
        failures = dict.fromkeys(days, 0)
        for row in rows:
            if row.date in completions:
                completions[row.date] += row.completions
                failures[row.date] += row.failures
        self.query_one(DayChart).show(
            days,
            [
                Series("Completions", list(completions.values()), "day-chart--good"),
                Series("Failures", list(failures.values()), "day-chart--bad"),
            ],
        )

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
            self.reload(first_page=True)

        choose_destination(self, "Summary of which destination?", self.destination, chosen)

    def action_back(self) -> None:
        # Escape closes the date range first, then leaves the screen.
        if self.since or self.until:
            self.since = self.until = None
            self.reload(first_page=True)
        else:
            super().action_back()

    def action_filter(self) -> None:
        """`/`: the date range of the days shown."""
        current = f"{self.since or ''}..{self.until or ''}" if self.since or self.until else ""

        def chosen(days: object) -> None:
            if isinstance(days, tuple):
                self.since, self.until = days
                self.reload(first_page=True)

        self.app.push_screen(
            text_dialog(
                "Days shown (empty: every day)",
                "From..to",
                current,
                "2026-11-01..2026-11-30, 2026-11-01.. or ..2026-11-30",
                [],
                lambda v: parse_range(v["text"]),
            ),
            chosen,
        )
