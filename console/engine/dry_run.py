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
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from console.core import clock
from console.core.secrets import SecretError, mask_secret, resolve_secret, secret_fields
from console.destinations import registry
from console.destinations.base import OutgoingRow
from console.destinations.preview import DryRunPlan, Sample
from console.engine.destinations import DestinationRecord, list_destinations
from console.engine.planning import CHUNK, newly_suppressed, plan_rows
from console.engine.sessions import Session
from state import outbox
from state.cursors import get_cursor
from state.db import Connection, Store
from state.previews import known_message_ids, queued_later, rows_after
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
) -> DryRunPlan:
    """Plan the destination's next run and count it; nothing is written."""
    declared = registry.kind(destination.kind)
    plan = DryRunPlan(destination.name, declared.label, show=show)
    if budget_seconds is not None:
        plan.deadline = time.monotonic() + budget_seconds
    try:
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
    while True:
        if plan.out_of_time():
            _estimate(conn, stream, cursor, plan)
            return
        rows = read_chunk(conn, stream, cursor, CHUNK)
        if not rows:
            return
        planned = plan_rows(planner, conn, destination.settings, stream, rows)
        ids = [m.message_id for m in planned.messages]
        plan.take(planned.messages, known_message_ids(conn, destination_id, ids))
        plan.filtered += planned.filtered
        plan.suppressed += planned.suppressed
        plan.skipped += planned.skipped
        plan.read += len(rows)
        cursor = rows[-1]["seq"]


def _estimate(conn: Connection, stream: str, cursor: int, plan: DryRunPlan) -> None:
    """The budget ran out part-way through `stream`: scale its counts so far to every row
    left (the rows read so far stand for the rest)."""
    unread = rows_after(conn, stream, cursor)
    plan.unread += unread
    if not plan.read or not unread:
        return
    factor = (plan.read + unread) / plan.read
    for kind in list(plan.new):
        plan.new[kind] = round(plan.new[kind] * factor)
    plan.refused = round(plan.refused * factor)
    plan.filtered = round(plan.filtered * factor)
    plan.suppressed = round(plan.suppressed * factor)
    plan.skipped = round(plan.skipped * factor)


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
