"""state.cursors: one cursor per destination and stream, with a typed note parsed and
serialised at the store's edge."""

from __future__ import annotations

from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import save_destination
from state.cursors import (
    BackfillNote,
    MembersNote,
    get_cursor,
    get_cursor_dict,
    get_note,
    set_cursor,
    set_cursor_dict,
)
from state.db import Store


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


def test_a_typed_note_reads_back_as_the_same_dictionary(store: Store) -> None:
    """Notes written as dictionaries (the ReSci driver's) and as models are one format: only
    the keys set are stored, so each side reads what the other wrote."""
    dest = destination(store)
    note = BackfillNote(
        job=3, audience="vip", fields=[("email", "email")], fingerprint="f", rule="r"
    )
    with store.write() as conn:
        set_cursor(conn, dest, "resci-backfill", 3, note)
        assert get_cursor_dict(conn, dest, "resci-backfill") == (
            3,
            {
                "job": 3,
                "audience": "vip",
                "fields": [["email", "email"]],
                "fingerprint": "f",
                "rule": "r",
            },
        )
        set_cursor_dict(
            conn, dest, "resci-backfill", 3, {**note.model_dump(), "built": True, "rows": 7}
        )
        position, read = get_note(conn, dest, "resci-backfill", BackfillNote)
    assert position == 3 and read is not None
    assert (read.job, read.built, read.rows, read.fields) == (3, True, 7, [("email", "email")])


def test_a_note_that_does_not_fit_its_model_reads_as_none(store: Store) -> None:
    dest = destination(store)
    with store.write() as conn:
        set_cursor_dict(conn, dest, "resci-members", 4, {"rule": "only a rule"})
        assert get_note(conn, dest, "resci-members", MembersNote) == (4, None)
        assert get_cursor_dict(conn, dest, "resci-members") == (4, {"rule": "only a rule"})
