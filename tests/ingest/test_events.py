"""Events import: the seed's Reclaim track payloads, messageId de-duplication, row errors."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import orjson
import pytest

from console.ingest import FileRejected, import_events
from console.ingest.events import derived_message_id
from state.db import Store

from .conftest import WriteFile, events_by_id

CONTEXT = {
    "app": {"name": "retention", "version": "1.0"},
    "library": {"name": "unknown", "version": "unknown"},
}

# Two of the seed's Reclaim payloads, verbatim.
VIEWED_PRODUCT: dict[str, Any] = {
    "anonymousId": "165ac1286d182f6998bc3236affbda09",
    "context": CONTEXT,
    "email": "user_testing3@retention.com",
    "event": "Viewed Product Reclaim",
    "integrations": {},
    "messageId": "api-2fBtnWAtJqhvtvIlD5dEnBus0Ik",
    "originalTimestamp": "2024-04-16T16:54:23.497Z",
    "properties": {
        "Brand": "Coffee Cake",
        "CurrencyPrice": "$47",
        "EventSource": "Reclaim",
        "Name": "Chocolate Sprinkles",
        "Price": "47",
        "ProductID": 9229193849,
        "price": 47,
        "url": "http://rempel-collier.example/salvador_bogan",
    },
    "receivedAt": "2024-04-16T16:54:24.321Z",
    "timestamp": "2024-04-16T16:54:23.497Z",
    "type": "track",
}
CHECKOUT_STARTED: dict[str, Any] = {
    "anonymousId": "6c51ac0761f7db42cbf6726b4df6d441",
    "context": CONTEXT,
    "email": "jorge@retention.com",
    "event": "Checkout Started Reclaim",
    "integrations": {},
    "messageId": "api-2fBtpI6fKSb27s567KICPrJ7jQy",
    "originalTimestamp": "2024-04-16T16:54:38.321Z",
    "properties": {
        "EventSource": "Reclaim",
        "cart_amount": 78.05,
        "cart_id": "aea3ijd1scjzdv071h",
        "currency": "USD",
        "line_items": [
            {
                "id": 2804981569430,
                "quantity": 3,
                "title": "Frosting",
                "variant": {"id": 4109397553956, "price": {"amount": 0.05, "currency_code": "USD"}},
            }
        ],
        "test_event": True,
    },
    "receivedAt": "2024-04-16T16:54:39.252Z",
    "timestamp": "2024-04-16T16:54:38.321Z",
    "type": "track",
}


def event(**changes: Any) -> dict[str, Any]:
    """The Viewed Product payload with keys changed (a value of ... removes the key)."""
    payload = copy.deepcopy(VIEWED_PRODUCT)
    for key, value in changes.items():
        if value is ...:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def test_seed_payloads_land(store: Store, write_file: WriteFile) -> None:
    report = import_events(store, write_file("reclaim.jsonl", [VIEWED_PRODUCT, CHECKOUT_STARTED]))

    assert (report.rows, report.inserted, report.errors) == (2, 2, [])
    stored = events_by_id(store)
    viewed = stored["api-2fBtnWAtJqhvtvIlD5dEnBus0Ik"]
    assert viewed["event"] == "Viewed Product Reclaim"
    assert viewed["email"] == "user_testing3@retention.com"
    assert viewed["anonymous_id"] == "165ac1286d182f6998bc3236affbda09"
    assert viewed["user_id"] is None
    assert viewed["timestamp"] == "2024-04-16T16:54:23.497Z"
    assert viewed["original_timestamp"] == "2024-04-16T16:54:23.497Z"
    assert viewed["properties"] == orjson.dumps(VIEWED_PRODUCT["properties"]).decode()
    assert (
        orjson.loads(stored["api-2fBtpI6fKSb27s567KICPrJ7jQy"]["properties"])
        == (CHECKOUT_STARTED["properties"])
    )
    assert [e["seq"] for e in stored.values()] == [1, 2]  # insertion order


def test_values_are_normalised(store: Store, write_file: WriteFile) -> None:
    path = write_file(
        "e.ndjson",
        [
            event(
                email="  Jorge@Retention.COM ",
                timestamp="2024-04-16T18:54:23+02:00",
                originalTimestamp=...,
                properties=None,
                type=...,
            )
        ],
    )
    import_events(store, path)
    stored = events_by_id(store)[VIEWED_PRODUCT["messageId"]]
    assert stored["email"] == "jorge@retention.com"
    assert stored["timestamp"] == "2024-04-16T16:54:23.000Z"
    assert stored["original_timestamp"] is None
    assert stored["properties"] == "{}"


@pytest.mark.parametrize(
    "where",
    [
        {"email": ..., "properties": {"email": "Prop@X.com"}},
        {"email": ..., "context": {"traits": {"email": "Prop@X.com"}}},
        {"email": "", "properties": {"email": "Prop@X.com"}},
    ],
)
def test_email_is_found_in_properties_or_traits(
    store: Store, write_file: WriteFile, where: dict[str, Any]
) -> None:
    import_events(store, write_file("e.jsonl", [event(anonymousId=..., **where)]))
    assert events_by_id(store)[VIEWED_PRODUCT["messageId"]]["email"] == "prop@x.com"


def test_missing_message_id_is_derived_and_stable(store: Store, write_file: WriteFile) -> None:
    payload = event(messageId=...)
    expected = (
        "rc-" + hashlib.sha1(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    )
    assert derived_message_id(payload) == expected
    path = write_file("e.jsonl", [payload])

    first = import_events(store, path)
    second = import_events(store, path)

    assert (first.inserted, second.inserted, second.unchanged) == (1, 0, 1)
    assert list(events_by_id(store)) == [expected]


def test_known_message_ids_are_unchanged_never_a_second_row(
    store: Store, write_file: WriteFile
) -> None:
    import_events(store, write_file("a.jsonl", [VIEWED_PRODUCT]))
    report = import_events(
        store, write_file("b.jsonl", [VIEWED_PRODUCT, CHECKOUT_STARTED, CHECKOUT_STARTED])
    )

    assert (report.rows, report.inserted, report.unchanged, report.rejected) == (3, 1, 2, 0)
    assert len(events_by_id(store)) == 2


def test_a_reused_message_id_with_other_content_is_a_conflict_with_its_line(
    store: Store, write_file: WriteFile
) -> None:
    import_events(store, write_file("a.jsonl", [VIEWED_PRODUCT]))
    changed = event(event="Something Else")  # same messageId, different content
    report = import_events(
        store, write_file("b.jsonl", [CHECKOUT_STARTED, changed, CHECKOUT_STARTED])
    )

    assert (report.rows, report.inserted, report.unchanged, report.rejected) == (3, 1, 1, 1)
    assert report.errors[0].line == 2
    assert "already stored with other content" in report.errors[0].reason
    stored = events_by_id(store)
    assert stored[VIEWED_PRODUCT["messageId"]]["event"] == "Viewed Product Reclaim"


def test_an_event_dated_before_year_1000_keeps_a_four_digit_year(
    store: Store, write_file: WriteFile
) -> None:
    report = import_events(
        store, write_file("e.jsonl", [event(timestamp="0999-01-01T00:00:00+00:00")])
    )

    assert report.inserted == 1
    stored = events_by_id(store)[VIEWED_PRODUCT["messageId"]]
    assert stored["timestamp"] == "0999-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (event(event=...), "event is missing"),
        (event(event="   "), "event is missing"),
        (event(event=7), "event is missing"),
        (event(type="identify"), "type is 'identify'; only track calls are events"),
        (event(timestamp=...), "timestamp is missing"),
        (event(timestamp="16/04/2024"), "timestamp '16/04/2024' is not an ISO-8601"),
        (event(timestamp=1713286463), "timestamp must be an ISO-8601 string"),
        (event(originalTimestamp="soon"), "originalTimestamp 'soon' is not an ISO-8601"),
        (event(messageId="m" * 100), "messageId must be under 100 characters"),
        (event(messageId=42), "messageId must be a string"),
        (event(properties=[1, 2]), "properties must be an object"),
        (event(properties={"blob": "x" * 33_000}), "properties are larger than 32 KB"),
        (event(anonymousId=..., email=...), "no anonymousId, userId or email"),
        (event(anonymousId=..., email="nobody"), "email 'nobody': An email address must have"),
        (event(anonymousId=7), "anonymousId must be a string"),
        (event(email=["a@x.com"]), "email must be a string"),
        (event(event="Viewed\u0000"), "event contains a NUL character"),
        (event(userId="u\u0000"), "userId contains a NUL character"),
        ("just a string", "each line must be a JSON object"),
    ],
)
def test_row_errors(store: Store, write_file: WriteFile, payload: Any, reason: str) -> None:
    report = import_events(store, write_file("e.jsonl", [CHECKOUT_STARTED, payload]))
    assert report.inserted == 1
    assert len(report.errors) == 1
    assert report.errors[0].line == 2
    assert reason in report.errors[0].reason


def test_user_id_alone_is_enough(store: Store, write_file: WriteFile) -> None:
    payload = event(anonymousId=..., email=..., userId="customer-17")
    assert import_events(store, write_file("e.jsonl", [payload])).inserted == 1
    assert events_by_id(store)[payload["messageId"]]["user_id"] == "customer-17"


def test_bad_json_reports_line_and_reason(store: Store, write_file: WriteFile) -> None:
    content = orjson.dumps(VIEWED_PRODUCT) + b"\n\n{not json}\n" + orjson.dumps(CHECKOUT_STARTED)
    report = import_events(store, write_file("e.jsonl", content))
    assert report.inserted == 2
    assert [e.line for e in report.errors] == [3]
    assert report.errors[0].reason.startswith("not valid JSON: ")


@pytest.mark.parametrize("name", ["events.csv", "events.json", "events.txt"])
def test_only_jsonl_is_accepted(store: Store, write_file: WriteFile, name: str) -> None:
    with pytest.raises(FileRejected, match="events are JSONL"):
        import_events(store, write_file(name, "event,timestamp\nx,2024-01-01\n"))


def test_all_rows_bad_changes_nothing(store: Store, write_file: WriteFile) -> None:
    report = import_events(store, write_file("e.jsonl", [event(event=...), {"type": "track"}]))
    assert report.all_rejected
    assert events_by_id(store) == {}
