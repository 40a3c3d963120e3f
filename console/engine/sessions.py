"""The store as a kind's poller sees it: `StoreSession` (declared in
`console.destinations.context`) implemented over one `state/` transaction, and the run context
the runner hands a poller.

Kind-neutral: import jobs, audience membership, cursor notes, contacts and the outbox are the
store's notions; which of them a kind uses, and when, is the kind's policy.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from console.core import clock
from console.destinations.context import RunContext
from console.destinations.kind import PlannedMessage
from console.engine.destinations import DestinationRecord
from console.engine.runs import RunCounts
from state import cursors, import_jobs, members, previews, sources
from state.audiences import get_audience
from state.daily_streams import CONTACTS, bump_stream_completions
from state.db import Connection, Store
from state.outbox import bump_stats, queue_rows
from state.sharing import is_shared_store

N = TypeVar("N", bound=BaseModel)


class Session:
    """One transaction's operations for one destination and run."""

    def __init__(self, conn: Connection, destination_id: int, run_id: int) -> None:
        self.conn = conn
        self.destination_id = destination_id
        self.run_id = run_id

    def note(self, stream: str, model: type[N]) -> tuple[int, N | None]:
        return cursors.get_note(self.conn, self.destination_id, stream, model)

    def set_cursor(self, stream: str, position: int, note: BaseModel | None = None) -> None:
        cursors.set_cursor(self.conn, self.destination_id, stream, position, note)

    def audience_rule(self, name: str) -> str | None:
        audience = get_audience(self.conn, name)
        return audience.rule if audience else None

    def latest_job(self) -> import_jobs.ImportJobRow | None:
        return import_jobs.latest_job(self.conn, self.destination_id)

    def create_job(self, audience: str) -> int:
        return import_jobs.create_job(self.conn, self.destination_id, audience)

    def update_job(self, job_id: int, **values: Any) -> None:
        import_jobs.update_job(self.conn, job_id, **values)

    def keep_job_file(self, job_id: int, name: str, parts: Iterable[bytes]) -> int:
        return import_jobs.keep_job_file(self.conn, self.destination_id, job_id, name, parts)

    def job_file_parts(self, job_id: int, name: str) -> Iterator[bytes] | None:
        return import_jobs.job_file_parts(self.conn, job_id, name)

    def drop_job_files(self, job_id: int) -> None:
        import_jobs.drop_job_files(self.conn, job_id)

    def contacts_after(
        self, after_seq: int, limit: int, columns: Sequence[str]
    ) -> list[dict[str, Any]]:
        # The same chunked scan Segment's planner reads (`engine.planning`).
        return sources.read_chunk(self.conn, "contacts", after_seq, limit, columns)

    def contact_seq_range(self) -> tuple[int, int]:
        return previews.seq_range(self.conn, "contacts")

    def contact_partitions(
        self, columns: Sequence[str], chunk: int
    ) -> Iterator[Sequence[Sequence[Any]]]:
        return sources.contact_partitions(self.conn, columns, chunk)

    def contacts_by_id(
        self, ids: Sequence[int], columns: Sequence[str]
    ) -> dict[int, dict[str, Any]]:
        return sources.contacts_by_id(self.conn, ids, columns)

    def known_members(self, contact_ids: Sequence[int]) -> Mapping[int, tuple[str, bool]]:
        return members.load_members(self.conn, self.destination_id, contact_ids)

    def members_after(self, after_id: int, limit: int) -> list[dict[str, Any]]:
        return members.members_after(self.conn, self.destination_id, after_id, limit)

    def record_members(self, rows: Sequence[tuple[int, str, bool]]) -> None:
        members.record_members(self.conn, self.destination_id, rows)

    def forget_members(self) -> None:
        members.forget_members(self.conn, self.destination_id)

    def queue(self, messages: Sequence[PlannedMessage]) -> int:
        return queue_rows(self.conn, self.destination_id, self.run_id, messages)

    def add_completions(self, count: int) -> None:
        """Users an import job imported: contacts' completions."""
        today = clock.today()
        bump_stats(self.conn, self.destination_id, today, completions=count)
        bump_stream_completions(self.conn, self.destination_id, today, {CONTACTS: count})


def files_dir(store: Store, name: str) -> Path:
    """Where a kind's files that outlive a run wait (a backfill's users CSV): `<store>-<name>`
    beside the store file (private, 0700), or in the temporary directory for a store behind a
    database URL."""
    if store.path is not None:
        directory = store.path.parent / f"{store.path.stem}-{name}"
    else:
        directory = Path(tempfile.gettempdir()) / f"retention-console-{name}"
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    return directory


def run_context(
    store: Store,
    destination: DestinationRecord,
    run_id: int,
    counts: RunCounts,
    client: httpx.AsyncClient,
) -> RunContext:
    """The context a poller runs in, its sessions bound to this destination and run."""

    @contextmanager
    def read() -> Iterator[Session]:
        with store.read() as conn:
            yield Session(conn, destination.id, run_id)

    @contextmanager
    def write() -> Iterator[Session]:
        # A poller counts as it goes, inside its transactions; one that fails (disk full) is
        # rolled back, and so are the counts it made, so History counts only what committed.
        # (The poller runs alone, before the plan and deliver steps count anything.)
        before = counts + RunCounts()
        try:
            with store.write() as conn:
                yield Session(conn, destination.id, run_id)
        except BaseException:
            for name, value in before.as_row().items():
                setattr(counts, name, value)
            counts.notes[:] = before.notes
            raise

    return RunContext(
        destination_id=destination.id,
        destination_name=destination.name,
        settings=destination.settings,
        run_id=run_id,
        counts=counts,
        client=client,
        read=read,
        write=write,
        files=lambda name: files_dir(store, name),
        today=clock.today,
        files_in_store=is_shared_store(store),
    )
