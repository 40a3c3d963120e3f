"""The ReSci poller: start, resume or poll the backfill import job, complete it, then plan the
audience delta. HTTP goes through the adapter; the store is reached only through the run
context's sessions (`console.destinations.context`), each one transaction.

The job moves through `job.TRANSITIONS`; the contract every step keeps is the package's
docstring (`console.destinations.resci`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import httpx

from console.audiences.membership import CHUNK
from console.core.clock import parse_iso
from console.core.secrets import resolve_secret
from console.core.vocab import ImportJobStatus
from console.destinations.base import DestinationHalted, transport_feedback
from console.destinations.context import RunContext, StoredJob, StoreSession
from console.destinations.resci.adapter import (
    ImportJobError,
    JobStatus,
    ResciAdapter,
    import_idempotency_key,
    users_file_name,
)
from console.destinations.resci.backfill import (
    FORGOTTEN_CONTACT,
    Export,
    files_complete,
    members_path,
    read_side_file,
    remove_files,
    resolve_export,
    write_backfill_file,
)
from console.destinations.resci.delta import MEMBERS_STREAM, plan_audience
from console.destinations.resci.job import (
    COMPLETED,
    FAILED,
    QUEUED,
    UPLOADING,
    BackfillNote,
    ImportJob,
    MembersNote,
    can_move,
    transition,
)
from console.destinations.resci.kept_files import keep_files, restore_files
from console.destinations.resci.planner import (
    plan_exits,
    plan_rejections,
    rejection_message,
)
from console.destinations.resci.settings import ResciSettings

BACKFILL_STREAM = "resci-backfill"
"""Cursor whose position is the `import_jobs` id of the current backfill and whose note
(`BackfillNote`) describes it."""
MESSAGE_LIMIT = 500
IMPORTS_FOLDER = "resci-imports"
"""Backfill files wait beside the store in `<store>-resci-imports` (0700) until their job is
final."""


def _settings(ctx: RunContext) -> ResciSettings:
    if not isinstance(ctx.settings, ResciSettings):
        raise TypeError(f"{ctx.destination_name} is not a ReSci destination")
    return ctx.settings


def adapter_for(settings: ResciSettings) -> ResciAdapter:
    """The adapter for these settings, the API key resolved now (`env:NAME` read at run
    time, never stored resolved)."""
    return ResciAdapter(
        settings.endpoint,
        resolve_secret(settings.key()),
        settings.site_id,
        key_label=settings.api_key_label,
    )


def typed_job(stored: StoredJob | None) -> ImportJob | None:
    if stored is None:
        return None
    return ImportJob(
        id=stored.id,
        audience=stored.audience,
        status=ImportJobStatus(stored.status),
        remote_id=stored.remote_id,
        rows=stored.rows,
        file_path=stored.file_path,
        created_at=stored.created_at,
    )


def _save(session: StoreSession, job: ImportJob, **extra: object) -> None:
    """Record the job's status, remote id, rows and file (and `extra` columns)."""
    session.update_job(
        job.id,
        status=job.status,
        remote_id=job.remote_id,
        rows=job.rows,
        file_path=job.file_path,
        **extra,
    )


def _job_note(job_id: int, export: Export) -> BackfillNote:
    return BackfillNote(
        job=job_id,
        audience=export.audience,
        fields=list(export.fields),
        fingerprint=export.fingerprint,
        rule=export.rule.text,
        built=False,
    )


def load_state(ctx: RunContext) -> tuple[Export, ImportJob | None, BackfillNote | None]:
    """The export as configured, the latest job and the backfill's note."""
    export_settings = _settings(ctx).export
    assert export_settings is not None
    with ctx.read() as session:
        export = resolve_export(export_settings, session.audience_rule(export_settings.audience))
        job = typed_job(session.latest_job())
        _, note = session.note(BACKFILL_STREAM, BackfillNote)
    return export, job, note


def backfill_complete(job: ImportJob | None, note: BackfillNote | None, export: Export) -> bool:
    """True when the latest import job completed and holds the current audience and mapping."""
    return (
        job is not None
        and job.status is COMPLETED
        and note is not None
        and note.job == job.id
        and note.fingerprint == export.fingerprint
    )


# --- the poll step -------------------------------------------------------------------------------


async def poll(ctx: RunContext) -> None:
    """The kind's poller: with an export, bring the backfill forward (start, resume or poll
    its job) and, once it has completed, plan the audience delta (`delta.plan_audience`).
    Events are the planner's: they are not audience updates, so they never wait for it."""
    if _settings(ctx).export is None:
        return
    export = await advance_backfill(ctx)
    if export is not None:
        await asyncio.to_thread(plan_audience, ctx, export)


async def advance_backfill(ctx: RunContext) -> Export | None:
    """Start, resume or poll the backfill import job. Returns the export once its backfill
    has completed (user updates may be planned), None while they must wait."""
    adapter = adapter_for(_settings(ctx))
    export, job, note = await asyncio.to_thread(load_state, ctx)
    if job is not None and job.status is UPLOADING:
        job = await _upload(ctx, adapter, export, job, note)
        if job.status is not COMPLETED:
            return None
        export, job, note = await asyncio.to_thread(load_state, ctx)
    elif job is not None and job.pending:
        if not await _poll_job(ctx, adapter, job, note):
            return None
        export, job, note = await asyncio.to_thread(load_state, ctx)
    if backfill_complete(job, note, export):
        return export
    # No job yet, the last one failed, or the audience or mapping changed: a new backfill.
    job = await asyncio.to_thread(_new_job, ctx, export)
    job = await _upload(ctx, adapter, export, job, None)
    # An empty audience completes without an upload.
    return export if job.status is COMPLETED else None


def _new_job(ctx: RunContext, export: Export) -> ImportJob:
    with ctx.write() as session:
        job_id = session.create_job(export.audience)
        session.set_cursor(BACKFILL_STREAM, job_id, _job_note(job_id, export))
    return ImportJob(id=job_id, audience=export.audience, status=UPLOADING)


def build(ctx: RunContext, export: Export, job: ImportJob) -> tuple[ImportJob, BackfillNote]:
    """Build the job's file and record its size, so a restart re-uploads the same file."""
    csv_path = ctx.files(IMPORTS_FOLDER) / users_file_name(ctx.destination_name, job.id)
    with ctx.read() as session:
        built = write_backfill_file(
            export, session.contact_partitions(export.columns, CHUNK), csv_path
        )
    note = _job_note(job.id, export).model_copy(
        update={"built": True, "snapshot_seq": built.snapshot_seq, "rows": built.rows}
    )
    job = job.with_file(built.rows, str(csv_path), export.audience)
    with ctx.write() as session:
        if ctx.files_in_store:
            keep_files(session, job.id, csv_path)
        session.update_job(
            job.id, rows=built.rows, file_path=str(csv_path), audience=export.audience
        )
        session.set_cursor(BACKFILL_STREAM, job.id, note)
    return job, note


def local_files(ctx: RunContext, job: ImportJob) -> ImportJob:
    """The job with its files on this host's disk. Where the store keeps them too, the store's
    copy is the job's: it is written back over what this disk holds (another worker may have
    built the files, or an erasure since rewritten them), and a job the store keeps no copy
    of has no files (they are built again, or the job fails). Elsewhere the job as it is."""
    if not ctx.files_in_store:
        return job
    csv_path = ctx.files(IMPORTS_FOLDER) / users_file_name(ctx.destination_name, job.id)
    with ctx.read() as session:
        restored = restore_files(session, job.id, csv_path)
    return job.model_copy(update={"file_path": str(csv_path) if restored else None})


async def _upload(
    ctx: RunContext,
    adapter: ResciAdapter,
    export: Export,
    job: ImportJob,
    note: BackfillNote | None,
) -> ImportJob:
    """Build the job's file unless a complete one for this export exists, then upload it.
    Returns the job as recorded afterwards (queued, or completed for an empty audience)."""
    built = (
        note is not None
        and note.job == job.id
        and note.built
        and note.fingerprint == export.fingerprint
    )
    if built:
        job = await asyncio.to_thread(local_files, ctx, job)
    ready = built and files_complete(job.file_path)
    if not ready or note is None:
        ctx.progress(f"backfill: writing the users file of {export.audience!r}")
        job, note = await asyncio.to_thread(build, ctx, export, job)
        ctx.counts.added += job.rows
    assert job.file_path is not None
    ctx.progress(f"backfill: {job.rows:,} rows written")
    if job.rows == 0:
        await asyncio.to_thread(complete, ctx, job, note, JobStatus(COMPLETED))
        ctx.counts.notes.append(f"audience {export.audience!r} has no members: nothing to import")
        return transition(job, COMPLETED, file_path=None)
    csv_path = Path(job.file_path)
    key = await asyncio.to_thread(import_idempotency_key, ctx.destination_id, job.id, csv_path)
    size = await asyncio.to_thread(lambda: csv_path.stat().st_size)
    ctx.progress(f"backfill: {job.rows:,} rows written · uploading {size:,} bytes")
    ctx.counts.requests += 1
    try:
        remote_id = await adapter.start_import(ctx.client, csv_path, csv_path.name, key)
    except ImportJobError as exc:
        if exc.retryable:
            raise DestinationHalted(
                f"{exc}; the next run uploads the file again", exc.http_status
            ) from None
        await asyncio.to_thread(fail, ctx, job, str(exc))
        raise DestinationHalted(
            f"{exc}; the next run builds a new import file", exc.http_status
        ) from None
    except httpx.TransportError as exc:
        raise DestinationHalted(
            f"uploading the import file failed ({transport_feedback(exc)}); "
            "the next run uploads it again"
        ) from None
    queued = transition(job, QUEUED, remote_id=remote_id)

    def record() -> None:
        with ctx.write() as session:
            _save(session, queued, clear_message=True)

    await asyncio.to_thread(record)
    ctx.progress(
        f"backfill: {job.rows:,} rows written · {size:,} bytes uploaded · import job "
        f"{remote_id} queued"
    )
    ctx.counts.notes.append(
        f"import job {remote_id} queued: {job.rows:,} users of {export.audience!r}"
    )
    ctx.counts.jobs_pending += 1
    return queued


def fail(ctx: RunContext, job: ImportJob, message: str) -> None:
    """The job failed for good: its state and the reason stay, its files go."""
    failed = transition(job, FAILED)
    with ctx.write() as session:
        _save(session, failed, message=message[:MESSAGE_LIMIT])
        session.drop_job_files(job.id)
    remove_files(job.file_path)


async def _poll_job(
    ctx: RunContext, adapter: ResciAdapter, job: ImportJob, note: BackfillNote | None
) -> bool:
    """Ask ReSci once; True when the job completed (and has been recorded)."""
    assert job.remote_id is not None
    ctx.progress(f"backfill: asking ReSci about import job {job.remote_id} ({job.status})")
    ctx.counts.requests += 1
    try:
        status = await adapter.job_status(ctx.client, job.remote_id)
    except ImportJobError as exc:
        if exc.retryable:
            ctx.counts.notes.append(f"{exc}; asking again next run")
            _count_pending(ctx, job)
            return False
        await asyncio.to_thread(fail, ctx, job, str(exc))
        raise DestinationHalted(
            f"{exc}; the next run starts a new import job", exc.http_status
        ) from None
    if status.status is FAILED:
        message = status.message or "ReSci reported the import job failed without a reason"
        await asyncio.to_thread(fail, ctx, job, message)
        raise DestinationHalted(
            f"ReSci import job {job.remote_id} failed: {message}; "
            "the next run starts a new import job"
        )
    rows = status.rows or job.rows
    if status.status is not COMPLETED:
        # A stale answer (processing, then queued again) keeps the job where it got to.
        target = status.status if can_move(job.status, status.status) else job.status
        pending = transition(job, target, rows=rows)

        def record() -> None:
            with ctx.write() as session:
                _save(session, pending)

        await asyncio.to_thread(record)
        ctx.counts.notes.append(
            f"import job {job.remote_id} {status.status}: {rows:,} users; user updates wait for it"
        )
        _count_pending(ctx, job)
        return False
    await asyncio.to_thread(complete, ctx, job, note, status)
    ctx.counts.notes.append(
        f"import job {job.remote_id} completed: {status.imported:,} imported, "
        f"{len(status.errors):,} rejected"
    )
    return True


def _count_pending(ctx: RunContext, job: ImportJob) -> None:
    """A job still pending after this run's poll: counted, and past the destination's limit
    it needs the operator (the run is then not `ok`, and an alert fires)."""
    ctx.counts.jobs_pending += 1
    minutes = pending_minutes(job, ctx.now())
    limit = _settings(ctx).import_job_limit_minutes
    if minutes is not None and minutes >= limit:
        ctx.counts.attention.append(
            f"import job {job.remote_id or job.id} still processing after {minutes} min "
            f"(limit {limit} min)"
        )


def pending_minutes(job: ImportJob, now: datetime) -> int | None:
    """Whole minutes since the job was recorded (None: its creation time is unknown)."""
    if not job.created_at:
        return None
    return int((now - parse_iso(job.created_at)).total_seconds() // 60)


# --- completing a backfill -----------------------------------------------------------------------


def complete(ctx: RunContext, job: ImportJob, note: BackfillNote | None, status: JobStatus) -> None:
    """Record a completed job in one transaction: membership from the side file, ReSci's
    rejections as `import row` failures, imported rows as completions, the job's state; then
    remove the files."""
    audience = note.audience if note is not None and note.audience else job.audience
    fields = list(note.fields) if note is not None else []
    stored_path = job.file_path
    job = local_files(ctx, job)
    if job.rows and not (job.file_path and members_path(Path(job.file_path)).exists()):
        message = (
            f"the backfill side file of import job {job.remote_id} is gone, so the console "
            "cannot record what ReSci imported"
        )
        fail(ctx, job, message)
        remove_files(stored_path)
        raise DestinationHalted(f"{message}; the next run starts a new import job")
    done = transition(job, COMPLETED, rows=status.rows or job.rows)
    rejected = {e.row: e for e in status.errors}
    rejected_ids: dict[int, tuple[str, str]] = {}  # contact id -> (email ReSci read, message)
    with ctx.write() as session:
        _, members_note = session.note(MEMBERS_STREAM, MembersNote)
        fresh = members_note is None
        if members_note is not None and members_note.audience != audience:
            _exit_previous_audience(ctx, session, members_note.audience)
            session.forget_members()
            fresh = True
        if job.file_path and job.rows:
            batch: list[tuple[int, str, bool]] = []
            for number, (contact_id, digest) in enumerate(read_side_file(Path(job.file_path)), 1):
                if contact_id == FORGOTTEN_CONTACT:
                    continue  # erased since the upload: neither a member nor a failure
                batch.append((contact_id, digest, True))
                if number in rejected:
                    error = rejected[number]
                    rejected_ids[contact_id] = (error.email, error.message)
                if len(batch) >= CHUNK:
                    session.record_members(batch)
                    batch = []
            session.record_members(batch)
        names = ["email", "created_at", *(s for s, _ in fields)]
        contacts = session.contacts_by_id(list(rejected_ids), names)
        failures = plan_rejections(
            ctx.destination_id, job.id, audience, fields, rejected_ids, contacts
        )
        # Rejections whose row number the side file does not know still show, by email.
        for error in status.errors:
            if not 1 <= error.row <= job.rows:
                failures.append(
                    rejection_message(
                        ctx.destination_id,
                        job.id,
                        f"row:{error.row}",
                        error.email,
                        None,
                        error.message,
                    )
                )
        session.queue(failures)
        session.add_completions(status.imported)
        ctx.counts.delivered += status.imported
        ctx.counts.rejected += len(failures)
        reason = {"message": status.message} if status.message else {"clear_message": True}
        _save(session, done, imported=status.imported, rejected=len(failures), **reason)
        session.drop_job_files(job.id)
        if note is not None:
            session.set_cursor(BACKFILL_STREAM, job.id, note.model_copy(update={"completed": True}))
        session.set_cursor(
            MEMBERS_STREAM,
            # After a first backfill only contacts changed since its snapshot can differ;
            # over older membership rows, every contact is looked at once.
            int((note.snapshot_seq if note else 0) or 0) if fresh else 0,
            MembersNote(
                audience=audience,
                rule=note.rule if note else None,
                fingerprint=note.fingerprint if note else None,
            ),
        )
    remove_files(job.file_path)
    remove_files(stored_path)  # the builder's path, when the files were written back here


def _exit_previous_audience(ctx: RunContext, session: StoreSession, old: str) -> None:
    """Members of the audience the destination exported before are told they left it."""
    if not old:
        return
    export = _settings(ctx).export
    exit_mode = export.exit_mode if export else "attribute"
    after = 0
    while members := session.members_after(after, CHUNK):
        messages = plan_exits(
            ctx.destination_id,
            members,
            old,
            exit_mode=exit_mode,
            today=ctx.today(),
            run_id=ctx.run_id,
        )
        ctx.counts.removed += session.queue(messages)
        after = members[-1]["id"]
