"""Forgetting a contact while a ReSci backfill job is pending: its line leaves the import file
on disk (the other lines keep their numbers) and the completed job records the others only."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlmodel import col

from console.engine.commands import Commands
from state.forget import store_files
from state.import_jobs import import_jobs_for
from state.models import AudienceMember, Contact
from tests.resci.conftest import Console, Resci, contact, destination_toml

FORGOTTEN = "user2@gmail.com"


def holds(path: Path, text: str) -> bool:
    return text.encode() in path.read_bytes()


async def test_a_pending_jobs_file_loses_the_forgotten_line_and_the_job_completes(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(i) for i in range(5)])
    console.apply(destination_toml(resci.url))
    assert (await console.run()).status == "ok"
    with console.store.read() as conn:
        (job,) = import_jobs_for(conn, console.destination().id)
    assert job.status == "queued" and job.file_path is not None
    users = Path(job.file_path)
    assert holds(users, FORGOTTEN)
    lines_before = users.read_text().splitlines()

    forgotten = Commands(console.store).forget([FORGOTTEN])

    assert forgotten.files == 1 and forgotten.rows.contacts == 1
    assert not holds(users, FORGOTTEN)
    lines_after = users.read_text().splitlines()
    assert len(lines_after) == len(lines_before)  # rows after it keep ReSci's numbering
    assert holds(users, "user3@gmail.com")
    assert not any(holds(path, FORGOTTEN) for path in store_files(console.store))

    resci.to_done()
    assert (await console.run()).status == "ok"
    with console.store.read() as conn:
        members = set(conn.scalars(select(col(AudienceMember.contact_id))))
        found = conn.execute(select(col(Contact.id), col(Contact.email)))
        emails = {row.id: row.email for row in found}
    assert {emails[i] for i in members} == {f"user{i}@gmail.com" for i in (0, 1, 3, 4)}
    assert console.outbox("import row") == []
