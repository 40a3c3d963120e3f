"""Forgetting contacts (an erasure request), as `Commands.forget` runs it: the rows in one
transaction with SQLite's `secure_delete` on, the contacts taken out of the ReSci import files
still on disk, their MD5s suppressed (so a re-import does not bring them back), a note of the
erasure without the emails; then the store's files checked for the emails' bytes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from console.core.identity import email_md5
from console.core.operator import operator_name
from console.core.text import printable
from console.destinations.resci.backfill import forget_in_files
from console.destinations.resci.kept_files import keep_files, restore_files
from console.engine.sessions import Session
from console.ingest.contacts import normalise_email
from state.db import Connection, Store
from state.forget import (
    FORGOTTEN_SOURCE,
    ForgottenRows,
    forget_rows,
    job_files,
    record_erasure,
    scrub_store_files,
    secure_deletes,
)
from state.import_jobs import jobs_with_kept_files
from state.suppressions import add_suppressions


@dataclass(frozen=True)
class Forgotten:
    """What a forget removed; `residue` names store files that still hold an email (only
    when another process kept SQLite from truncating its WAL)."""

    emails: int
    rows: ForgottenRows
    files: int
    suppressed: int
    residue: list[Path]

    def line(self) -> str:
        r = self.rows
        return (
            f"forgot {self.emails} email(s): {r.contacts} contact(s), {r.events} event(s), "
            f"{r.memberships} membership(s), {r.outbox} outbox row(s), {r.notes} note(s), "
            f"{self.files} import file(s); {self.suppressed} newly suppressed"
        )


def _email(value: str) -> str:
    try:
        return normalise_email(value)
    except ValueError as exc:
        raise ValueError(f"{printable(value)!r} is not an email: {exc}") from None


def _forget_in_kept_files(conn: Connection, emails: set[str]) -> set[int]:
    """The same for the job files kept in the store (workers on PostgreSQL): each is written to
    a private temporary folder, taken through `forget_in_files`, then kept again as rewritten,
    or dropped when the job's file is to be built again. Returns the jobs whose files held an
    email."""
    changed: set[int] = set()
    for job_id, destination_id, uploaded in jobs_with_kept_files(conn):
        session = Session(conn, destination_id, run_id=0)
        with tempfile.TemporaryDirectory(prefix="retention-console-forget-") as folder:
            csv_path = Path(folder) / "users.csv"
            if not restore_files(session, job_id, csv_path):
                continue
            if not forget_in_files(str(csv_path), emails, uploaded):
                continue
            changed.add(job_id)
            if csv_path.exists():
                keep_files(session, job_id, csv_path)
            else:
                session.drop_job_files(job_id)
    return changed


def forget_contacts(store: Store, emails: Sequence[str]) -> Forgotten:
    """Erase every row and file line holding these emails (see the module's docstring);
    raises ValueError for a value that is not an email, before anything is deleted."""
    wanted = list(dict.fromkeys(_email(e) for e in emails))
    by = operator_name()
    with store.write() as conn, secure_deletes(conn):
        rows = forget_rows(conn, wanted)
        # A job's files may be both on this disk and in the store: the job counts once.
        forgotten = set(wanted)
        jobs = {
            job_id
            for job_id, path, uploaded in job_files(conn)
            if forget_in_files(path, forgotten, uploaded)
        }
        files = len(jobs | _forget_in_kept_files(conn, forgotten))
        suppressed = add_suppressions(
            conn, [email_md5(e) for e in wanted], f"{FORGOTTEN_SOURCE}{by}"
        )
        record_erasure(conn, by, rows.contacts, rows.total, files)
    residue = scrub_store_files(store, [e.encode() for e in wanted])
    return Forgotten(len(wanted), rows, files, suppressed, residue)
