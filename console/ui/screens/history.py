"""History: every run, newest first, with its trigger and its counts; a running run updates
live. Runs that found nothing to send are hidden until `.` shows them; `/` keeps one outcome.
Enter opens the rows a run delivered or failed, which `/` narrows to the failed ones."""

from __future__ import annotations

import re
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Static

from console.core.text import printable
from console.reports.formatting import ellipsize
from console.reports.views import RUN_ROWS, RUNS, run_duration
from console.ui.formatting import count, counted, full_time
from console.ui.screens.base import PagedScreen, page_bindings
from console.ui.screens.choose import ChooseScreen, choose_destination
from console.ui.widgets.paged_table import PagedTable
from state.db import Connection
from state.failures import FailureRow
from state.history import RunRow, run_rows_page, runs_page


def run_note(run: RunRow) -> str:
    """What a run's message adds to its counts: the part in parentheses of the engine's
    summary line (an import job's state, say), or the whole message when it is not one."""
    message = (run.message or "").strip()
    if not message:
        return ""
    if message.startswith(f"{run.destination}: "):
        # "... 2 requests (note)" or "... 1 request (note)".
        _, _, note = re.sub(r" requests? \(", " requests (", message, count=1).partition(
            "requests ("
        )
        return note.removesuffix(")")
    return ellipsize(message, 400)


ALL = "__all__"
OUTCOMES = [
    (ALL, "every outcome"),
    ("ok", "ok: everything planned was delivered"),
    ("failed", "failed: some rows were refused or are still queued"),
    ("error", "error: the run could not work (a key, the connection, the settings)"),
    ("interrupted", "interrupted: the process ended mid-run"),
    ("running", "running now"),
]
ROW_STATUSES = [
    (ALL, "every row"),
    ("failed", "failed rows only"),
    ("delivered", "delivered rows only"),
    ("queued", "rows still queued"),
]


def _by_id(row: RunRow | FailureRow) -> int:
    """The keyset position past a row of a listing ordered by id."""
    return row.id


class HistoryScreen(PagedScreen):
    """Runs of every destination, or of one (`c`)."""

    MODE = "history"
    HELP_NAME = "History"
    HELP_NOTES = (
        ("empty run", "ended ok with no request sent, nothing delivered and nothing failed: "
         "hidden until . shows it"),
    )  # fmt: skip
    BINDINGS = [
        Binding("enter", "open_run", "Rows", key_display="⏎", priority=True, id="history-open"),
        Binding("c", "choose_destination", "Destination", id="history-destination"),
        Binding(
            "slash",
            "filter",
            "Outcome",
            key_display="/",
            tooltip="Show the runs of one outcome (ok, failed, error, interrupted, running)",
            id="history-filter",
        ),
        Binding(
            "full_stop",
            "toggle_empty",
            "Empty runs",
            key_display=".",
            tooltip="Show or hide the runs that found nothing to send (hidden at first)",
            id="history-empty",
        ),
        *page_bindings("history"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.destination: str | None = None
        self.outcome: str | None = None
        """The run status kept by `/` (None: every outcome)."""
        self.show_empty = False
        """Whether the runs that found nothing to send are listed (`.`)."""
        self._live: Timer | None = None

    def compose_body(self) -> ComposeResult:
        yield PagedTable(RUNS, page_size=self.console.page_size, position=_by_id, id="runs")
        with VerticalScroll(id="run-detail", classes="detail"):
            yield Static(id="run-summary", markup=False)

    @property
    def table(self) -> PagedTable[RunRow]:
        return self.query_one("#runs", PagedTable)

    @property
    def runs(self) -> list[RunRow]:
        """The runs on screen, newest first."""
        return self.table.items

    def on_mount(self) -> None:
        self.watch(self.app, "engine_tick", self._engine_moved, init=False)
        self.table.focus()
        self._take_jump()
        self.reload_first()

    def jumped(self) -> None:
        self._take_jump()
        self.reload_first()

    def _take_jump(self) -> None:
        jumps = self.console.jump_targets
        if "history" in jumps:
            self.destination = jumps.pop("history")

    def _engine_moved(self, _tick: int) -> None:
        if self.is_current:
            self.table.reload(keep_cursor=True)

    def reload_first(self) -> None:
        destination, outcome, hide_empty = self.destination, self.outcome, not self.show_empty

        def page(conn: Connection, after: Any, limit: int) -> list[RunRow]:
            return runs_page(
                conn, destination, limit=limit, after=after, outcome=outcome, hide_empty=hide_empty
            )

        self.table.load_query(self.console.store, page)

    @on(PagedTable.PageShown, "#runs")
    def _page_shown(self, _event: PagedTable.PageShown) -> None:
        table = self.table
        live = any(run.status == "running" for run in self.runs)
        # A running run's counts move with every batch: poll its page while one is running.
        if live and self._live is None:
            self._live = self.set_interval(1.0, self._tick_live)
        elif not live and self._live is not None:
            self._live.stop()
            self._live = None
        which = self.destination or "all destinations"
        narrowed = [f"outcome {self.outcome}"] if self.outcome else []
        narrowed.append("empty runs shown" if self.show_empty else "empty runs hidden (.)")
        parts = ["History", which, *narrowed, table.page_label()]
        if table.page or table.has_more:
            parts.append("[ ]: page")
        parts.append("⏎ a run's rows")
        if not self.runs:
            parts = ["History", which, *narrowed, "no runs match" if self.outcome else "no runs"]
        self.set_title(" · ".join(parts))
        self._show_detail()

    def _tick_live(self) -> None:
        if self.is_current:
            self.table.reload(keep_cursor=True)

    def current(self) -> RunRow | None:
        return self.table.current()

    @on(PagedTable.RowHighlighted)
    def _highlighted(self, _event: PagedTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        run = self.current()
        summary = self.query_one("#run-summary", Static)
        if run is None:
            summary.update(
                "No runs of this outcome: / picks another, esc shows every outcome."
                if self.outcome
                else "No runs yet. Runs appear here as the schedule fires, or press r on "
                "Destinations."
                + ("" if self.show_empty else " Runs that found nothing to send: press .")
            )
            return
        # The destination's name and the run's note (a receiver's words) are escaped.
        summary.update(
            printable(
                f"Run {run.id} · {run.destination} · {run.trigger} · {run.status} · started "
                f"{full_time(run.started_at)} · took {run_duration(run)}\n"
                f"added {count(run.added)} (audience entries and new rows) · changed "
                f"{count(run.changed)} (updates) · removed {count(run.removed)} (exits) · "
                f"delivered {count(run.delivered)} · rejected {count(run.rejected)} · "
                f"suppressed {count(run.suppressed)} · filtered {count(run.filtered)} · "
                f"skipped {count(run.skipped)} · {counted(run.requests, 'request')}"
                + (f"\nNote: {note}" if (note := run_note(run)) else ""),
                keep="\n",
            )
        )

    def action_open_run(self) -> None:
        run = self.current()
        if run is not None:
            self.app.push_screen(RunRowsScreen(run))

    def action_choose_destination(self) -> None:
        def chosen(destination: str | None) -> None:
            self.destination = destination
            self.reload_first()

        choose_destination(self, "History of which destination?", self.destination, chosen)

    def action_filter(self) -> None:
        def chosen(outcome: object) -> None:
            if isinstance(outcome, str):
                self.outcome = None if outcome == ALL else outcome
                self.reload_first()

        self.app.push_screen(
            ChooseScreen("Runs of which outcome?", OUTCOMES, self.outcome or ALL), chosen
        )

    def action_toggle_empty(self) -> None:
        self.show_empty = not self.show_empty
        self.reload_first()

    def action_back(self) -> None:
        # Escape closes the outcome filter first, then leaves the screen.
        if self.outcome is not None:
            self.outcome = None
            self.reload_first()
        else:
            super().action_back()


class RunRowsScreen(PagedScreen):
    """The outbox rows one run last changed: what it delivered and what it failed."""

    MODE = "history"
    HELP_NAME = "Rows of a run"
    BINDINGS = [
        Binding(
            "slash",
            "filter",
            "Failed only",
            key_display="/",
            tooltip="Show only the failed rows (or the delivered, the queued), or every row",
            id="run-rows-filter",
        ),
        *page_bindings("run-rows"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self, run: RunRow) -> None:
        super().__init__()
        self.sync_run = run
        self.status: str | None = None
        """The row status kept by `/` (None: every row)."""

    def compose_body(self) -> ComposeResult:
        yield PagedTable(RUN_ROWS, page_size=self.console.page_size, position=_by_id, id="run-rows")
        with VerticalScroll(id="run-row-detail", classes="detail"):
            yield Static(id="run-row-summary", markup=False)

    @property
    def table(self) -> PagedTable[FailureRow]:
        return self.query_one("#run-rows", PagedTable)

    @property
    def rows(self) -> list[FailureRow]:
        return self.table.items

    def on_mount(self) -> None:
        self.table.focus()
        self.reload_first()

    def reload_first(self) -> None:
        run_id, status = self.sync_run.id, self.status

        def page(conn: Connection, after: Any, limit: int) -> list[FailureRow]:
            return run_rows_page(conn, run_id, limit=limit, after=after, status=status)

        self.table.load_query(self.console.store, page)

    def action_filter(self) -> None:
        def chosen(status: object) -> None:
            if isinstance(status, str):
                self.status = None if status == ALL else status
                self.reload_first()

        # Straight to the failed rows when none is chosen yet: what `/` is for here.
        current = self.status or "failed"
        self.app.push_screen(ChooseScreen("Which rows of the run?", ROW_STATUSES, current), chosen)

    def action_back(self) -> None:
        if self.status is not None:
            self.status = None
            self.reload_first()
        else:
            super().action_back()

    @on(PagedTable.PageShown, "#run-rows")
    def _page_shown(self, _event: PagedTable.PageShown) -> None:
        table = self.table
        run = self.sync_run
        parts = [f"Run {run.id}", run.destination, run.trigger, full_time(run.started_at)]
        if self.status:
            parts.append(f"{self.status} rows only (esc: every row)")
        parts.append(table.page_label() if self.rows else "no rows")
        if table.page or table.has_more:
            parts.append("[ ]: page")
        title = " · ".join(parts)
        self.set_title(title)
        self._show_detail()

    @on(PagedTable.RowHighlighted)
    def _highlighted(self, _event: PagedTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        row = self.table.current()
        summary = self.query_one("#run-row-summary", Static)
        if row is None:
            summary.update(
                f"No {self.status} rows in this run: / picks others, esc shows every row."
                if self.status
                else "This run changed no rows (nothing new to send, or rows were sent again by "
                "a later run)."
            )
            return
        summary.update(
            printable(
                f"{row.email or '—'} · {row.kind} · HTTP {row.http_status or '—'} · "
                f"{counted(row.attempts, 'attempt')} · {full_time(row.at)}\n"
                f"Feedback: {row.feedback or '—'}",
                keep="\n",
            )
        )
