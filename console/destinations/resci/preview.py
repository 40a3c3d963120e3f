"""What the ReSci poller would do next run, read and counted without a write or a request (a
dry run, and the console's live counts): the backfill it would start (users of the audience,
columns of the file) or the import job it would ask about, then the audience delta it would
queue. The decisions are the poller's own (`poller.backfill_complete`, `delta.delta_start`);
the rows are the backfill file's (`backfill.FileRows`) and the delta's (`planner.plan_delta`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from console.audiences.membership import CHUNK
from console.destinations import preview as sampling
from console.destinations.base import DestinationHalted
from console.destinations.context import StoreSession
from console.destinations.preview import Backfill, DryRunPlan, spread
from console.destinations.resci.backfill import Export, FileRows, files_complete, resolve_export
from console.destinations.resci.delta import delta_start, preview_delta
from console.destinations.resci.job import FAILED, UPLOADING, BackfillNote
from console.destinations.resci.planner import plan_delta
from console.destinations.resci.poller import BACKFILL_STREAM, backfill_complete, typed_job
from console.destinations.resci.settings import ResciSettings


def preview(session: StoreSession, settings: ResciSettings, plan: DryRunPlan, today: str) -> None:
    """Fill `plan` with what the poller would do; `plan.halted` when it would stop."""
    if settings.export is None:
        return
    try:
        export = resolve_export(settings.export, session.audience_rule(settings.export.audience))
    except DestinationHalted as exc:
        plan.halted = str(exc)
        return
    job = typed_job(session.latest_job())
    _, note = session.note(BACKFILL_STREAM, BackfillNote)
    if job is not None and job.status is UPLOADING:
        ready = (
            note is not None
            and note.job == job.id
            and note.built
            and note.fingerprint == export.fingerprint
            and files_complete(job.file_path)
        )
        if ready:
            plan.backfill = Backfill(
                export.audience,
                job.rows,
                tuple(export.header),
                f"the file of import job {job.id}, built already, is uploaded again",
            )
            return
        backfill(session, export, plan, f"import job {job.id} was not uploaded yet")
        return
    if job is not None and job.pending:
        plan.notes.append(
            f"import job {job.remote_id or job.id} is {job.status}: the run asks ReSci about it "
            "(not in a dry run); user updates wait until it has completed"
        )
        return
    if backfill_complete(job, note, export):
        delta(session, export, plan, today)
        return
    if job is None:
        reason = "no backfill yet"
    elif job.status is FAILED:
        reason = f"the last import job {job.remote_id or job.id} failed"
    else:
        reason = "the audience or its mapped fields changed since the last backfill"
    backfill(session, export, plan, reason)


def backfill(session: StoreSession, export: Export, plan: DryRunPlan, reason: str) -> None:
    """Count (and sample) the users file a new backfill would hold: every contact, or under a
    time budget windows spread over them, scaled to all."""
    file_rows = FileRows(export)
    total = plan.totals.get("contacts", 0)
    chunks: Iterator[Sequence[Sequence[Any]]]
    if plan.deadline is not None and total > sampling.SAMPLE_ABOVE:
        chunks = _spread_chunks(session, export, total)
    else:
        chunks = session.contact_partitions(export.columns, CHUNK)
    users = 0
    read = 0
    sample: list[list[str]] = []
    for partition in chunks:
        rows, _ = file_rows(partition)
        users += len(rows)
        read += len(partition)
        if len(sample) < plan.show:
            sample.extend(rows[: plan.show - len(sample)])
        if plan.out_of_time():
            break
    total = max(total, read)
    estimated = read < total
    plan.read += read
    if estimated:
        plan.unread += total - read
        users = round(users * total / read) if read else 0
    plan.backfill = Backfill(export.audience, users, tuple(export.header), reason, estimated)
    for row in sample:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([export.header, row])
        plan.sample("users file row", row[1], text.getvalue().rstrip("\n"))


def _spread_chunks(
    session: StoreSession, export: Export, total: int
) -> Iterator[Sequence[Sequence[Any]]]:
    """Windows of contacts (as the file's tuples) spread over every contact, none twice."""
    columns = export.columns
    seen: set[int] = set()
    for position in spread(*session.contact_seq_range()):
        if len(seen) >= total:
            return
        rows = session.contacts_after(position, sampling.SAMPLE_WINDOW, columns)
        fresh = [row for row in rows if row["seq"] not in seen]
        seen.update(row["seq"] for row in fresh)
        yield [tuple(row[name] for name in columns) for row in fresh]


def delta(session: StoreSession, export: Export, plan: DryRunPlan, today: str) -> None:
    """Count the user updates the audience delta would queue."""
    position, _, _ = delta_start(session, export)
    for chunk in preview_delta(session, export, position):
        plan.take(plan_delta(0, export, chunk, run_id=0, today=today))
        plan.entered += len(chunk.entered)
        plan.changed += len(chunk.changed)
        plan.left += len(chunk.left)
        if plan.out_of_time():
            plan.cut_short = True
            break
