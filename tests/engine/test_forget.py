"""Forgetting contacts: every row holding the email goes, its bytes leave the SQLite files
(remnants of earlier updates included), its MD5 is suppressed, the erasure is noted without
the email, and the daily counters stay."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from sqlalchemy import event, func, select, update
from sqlmodel import col

from console import ingest
from console.core.identity import email_md5
from console.engine.commands import CommandRefused, Commands
from console.engine.service import EngineService
from state.db import Store
from state.forget import erasures, store_files
from state.models import Contact, DailyStat, Event, OutboxRow, Suppression, SyncRun
from tests.engine.test_service import Sandbox, add, add_local_failures

FORGOTTEN = "forget.me@example.com"
KEPT = "keep.me@example.com"


def write_lines(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def stored_anywhere(store: Store, text: str) -> list[Path]:
    return [path for path in store_files(store) if text.encode() in path.read_bytes()]


def without_secure_delete(store: Store) -> None:
    """Connections that leave deleted bytes in place, as SQLite does unless built otherwise
    (Debian's build zeroes them by default): the forget must clean up after them."""
    store.engine.dispose()

    @event.listens_for(store.engine, "connect")
    def _off(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.execute("PRAGMA secure_delete = OFF")


async def test_forget_removes_every_row_and_the_bytes_from_the_store_files(
    store: Store, tmp_path: Path, segment_sandbox: Sandbox
) -> None:
    _, url = segment_sandbox
    without_secure_delete(store)
    add(store, "seg", url)
    # Two versions of the contact: the first one's cell is left in the page by the update.
    for n, city in enumerate(("Old Town", "New Town")):
        contacts = [
            {"email": FORGOTTEN, "first_name": "Forget", "address_city": city},
            {"email": KEPT, "first_name": "Keep"},
        ]
        assert ingest.import_contacts(store, write_lines(tmp_path / f"c{n}.jsonl", contacts))
    events = [
        {
            "event": "Order Completed",
            "email": email,
            "messageId": f"m-{email}",
            "timestamp": "2024-04-16T10:00:00Z",
            "properties": {"total": 1},
        }
        for email in (FORGOTTEN, KEPT)
    ]
    assert ingest.import_events(store, write_lines(tmp_path / "e.jsonl", events)).rejected == 0
    assert (await EngineService(store).run_now("seg")).status == "ok"
    add_local_failures(store, "seg", 1)  # a failure of another contact, which stays
    with store.write() as conn:  # a run's message that quotes the email
        conn.execute(update(SyncRun).values(message=f"halted on {FORGOTTEN}: bad"))
        stats_before = conn.execute(select(DailyStat)).all()
    assert stored_anywhere(store, FORGOTTEN)

    forgotten = Commands(store).forget([" Forget.Me@Example.com "])

    assert forgotten.rows.contacts == 1 and forgotten.rows.events == 1
    assert forgotten.rows.outbox >= 2 and forgotten.suppressed == 1
    assert forgotten.residue == []
    assert stored_anywhere(store, FORGOTTEN) == []
    assert stored_anywhere(store, KEPT)
    with store.read() as conn:
        assert conn.execute(select(DailyStat)).all() == stats_before
        assert conn.scalar(select(func.count()).select_from(Contact)) == 1
        assert conn.scalar(select(func.count()).select_from(Event)) == 1
        assert conn.scalar(select(func.count()).where(col(OutboxRow.email) == FORGOTTEN)) == 0
        assert conn.scalar(select(func.count()).where(col(OutboxRow.status) == "failed")) == 1
        assert email_md5(FORGOTTEN) in set(conn.scalars(select(col(Suppression.email_md5))))
        messages = set(conn.scalars(select(col(SyncRun.message))))
        (erasure,) = erasures(conn)
    assert messages == {"halted on [forgotten email]: bad"}
    assert erasure.contacts == 1 and erasure.rows == forgotten.rows.total
    assert "@" in erasure.done_by and FORGOTTEN not in str(erasure)


def test_a_value_that_is_not_an_email_deletes_nothing(store: Store, tmp_path: Path) -> None:
    contacts = [{"email": KEPT}]
    ingest.import_contacts(store, write_lines(tmp_path / "c.jsonl", contacts))
    with pytest.raises(CommandRefused, match="'nobody' is not an email"):
        Commands(store).forget([KEPT, "nobody"])
    with store.read() as conn:
        assert conn.scalar(select(func.count()).select_from(Contact)) == 1
        assert erasures(conn) == []


def test_a_reimport_does_not_bring_a_forgotten_contact_back_until_lifted(
    store: Store, tmp_path: Path
) -> None:
    contacts = write_lines(tmp_path / "c.jsonl", [{"email": FORGOTTEN}, {"email": KEPT}])
    events = write_lines(
        tmp_path / "e.jsonl",
        [
            {
                "event": "Viewed",
                "email": FORGOTTEN,
                "messageId": "m1",
                "timestamp": "2024-04-16T10:00:00Z",
            },
            {
                "event": "Viewed",
                "email": KEPT,
                "messageId": "m2",
                "timestamp": "2024-04-16T10:00:00Z",
            },
        ],
    )
    ingest.import_contacts(store, contacts)
    Commands(store).forget([FORGOTTEN])

    again = ingest.import_contacts(store, contacts)
    replayed = ingest.import_events(store, events)

    assert (again.rejected, again.unchanged) == (1, 1)
    assert "forgotten" in again.errors[0].reason and FORGOTTEN not in again.errors[0].reason
    assert (replayed.rejected, replayed.inserted) == (1, 1)
    with store.read() as conn:
        assert list(conn.scalars(select(col(Contact.email)))) == [KEPT]
    Commands(store).remove_suppressions([email_md5(FORGOTTEN)])
    assert ingest.import_contacts(store, contacts).inserted == 1
