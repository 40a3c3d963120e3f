"""The column specs of the paged views: Failures, History (runs), a run's rows and the Sync
summary. The console's tables, the `failures`/`history`/`summary` reports and the failures
export are all rendered from these.

Screen widths are the ones an 80-column terminal needs to tell rows apart; the columns that
say the most come first there, while the report and the export keep their documented order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from console.core import clock
from console.reports.columns import Column, View
from console.reports.formatting import count, duration, short_time
from state.failures import FailureRow
from state.history import RunRow
from state.summary import SummaryRow

Row = TypeVar("Row")


def _dim_unless(style: str, get: Callable[[Row], int]) -> Callable[[Row], str]:
    # A zero reads dim so the rows that did something stand out.
    return lambda row: style if get(row) else "dim"


def _number(
    name: str,
    header: str,
    width: int,
    get: Callable[[Row], int],
    style: str = "",
    report_header: str | None = None,
) -> Column[Row]:
    """A count: thousands separated on screen, bare digits in the report (scripts read it)."""
    return Column(
        name,
        header,
        get,
        text=lambda row: count(get(row)),
        report_text=lambda row: str(get(row)),
        report_header=report_header,
        number=True,
        justify="right",
        width=width,
        style=_dim_unless(style, get),
    )


# -- failures -------------------------------------------------------------------------------------

FAILURE_STATUS_STYLES = {
    "failed": "bold red",
    "delivered": "green",
    "queued": "yellow",
    "suppressed": "dim",
    "retrying…": "bold yellow",
}

_FAILURE_COLUMNS: tuple[Column[FailureRow], ...] = (
    # The mark and the retry status belong to the screen (its marks, its retries' outcomes);
    # the screen fills them in, these are what a row shows before either.
    Column("mark", " ", lambda r: "", width=1),
    Column(
        "email",
        "Email",
        lambda r: r.email,
        text=lambda r: r.email or "—",
        report_text=lambda r: r.email or "",
        width=22,
        wide=28,
    ),
    Column("feedback", "Feedback", lambda r: r.feedback, width=24, grow=120, report_width=80),
    Column(
        "status",
        "Status",
        lambda r: "failed",
        width=9,
        style=lambda r: FAILURE_STATUS_STYLES["failed"],
    ),
    Column(
        "at",
        "When (UTC)",
        lambda r: r.at,
        text=lambda r: short_time(r.at),
        report_text=lambda r: r.at,
        width=11,
    ),
    Column("destination", "Destination", lambda r: r.destination, width=12),
    Column("kind", "Kind", lambda r: r.kind, width=11),
    Column(
        "http_status",
        "HTTP",
        lambda r: r.http_status,
        text=lambda r: str(r.http_status or ""),
        report_header="status",
        number=True,
        width=4,
    ),
    Column("attempts", "Att", lambda r: r.attempts, number=True, width=3),
)

FAILURES: View[FailureRow] = View(
    _FAILURE_COLUMNS,
    screen=(
        "mark",
        "email",
        "feedback",
        "status",
        "at",
        "destination",
        "kind",
        "http_status",
        "attempts",
    ),
    report=("at", "email", "destination", "kind", "http_status", "attempts", "feedback"),
    export=("email", "destination", "kind", "feedback", "http_status", "attempts", "at"),
)

RUN_ROWS: View[FailureRow] = View(
    (
        # The email at its wide width whatever the terminal: a run's rows have room for it.
        replace(_FAILURE_COLUMNS[1], width=28, wide=None),
        *(c for c in _FAILURE_COLUMNS if c.name in ("http_status", "attempts", "at")),
        Column("kind", "Kind (status)", lambda r: r.kind, width=22),
        Column("feedback", "Feedback", lambda r: r.feedback, width=50, report_width=80),
    ),
    screen=("email", "kind", "http_status", "attempts", "at", "feedback"),
    report=("at", "email", "kind", "http_status", "attempts", "feedback"),
    export=("email", "kind", "feedback", "http_status", "attempts", "at"),
)
# -- history --------------------------------------------------------------------------------------

RUN_STATUS_STYLES = {
    "ok": "green",
    # Some rows refused or waiting: worth a look, not an alarm (the run itself worked).
    "partial": "yellow",
    "failed": "bold red",
    "running": "bold cyan",
    "interrupted": "yellow",
}


def run_status_text(run: RunRow) -> str:
    # The live count has its own number column (Delivered): inside this text column it was
    # cut at the column's width (`running 20` for 20,043).
    return run.status


def run_duration(run: RunRow) -> str:
    if run.finished_at is None:
        # A live run: its age so far, measured on the console's clock.
        return duration((clock.now() - clock.parse_iso(run.started_at)).total_seconds()) + "…"
    return duration(run.duration_seconds)


def _seconds(run: RunRow) -> str:
    seconds = run.duration_seconds
    return f"{seconds:.1f}" if seconds is not None else "…"


RUNS: View[RunRow] = View(
    (
        Column(
            "id",
            "Run",
            lambda r: r.id,
            report_header="run",
            number=True,
            justify="right",
            width=4,
        ),
        Column(
            "started_at",
            "Started",
            lambda r: r.started_at,
            text=lambda r: short_time(r.started_at),
            report_text=lambda r: r.started_at,
            report_header="started",
            width=11,
        ),
        Column("finished_at", "Finished", lambda r: r.finished_at, width=11),
        Column("destination", "Destination", lambda r: r.destination, width=12),
        Column("trigger", "Trigger", lambda r: r.trigger, width=8),
        Column(
            "status",
            "Status",
            lambda r: r.status,
            text=run_status_text,
            report_text=lambda r: r.status,
            width=10,
            style=lambda r: RUN_STATUS_STYLES.get(r.status, ""),
        ),
        Column("took", "Took", lambda r: r.duration_seconds, text=run_duration, width=7),
        Column(
            "secs",
            "Secs",
            lambda r: r.duration_seconds,
            text=_seconds,
            number=True,
            justify="right",
            width=4,
        ),
        _number("added", "Added", 5, lambda r: r.added),
        _number("changed", "Changed", 7, lambda r: r.changed),
        _number("removed", "Removed", 7, lambda r: r.removed),
        _number("delivered", "Delivered", 9, lambda r: r.delivered),
        _number("rejected", "Rejected", 8, lambda r: r.rejected, "bold red", "failed"),
        _number("suppressed", "Suppr.", 6, lambda r: r.suppressed),
        _number("skipped", "Skipped", 7, lambda r: r.skipped),
        _number("filtered", "Filtered", 8, lambda r: r.filtered),
        _number("requests", "Requests", 8, lambda r: r.requests),
        Column("message", "Message", lambda r: r.message, width=40),
    ),
    screen=(
        "id",
        "started_at",
        "destination",
        "trigger",
        "status",
        "delivered",
        "added",
        "changed",
        "removed",
        "rejected",
        "suppressed",
        "took",
    ),
    # At 80 columns the outcome (delivered, rejected) stays on screen; the plan step's split,
    # the duration, the trigger and suppressed are on the highlighted run's line below.
    narrow_drops=("changed", "removed", "added", "took", "trigger", "suppressed"),
    report=(
        "id",
        "started_at",
        "destination",
        "trigger",
        "status",
        "secs",
        "added",
        "delivered",
        "rejected",
        "suppressed",
    ),
    export=(
        "id",
        "destination",
        "trigger",
        "status",
        "started_at",
        "finished_at",
        "added",
        "changed",
        "removed",
        "delivered",
        "rejected",
        "suppressed",
        "skipped",
        "filtered",
        "requests",
        "message",
    ),
)


# -- sync summary ---------------------------------------------------------------------------------

SUMMARY_KEYS = (
    "date",
    "destination",
    "completions",
    "contacts",
    "events",
    "failures",
    "suppressed",
    "queued",
)

SUMMARY: View[SummaryRow] = View(
    (
        Column("date", "Date", lambda r: r.date, width=10),
        Column("destination", "Destination", lambda r: r.destination, width=16),
        _number("completions", "Completions", 11, lambda r: r.completions, "green"),
        _number("contacts", "Contacts", 8, lambda r: r.contacts),
        _number("events", "Events", 6, lambda r: r.events),
        _number("failures", "Failures", 8, lambda r: r.failures, "bold red"),
        _number("suppressed", "Suppressed", 10, lambda r: r.suppressed),
        _number("queued", "Queued", 6, lambda r: r.queued, "yellow"),
    ),
    screen=(
        "date",
        "destination",
        "completions",
        "contacts",
        "events",
        "failures",
        "suppressed",
        "queued",
    ),
    report=SUMMARY_KEYS,
    export=SUMMARY_KEYS,
    # Contacts and events split the completions: at 80 columns the total stays, and the
    # failures, suppressed and queued beside it stay on screen.
    narrow_drops=("events", "contacts"),
)
