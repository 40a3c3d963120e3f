"""The ReSci driver: audience backfill as one import job, then real-time user updates and events.

A run of a ReSci destination goes: `poll_resci` (start, resume or poll the backfill import
job), `plan_resci` (audience delta and events as outbox rows) when the backfill has completed,
then the engine's generic delivery. What callers and operators may rely on:

Backfill
  The first run of an export scans the whole audience in `seq` order (never all of it in
  memory) and writes the users CSV (`record_id`, `email`, `account_created_on`, the mapped
  fields in mapping order, then the membership attribute `audience_<name>` = `true`) next to
  the store, together with a side file of (contact id, hash of what was sent). It records an
  `import_jobs` row in state `uploading` before uploading, uploads the file as one job and
  stores ReSci's job id. Later runs ask ReSci for the job's status once each. When it
  completes, one transaction records the membership from the side file, every row ReSci
  rejected as a failure of kind `import row` with ReSci's message (retrying one re-sends that
  user with `POST /v3/users`), the imported rows as today's completions, and the job's final
  state; then the files are removed. A rejected user still counts as a member, so a later
  run does not re-send (and fail) them each time: the operator's retry re-sends them, and so
  does any change to the fields they are sent. Until then no user update is planned (events still flow:
  they are not audience updates).

Resuming
  A restart while a job is queued or processing polls the same ReSci job; no second job is
  started. A process that dies between recording `uploading` and storing ReSci's reply (or
  an upload whose reply is lost: connection reset, timeout, unreadable body) leaves a job
  without a remote id; the next run uploads the same file again under the same name
  (`users-<destination>-<job>.csv`) and the same `Idempotency-Key` (derived from the job and
  the file's bytes), so ReSci answers with the job it already started instead of a second
  one. A file that was not complete is built anew (ReSci cannot have it). Only a complete
  file that vanished from the import folder between upload and reply is rebuilt under a new
  key; if its contents changed, ReSci then holds two jobs of the same users: an import is an
  upsert by `record_id`, so that repeats data but never loses or corrupts it.

Failed jobs
  A job ReSci reports `failed` (or a file it refuses with a 4xx, or a job it no longer
  knows) is final: its state and ReSci's message stay in `import_jobs`, the run ends in
  error with that message (three such runs in a row mark the destination unhealthy, which
  slows the retries to the engine's probe interval), and the next run builds and uploads a
  fresh backfill of the current audience. Its users are not listed as per-email failures,
  since the next job sends them all again. A 5xx, 429 or unreadable reply to a status
  request is noted on the run and asked again next run.

Edits
  * A changed audience rule is picked up by the next delta over every contact: users who no
    longer match leave (membership attribute false), new matches enter; no new import job.
  * A changed field mapping (fields added, removed or re-targeted) starts a new backfill job
    of the whole audience with the new columns, once any pending job has finished: one file
    instead of one call per member; real-time updates wait for it, as on the first export.
    Members who no longer match are told they left by the first delta after it completes.
  * Another audience for the destination is a new backfill of that audience; when it
    completes, members of the previous audience are sent its membership attribute as false.
  * Removing the export stops audience updates; ReSci keeps its users as last told.
  * `exit_mode = "unsubscribe"` also sets `date_unsubscribed` (today) on users who leave; a
    user who comes back is not re-subscribed, since an unsubscribe is the person's consent
    choice and only ReSci or the person should lift it.

Deltas after the backfill
  Each run sends users who entered or whose sent fields changed (`POST /v3/users` with
  record_id, email, account_created_on, the mapped fields and `audience_<name>: true`) and users
  who left (the same with `audience_<name>: false`). Only contacts whose `seq` moved since the
  last run are read, unless the rule changed or a re-backfill completed (then all contacts).

Events
  With Enable On-Site, events whose name is mapped become `POST /v3/events` rows with the
  reserved name; unmapped events are skipped and counted; an event without an email is a
  local failure, since ReSci could not tell whose it is.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, select, update

from console.audiences.membership import CHUNK, contact_columns, scan_chunk
from console.audiences.rules import Rule, parse_rule
from console.core import clock
from console.core.identity import email_md5
from console.core.secrets import resolve_secret
from console.core.vocab import RowKind
from console.destinations.base import DestinationHalted, transport_feedback
from console.destinations.resci.adapter import (
    FIXED_COLUMNS,
    FORMULA_PREFIXES,
    JOB_COMPLETED,
    JOB_FAILED,
    JOB_PROCESSING,
    JOB_QUEUED,
    ImportJobError,
    JobStatus,
    ResciAdapter,
    account_created_on,
    event_body,
    import_idempotency_key,
    membership_attribute,
    record_id,
    user_body,
    users_file_name,
)
from console.destinations.resci.settings import ResciExport, ResciSettings
from console.engine.destinations import DestinationRecord
from console.engine.runs import RunCounts
from state.audiences import get_audience
from state.cursors import get_cursor_dict as _cursor
from state.cursors import set_cursor_dict as _set_cursor
from state.db import Store
from state.members import forget_members, record_members
from state.models import AudienceMember, Contact, Event, ImportJob
from state.outbox import NewRow, bump_stats, queue_rows

CONTACTS = Contact.__table__
EVENTS = Event.__table__
JOBS = ImportJob.__table__

BACKFILL_STREAM = "resci-backfill"
"""Cursor whose position is the `import_jobs` id of the current backfill and whose note
describes it (audience, mapping, rule, whether its file is built)."""
MEMBERS_STREAM = "resci-members"
"""Cursor whose position is the contact `seq` the delta has read to and whose note names the
audience, rule and mapping that `audience_members` reflects."""
EVENTS_STREAM = "events"

UPLOADING = "uploading"
FORMULA_CHARS = "".join(FORMULA_PREFIXES)
PENDING = (UPLOADING, JOB_QUEUED, JOB_PROCESSING)
_IN_CHUNK = 900


# --- the export as configured ------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    """A destination's export resolved against the store: the audience's rule parsed."""

    audience: str
    rule: Rule
    fields: tuple[tuple[str, str], ...]  # (contact field, ReSci field), in mapping order
    exit_mode: str

    @property
    def fingerprint(self) -> str:
        """Identifies what a backfill file holds: the audience and the mapping."""
        return hashlib.sha1(orjson.dumps([self.audience, self.fields])).hexdigest()

    @property
    def attribute(self) -> str:
        return membership_attribute(self.audience)

    @property
    def columns(self) -> list[str]:
        """Contact columns read: id, seq, email, created_at, mapped fields, rule fields."""
        return contact_columns(
            ["email", "created_at", *(s for s, _ in self.fields), *sorted(self.rule.fields)]
        )


def _settings(destination: DestinationRecord) -> ResciSettings:
    settings = destination.settings
    if not isinstance(settings, ResciSettings):
        raise TypeError(f"{destination.name} is not a ReSci destination")
    return settings


def resolve_export(conn: Connection, export: ResciExport) -> Export:
    """The export with its audience's rule; DestinationHalted when the audience is gone or its
    rule no longer parses (nothing can be sent until the operator fixes it)."""
    audience = get_audience(conn, export.audience)
    if audience is None:
        raise DestinationHalted(
            f"the exported audience {export.audience!r} does not exist; "
            "add it (config apply) or pick another audience"
        )
    try:
        rule = parse_rule(audience.rule)
    except ValueError as exc:
        raise DestinationHalted(f"audience {audience.name!r}: rule: {exc}") from None
    return Export(audience.name, rule, tuple(export.fields.items()), export.exit_mode)


class _Projection:
    """Reads what is sent for a contact from tuple rows with `Export.columns`."""

    def __init__(self, export: Export) -> None:
        columns = export.columns
        index = {name: i for i, name in enumerate(columns)}
        self.email = itemgetter(index["email"])
        self.created_at = itemgetter(index["created_at"])
        self._mapped = [itemgetter(index[s]) for s, _ in export.fields]
        positions = [index[s] for s, _ in export.fields]
        self.mapped_values: Callable[[Sequence[object]], Sequence[Any]]
        if len(positions) == 1:
            only = positions[0]
            self.mapped_values = lambda row: (row[only],)
        else:
            self.mapped_values = itemgetter(*positions)
        self.targets = [t for _, t in export.fields]
        self.matches = export.rule.predicate(columns)

    def digest(self, row: Sequence[object]) -> str:
        """Hash of what ReSci is told about the contact: email, creation date, mapped values
        (the backfill computes the same inline)."""
        email = self.email(row)
        sent = (email, account_created_on(self.created_at(row)), *self.mapped_values(row))  # type: ignore[arg-type]
        return hashlib.blake2b(orjson.dumps(sent), digest_size=16).hexdigest()

    def mapped(self, row: Sequence[object]) -> list[tuple[str, object]]:
        return [(t, get(row)) for t, get in zip(self.targets, self._mapped, strict=True)]


# --- import job rows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    id: int
    audience: str
    remote_id: str | None
    status: str
    rows: int
    file_path: str | None


def _latest_job(conn: Connection, destination_id: int) -> _Job | None:
    row = conn.execute(
        select(
            JOBS.c.id,
            JOBS.c.audience,
            JOBS.c.remote_id,
            JOBS.c.status,
            JOBS.c.rows,
            JOBS.c.file_path,
        )
        .where(JOBS.c.destination_id == destination_id)
        .order_by(JOBS.c.id.desc())
        .limit(1)
    ).first()
    return _Job(*row) if row else None


def _update_job(conn: Connection, job_id: int, **values: object) -> None:
    conn.execute(
        update(JOBS).where(JOBS.c.id == job_id).values(updated_at=clock.now_iso(), **values)
    )


def import_dir(store: Store) -> Path:
    """Where backfill files wait for their job: beside the store file (private, 0700), or in
    the temporary directory for a store behind a database URL."""
    if store.path is not None:
        directory = store.path.parent / f"{store.path.stem}-resci-imports"
    else:
        directory = Path(tempfile.gettempdir()) / "retention-console-resci-imports"
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    return directory


def _members_path(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name + ".members")


def _remove_files(csv_path: str | None) -> None:
    if not csv_path:
        return
    path = Path(csv_path)
    for candidate in (path, _members_path(path), path.with_name(path.name + ".part")):
        candidate.unlink(missing_ok=True)
    _members_path(path).with_name(_members_path(path).name + ".part").unlink(missing_ok=True)


# --- building the backfill file ----------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltFile:
    csv_path: Path
    rows: int
    snapshot_seq: int


def _stream(
    conn: Connection, stmt: Any, *, driver_cursor: bool | None = None
) -> Iterator[Sequence[Sequence[Any]]]:
    """The statement's rows in lists of up to CHUNK tuples, never all at once. On SQLite
    (`driver_cursor` None) the driver cursor is read directly (one SELECT is one consistent
    snapshot); SQLAlchemy's row objects cost a second a million rows here. Elsewhere a
    server-side cursor (`yield_per`)."""
    if driver_cursor is None:
        driver_cursor = conn.dialect.name == "sqlite"
    if driver_cursor:
        sql = str(stmt.compile(dialect=conn.dialect))
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql)
            while batch := cursor.fetchmany(CHUNK):
                yield batch
        finally:
            cursor.close()
        return
    yield from conn.execution_options(yield_per=CHUNK).execute(stmt).partitions()


def _private_open(path: Path) -> Any:
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def build_backfill_file(store: Store, export: Export, csv_path: Path) -> BuiltFile:
    """Stream the audience into the users CSV at `csv_path` and its side file of
    (contact id, hash); both appear under their final names only once complete.

    One read transaction gives a consistent snapshot; rows are fetched in chunks, so memory
    stays flat whatever the audience's size."""
    projection = _Projection(export)
    columns = export.columns
    header = [*FIXED_COLUMNS, *projection.targets, export.attribute]
    members_path = _members_path(csv_path)
    csv_part = csv_path.with_name(csv_path.name + ".part")
    members_part = members_path.with_name(members_path.name + ".part")
    rows = 0
    snapshot_seq = 0
    matches, email_of, created_of = projection.matches, projection.email, projection.created_at
    mapped_of = projection.mapped_values
    blake2b, dumps = hashlib.blake2b, orjson.dumps
    with store.read() as conn, _private_open(csv_part) as out, _private_open(members_part) as side:
        writer = csv.writer(out)
        writer.writerow(header)
        stmt = select(*(CONTACTS.c[name] for name in columns)).order_by(CONTACTS.c.seq)
        for partition in _stream(conn, stmt):
            csv_rows = []
            side_lines = []
            for row in partition:
                if not matches(row):
                    continue
                # record_id, account_created_on, csv_cell and digest inlined: this loop runs
                # once per contact of audiences of millions.
                email = email_of(row)
                created = (created_of(row) or "")[:10]
                mapped = mapped_of(row)
                line = [email_md5(email), email, created]
                for value in mapped:
                    if value is None:
                        line.append("")
                    elif value and value[0] in FORMULA_CHARS:
                        line.append("'" + value)
                    else:
                        line.append(value)
                line.append("true")
                csv_rows.append(line)
                sent = dumps((email, created, *mapped))
                side_lines.append(f"{row[0]},{blake2b(sent, digest_size=16).hexdigest()}\n")
            writer.writerows(csv_rows)
            side.writelines(side_lines)
            rows += len(csv_rows)
            snapshot_seq = max(snapshot_seq, partition[-1][1])
        out.flush()
        os.fsync(out.fileno())
        side.flush()
        os.fsync(side.fileno())
    os.replace(members_part, members_path)
    os.replace(csv_part, csv_path)
    return BuiltFile(csv_path, rows, snapshot_seq)


# --- poll step ---------------------------------------------------------------------------------------


def _adapter_for(destination: DestinationRecord) -> ResciAdapter:
    settings = _settings(destination)
    return ResciAdapter(
        settings.endpoint,
        resolve_secret(settings.api_key),
        settings.site_id,
        key_label=settings.api_key_label,
    )


def _load_state(
    store: Store, destination: DestinationRecord
) -> tuple[Export, _Job | None, dict[str, Any]]:
    export_settings = _settings(destination).export
    assert export_settings is not None
    with store.read() as conn:
        export = resolve_export(conn, export_settings)
        job = _latest_job(conn, destination.id)
        _, note = _cursor(conn, destination.id, BACKFILL_STREAM)
    return export, job, note


def backfill_complete(job: _Job | None, note: dict[str, Any], export: Export) -> bool:
    """True when the latest import job completed and holds the current audience and mapping."""
    return (
        job is not None
        and job.status == JOB_COMPLETED
        and note.get("job") == job.id
        and note.get("fingerprint") == export.fingerprint
    )


async def poll_resci(
    store: Store,
    destination: DestinationRecord,
    run_id: int,
    counts: RunCounts,
    client: httpx.AsyncClient,
) -> bool:
    """Start, resume or poll the destination's backfill import job. Returns True when
    real-time user updates may be planned (no export, or its backfill completed); while a job
    is pending it plans the destination's events itself and returns False."""
    settings = _settings(destination)
    if settings.export is None:
        return True
    adapter = _adapter_for(destination)
    export, job, note = await asyncio.to_thread(_load_state, store, destination)
    if job is not None and job.status == UPLOADING:
        job = await _upload(store, destination, adapter, client, export, job, note, run_id, counts)
        if job.status != JOB_COMPLETED:
            await _events_while_waiting(store, destination, run_id, counts)
            return False
        export, job, note = await asyncio.to_thread(_load_state, store, destination)
    elif job is not None and job.status in (JOB_QUEUED, JOB_PROCESSING):
        done = await _poll_job(store, destination, adapter, client, job, note, run_id, counts)
        if not done:
            await _events_while_waiting(store, destination, run_id, counts)
            return False
        export, job, note = await asyncio.to_thread(_load_state, store, destination)
    if backfill_complete(job, note, export):
        return True
    # No job yet, the last one failed, or the audience or mapping changed: a new backfill.
    job = await asyncio.to_thread(_new_job, store, destination, export)
    job = await _upload(store, destination, adapter, client, export, job, {}, run_id, counts)
    if job.status == JOB_COMPLETED:  # an empty audience completes without an upload
        return True
    await _events_while_waiting(store, destination, run_id, counts)
    return False


async def _events_while_waiting(
    store: Store, destination: DestinationRecord, run_id: int, counts: RunCounts
) -> None:
    """Events are not audience updates, so they do not wait for the backfill."""
    if _settings(destination).on_site:
        await asyncio.to_thread(plan_events, store, destination, run_id, counts)


def _new_job(store: Store, destination: DestinationRecord, export: Export) -> _Job:
    now = clock.now_iso()
    with store.write() as conn:
        result = conn.execute(
            JOBS.insert().values(
                destination_id=destination.id,
                audience=export.audience,
                status=UPLOADING,
                created_at=now,
                updated_at=now,
            )
        )
        job_id = int(result.inserted_primary_key[0])
        _set_cursor(conn, destination.id, BACKFILL_STREAM, job_id, _job_note(job_id, export))
    return _Job(job_id, export.audience, None, UPLOADING, 0, None)


def _job_note(job_id: int, export: Export, **extra: object) -> dict[str, Any]:
    return {
        "job": job_id,
        "audience": export.audience,
        "fields": [list(pair) for pair in export.fields],
        "fingerprint": export.fingerprint,
        "rule": export.rule.text,
        "built": False,
        **extra,
    }


def _build(
    store: Store, destination: DestinationRecord, export: Export, job: _Job
) -> tuple[_Job, dict[str, Any]]:
    """Build the job's file and record its size, so a restart re-uploads the same file."""
    csv_path = import_dir(store) / users_file_name(destination.name, job.id)
    built = build_backfill_file(store, export, csv_path)
    note = _job_note(job.id, export, built=True, snapshot_seq=built.snapshot_seq, rows=built.rows)
    with store.write() as conn:
        _update_job(
            conn, job.id, rows=built.rows, file_path=str(csv_path), audience=export.audience
        )
        _set_cursor(conn, destination.id, BACKFILL_STREAM, job.id, note)
    return _Job(job.id, export.audience, None, UPLOADING, built.rows, str(csv_path)), note


async def _upload(
    store: Store,
    destination: DestinationRecord,
    adapter: ResciAdapter,
    client: httpx.AsyncClient,
    export: Export,
    job: _Job,
    note: dict[str, Any],
    run_id: int,
    counts: RunCounts,
) -> _Job:
    """Build the job's file unless a complete one for this export exists, then upload it.
    Returns the job as recorded afterwards (queued, or completed for an empty audience)."""
    ready = (
        note.get("job") == job.id
        and note.get("built")
        and note.get("fingerprint") == export.fingerprint
        and job.file_path
        and Path(job.file_path).exists()
        and _members_path(Path(job.file_path)).exists()
    )
    if not ready:
        job, note = await asyncio.to_thread(_build, store, destination, export, job)
        counts.added += job.rows
    assert job.file_path is not None
    if job.rows == 0:
        await asyncio.to_thread(
            _complete, store, destination, job, note, JobStatus(JOB_COMPLETED), run_id, counts
        )
        counts.notes.append(f"audience {export.audience!r} has no members: nothing to import")
        return _Job(job.id, job.audience, None, JOB_COMPLETED, 0, None)
    csv_path = Path(job.file_path)
    key = await asyncio.to_thread(import_idempotency_key, destination.id, job.id, csv_path)
    counts.requests += 1
    try:
        remote_id = await adapter.start_import(client, csv_path, csv_path.name, key)
    except ImportJobError as exc:
        if exc.retryable:
            raise DestinationHalted(
                f"{exc}; the next run uploads the file again", exc.http_status
            ) from None
        await asyncio.to_thread(_fail_job, store, job, str(exc))
        raise DestinationHalted(
            f"{exc}; the next run builds a new import file", exc.http_status
        ) from None
    except httpx.TransportError as exc:
        raise DestinationHalted(
            f"uploading the import file failed ({transport_feedback(exc)}); "
            "the next run uploads it again"
        ) from None

    def record() -> None:
        with store.write() as conn:
            _update_job(conn, job.id, remote_id=remote_id, status=JOB_QUEUED, message=None)

    await asyncio.to_thread(record)
    counts.notes.append(f"import job {remote_id} queued: {job.rows} users of {export.audience!r}")
    return _Job(job.id, job.audience, remote_id, JOB_QUEUED, job.rows, job.file_path)


def _fail_job(store: Store, job: _Job, message: str) -> None:
    with store.write() as conn:
        _update_job(conn, job.id, status=JOB_FAILED, message=message[:500])
    _remove_files(job.file_path)


async def _poll_job(
    store: Store,
    destination: DestinationRecord,
    adapter: ResciAdapter,
    client: httpx.AsyncClient,
    job: _Job,
    note: dict[str, Any],
    run_id: int,
    counts: RunCounts,
) -> bool:
    """Ask ReSci once; True when the job completed (and has been recorded)."""
    assert job.remote_id is not None
    counts.requests += 1
    try:
        status = await adapter.job_status(client, job.remote_id)
    except ImportJobError as exc:
        if exc.retryable:
            counts.notes.append(f"{exc}; asking again next run")
            return False
        await asyncio.to_thread(_fail_job, store, job, str(exc))
        raise DestinationHalted(
            f"{exc}; the next run starts a new import job", exc.http_status
        ) from None
    if status.status == JOB_FAILED:
        message = status.message or "ReSci reported the import job failed without a reason"
        await asyncio.to_thread(_fail_job, store, job, message)
        raise DestinationHalted(
            f"ReSci import job {job.remote_id} failed: {message}; "
            "the next run starts a new import job"
        )
    if status.status != JOB_COMPLETED:

        def record() -> None:
            with store.write() as conn:
                _update_job(conn, job.id, status=status.status, rows=status.rows or job.rows)

        await asyncio.to_thread(record)
        counts.notes.append(
            f"import job {job.remote_id} {status.status}: {status.rows or job.rows} users; "
            "user updates wait for it"
        )
        return False
    await asyncio.to_thread(_complete, store, destination, job, note, status, run_id, counts)
    counts.notes.append(
        f"import job {job.remote_id} completed: {status.imported} imported, "
        f"{len(status.errors)} rejected"
    )
    return True


# --- completing a backfill -------------------------------------------------------------------------


def _export_from_note(
    note: dict[str, Any], fallback_audience: str
) -> tuple[str, list[tuple[str, str]]]:
    fields = [(str(s), str(t)) for s, t in note.get("fields") or []]
    return str(note.get("audience") or fallback_audience), fields


def _complete(
    store: Store,
    destination: DestinationRecord,
    job: _Job,
    note: dict[str, Any],
    status: JobStatus,
    run_id: int,
    counts: RunCounts,
) -> None:
    """Record a completed job in one transaction: membership from the side file, ReSci's
    rejections as `import row` failures, imported rows as completions, the job's state; then
    remove the files."""
    audience, fields = _export_from_note(note, job.audience)
    if job.rows and not (job.file_path and _members_path(Path(job.file_path)).exists()):
        message = (
            f"the backfill side file of import job {job.remote_id} is gone, so the console "
            "cannot record what ReSci imported"
        )
        _fail_job(store, job, message)
        raise DestinationHalted(f"{message}; the next run starts a new import job")
    rejected = {e.row: e for e in status.errors}
    rejected_ids: dict[int, tuple[str, str]] = {}  # contact id -> (email ReSci read, message)
    day = clock.today()
    with store.write() as conn:
        _, members_note = _cursor(conn, destination.id, MEMBERS_STREAM)
        fresh = not members_note
        if members_note and members_note.get("audience") != audience:
            _exit_previous_audience(conn, destination, members_note, run_id, counts)
            forget_members(conn, destination.id)
            fresh = True
        if job.file_path and job.rows:
            members_path = _members_path(Path(job.file_path))
            batch: list[tuple[int, str, bool]] = []
            with members_path.open(encoding="utf-8") as side:
                for number, line in enumerate(side, 1):
                    contact_text, _, digest = line.rstrip("\n").partition(",")
                    contact_id = int(contact_text)
                    batch.append((contact_id, digest, True))
                    if number in rejected:
                        error = rejected[number]
                        rejected_ids[contact_id] = (error.email, error.message)
                    if len(batch) >= CHUNK:
                        record_members(conn, destination.id, batch)
                        batch = []
            record_members(conn, destination.id, batch)
        failures = _rejection_rows(conn, destination, job, audience, fields, rejected_ids)
        # Rejections whose row number the side file does not know still show, by email.
        for error in status.errors:
            if not 1 <= error.row <= job.rows:
                failures.append(
                    _rejection_row(
                        destination, job, f"row:{error.row}", error.email, None, error.message
                    )
                )
        queue_rows(conn, destination.id, run_id, failures)
        imported = status.imported
        bump_stats(conn, destination.id, day, completions=imported)
        counts.delivered += imported
        counts.rejected += len(failures)
        _update_job(
            conn,
            job.id,
            status=JOB_COMPLETED,
            imported=imported,
            rejected=len(failures),
            rows=status.rows or job.rows,
            message=status.message,
        )
        _set_cursor(conn, destination.id, BACKFILL_STREAM, job.id, {**note, "completed": True})
        _set_cursor(
            conn,
            destination.id,
            MEMBERS_STREAM,
            # After a first backfill only contacts changed since its snapshot can differ;
            # over older membership rows, every contact is looked at once.
            int(note.get("snapshot_seq") or 0) if fresh else 0,
            {
                "audience": audience,
                "rule": note.get("rule"),
                "fingerprint": note.get("fingerprint"),
            },
        )
    _remove_files(job.file_path)


def _rejection_row(
    destination: DestinationRecord,
    job: _Job,
    key: str,
    email: str,
    body: dict[str, Any] | None,
    message: str,
) -> NewRow:
    payload = body if body is not None else {"record_id": record_id(email), "email": email}
    return NewRow(
        kind=RowKind.IMPORT_ROW,
        message_id=_message_id("resci-import", str(destination.id), str(job.id), key),
        email=email or None,
        payload=orjson.dumps(payload),
        problem=message or "rejected by ReSci",
    )


def _rejection_rows(
    conn: Connection,
    destination: DestinationRecord,
    job: _Job,
    audience: str,
    fields: list[tuple[str, str]],
    rejected: dict[int, tuple[str, str]],
) -> list[NewRow]:
    """One failed `import row` per rejected contact, whose payload is the user update a retry
    sends (built from the contact as it is now)."""
    rows: list[NewRow] = []
    ids = list(rejected)
    names = ["id", "email", "created_at", *(s for s, _ in fields)]
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        found = {
            r.id: r
            for r in conn.execute(
                select(*(CONTACTS.c[n] for n in dict.fromkeys(names))).where(
                    CONTACTS.c.id.in_(chunk)
                )
            )
        }
        for contact_id in chunk:
            email, message = rejected[contact_id]
            contact = found.get(contact_id)
            body = None
            if contact is not None:
                mapped = [(t, contact._mapping[s]) for s, t in fields]
                body = user_body(contact.email, contact.created_at, mapped, audience)
                email = contact.email
            rows.append(
                _rejection_row(destination, job, f"contact:{contact_id}", email, body, message)
            )
    return rows


def _exit_previous_audience(
    conn: Connection,
    destination: DestinationRecord,
    members_note: dict[str, Any],
    run_id: int,
    counts: RunCounts,
) -> None:
    """Members of the audience the destination exported before are told they left it."""
    members = AudienceMember.__table__
    old = str(members_note.get("audience") or "")
    if not old:
        return
    exit_mode = (
        _settings(destination).export.exit_mode if _settings(destination).export else "attribute"
    )
    after = 0
    while True:
        rows = conn.execute(
            select(CONTACTS.c.id, CONTACTS.c.email, CONTACTS.c.created_at)
            .join(members, members.c.contact_id == CONTACTS.c.id)
            .where(
                members.c.destination_id == destination.id,
                members.c.member.is_(True),
                CONTACTS.c.id > after,
            )
            .order_by(CONTACTS.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        new_rows = [
            _user_row(
                destination, r.email, r.created_at, [], old, "exit", exit_mode, run_id, "switch"
            )
            for r in rows
        ]
        counts.removed += queue_rows(conn, destination.id, run_id, new_rows)
        after = rows[-1].id


# --- plan step --------------------------------------------------------------------------------------


def _message_id(*parts: str) -> str:
    """`rc-` and 40 hex characters; the same parts give the same id."""
    return "rc-" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


def _user_row(
    destination: DestinationRecord,
    email: str,
    created_at: str | None,
    mapped: list[tuple[str, object]],
    audience: str,
    change: str,
    exit_mode: str,
    run_id: int,
    digest: str,
) -> NewRow:
    """A `user update` row. The id includes the run, since a user may enter, leave and enter
    again with the same fields; the plan writes it in the transaction that moves the cursor, so
    a crash never queues it twice."""
    leaving = change == "exit"
    body = user_body(
        email,
        created_at,
        [] if leaving else mapped,
        audience,
        member=not leaving,
        unsubscribed_on=clock.today() if leaving and exit_mode == "unsubscribe" else None,
    )
    return NewRow(
        kind=RowKind.USER_UPDATE,
        message_id=_message_id(
            "resci-user", str(destination.id), email, digest, change, str(run_id)
        ),
        email=email,
        payload=orjson.dumps(body),
    )


def plan_audience(
    store: Store, destination: DestinationRecord, run_id: int, counts: RunCounts, export: Export
) -> None:
    """Queue user updates for users who entered, changed or left since the last run, chunk by
    chunk, each chunk with its membership rows and cursor in one transaction."""
    projection = _Projection(export)
    columns = export.columns
    with store.write() as conn:
        position, note = _cursor(conn, destination.id, MEMBERS_STREAM)
        wanted = {
            "audience": export.audience,
            "rule": export.rule.text,
            "fingerprint": export.fingerprint,
        }
        if note != wanted:
            # A new rule (or a note from before): every contact is looked at again.
            position = 0 if note.get("rule") != export.rule.text else position
            _set_cursor(conn, destination.id, MEMBERS_STREAM, position, wanted)
    while True:
        with store.write() as conn:
            position, _ = _cursor(conn, destination.id, MEMBERS_STREAM)
            chunk = scan_chunk(
                conn, destination.id, projection.matches, columns, projection.digest, position
            )
            if chunk is None:
                return
            rows: list[NewRow] = []
            for change, group in (("enter", chunk.entered), ("change", chunk.changed)):
                for row in group:
                    rows.append(
                        _user_row(
                            destination,
                            projection.email(row),
                            projection.created_at(row),
                            projection.mapped(row),
                            export.audience,
                            change,
                            export.exit_mode,
                            run_id,
                            chunk.hashes[row.id],
                        )
                    )
            for row in chunk.left:
                rows.append(
                    _user_row(
                        destination,
                        projection.email(row),
                        projection.created_at(row),
                        [],
                        export.audience,
                        "exit",
                        export.exit_mode,
                        run_id,
                        chunk.left_hashes.get(row.id, ""),
                    )
                )
            queue_rows(conn, destination.id, run_id, rows)
            record_members(conn, destination.id, chunk.member_rows())
            counts.added += len(chunk.entered)
            counts.changed += len(chunk.changed)
            counts.removed += len(chunk.left)
            _set_cursor(conn, destination.id, MEMBERS_STREAM, chunk.last_seq, wanted)


NO_EMAIL = "the event has no email, so ReSci cannot tell whose it is; it was not sent"


def plan_events(
    store: Store, destination: DestinationRecord, run_id: int, counts: RunCounts
) -> None:
    """Events after the `events` cursor: mapped ones queued with their reserved name, unmapped
    ones skipped and counted, ones without an email recorded as local failures."""
    settings = _settings(destination)
    mapping = settings.events
    site_id = settings.site_id or ""
    while True:
        with store.write() as conn:
            position, note = _cursor(conn, destination.id, EVENTS_STREAM)
            events = conn.execute(
                select(
                    EVENTS.c.seq,
                    EVENTS.c.message_id,
                    EVENTS.c.event,
                    EVENTS.c.email,
                    EVENTS.c.properties,
                    EVENTS.c.timestamp,
                )
                .where(EVENTS.c.seq > position)
                .order_by(EVENTS.c.seq)
                .limit(CHUNK)
            ).all()
            if not events:
                return
            rows: list[NewRow] = []
            skipped = 0
            for event in events:
                reserved = mapping.get(event.event)
                if reserved is None:
                    skipped += 1
                    continue
                try:
                    properties = orjson.loads(event.properties)
                except orjson.JSONDecodeError:
                    properties = {}
                if not isinstance(properties, dict):
                    properties = {"value": properties}
                email = event.email or ""
                body = event_body(site_id, reserved, email, properties, event.timestamp)
                if not email:
                    body.pop("email", None)
                    body.pop("record_id", None)
                rows.append(
                    NewRow(
                        kind=RowKind.EVENT,
                        message_id=event.message_id,
                        email=event.email,
                        payload=orjson.dumps(body),
                        problem=None if email else NO_EMAIL,
                    )
                )
            counts.added += queue_rows(conn, destination.id, run_id, rows)
            counts.rejected += sum(1 for r in rows if r.problem)
            counts.skipped += skipped
            bump_stats(conn, destination.id, clock.today(), skipped=skipped)
            _set_cursor(conn, destination.id, EVENTS_STREAM, events[-1].seq, note)


def plan_resci(
    store: Store, destination: DestinationRecord, run_id: int, counts: RunCounts
) -> None:
    """Real-time rows: the audience delta (only once the current backfill has completed) and,
    with Enable On-Site, the mapped events."""
    settings = _settings(destination)
    if settings.export is not None:
        export, job, note = _load_state(store, destination)
        if backfill_complete(job, note, export):
            plan_audience(store, destination, run_id, counts, export)
    if settings.on_site:
        plan_events(store, destination, run_id, counts)
