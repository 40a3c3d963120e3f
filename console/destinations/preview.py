"""A dry run's plan of one destination: what the next run would queue, send and leave out, with
a few payloads as they would leave. Filled by the engine (`console.engine.dry_run`) from the
kind's pure planner and, for a kind with a poller, by the kind's own read-only preview of that
step (`DestinationKind.preview`); nothing here reads or writes the store."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.destinations.kind import PlannedMessage

if TYPE_CHECKING:
    from console.destinations.context import StoreSession


SAMPLE_ABOVE = 20_000
"""A count under a time budget reads a source longer than this as windows spread over it
(`spread`); a shorter one is read whole, from the first row (about what the budget reads)."""
SAMPLE_WINDOW = 500


def spread(low: int, high: int) -> Iterator[int]:
    """Positions to read windows after, spread ever finer over `low..high`: the start, then
    the middle, the quarters, the eighths... (a budget that stops early has seen every part,
    not only the first rows, which an import in batches makes unlike the rest)."""
    yield low - 1
    span = high - low
    parts = 2
    while parts <= span:
        for j in range(1, parts, 2):
            yield low - 1 + span * j // parts
        parts *= 2


@dataclass(frozen=True)
class Sample:
    """One payload as it would leave: its row kind, the contact's email, the body text."""

    kind: str
    email: str | None
    body: str
    problem: str | None = None


@dataclass(frozen=True)
class Backfill:
    """An import of a whole audience the next run would start (ReSci's users file)."""

    audience: str
    users: int
    columns: tuple[str, ...]
    reason: str
    estimated: bool = False

    @property
    def fields(self) -> int:
        """Mapped fields, the always-sent columns and the membership attribute aside."""
        return max(0, len(self.columns) - 4)


@dataclass
class DryRunPlan:
    """Counts of one destination's next run, as a real run would count them."""

    destination: str
    kind: str
    show: int = 0
    due: int = 0
    """Rows queued already and due now: the next run sends them first."""
    later: int = 0
    """Rows queued for a retry that falls due later."""
    new: Counter[str] = field(default_factory=Counter)
    """New rows per row kind the run would queue and send."""
    known: int = 0
    """Planned messages whose messageId the outbox holds already (not queued again)."""
    refused: int = 0
    """Messages refused locally, before sending (a failure at once)."""
    filtered: int = 0
    suppressed: int = 0
    skipped: int = 0
    suppressed_on_leave: int = 0
    """Queued contact rows whose email joined the suppression list since: booked suppressed."""
    entered: int = 0
    changed: int = 0
    left: int = 0
    backfill: Backfill | None = None
    samples: list[Sample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What the operator must confirm explicitly (the kind's `confirm`)."""
    halted: str | None = None
    """Why the run would stop before sending (a missing audience, an unset `env:` key)."""
    config_error: bool = False
    read: int = 0
    """Source rows read."""
    unread: int = 0
    """Source rows a time budget left unread (0: the plan is complete)."""
    cut_short: bool = False
    """A time budget stopped a count that cannot be estimated (an audience delta)."""
    totals: dict[str, int] = field(default_factory=dict)
    """Rows per source stream (`contacts`, `events`), to scale a count a budget cut short."""
    deadline: float | None = None
    """`time.monotonic()` past which reading stops (the console's live counts); None: none."""

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    @property
    def complete(self) -> bool:
        return self.unread == 0 and not self.cut_short

    @property
    def new_rows(self) -> int:
        return sum(self.new.values())

    @property
    def would_send(self) -> int:
        """Rows the run would hand to the destination: due rows not suppressed, and new ones."""
        return self.due - self.suppressed_on_leave + self.new_rows

    def sample(self, kind: str, email: str | None, body: str, problem: str | None = None) -> None:
        if len(self.samples) < self.show:
            self.samples.append(Sample(kind, email, body, problem))

    def take(self, messages: Iterable[PlannedMessage], known: set[str] | None = None) -> None:
        """Count planned messages as `queue_rows` would store them: those whose id is in
        `known` are not queued again; those with a problem fail at once."""
        for message in messages:
            if known and message.message_id in known:
                self.known += 1
                continue
            if message.problem:
                self.refused += 1
            else:
                self.new[str(message.kind)] += 1
            self.sample(
                str(message.kind),
                message.email,
                message.payload.decode("utf-8", "replace"),
                message.problem,
            )


Previewer = Callable[["StoreSession", Any, "DryRunPlan", str], None]
"""(a read-only session, the settings, the plan to fill, today) -> None: what the kind's poller
would do next run, counted into the plan, nothing written. Raises nothing for a halt: it sets
`plan.halted` with the reason the real run would give."""
