"""Segment payloads: the Grow `identify` and Reclaim `track` shapes of the Retention.com guide
(shared/seeds/002), compared key by key; derived anonymousIds, group_id, the revenue metric,
and the local checks (`message_problem`) that catch what Segment would silently drop."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from console import ingest
from console.destinations.segment.adapter import (
    MAX_MESSAGE_BYTES,
    identify_message,
    message_problem,
    revenue_of,
    track_message,
    write_key_header,
)
from state.db import Store
from state.models import Contact, Event

CONTACTS = Contact.__table__
EVENTS = Event.__table__

SEED_CONTEXT = {
    "app": {"name": "retention", "version": "1.0"},
    "library": {"name": "unknown", "version": "unknown"},
}

# The seed's Grow contact payload ("Here's an example of a Grow contact payload").
SEED_IDENTIFY: dict[str, Any] = {
    "anonymousId": "224ee0abc232ba012cc7932ca74609d9",
    "context": SEED_CONTEXT,
    "integrations": {},
    "messageId": "api-2fBtljNDdeWNJCnhTKt2IYMSFwc",
    "originalTimestamp": "2024-04-16T16:54:09.697Z",
    "receivedAt": "2024-04-16T16:54:10.697Z",
    "timestamp": "2024-04-16T16:54:09.697Z",
    "traits": {
        "address_city": None,
        "address_line_1": None,
        "address_postal": None,
        "address_state": None,
        "clicked_at": "2024-04-16T16:54:09.668Z",
        "created_at": "2024-04-16T16:54:09.668Z",
        "email": "user_testing1@retention.com",
        "email_domain": "retention.com",
        "extra_data": None,
        "first_name": None,
        "id": 6,
        "landing_page_domain": "haley-runolfsdottir.example",
        "landing_page_url": "http://haley-runolfsdottir.example/launa",
        "last_name": None,
        "page_title": None,
        "referrer": "http://huels.test/brianne",
        "updated_at": "2024-04-16T16:54:09.668Z",
    },
    "type": "identify",
}

# The seed's "Viewed Product Reclaim" payload.
SEED_TRACK: dict[str, Any] = {
    "anonymousId": "165ac1286d182f6998bc3236affbda09",
    "context": SEED_CONTEXT,
    "email": "user_testing3@retention.com",
    "event": "Viewed Product Reclaim",
    "integrations": {},
    "messageId": "api-2fBtnWAtJqhvtvIlD5dEnBus0Ik",
    "originalTimestamp": "2024-04-16T16:54:23.497Z",
    "properties": {
        "Brand": "Coffee Cake",
        "Currency": "",
        "CurrencyPrice": "$47",
        "EventSource": "Reclaim",
        "ImageURL": "https://loremflickr.com/300/300",
        "Name": "Chocolate Sprinkles",
        "Price": "47",
        "ProductID": 9229193849,
        "URL": "http://rempel-collier.example/salvador_bogan",
        "Variant": "",
        "VariantID": "",
        "brand": "Coffee Cake",
        "image_url": "https://loremflickr.com/300/300",
        "name": "Chocolate Sprinkles",
        "price": 47,
        "product_id": 9229193849,
        "url": "http://rempel-collier.example/salvador_bogan",
    },
    "receivedAt": "2024-04-16T16:54:24.321Z",
    "timestamp": "2024-04-16T16:54:23.497Z",
    "type": "track",
}

# Set by Segment on arrival, never by a sender.
SEGMENT_ONLY_KEYS = {"receivedAt"}


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def seed_contact_line(**changes: Any) -> dict[str, Any]:
    """The seed's traits as one line of a contacts JSONL file (without the store's own id)."""
    line = {k: v for k, v in SEED_IDENTIFY["traits"].items() if k != "id"}
    line["anonymous_id"] = SEED_IDENTIFY["anonymousId"]
    line.update(changes)
    return line


def import_lines(store: Store, path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    importer = ingest.import_events if "event" in lines[0] else ingest.import_contacts
    report = importer(store, path)
    assert report.rejected == 0, report.errors


def stored_contact(store: Store, email: str) -> dict[str, Any]:
    with store.read() as conn:
        row = conn.execute(select(CONTACTS).where(CONTACTS.c.email == email)).mappings().one()
    return dict(row)


def stored_event(store: Store, message_id: str) -> dict[str, Any]:
    with store.read() as conn:
        row = conn.execute(select(EVENTS).where(EVENTS.c.message_id == message_id)).mappings().one()
    return dict(row)


# --- identify ---------------------------------------------------------------------------------


def test_identify_has_every_key_of_the_seed_and_no_other(store: Store, tmp_path: Path) -> None:
    import_lines(store, tmp_path / "c.jsonl", [seed_contact_line()])
    contact = stored_contact(store, "user_testing1@retention.com")
    message = identify_message(contact, None)

    assert set(message) == set(SEED_IDENTIFY) - SEGMENT_ONLY_KEYS
    assert set(message["traits"]) == set(SEED_IDENTIFY["traits"])
    for key, seed_value in SEED_IDENTIFY["traits"].items():
        expected = contact["id"] if key == "id" else seed_value
        assert message["traits"][key] == expected, key
    assert message["anonymousId"] == SEED_IDENTIFY["anonymousId"]
    assert message["context"] == SEED_CONTEXT
    assert message["integrations"] == {}
    assert message["type"] == "identify"
    # The contact's own time, not the time of sending: a re-send carries the same body.
    assert message["timestamp"] == "2024-04-16T16:54:09.668Z"
    assert message["originalTimestamp"] == message["timestamp"]
    assert message["messageId"].startswith("rc-")
    assert len(message["messageId"]) < 100
    assert message_problem(message, orjson.dumps(message)) is None


def test_identify_key_order_matches_the_seed(store: Store, tmp_path: Path) -> None:
    import_lines(store, tmp_path / "c.jsonl", [seed_contact_line()])
    message = identify_message(stored_contact(store, "user_testing1@retention.com"), None)
    seed_order = [k for k in SEED_IDENTIFY if k not in SEGMENT_ONLY_KEYS]
    assert list(message) == seed_order
    assert list(message["traits"]) == list(SEED_IDENTIFY["traits"])


def test_identify_without_anonymous_id_derives_a_stable_one(store: Store, tmp_path: Path) -> None:
    import_lines(
        store,
        tmp_path / "c.jsonl",
        [seed_contact_line(anonymous_id=None, email="  New.Person@Example.COM ")],
    )
    contact = stored_contact(store, "new.person@example.com")
    first = identify_message(contact, None)
    again = identify_message(dict(contact), None)

    assert first["anonymousId"] == md5("new.person@example.com")
    assert again["anonymousId"] == first["anonymousId"]
    assert again["messageId"] == first["messageId"]
    # Re-importing the same line neither changes the contact nor its derived id.
    import_lines(
        store,
        tmp_path / "c2.jsonl",
        [seed_contact_line(anonymous_id=None, email="new.person@example.com")],
    )
    assert identify_message(stored_contact(store, "new.person@example.com"), None) == first


def test_identify_message_id_follows_the_contact_version(store: Store, tmp_path: Path) -> None:
    import_lines(store, tmp_path / "a.jsonl", [seed_contact_line()])
    before = identify_message(stored_contact(store, "user_testing1@retention.com"), None)
    import_lines(store, tmp_path / "b.jsonl", [seed_contact_line(first_name="Haley")])
    after = identify_message(stored_contact(store, "user_testing1@retention.com"), None)

    assert after["traits"]["first_name"] == "Haley"
    assert after["messageId"] != before["messageId"]
    assert after["anonymousId"] == before["anonymousId"]


def test_group_id_goes_on_every_grow_contact(store: Store, tmp_path: Path) -> None:
    import_lines(
        store,
        tmp_path / "c.jsonl",
        [seed_contact_line(), seed_contact_line(email="b@retention.com", anonymous_id=None)],
    )
    plain = identify_message(stored_contact(store, "b@retention.com"), None)
    for email in ("user_testing1@retention.com", "b@retention.com"):
        message = identify_message(stored_contact(store, email), "vip-list")
        assert message["traits"]["group_id"] == "vip-list"
        assert message["context"]["groupId"] == "vip-list"
        assert message["context"]["app"] == SEED_CONTEXT["app"]
    # The shared context is not changed by a contact that carried a group.
    again = identify_message(stored_contact(store, "b@retention.com"), None)
    assert "groupId" not in again["context"]
    assert "group_id" not in again["traits"]
    assert again == plain
    # A different group makes a different message, so it is sent again.
    grouped = identify_message(stored_contact(store, "b@retention.com"), "vip-list")
    assert grouped["messageId"] != plain["messageId"]


def test_extra_data_is_sent_as_an_object(store: Store, tmp_path: Path) -> None:
    import_lines(
        store, tmp_path / "c.jsonl", [seed_contact_line(extra_data={"plan": "gold", "n": 3})]
    )
    message = identify_message(stored_contact(store, "user_testing1@retention.com"), None)
    assert message["traits"]["extra_data"] == {"plan": "gold", "n": 3}


# --- track ------------------------------------------------------------------------------------


def seed_event_line(**changes: Any) -> dict[str, Any]:
    line = {k: v for k, v in SEED_TRACK.items() if k not in SEGMENT_ONLY_KEYS}
    line.update(changes)
    return {k: v for k, v in line.items() if v is not None}


def test_track_has_every_key_of_the_seed(store: Store, tmp_path: Path) -> None:
    import_lines(store, tmp_path / "e.jsonl", [seed_event_line()])
    message = track_message(stored_event(store, SEED_TRACK["messageId"]), None)

    expected = {k: v for k, v in SEED_TRACK.items() if k not in SEGMENT_ONLY_KEYS}
    assert set(message) == set(expected)
    for key, value in expected.items():
        assert message[key] == value, key
    assert list(message) == list(expected)
    assert message_problem(message, orjson.dumps(message)) is None


@pytest.mark.parametrize("metric", ["CurrencyPrice", "Price", "price"])
def test_revenue_metric_is_sent_as_properties_revenue(
    store: Store, tmp_path: Path, metric: str
) -> None:
    import_lines(store, tmp_path / "e.jsonl", [seed_event_line()])
    message = track_message(stored_event(store, SEED_TRACK["messageId"]), metric)
    assert message["properties"]["revenue"] == 47
    # Everything else is passed through as it came.
    rest = {k: v for k, v in message["properties"].items() if k != "revenue"}
    assert rest == SEED_TRACK["properties"]


def test_no_revenue_when_the_metric_is_missing_or_not_a_number(
    store: Store, tmp_path: Path
) -> None:
    import_lines(store, tmp_path / "e.jsonl", [seed_event_line()])
    event = stored_event(store, SEED_TRACK["messageId"])
    for metric in (None, "Missing", "Name", "Currency"):
        assert "revenue" not in track_message(event, metric)["properties"], metric


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$47", 47.0),
        ("47", 47.0),
        (47, 47.0),
        (8.5, 8.5),
        (" $1,234.50 ", 1234.5),
        ("€12", 12.0),
        ("", None),
        ("forty", None),
        (True, None),
        (None, None),
        ([47], None),
    ],
)
def test_revenue_of_parses_prices(value: object, expected: float | None) -> None:
    assert revenue_of({"p": value}, "p") == expected


def test_track_without_anonymous_id_derives_the_contacts_one(store: Store, tmp_path: Path) -> None:
    import_lines(store, tmp_path / "e.jsonl", [seed_event_line(anonymousId=None)])
    import_lines(
        store,
        tmp_path / "c.jsonl",
        [seed_contact_line(email=SEED_TRACK["email"], anonymous_id=None)],
    )
    track = track_message(stored_event(store, SEED_TRACK["messageId"]), None)
    identify = identify_message(stored_contact(store, SEED_TRACK["email"]), None)
    assert track["anonymousId"] == md5(SEED_TRACK["email"])
    # The same person is the same anonymous visitor in both calls.
    assert track["anonymousId"] == identify["anonymousId"]


def test_track_of_a_known_user_without_email(store: Store, tmp_path: Path) -> None:
    import_lines(
        store,
        tmp_path / "e.jsonl",
        [seed_event_line(anonymousId=None, email=None, userId="user-42")],
    )
    message = track_message(stored_event(store, SEED_TRACK["messageId"]), None)
    assert message["userId"] == "user-42"
    assert "anonymousId" not in message
    assert "email" not in message
    assert message_problem(message, orjson.dumps(message)) is None


def test_event_without_message_id_gets_the_same_one_on_every_import(
    store: Store, tmp_path: Path
) -> None:
    line = seed_event_line(messageId=None)
    import_lines(store, tmp_path / "e.jsonl", [line])
    with store.read() as conn:
        ids = list(conn.execute(select(EVENTS.c.message_id)).scalars())
    assert len(ids) == 1 and ids[0].startswith("rc-") and len(ids[0]) < 100
    report = ingest.import_events(store, tmp_path / "e.jsonl")
    assert (report.inserted, report.unchanged) == (0, 1)
    assert track_message(stored_event(store, ids[0]), None)["messageId"] == ids[0]


# --- local validation -------------------------------------------------------------------------


def good_track() -> dict[str, Any]:
    return {k: v for k, v in SEED_TRACK.items() if k not in SEGMENT_ONLY_KEYS}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"anonymousId": None}, "without userId or anonymousId"),
        ({"anonymousId": ""}, "without userId or anonymousId"),
        ({"event": ""}, "track without an event name"),
        ({"event": None}, "track without an event name"),
        ({"messageId": ""}, "messageId must be 1 to 99 characters"),
        ({"messageId": "m" * 100}, "messageId must be 1 to 99 characters"),
    ],
)
def test_message_problem_names_what_segment_would_drop(change: dict[str, Any], reason: str) -> None:
    message = good_track() | change
    problem = message_problem(message, orjson.dumps(message))
    assert problem is not None and reason in problem


def test_message_problem_accepts_the_limits_exactly() -> None:
    message = good_track() | {"messageId": "m" * 99, "anonymousId": None, "userId": "u-1"}
    assert message_problem(message, orjson.dumps(message)) is None
    padding = MAX_MESSAGE_BYTES - len(orjson.dumps(message | {"pad": ""}))
    at_limit = message | {"pad": "x" * padding}
    assert len(orjson.dumps(at_limit)) == MAX_MESSAGE_BYTES
    assert message_problem(at_limit, orjson.dumps(at_limit)) is None
    over = message | {"pad": "x" * (padding + 1)}
    problem = message_problem(over, orjson.dumps(over))
    assert problem is not None and "over Segment's 32 KB limit" in problem


def test_a_40_kb_message_is_refused_with_its_size() -> None:
    message = good_track() | {"properties": {"blob": "x" * 41_000}}
    problem = message_problem(message, orjson.dumps(message))
    assert problem == (
        f"message is {len(orjson.dumps(message)) / 1024:.1f} KB, "
        "over Segment's 32 KB limit for one message"
    )
    assert problem.startswith("message is 40.")


def test_the_write_key_is_sent_as_http_basic_user_name() -> None:
    header = write_key_header("sk_live_abc")
    scheme, _, token = header.partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token) == b"sk_live_abc:"
