"""A run's progress while it goes: rows sent of rows due, the rate and what is left, for the
console's Destinations panel and, on a terminal, `--run-once`'s stderr.

The engine updates one `RunProgress` per run and hands it to `EngineOptions.progress` after
the plan step and after every recorded batch; the store keeps the counts themselves (History).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from console.core import clock

log = logging.getLogger("retention_console.engine")

PLANNING = "planning"
DELIVERING = "delivering"
POLLING = "polling"
"""A kind's poller at work (a ReSci backfill): `note` says where it is."""


@dataclass
class RunProgress:
    destination: str
    started: datetime = field(default_factory=clock.now)
    """When the delivery began (the engine's clock); the rate counts from here."""
    phase: str = PLANNING
    due: int = 0
    """Rows queued for this destination when the delivery began."""
    sent: int = 0
    """Rows with an outcome since (delivered or rejected)."""
    note: str = ""
    """What the poller last said (rows written, bytes uploaded, the import job's state)."""
    counted_before: int = 0
    """Outcomes the run had before delivery began (a completed import job, rows refused
    locally by the plan step): not part of `sent`."""

    def rate(self, now: datetime) -> float:
        elapsed = (now - self.started).total_seconds()
        return self.sent / elapsed if elapsed > 0 else 0.0

    def seconds_left(self, now: datetime) -> float | None:
        rate = self.rate(now)
        if rate <= 0 or self.sent >= self.due:
            return None
        return (self.due - self.sent) / rate

    def text(self, now: datetime | None = None) -> str:
        """`1,200 of 20,043 sent · 850/s · about 21s left`, or `planning…`."""
        if self.phase == POLLING:
            return self.note or "polling…"
        if self.phase == PLANNING:
            return "planning…"
        now = clock.now() if now is None else now
        parts = [f"{self.sent:,} of {self.due:,} sent", f"{self.rate(now):,.0f}/s"]
        left = self.seconds_left(now)
        if left is not None:
            parts.append(f"about {_short(left)} left")
        return " · ".join(parts)


def _short(seconds: float) -> str:
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def tell(listener: Callable[[RunProgress], None] | None, progress: RunProgress) -> None:
    """Hand the progress to the listener (`EngineOptions.progress`), if any; a display that
    fails is logged, never allowed to stop a delivery."""
    if listener is not None:
        try:
            listener(progress)
        except Exception:
            log.exception("progress listener failed")
