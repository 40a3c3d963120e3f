"""What `--run-once` prints (a line a destination; `--quiet`: only what needs attention, the
reason first; `--json`: one JSON object a destination) and `--wait-jobs`, which keeps polling
pending import jobs.

Cron mails whatever a job prints: with `--quiet` a night where everything was delivered mails
nothing. The exit code does not depend on the output mode.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

import click
import orjson

from console.core import clock
from console.core.text import json_printable, printable

if TYPE_CHECKING:
    from console.engine.options import EngineOptions
    from console.engine.progress import RunProgress
    from console.engine.runner import RunResult
    from state.db import Store

FIRST_POLL_SECONDS = 5.0
DRAW_EVERY_SECONDS = 0.25
LONGEST_POLL_SECONDS = 60.0


def json_item(result: RunResult, events: int = 0) -> dict[str, object]:
    """One destination's run as `summary --json` names its counts (for this run, not the day:
    `events` of its completions were events, the rest contacts), plus the run's state and,
    when it needs attention, the reason."""
    return {
        "date": clock.today(),
        "destination": result.destination,
        "completions": result.counts.delivered,
        "contacts": result.counts.delivered - events,
        "events": events,
        "failures": result.counts.rejected,
        "suppressed": result.counts.suppressed,
        "queued": result.queued,
        "state": str(result.status),
        "reason": result.reason(),
        "run": result.run_id,
        "import_jobs_pending": result.counts.jobs_pending,
    }


def attention_line(result: RunResult) -> str:
    """`reason - destination: state, counts`: the reason first, then only the counts that are
    not zero."""
    c = result.counts
    counts = [
        f"{value:,} {label}"
        for value, label in (
            (c.delivered, "delivered"),
            (c.rejected, "rejected"),
            (result.queued, "queued"),
        )
        if value
    ]
    return f"{result.reason()} - {result.destination}: {result.status}" + "".join(
        f", {part}" for part in counts
    )


def print_results(
    results: Sequence[RunResult], *, quiet: bool, as_json: bool, store: Store | None = None
) -> None:
    events: dict[int, int] = {}
    if as_json and store is not None:
        from state.monitoring import events_delivered_by_run

        with store.read() as conn:
            events = events_delivered_by_run(conn, [r.run_id for r in results if r.run_id])
    for result in results:
        if as_json:
            item = json_item(result, events.get(result.run_id or 0, 0))
            # One object a line; names and a receiver's words as \\u escapes, never raw.
            click.echo(json_printable(orjson.dumps(item).decode()))
        elif quiet:
            if result.reason() is not None:
                click.echo(printable(attention_line(result)))
        else:
            # The line carries names and a receiver's words: cron mails it, a terminal shows it.
            click.echo(printable(result.line()))


class StderrProgress:
    """One line on stderr, redrawn in place (at most 4 times a second, and at each change of
    phase): each running
    destination's rows sent of rows due, rate and time left. Only for a terminal: cron's
    mail and a redirected stderr never see it."""

    def __init__(self, stream: TextIO, width: int = 80) -> None:
        self.stream = stream
        self.width = width
        self.runs: dict[str, RunProgress] = {}
        self._phases: dict[str, str] = {}
        self._drawn = 0.0
        self._shown = False
        # Batches are recorded in worker threads, several destinations at once.
        self._lock = threading.Lock()

    def update(self, progress: RunProgress) -> None:
        with self._lock:
            before = self._phases.get(progress.destination)
            self._phases[progress.destination] = progress.phase
            self.runs[progress.destination] = progress
            now = time.monotonic()
            # A new phase (planning, then delivering) is drawn at once; counts as time allows.
            if now - self._drawn < DRAW_EVERY_SECONDS and before == progress.phase:
                return
            self._drawn = now
            line = " | ".join(f"{name}: {p.text()}" for name, p in self.runs.items())
            self.stream.write("\r" + printable(line)[: self.width - 1] + "\x1b[K")
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        with self._lock:
            if self._shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()


async def run_waiting_for_jobs(
    store: Store,
    trigger: str,
    options: EngineOptions,
    names: Sequence[str] | None,
    wait_minutes: float,
) -> list[RunResult]:
    """Run once; then, while an import job is pending and `wait_minutes` are not up, run the
    destinations that wait for one again (each run polls its job, and once it completed
    delivers what waited for it), backing off from 5 s to a minute between polls. Returns
    each destination's last result."""
    from console.engine.runner import run_all

    results = {r.destination: r for r in await run_all(store, trigger, options, names)}
    deadline = time.monotonic() + wait_minutes * 60
    pause = FIRST_POLL_SECONDS
    while waiting := [name for name, r in results.items() if r.counts.jobs_pending]:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, LONGEST_POLL_SECONDS)
        for result in await run_all(store, trigger, options, waiting):
            results[result.destination] = result
    return list(results.values())
