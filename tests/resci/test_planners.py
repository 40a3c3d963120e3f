"""The ReSci planners without a store: events, the audience delta as user updates, import
rejections, and the backfill file's rows."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from console.audiences.membership import delta_of
from console.core.vocab import RowKind
from console.destinations.resci.backfill import (
    Projection,
    files_complete,
    members_path,
    read_side_file,
    resolve_export,
    sent_digest,
    write_backfill_file,
)
from console.destinations.resci.planner import (
    NO_EMAIL,
    ResciPlanner,
    plan_delta,
    plan_exits,
    plan_rejections,
)
from console.destinations.resci.settings import ResciExport, ResciSettings

SETTINGS = ResciSettings(
    api_key="k",  # type: ignore[arg-type]
    site_id="4242",
    on_site=True,
    events={"Product Viewed": "view", "Order Completed": "checkout_success"},
    export=ResciExport(audience="Cal Gmail", fields={"first_name": "full_name"}),
)
EXPORT = resolve_export(SETTINGS.export, "address_state = 'CA'")


def event(n: int, name: str, email: str | None = "a@example.com") -> dict[str, Any]:
    return {
        "seq": n,
        "message_id": f"evt-{n}",
        "event": name,
        "email": email,
        "properties": orjson.dumps({"price": 3}).decode(),
        "timestamp": "2024-04-16T16:54:00.000Z",
    }


def contact(i: int, state: str = "CA", first: str = "=cmd") -> dict[str, Any]:
    return {
        "id": i,
        "seq": 100 + i,
        "email": f"user{i}@gmail.com",
        "created_at": "2024-01-02T03:04:05.000Z",
        "first_name": first,
        "address_state": state,
    }


def test_events_mapped_skipped_and_without_email() -> None:
    planner = ResciPlanner()
    assert planner.streams(SETTINGS) == ["events"]
    assert planner.streams(SETTINGS.model_copy(update={"on_site": False})) == []
    rows = [event(1, "Product Viewed"), event(2, "Unmapped"), event(3, "Order Completed", None)]
    chunk = planner.plan("events", SETTINGS, rows, set())
    assert chunk.skipped == 1
    sent, no_email = chunk.messages
    assert (sent.kind, sent.message_id, sent.problem) == (RowKind.EVENT, "evt-1", None)
    body = orjson.loads(sent.payload)
    assert (body["event"], body["site_id"], body["properties"]) == ("view", 4242, {"price": 3})
    assert no_email.problem == NO_EMAIL
    assert "email" not in orjson.loads(no_email.payload)


def test_delta_becomes_enter_change_and_exit_updates() -> None:
    projection = Projection(EXPORT)
    rows = [contact(1), contact(2, first="New"), contact(3, state="NY"), contact(4, state="NY")]
    known = {
        2: (projection.digest(contact(2)), True),  # sent with another name: changed
        3: ("old", True),  # no longer matches: left
        4: ("old", False),  # was not a member, still does not match: nothing
    }
    delta = delta_of(rows, known, projection.matches, projection.digest)
    assert [r["id"] for r in delta.entered] == [1]
    assert [r["id"] for r in delta.changed] == [2]
    assert [r["id"] for r in delta.left] == [3]
    assert delta.last_seq == 104
    messages = plan_delta(9, EXPORT, delta, run_id=5, today="2024-05-01")
    bodies = [orjson.loads(m.payload) for m in messages]
    assert [m.kind for m in messages] == [RowKind.USER_UPDATE] * 3
    assert bodies[0]["full_name"] == "=cmd"  # JSON is not a spreadsheet: sent as it is
    assert bodies[0]["audience_cal_gmail"] is True
    assert bodies[1]["full_name"] == "New"
    assert bodies[2]["audience_cal_gmail"] is False and "full_name" not in bodies[2]
    # The same delta planned again gives the same ids (a crash never queues it twice).
    again = plan_delta(9, EXPORT, delta, run_id=5, today="2024-05-01")
    assert [m.message_id for m in again] == [m.message_id for m in messages]


def test_unsubscribe_exit_mode_dates_users_who_leave() -> None:
    export = resolve_export(
        ResciExport(audience="x", fields={"first_name": "full_name"}, exit_mode="unsubscribe"),
        "address_state = 'CA'",
    )
    [message] = plan_exits(
        1, [contact(1)], "x", exit_mode=export.exit_mode, today="2024-05-01", run_id=2
    )
    body = orjson.loads(message.payload)
    assert (body["audience_x"], body["date_unsubscribed"]) == (False, "2024-05-01")


def test_rejections_carry_the_user_update_a_retry_sends() -> None:
    contacts = {1: contact(1)}
    rejected = {1: ("user1@gmail.com", "bad date"), 2: ("gone@example.com", "")}
    found, gone = plan_rejections(3, 4, "Cal Gmail", EXPORT.fields, rejected, contacts)
    assert (found.kind, found.problem, found.email) == (
        RowKind.IMPORT_ROW,
        "bad date",
        "user1@gmail.com",
    )
    assert orjson.loads(found.payload)["full_name"] == "=cmd"
    assert (gone.problem, set(orjson.loads(gone.payload))) == (
        "rejected by ReSci",
        {"record_id", "email"},
    )


def test_backfill_file_from_handed_in_chunks(tmp_path: Path) -> None:
    columns = EXPORT.columns
    rows = [tuple(contact(i).get(c) for c in columns) for i in (1, 2)] + [
        tuple(contact(3, state="NY").get(c) for c in columns)
    ]
    path = tmp_path / "users-x-1.csv"
    built = write_backfill_file(EXPORT, [rows[:2], rows[2:]], path)
    assert (built.rows, built.snapshot_seq) == (2, 103)
    assert files_complete(str(path)) and members_path(path).exists()
    with path.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["record_id", "email", "account_created_on", "full_name", EXPORT.attribute]
    assert lines[1][1:] == ["user1@gmail.com", "2024-01-02", "'=cmd", "true"]
    projection = Projection(EXPORT)
    # The side file's hashes are the delta's: the first delta after the backfill sends nobody.
    assert list(read_side_file(path)) == [(i, projection.digest(contact(i))) for i in (1, 2)]
    # Both inline the one definition of what is hashed.
    one = contact(1)
    assert projection.digest(one) == sent_digest(one["email"], one["created_at"], ["=cmd"])


def test_reserved_names_whatever_their_case_and_spaces() -> None:
    """Seed 000: reserved names are not custom events, in any case or with spaces around; an
    event whose own name is a reserved one is sent under it without a mapping."""
    for name in ("Click", " View ", "CHECKOUT_SUCCESS", "search"):
        with pytest.raises(ValidationError, match="is a ReSci reserved event"):
            ResciSettings.model_validate(SETTINGS.model_dump() | {"events": {name: "view"}})
    rows = [event(1, "view"), event(2, " Click "), event(3, "Shopping_Cart"), event(4, "viewed")]
    chunk = ResciPlanner().plan("events", SETTINGS, rows, set())
    sent = [orjson.loads(m.payload)["event"] for m in chunk.messages]
    assert sent == ["view", "click", "shopping_cart"]
    assert chunk.skipped == 1
