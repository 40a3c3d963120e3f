"""The engine's delivery knobs (`EngineOptions`), shared by the run and its delivery loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from console.engine.progress import RunProgress
from console.engine.retries import RetryPolicy
from console.engine.runs import UNHEALTHY_AFTER


@dataclass(frozen=True)
class EngineOptions:
    """Knobs of delivery; defaults suit production, tests shorten the waits. The console and
    `--run-once` build them from `console.engine.settings.EngineSettings`."""

    policy: RetryPolicy = RetryPolicy()
    batch_rows: int = 2500
    in_flight: int = 2
    """Batches on the wire at once per destination, so SQLite work overlaps HTTP."""
    max_wait_seconds: float = 60.0
    """How long a run waits for rows whose retry is due soon before it ends."""
    lease_wait_seconds: float = 0.0
    """How long to wait for a destination another engine is working."""
    timeout_seconds: float = 15.0
    unhealthy_after: int = UNHEALTHY_AFTER
    """Consecutive failed runs (nothing delivered, errors) before a destination is unhealthy."""
    unhealthy_probe_seconds: float = 1800.0
    """How often the scheduler still runs an unhealthy destination, to see if it recovered."""
    progress: Callable[[RunProgress], None] | None = field(default=None, compare=False)
    """Told after the plan step and after every recorded batch (the console's panel, the
    CLI's stderr on a terminal); it must not block."""
    history_retention_days: int = 90
    """Delivered rows older than this are pruned by the console's daily job."""
    shared: bool = False
    """Work each destination together with other workers (`--run-once --worker`), slot by
    slot, instead of taking turns through its lease. PostgreSQL only (state/sharing.py);
    on SQLite runs take turns as ever."""
