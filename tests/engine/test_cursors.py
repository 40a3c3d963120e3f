"""state.cursors: one cursor per destination and stream, with a typed note parsed and
serialised at the store's edge."""

from __future__ import annotations

import orjson
from sqlalchemy import select, update

from console.destinations.resci.job import BackfillNote, MembersNote
from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import save_destination
from state.cursors import CURSORS, get_cursor, get_note, set_cursor
from state.db import Connection, Store


def raw_note(conn: Connection, dest: int, stream: str) -> str | None:
    return conn.execute(
        select(CURSORS.c.note).where(CURSORS.c.destination_id == dest, CURSORS.c.stream == stream)
    ).scalar()


def write_raw_note(conn: Connection, dest: int, stream: str, position: int, text: str) -> None:
    set_cursor(conn, dest, stream, position)
    conn.execute(
        update(CURSORS)
        .where(CURSORS.c.destination_id == dest, CURSORS.c.stream == stream)
        .values(note=text)
    )


def destination(store: Store) -> int:
    settings = SegmentSettings(write_key="key", endpoint="https://example.com")  # type: ignore[arg-type]
    with store.write() as conn:
        destination_id, _ = save_destination(conn, "seg", settings)
    return destination_id


def test_a_position_starts_at_zero_and_moves_without_touching_the_note(store: Store) -> None:
    dest = destination(store)
    with store.write() as conn:
        assert get_cursor(conn, dest, "contacts") == 0
        assert get_note(conn, dest, "contacts", MembersNote) == (0, None)
        set_cursor(conn, dest, "contacts", 5, MembersNote(audience="vip", rule="a = 'b'"))
        set_cursor(conn, dest, "contacts", 9)
        assert get_cursor(conn, dest, "contacts") == 9
        assert get_note(conn, dest, "contacts", MembersNote) == (
            9,
            MembersNote(audience="vip", rule="a = 'b'"),
        )


def test_a_typed_note_is_stored_as_the_keys_it_set(store: Store) -> None:
    """Notes are JSON of the keys set: a note written by the ReSci driver before notes were
    typed (a plain dictionary of the same keys) reads back as the model."""
    dest = destination(store)
    note = BackfillNote(
        job=3, audience="vip", fields=[("email", "email")], fingerprint="f", rule="r"
    )
    with store.write() as conn:
        set_cursor(conn, dest, "resci-backfill", 3, note)
        assert orjson.loads(raw_note(conn, dest, "resci-backfill") or "") == {
            "job": 3,
            "audience": "vip",
            "fields": [["email", "email"]],
            "fingerprint": "f",
            "rule": "r",
        }
        old = orjson.dumps({**note.model_dump(), "built": True, "rows": 7}).decode()
        write_raw_note(conn, dest, "resci-backfill", 3, old)
        position, read = get_note(conn, dest, "resci-backfill", BackfillNote)
    assert position == 3 and read is not None
    assert (read.job, read.built, read.rows, read.fields) == (3, True, 7, [("email", "email")])


def test_a_note_that_does_not_fit_its_model_reads_as_none(store: Store) -> None:
    dest = destination(store)
    with store.write() as conn:
        write_raw_note(conn, dest, "resci-members", 4, '{"rule": "only a rule"}')
        assert get_note(conn, dest, "resci-members", MembersNote) == (4, None)
        assert raw_note(conn, dest, "resci-members") == '{"rule": "only a rule"}'
