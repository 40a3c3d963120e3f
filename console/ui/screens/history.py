"""History: every run, newest first, with its trigger and its counts; a running run updates
live. Enter opens the rows a run delivered or failed."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Static

from console.core import clock
from console.ui.formatting import count, duration, ellipsize, full_time, short_time
from console.ui.messages import RunRowsLoaded, RunsLoaded
from console.ui.screens.base import ConsoleScreen
from console.ui.screens.choose import choose_destination
from console.ui.widgets.paged_table import PagedTable, row_under_cursor
from state.queries import FailureRow, RunRow, run_rows_page, runs_page

PAGE_SIZE = 100
STATUS_STYLES = {
    "ok": "green",
    "failed": "bold red",
    "error": "bold red",
    "running": "bold cyan",
    "interrupted": "yellow",
}


def _n(value: int, width: int, style: str = "") -> Text:
    # Padded by hand: a DataTable cell does not honour Text.justify.
    return Text(count(value).rjust(width), style=style if value else "dim")


def run_status(run: RunRow) -> Text:
    if run.status == "running":
        return Text(f"running {count(run.delivered)}", style=STATUS_STYLES["running"])
    return Text(run.status, style=STATUS_STYLES.get(run.status, ""))


def run_note(run: RunRow) -> str:
    """What a run's message adds to its counts: the part in parentheses of the engine's
    summary line (an import job's state, say), or the whole message when it is not one."""
    message = (run.message or "").strip()
    if not message:
        return ""
    if message.startswith(f"{run.destination}: "):
        _, _, note = message.partition("requests (")
        return note.removesuffix(")")
    return ellipsize(message, 400)


def run_duration(run: RunRow) -> str:
    if run.finished_at is None:
        # A live run: its age so far, measured on the console's clock.
        return duration((clock.now() - clock.parse_iso(run.started_at)).total_seconds()) + "…"
    return duration(run.duration_seconds)


class HistoryScreen(ConsoleScreen):
    """Runs of every destination, or of one (`c`)."""

    MODE = "history"
    HELP_NAME = "History"
    BINDINGS = [
        Binding("enter", "open_run", "Rows", key_display="⏎", priority=True, id="history-open"),
        Binding("c", "choose_destination", "Destination", id="history-destination"),
        Binding("n", "page(1)", "Next", id="history-next"),
        Binding("p", "page(-1)", "Prev", id="history-previous"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.destination: str | None = None
        self.runs: list[RunRow] = []
        self._token = 0
        self._live: Timer | None = None

    def compose_body(self) -> ComposeResult:
        table = PagedTable(page_size=PAGE_SIZE, id="runs")
        table.add_column("Run", key="run", width=4)
        table.add_column("Started", key="started", width=11)
        table.add_column("Destination", key="destination", width=12)
        table.add_column("Trigger", key="trigger", width=8)
        table.add_column("Status", key="status", width=10)
        table.add_column("Added", key="added", width=5)
        table.add_column("Changed", key="changed", width=7)
        table.add_column("Removed", key="removed", width=7)
        table.add_column("Rejected", key="rejected", width=8)
        table.add_column("Suppr.", key="suppressed", width=6)
        table.add_column("Took", key="took", width=7)
        yield table
        with VerticalScroll(id="run-detail", classes="detail"):
            yield Static(id="run-summary", markup=False)

    def on_mount(self) -> None:
        self.watch(self.app, "engine_tick", self._engine_moved, init=False)
        self.query_one(PagedTable).focus()
        self._take_jump()
        self.reload()

    def jumped(self) -> None:
        self._take_jump()
        self.reload()

    def _take_jump(self) -> None:
        jumps = self.console.jump_targets
        if "history" in jumps:
            self.destination = jumps.pop("history")
            self.query_one(PagedTable).page = 0

    def _engine_moved(self, _tick: int) -> None:
        if self.is_current:
            self.reload()

    def reload(self) -> None:
        self._token += 1
        self._load(self.destination, self.query_one(PagedTable).page, self._token)

    @work(thread=True, group="history-load")
    def _load(self, destination: str | None, page: int, token: int) -> None:
        with self.console.store.read() as conn:
            rows = runs_page(conn, destination, limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE)
        self.post_message(RunsLoaded(rows, token))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        if message.token != self._token:
            return
        table = self.query_one(PagedTable)
        table.has_more = len(message.rows) > PAGE_SIZE
        self.runs = message.rows[:PAGE_SIZE]
        cursor = table.cursor_row
        table.clear()
        for run in self.runs:
            table.add_row(
                str(run.id).rjust(4),
                short_time(run.started_at)[:11],
                run.destination,
                run.trigger,
                run_status(run),
                _n(run.added, 5),
                _n(run.changed, 7),
                _n(run.removed, 7),
                _n(run.rejected, 8, "bold red"),
                _n(run.suppressed, 6),
                run_duration(run),
                key=str(run.id),
            )
        if self.runs:
            table.move_cursor(row=min(cursor, len(self.runs) - 1))
        live = any(run.status == "running" for run in self.runs)
        # A running run's counts move with every batch: poll its page while one is running.
        if live and self._live is None:
            self._live = self.set_interval(1.0, self._tick_live)
        elif not live and self._live is not None:
            self._live.stop()
            self._live = None
        which = self.destination or "all destinations"
        parts = ["History", which, table.page_label()]
        if table.page or table.has_more:
            parts.append("n/p: page")
        parts.append("⏎ a run's rows")
        self.set_title(" · ".join(parts) if self.runs else f"History · {which} · no runs yet")
        self._show_detail()

    def _tick_live(self) -> None:
        if self.is_current:
            self.reload()

    def current(self) -> RunRow | None:
        return row_under_cursor(self.query_one(PagedTable), self.runs)

    @on(PagedTable.RowHighlighted)
    def _highlighted(self, _event: PagedTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        run = self.current()
        summary = self.query_one("#run-summary", Static)
        if run is None:
            summary.update(
                "No runs yet. Runs appear here as the schedule fires, or press r on Destinations."
            )
            return
        summary.update(
            f"Run {run.id} · {run.destination} · {run.trigger} · {run.status} · started "
            f"{full_time(run.started_at)} · took {run_duration(run)}\n"
            f"added {count(run.added)} (audience entries and new rows) · changed "
            f"{count(run.changed)} (updates) · removed {count(run.removed)} (exits) · delivered "
            f"{count(run.delivered)} · rejected {count(run.rejected)} · suppressed "
            f"{count(run.suppressed)} · filtered {count(run.filtered)} · skipped "
            f"{count(run.skipped)} · {count(run.requests)} requests"
            + (f"\nNote: {note}" if (note := run_note(run)) else "")
        )

    def action_open_run(self) -> None:
        run = self.current()
        if run is not None:
            self.app.push_screen(RunRowsScreen(run))

    def action_page(self, delta: int) -> None:
        table = self.query_one(PagedTable)
        target = table.page + delta
        if target < 0 or (delta > 0 and not table.has_more):
            self.notify("No more pages that way.", timeout=2)
            return
        table.page = target
        self.reload()

    @on(PagedTable.PageRequested)
    def _page_requested(self, event: PagedTable.PageRequested) -> None:
        self.action_page(event.delta)

    def action_choose_destination(self) -> None:
        def chosen(destination: str | None) -> None:
            self.destination = destination
            self.query_one(PagedTable).page = 0
            self.reload()

        choose_destination(self, "History of which destination?", self.destination, chosen)


class RunRowsScreen(ConsoleScreen):
    """The outbox rows one run last changed: what it delivered and what it failed."""

    MODE = "history"
    HELP_NAME = "Rows of a run"
    BINDINGS = [
        Binding("n", "page(1)", "Next", id="run-rows-next"),
        Binding("p", "page(-1)", "Prev", id="run-rows-previous"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self, run: RunRow) -> None:
        super().__init__()
        self.sync_run = run
        self.rows: list[FailureRow] = []
        self._token = 0

    def compose_body(self) -> ComposeResult:
        table = PagedTable(page_size=PAGE_SIZE, id="run-rows")
        table.add_column("Email", key="email", width=28)
        table.add_column("Kind (status)", key="kind", width=22)
        table.add_column("HTTP", key="http", width=4)
        table.add_column("Att", key="attempts", width=3)
        table.add_column("When (UTC)", key="at", width=11)
        table.add_column("Feedback", key="feedback", width=50)
        yield table
        with VerticalScroll(id="run-row-detail", classes="detail"):
            yield Static(id="run-row-summary", markup=False)

    def on_mount(self) -> None:
        self.query_one(PagedTable).focus()
        self.reload()

    def reload(self) -> None:
        self._token += 1
        self._load(self.query_one(PagedTable).page, self._token)

    @work(thread=True, group="run-rows-load")
    def _load(self, page: int, token: int) -> None:
        with self.console.store.read() as conn:
            rows = run_rows_page(
                conn, self.sync_run.id, limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE
            )
        self.post_message(RunRowsLoaded(rows, token))

    def on_run_rows_loaded(self, message: RunRowsLoaded) -> None:
        if message.token != self._token:
            return
        table = self.query_one(PagedTable)
        table.has_more = len(message.rows) > PAGE_SIZE
        self.rows = message.rows[:PAGE_SIZE]
        table.clear()
        for row in self.rows:
            table.add_row(
                row.email or "—",
                row.kind,
                str(row.http_status or ""),
                str(row.attempts),
                short_time(row.at),
                ellipsize(row.feedback, 80),
                key=str(row.id),
            )
        run = self.sync_run
        parts = [f"Run {run.id}", run.destination, run.trigger, full_time(run.started_at)]
        parts.append(table.page_label())
        if table.page or table.has_more:
            parts.append("n/p: page")
        self.set_title(" · ".join(parts) if self.rows else " · ".join(parts[:4]) + " · no rows")
        self._show_detail()

    @on(PagedTable.RowHighlighted)
    def _highlighted(self, _event: PagedTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        row = row_under_cursor(self.query_one(PagedTable), self.rows)
        summary = self.query_one("#run-row-summary", Static)
        if row is None:
            summary.update(
                "This run changed no rows (nothing new to send, or rows were sent again by a "
                "later run)."
            )
            return
        summary.update(
            f"{row.email or '—'} · {row.kind} · HTTP {row.http_status or '—'} · "
            f"{row.attempts} attempt(s) · {full_time(row.at)}\nFeedback: {row.feedback or '—'}"
        )

    def action_page(self, delta: int) -> None:
        table = self.query_one(PagedTable)
        target = table.page + delta
        if target < 0 or (delta > 0 and not table.has_more):
            self.notify("No more pages that way.", timeout=2)
            return
        table.page = target
        self.reload()

    @on(PagedTable.PageRequested)
    def _page_requested(self, event: PagedTable.PageRequested) -> None:
        self.action_page(event.delta)
