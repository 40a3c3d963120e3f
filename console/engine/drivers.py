"""What the engine does for each destination kind: how to plan, and which adapter sends.

A driver is the seam between the generic engine (leases, outbox, retries, History) and one
destination kind. ReSci adds a `poll` step for its long-running import jobs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from console.destinations.base import DestinationAdapter
from console.destinations.segment import SegmentAdapter
from console.engine.plan_segment import plan_segment
from console.engine.runs import RunCounts
from state.db import Store
from state.destinations import DestinationRecord
from state.settings import SegmentSettings, resolve_secret

Planner = Callable[[Store, DestinationRecord, int, RunCounts], None]
# A step before planning and delivery (ReSci: start or poll an import job). It returns False
# when real-time rows must wait (the backfill has not completed yet).
Poller = Callable[[Store, DestinationRecord, int, RunCounts, httpx.AsyncClient], Awaitable[bool]]


@dataclass(frozen=True)
class Driver:
    plan: Planner
    adapter: Callable[[DestinationRecord], DestinationAdapter]
    poll: Poller | None = None


def _segment_adapter(destination: DestinationRecord) -> DestinationAdapter:
    settings: SegmentSettings = destination.settings  # type: ignore[assignment]
    return SegmentAdapter(settings.endpoint, resolve_secret(settings.write_key))


DRIVERS: dict[str, Driver] = {
    "segment": Driver(plan=plan_segment, adapter=_segment_adapter),
}


def driver_for(kind: str) -> Driver:
    if kind == "resci" and "resci" not in DRIVERS:
        # Imported lazily so the ReSci modules register themselves without an import cycle.
        import console.engine.resci_driver  # noqa: F401
    return DRIVERS[kind]
