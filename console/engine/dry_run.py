"""A dry run: what the next run of a destination would do, planned and counted, nothing written.

It walks the run's own steps on one read-only snapshot of the store: the rows already queued
and due (sent first), the kind's poller step as the kind previews it (`DestinationKind.preview`:
ReSci's backfill or audience delta), then every stream past the destination's cursor through
the kind's pure planner (`planning.plan_rows`, the function a real run plans with). Nothing is
queued, no cursor moves, no request leaves: the plan is counted and a few payloads kept.

The same function gives the console's live counts (`from_start`: the settings as a new
destination would see them, every row from the first) and the confirmation before a save that
starts a re-export (`restart`: the streams the new settings read again from the start), with a
time budget: past it, reading stops and counts are scaled from the part read (flagged).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

from console.core import clock
from console.core.secrets import SecretError, mask_secret, resolve_secret, secret_fields
from console.destinations import preview as sampling
from console.destinations import registry
from console.destinations.base import OutgoingRow
from console.destinations.preview import DryRunPlan, Sample, spread
from console.engine.destinations import DestinationRecord, list_destinations
from console.engine.planning import CHUNK, newly_suppressed, plan_rows
from console.engine.sessions import Session
from state import outbox
from state.cursors import get_cursor
from state.db import Connection, Store
from state.previews import known_message_ids, queued_later, rows_after, seq_range
from state.sources import SOURCES, read_chunk

NEW_DESTINATION_ID = 0
"""The id a preview of settings not saved yet reads under: no cursor, queue, job or member."""


def dry_run(
    store: Store,
    destination: DestinationRecord,
    *,
    show: int = 0,
    from_start: bool = False,
    restart: Collection[str] = (),
    budget_seconds: float | None = None,
    check_keys: bool = True,
) -> DryRunPlan:
    """Plan the destination's next run and count it; nothing is written."""
    declared = registry.kind(destination.kind)
    plan = DryRunPlan(destination.name, declared.label, show=show)
    if budget_seconds is not None:
        plan.deadline = time.monotonic() + budget_seconds
    try:
        if check_keys:
            _resolve_keys(destination.settings)
    except SecretError as exc:
        plan.halted, plan.config_error = str(exc), True
        return plan
    destination_id = NEW_DESTINATION_ID if from_start else destination.id
    with store.read() as conn:
        plan.totals = {stream: rows_after(conn, stream, 0) for stream in SOURCES}
        if not from_start:
            _queued(conn, destination, plan)
        if declared.preview is not None:
            session = Session(conn, destination_id, NEW_DESTINATION_ID)
            declared.preview(session, destination.settings, plan, clock.today())
        if plan.halted is None:
            for stream in declared.planner.streams(destination.settings):
                start = 0 if from_start or stream in restart else None
                if from_start and plan.deadline and plan.totals[stream] > sampling.SAMPLE_ABOVE:
                    _sample_stream(conn, destination, stream, plan)
                else:
                    _plan_stream(conn, destination, destination_id, stream, start, plan)
    plan.samples = [_masked(sample, destination) for sample in plan.samples]
    return plan


def _resolve_keys(settings: Any) -> None:
    """Read every key of the settings as a run does first (`env:NAME` from the environment):
    SecretError names a variable that is not set."""
    for name in secret_fields(type(settings)):
        secret = getattr(settings, name, None)
        if secret is not None:
            resolve_secret(secret)


def _queued(conn: Connection, destination: DestinationRecord, plan: DryRunPlan) -> None:
    """Rows queued already: due ones leave first (those whose contact has been suppressed
    since are booked suppressed instead), later ones wait for their retry."""
    planner = registry.kind(destination.kind).planner
    check_suppressed = planner.wants_suppressions(destination.settings)
    after_id = 0
    while rows := outbox.claim_due(conn, destination.id, after_id, CHUNK):
        plan.due += len(rows)
        after_id = rows[-1][0]
        claimed = [OutgoingRow(*row) for row in rows]
        gone = set(newly_suppressed(conn, claimed)) if check_suppressed else set()
        plan.suppressed_on_leave += len(gone)
        for row in claimed:
            if row.id not in gone:
                plan.sample(row.kind, row.email, bytes(row.payload).decode("utf-8", "replace"))
    plan.later = queued_later(conn, destination.id)


def _plan_stream(
    conn: Connection,
    destination: DestinationRecord,
    destination_id: int,
    stream: str,
    start: int | None,
    plan: DryRunPlan,
) -> None:
    """Plan `stream` from the cursor (or `start`) to its newest row, as `plan_chunks` would."""
    planner = registry.kind(destination.kind).planner
    cursor = get_cursor(conn, destination_id, stream) if start is None else start
    before = _Counts.of(plan)
    read = 0
    while True:
        if plan.out_of_time():
            _estimate(conn, stream, cursor, read, before, plan)
            return
        rows = read_chunk(conn, stream, cursor, CHUNK)
        if not rows:
            return
        planned = plan_rows(planner, conn, destination.settings, stream, rows)
        ids = [m.message_id for m in planned.messages]
        fresh = destination_id == NEW_DESTINATION_ID  # no outbox yet: nothing to look up
        plan.take(
            planned.messages, set() if fresh else known_message_ids(conn, destination_id, ids)
        )
        plan.filtered += planned.filtered
        plan.suppressed += planned.suppressed
        plan.skipped += planned.skipped
        read += len(rows)
        plan.read += len(rows)
        cursor = rows[-1]["seq"]


@dataclass(frozen=True)
class _Counts:
    """The plan's counts before a stream, so a stream cut short scales only its own."""

    new: Counter[str]
    refused: int
    filtered: int
    suppressed: int
    skipped: int

    @classmethod
    def of(cls, plan: DryRunPlan) -> _Counts:
        return cls(Counter(plan.new), plan.refused, plan.filtered, plan.suppressed, plan.skipped)


def _estimate(
    conn: Connection, stream: str, cursor: int, read: int, before: _Counts, plan: DryRunPlan
) -> None:
    """The budget ran out part-way through `stream`: scale what its rows read so far added
    to every row left (the rows read stand for the rest)."""
    unread = rows_after(conn, stream, cursor)
    plan.unread += unread
    if read and unread:
        _scale(plan, before, (read + unread) / read)


def _scale(plan: DryRunPlan, before: _Counts, factor: float) -> None:
    """Scale what a stream added to the plan's counts (since `before`) by `factor`."""

    def scaled(now: int, then: int) -> int:
        return then + round((now - then) * factor)

    for kind in list(plan.new):
        plan.new[kind] = scaled(plan.new[kind], before.new[kind])
    plan.refused = scaled(plan.refused, before.refused)
    plan.filtered = scaled(plan.filtered, before.filtered)
    plan.suppressed = scaled(plan.suppressed, before.suppressed)
    plan.skipped = scaled(plan.skipped, before.skipped)


def _sample_stream(
    conn: Connection, destination: DestinationRecord, stream: str, plan: DryRunPlan
) -> None:
    """A live count of a stream too long for the budget: windows of rows spread over the whole
    stream (not only its first rows, which an import in batches makes unlike the rest), planned
    by the kind's planner, the counts scaled to every row."""
    planner = registry.kind(destination.kind).planner
    total = plan.totals[stream]
    before = _Counts.of(plan)
    seen: set[int] = set()
    for position in spread(*seq_range(conn, stream)):
        if plan.out_of_time() or len(seen) >= total:
            break
        rows = [
            row
            for row in read_chunk(conn, stream, position, sampling.SAMPLE_WINDOW)
            if row["seq"] not in seen
        ]
        seen.update(row["seq"] for row in rows)
        planned = plan_rows(planner, conn, destination.settings, stream, rows)
        plan.take(planned.messages)
        plan.filtered += planned.filtered
        plan.suppressed += planned.suppressed
        plan.skipped += planned.skipped
    read = len(seen)
    plan.read += read
    unread = total - read
    plan.unread += unread
    if read and unread:
        _scale(plan, before, (read + unread) / read)


def _masked(sample: Sample, destination: DestinationRecord) -> Sample:
    """The sample with every key of the destination's settings masked, should one appear."""
    body = sample.body
    for name in secret_fields(type(destination.settings)):
        secret = getattr(destination.settings, name, None)
        if secret is None:
            continue
        try:
            value = resolve_secret(secret)
        except SecretError:
            continue
        if len(value) >= 4 and value in body:
            body = body.replace(value, mask_secret(secret))
    return Sample(sample.kind, sample.email, body, sample.problem)


PREVIEW_BUDGET_SECONDS = 2.0
"""How long the console's live counts may read before they are scaled from the part read."""


def preview(
    store: Store, name: str, settings: Any, *, budget_seconds: float = PREVIEW_BUDGET_SECONDS
) -> DryRunPlan:
    """Live counts for settings as typed (not saved): what a destination with them would send
    from the first source row on (the first run of a new one, or a re-export), within the
    budget. Keys are not read: a form may hold one not typed yet."""
    declared = registry.kind_of(settings)
    record = DestinationRecord(
        id=NEW_DESTINATION_ID,
        name=name,
        kind=declared.name,
        enabled=False,
        paused=False,
        settings=settings,
        healthy=True,
        health_note=None,
        last_run_at=None,
        last_result=None,
    )
    return dry_run(store, record, from_start=True, budget_seconds=budget_seconds, check_keys=False)


CONFIRM_BUDGET_SECONDS = 3.0
"""How long the plan behind a confirmation may read before it scales what it read."""


def change_impact(
    store: Store,
    record: DestinationRecord,
    settings: Any,
    *,
    enabled: bool,
    budget_seconds: float = CONFIRM_BUDGET_SECONDS,
) -> DryRunPlan | None:
    """What saving `settings` (and `enabled`) for the stored `record` would start, when it is
    worth asking about first: switching the destination on (its next run sends what has
    waited), or a change that sends again what was sent (rows read again from the start, or
    a new backfill: a ReSci export's audience or mapped fields changed). None when nothing of
    the kind happens, or the destination stays off (switching it on asks then)."""
    if not enabled:
        return None
    declared = registry.kind(record.kind)
    restart = list(declared.rescan_streams(record.settings, settings))
    changed = replace(record, settings=settings)
    plan = dry_run(store, changed, restart=restart, budget_seconds=budget_seconds)
    if plan.halted:
        return None  # the run would stop at once and say why: nothing to ask about
    warnings = declared.confirm(settings)
    if warnings and (not record.enabled or not declared.confirm(record.settings)):
        plan.warnings = warnings
        return plan
    if not record.enabled:
        return plan
    if not restart and plan.backfill is None:
        return None
    before = dry_run(store, record, budget_seconds=budget_seconds)
    if plan.backfill is not None and before.backfill is None:
        return plan
    if restart and plan.new_rows > before.new_rows:
        plan.notes.insert(
            0,
            f"the new settings read {', '.join(restart)} again from the start: "
            f"{plan.new_rows - before.new_rows:,} more rows than without the change",
        )
        return plan
    return None


def dry_run_all(
    store: Store, names: Sequence[str] | None = None, *, show: int = 0
) -> list[DryRunPlan]:
    """Plans of the destinations a `--run-once` would run: the named ones, else every enabled
    and unpaused one."""
    with store.read() as conn:
        destinations = list_destinations(conn)
    chosen = [d for d in destinations if (d.name in names if names else d.enabled and not d.paused)]
    return [dry_run(store, d, show=show) for d in chosen]
