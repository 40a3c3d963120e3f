"""Import jobs of a destination (a ReSci audience backfill is one): state, rows, imported,
rejected, age and the receiver's message, newest first. Reached with `j` on Destinations or
from the command palette; it follows the store while a job is pending."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from console.core import clock
from console.core.text import printable
from console.core.vocab import ImportJobStatus
from console.reports.formatting import count, counted, ellipsize, full_time
from console.ui.screens.base import ConsoleScreen
from state.monitoring import ImportJobRow, destination_import_jobs

JOB_STATE_STYLES = {
    ImportJobStatus.UPLOADING: "cyan",
    ImportJobStatus.QUEUED: "yellow",
    ImportJobStatus.PROCESSING: "bold yellow",
    ImportJobStatus.COMPLETED: "green",
    ImportJobStatus.FAILED: "bold red",
}
REFRESH_SECONDS = 1.0
"""While a job is pending, the view reads the store this often."""


class JobsLoaded(Message):
    def __init__(self, jobs: list[ImportJobRow], known: bool) -> None:
        super().__init__()
        self.jobs = jobs
        self.known = known


def job_age(job: ImportJobRow, now: datetime) -> float:
    """Seconds since the job was recorded (before its upload)."""
    return max(0.0, (now - clock.parse_iso(job.created_at)).total_seconds())


def age_text(seconds: float) -> str:
    """`45s`, `75m`, `26h 05m`, `3d 04h`: minutes count while a job is young (its limit is in
    minutes), days once it is old."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 2 * 3600:
        return f"{whole // 60}m"
    if whole < 2 * 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600:02d}h"


class ImportJobsScreen(ConsoleScreen):
    """One destination's import jobs."""

    MODE = "destinations"
    HELP_NAME = "Import jobs"
    BINDINGS = [Binding("escape", "back", "Back", id="back")]

    def __init__(self, destination: str) -> None:
        super().__init__()
        self.destination = destination
        self.jobs: list[ImportJobRow] = []

    def compose_body(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="import-jobs", cursor_type="row", zebra_stripes=True)
        for label, key, width in (
            ("Job", "job", 4),
            ("ReSci id", "remote", 10),
            ("State", "state", 10),
            ("Rows", "rows", 8),
            ("Imported", "imported", 8),
            ("Rejected", "rejected", 8),
            ("Age", "age", 7),
            ("Message", "message", 30),
        ):
            table.add_column(label, key=key, width=width)
        yield table
        with VerticalScroll(id="import-job-detail", classes="detail"):
            yield Static(id="import-job-text", markup=False)

    def on_mount(self) -> None:
        self.watch(self.app, "engine_tick", self._engine_moved, init=False)
        self.set_interval(REFRESH_SECONDS, self._tick)
        self.query_one(DataTable).focus()
        self.reload()

    def jumped(self) -> None:
        self.reload()

    def _engine_moved(self, _tick: int) -> None:
        if self.is_current:
            self.reload()

    def _tick(self) -> None:
        if self.is_current and any(ImportJobStatus(j.status).pending for j in self.jobs):
            self.reload()

    @work(thread=True, exclusive=True, group="import-jobs-load")
    def reload(self) -> None:
        with self.console.store.read() as conn:
            jobs = destination_import_jobs(conn, self.destination)
        self.post_message(JobsLoaded(jobs or [], jobs is not None))

    def on_jobs_loaded(self, message: JobsLoaded) -> None:
        self.jobs = message.jobs
        table: DataTable[Any] = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        now = self.console.now()
        for job in self.jobs:
            table.add_row(
                str(job.id),
                Text(printable(job.remote_id or "—")),
                Text(job.status, style=JOB_STATE_STYLES.get(ImportJobStatus(job.status), "")),
                Text(count(job.rows), justify="right"),
                Text(count(job.imported), justify="right"),
                Text(
                    count(job.rejected), justify="right", style="bold red" if job.rejected else ""
                ),
                Text(age_text(job_age(job, now)), justify="right"),
                # The receiver's words: text, never markup, control characters escaped.
                Text(ellipsize(printable(job.message or ""), 30)),
                key=str(job.id),
            )
        if self.jobs:
            table.move_cursor(row=min(row, len(self.jobs) - 1))
        pending = sum(1 for j in self.jobs if ImportJobStatus(j.status).pending)
        if not message.known:
            title = f"Import jobs · {self.destination} · no such destination"
        elif not self.jobs:
            title = f"Import jobs · {self.destination} · none yet"
        else:
            title = (
                f"Import jobs · {self.destination} · {counted(len(self.jobs), 'job')}, "
                f"{pending} pending"
            )
        self.set_title(title)
        self._show_detail()

    @on(DataTable.RowHighlighted)
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        text = self.query_one("#import-job-text", Static)
        table: DataTable[Any] = self.query_one(DataTable)
        if not self.jobs:
            text.update(
                "No import jobs. A destination that exports an audience starts one at its "
                "first run, and a new one whenever the audience or the mapping changes."
            )
            return
        job = self.jobs[min(table.cursor_row, len(self.jobs) - 1)]
        text.update(
            Text(
                printable(
                    f"Job {job.id} · ReSci id {job.remote_id or '— (not uploaded yet)'} · "
                    f"audience {job.audience} · {job.status} · recorded "
                    f"{full_time(job.created_at)} · last change {full_time(job.updated_at)}\n"
                    f"Message: {job.message or '—'}",
                    keep="\n",
                )
            )
        )
