"""`run_destination` against a real Segment sandbox on 127.0.0.1: what is delivered, filtered and
suppressed; re-runs that send nothing new; retries of 5xx, 429 and lost replies; the bounded
attempt count; a rejected email isolated by batch splitting; a refused write key; and the
operator's retry of failures."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from console import ingest
from console.core.vocab import OutboxStatus
from console.destinations.segment.settings import SegmentFilters, SegmentSettings
from console.engine import delivery
from console.engine.destinations import DestinationRecord, get_destination, save_destination
from console.engine.options import EngineOptions
from console.engine.retries import RetryPolicy
from console.engine.runner import RunResult, run_destination
from console.sandbox import SegmentSandbox
from console.sandbox.server import Request, Response
from state.db import Store
from state.failures import FailureFilter, failure_ids, failures_page
from state.history import runs_page
from state.models import OutboxRow
from state.outbox import requeue_failures
from state.summary import daily_summary

OUTBOX = OutboxRow.__table__
WRITE_KEY = "test-write-key"  # what the shared `segment_sandbox` fixture accepts
# Generous attempts: under random faults a batch must not run out of them by bad luck.
FAST = RetryPolicy(base_seconds=0.01, cap_seconds=0.05, max_attempts=25)

Sandbox = tuple[SegmentSandbox, str]


def options(**changes: Any) -> EngineOptions:
    """Production knobs with test-sized waits."""
    values: dict[str, Any] = {"policy": FAST, "max_wait_seconds": 5.0}
    values.update(changes)
    return EngineOptions(**values)


class Files:
    """Writes JSONL/CSV files into the test's directory and imports them."""

    def __init__(self, store: Store, directory: Path) -> None:
        self.store = store
        self.directory = directory
        self.count = 0

    def _path(self, suffix: str) -> Path:
        self.count += 1
        return self.directory / f"file{self.count}{suffix}"

    def contacts(self, lines: list[dict[str, Any]]) -> ingest.ImportReport:
        path = self._path(".jsonl")
        path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
        report = ingest.import_contacts(self.store, path)
        assert report.rejected == 0, report.errors
        return report

    def events(self, lines: list[dict[str, Any]]) -> None:
        path = self._path(".jsonl")
        path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
        assert ingest.import_events(self.store, path).rejected == 0

    def suppressions(self, text: str) -> None:
        path = self._path(".csv")
        path.write_text(text)
        assert ingest.import_suppressions(self.store, path).rejected == 0


@pytest.fixture
def files(store: Store, tmp_path: Path) -> Files:
    return Files(store, tmp_path)


def configure(store: Store, url: str, name: str = "seg", **settings: Any) -> DestinationRecord:
    values: dict[str, Any] = {"write_key": WRITE_KEY, "endpoint": url}
    values.update(settings)
    with store.write() as conn:
        save_destination(conn, name, SegmentSettings(**values))
        destination = get_destination(conn, name)
    assert destination is not None
    return destination


def destination(store: Store, name: str = "seg") -> DestinationRecord:
    with store.read() as conn:
        record = get_destination(conn, name)
    assert record is not None
    return record


async def run(store: Store, name: str = "seg", opts: EngineOptions | None = None) -> RunResult:
    return await run_destination(store, destination(store, name), "manual", opts or options())


def people(*numbers: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"email": f"user{n}@example.com", **fields} for n in numbers]


def identified(sandbox: SegmentSandbox) -> list[str]:
    """Emails of the identify calls the sandbox accepted, in arrival order."""
    return [m["traits"]["email"] for m in sandbox.received if m["type"] == "identify"]


def statuses(store: Store) -> dict[str, str]:
    with store.read() as conn:
        return dict(conn.execute(select(OUTBOX.c.message_id, OUTBOX.c.status)).all())


def event(n: int, name: str = "Viewed Product Reclaim", **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": name,
        "messageId": f"evt-{n}",
        "email": f"user{n}@example.com",
        "timestamp": "2024-04-16T16:54:23.497Z",
        "properties": {"EventSource": "Reclaim", "Price": "47", "CurrencyPrice": "$47"},
        **extra,
    }


# --- the happy path ---------------------------------------------------------------------------


async def test_contacts_and_events_are_delivered(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    files.contacts(people(1, 2, 3))
    files.events([event(1), event(2, "Add To Cart Reclaim")])
    configure(store, url, revenue_metric="CurrencyPrice", group_id="vip")

    result = await run(store)

    assert result.status == "ok"
    assert (result.counts.added, result.counts.delivered, result.counts.rejected) == (5, 5, 0)
    assert result.queued == 0
    assert sorted(identified(sandbox)) == [f"user{n}@example.com" for n in (1, 2, 3)]
    tracks = [m for m in sandbox.received if m["type"] == "track"]
    assert sorted(m["messageId"] for m in tracks) == ["evt-1", "evt-2"]
    assert all(m["properties"]["revenue"] == 47 for m in tracks)
    assert all(m["traits"]["group_id"] == "vip" for m in sandbox.received if "traits" in m)
    # What arrived is byte for byte what the outbox holds.
    with store.read() as conn:
        payloads = {
            mid: orjson.loads(body)
            for mid, body in conn.execute(select(OUTBOX.c.message_id, OUTBOX.c.payload))
        }
    assert {m["messageId"]: m for m in sandbox.received} == payloads
    assert set(statuses(store).values()) == {OutboxStatus.DELIVERED}
    with store.read() as conn:
        summary = daily_summary(conn)
        (history,) = runs_page(conn)
    assert [(s.destination, s.completions, s.failures, s.queued) for s in summary] == [
        ("seg", 5, 0, 0)
    ]
    assert (history.trigger, history.status, history.delivered, history.added) == (
        "manual",
        "ok",
        5,
        5,
    )
    assert destination(store).healthy


async def test_grow_and_reclaim_switches_and_event_names(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    files.contacts(people(1, 2))
    files.events([event(1), event(2, "Add To Cart Reclaim"), event(3, "Checkout Started")])
    configure(store, url, grow=False, reclaim_events=["Add To Cart Reclaim", "Checkout Started"])

    result = await run(store)

    assert result.status == "ok"
    assert identified(sandbox) == []
    assert sorted(sandbox.message_ids) == ["evt-2", "evt-3"]
    assert result.counts.skipped == 1


# --- filters ----------------------------------------------------------------------------------

FILTER_CASES: list[tuple[str, list[str], list[tuple[dict[str, Any], bool]]]] = [
    (
        "email_domains",
        ["gmail.com", "Yahoo.com"],
        [
            ({"email": "a@gmail.com"}, True),
            ({"email": "B@YAHOO.COM"}, True),
            ({"email": "c@aol.com"}, False),
            ({"email": "d@notgmail.com"}, False),
        ],
    ),
    (
        "landing_page_urls",
        ["/spring-sale", "https://shop.example/landing-b"],
        [
            (
                {"email": "a@x.com", "landing_page_url": "https://shop.example/spring-sale?u=1"},
                True,
            ),
            ({"email": "b@x.com", "landing_page_url": "https://shop.example/landing-b"}, True),
            ({"email": "c@x.com", "landing_page_url": "https://shop.example/other"}, False),
            ({"email": "d@x.com"}, False),
        ],
    ),
    (
        "landing_page_domains",
        ["retention.com", "robly.com"],
        [
            ({"email": "a@x.com", "landing_page_url": "https://retention.com/launch"}, True),
            ({"email": "b@x.com", "landing_page_domain": "Robly.com"}, True),
            (
                {"email": "c@x.com", "landing_page_url": "https://elsewhere.com/retention.com"},
                False,
            ),
            ({"email": "d@x.com"}, False),
        ],
    ),
    (
        "states",
        ["CA", "ny"],
        [
            ({"email": "a@x.com", "address_state": "ca"}, True),
            ({"email": "b@x.com", "address_state": "NY"}, True),
            ({"email": "c@x.com", "address_state": "TX"}, False),
            ({"email": "d@x.com"}, False),
        ],
    ),
    (
        "referrer_urls",
        ["google.com", "http://huels.test/brianne"],
        [
            ({"email": "a@x.com", "referrer": "https://www.google.com/search?q=cake"}, True),
            ({"email": "b@x.com", "referrer": "http://huels.test/brianne"}, True),
            ({"email": "c@x.com", "referrer": "https://bing.com/"}, False),
            ({"email": "d@x.com"}, False),
        ],
    ),
]


@pytest.mark.parametrize(
    ("field", "values", "cases"), FILTER_CASES, ids=[case[0] for case in FILTER_CASES]
)
async def test_each_filter_keeps_only_matching_contacts(
    store: Store,
    files: Files,
    segment_sandbox: Sandbox,
    field: str,
    values: list[str],
    cases: list[tuple[dict[str, Any], bool]],
) -> None:
    sandbox, url = segment_sandbox
    files.contacts([line for line, _ in cases])
    configure(store, url, filters=SegmentFilters(**{field: values}))

    result = await run(store)

    expected = sorted(line["email"].lower() for line, passes in cases if passes)
    assert sorted(identified(sandbox)) == expected
    assert result.counts.filtered == len(cases) - len(expected)
    assert result.status == "ok"


async def test_filters_combine_with_and_values_with_or(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    files.contacts(
        [
            {"email": "a@gmail.com", "address_state": "CA", "referrer": "https://google.com"},
            {"email": "b@yahoo.com", "address_state": "NY", "referrer": "https://google.com/x"},
            {"email": "c@gmail.com", "address_state": "TX", "referrer": "https://google.com"},
            {"email": "d@aol.com", "address_state": "CA", "referrer": "https://google.com"},
            {"email": "e@gmail.com", "address_state": "CA", "referrer": "https://bing.com"},
            {"email": "f@gmail.com", "address_state": "CA"},
        ]
    )
    filters = SegmentFilters(
        email_domains=["gmail.com", "yahoo.com"],
        states=["CA", "NY"],
        referrer_urls=["google.com"],
    )
    configure(store, url, filters=filters)

    result = await run(store)

    assert sorted(identified(sandbox)) == ["a@gmail.com", "b@yahoo.com"]
    assert result.counts.filtered == 4


async def test_filters_leave_reclaim_events_alone(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    files.contacts(people(1))
    files.events([event(1)])
    configure(store, url, filters=SegmentFilters(states=["CA"]))

    await run(store)

    assert identified(sandbox) == []
    assert list(sandbox.message_ids) == ["evt-1"]


# --- suppression ------------------------------------------------------------------------------


async def test_suppressed_contacts_by_email_and_by_md5_are_not_sent(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    known_md5 = hashlib.md5(b"user2@example.com").hexdigest()
    files.suppressions(f"email,email_md5\nUser1@Example.com,\n,{known_md5.upper()}\n")
    files.contacts(people(1, 2, 3))
    files.contacts([{"email": "USER2@example.com", "first_name": "Changed"}])
    configure(store, url)

    result = await run(store)

    assert identified(sandbox) == ["user3@example.com"]
    assert result.counts.suppressed == 2
    assert result.status == "ok"
    with store.read() as conn:
        (today,) = daily_summary(conn, "seg")
    assert (today.completions, today.suppressed, today.failures) == (1, 2, 0)


async def test_a_suppression_imported_after_queueing_stops_the_queued_row(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    """The key was refused, so the contacts stayed queued; user1 is then suppressed. The next
    run never sends user1's identify and books it suppressed (not delivered, not a failure)."""
    sandbox, url = segment_sandbox
    configure(store, url, write_key="wrong-key")
    files.contacts(people(1, 2))
    assert (await run(store)).queued == 2

    files.suppressions("user1@example.com\n")
    configure(store, url)
    result = await run(store)

    assert identified(sandbox) == ["user2@example.com"]
    assert (result.counts.delivered, result.counts.suppressed, result.queued) == (1, 1, 0)
    assert sorted(statuses(store).values()) == ["delivered", "suppressed"]
    with store.read() as conn:
        (today,) = daily_summary(conn, "seg")
        assert failure_ids(conn, FailureFilter()) == []
    assert (today.completions, today.suppressed, today.failures) == (1, 1, 0)
    await run(store)
    assert identified(sandbox) == ["user2@example.com"]  # and never later either


async def test_suppression_off_sends_known_contacts(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    files.suppressions("user1@example.com\n")
    files.contacts(people(1, 2))
    configure(store, url, suppression=False)

    result = await run(store)

    assert sorted(identified(sandbox)) == ["user1@example.com", "user2@example.com"]
    assert result.counts.suppressed == 0


# --- re-runs and changes ----------------------------------------------------------------------


async def test_a_re_run_sends_nothing_new(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    files.contacts(people(*range(1, 21)))
    files.events([event(n) for n in range(1, 11)])
    configure(store, url)
    first = await run(store)
    assert first.counts.delivered == 30
    requests, messages = sandbox.requests, sandbox.message_count

    second = await run(store)

    assert second.status == "ok"
    assert (second.counts.added, second.counts.delivered, second.counts.requests) == (0, 0, 0)
    assert (sandbox.requests, sandbox.message_count) == (requests, messages)
    # Re-importing the same files changes nothing either.
    files.contacts(people(*range(1, 21)))
    files.events([event(n) for n in range(1, 11)])
    third = await run(store)
    assert (third.counts.added, third.counts.requests) == (0, 0)
    assert sandbox.message_count == messages


async def test_a_changed_contact_sends_a_new_identify(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    files.contacts(people(1, 2, 3, first_name="Ann"))
    configure(store, url)
    await run(store)
    first_ids = {m["traits"]["email"]: m["messageId"] for m in sandbox.received}

    report = files.contacts(
        [
            {"email": "user1@example.com", "first_name": "Ann"},
            {"email": "user2@example.com", "first_name": "Bea"},
            {"email": "user3@example.com", "first_name": "Ann"},
        ]
    )
    assert (report.updated, report.unchanged) == (1, 2)
    result = await run(store)

    assert result.counts.delivered == 1
    latest = sandbox.received[-1]
    assert latest["traits"]["email"] == "user2@example.com"
    assert latest["traits"]["first_name"] == "Bea"
    assert latest["messageId"] not in first_ids.values()
    assert latest["anonymousId"] == sandbox.received[1]["anonymousId"]
    assert len(sandbox.message_ids) == 4


async def test_a_contact_changed_back_is_sent_again(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    """A -> B -> A: Segment holds B after the second run; the third version must reach it, so
    it cannot reuse the first version's messageId (which Segment would drop as a duplicate)."""
    sandbox, url = segment_sandbox
    configure(store, url)
    for name in ("Ann", "Bea", "Ann"):
        files.contacts(people(1, first_name=name))
        result = await run(store)
        assert result.counts.delivered == 1, name
    assert [m["traits"]["first_name"] for m in sandbox.received] == ["Ann", "Bea", "Ann"]
    assert len(sandbox.message_ids) == 3


async def test_a_newer_version_waits_for_the_older_one_still_retrying(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    """Ann's first version is refused (5xx) and waits for its retry when she changes: the new
    version must not overtake it, or the older traits would be the last Segment receives.
    It waits (deferred to the older row's retry time, so the run does not spin), then both
    go in order; other contacts are not held back."""
    sandbox, url = segment_sandbox
    configure(store, url)
    slow_retry = RetryPolicy(base_seconds=1.0, cap_seconds=1.0, max_attempts=5)
    files.contacts(people(1, first_name="Ann"))
    sandbox.faults.update({"error_rate": 1.0})
    result = await run(store, opts=options(policy=slow_retry, max_wait_seconds=0))
    assert result.queued == 1
    sandbox.faults.update({"error_rate": 0.0})

    files.contacts(people(1, first_name="Bea") + people(2, first_name="Cy"))
    claims = 0
    real_claim = delivery._claim

    def counting_claim(*args: Any) -> Any:
        nonlocal claims
        claims += 1
        return real_claim(*args)

    delivery._claim = counting_claim  # type: ignore[assignment]
    try:
        result = await run(store, opts=options(policy=slow_retry, max_wait_seconds=5))
    finally:
        delivery._claim = real_claim  # type: ignore[assignment]

    assert result.status == "ok" and result.counts.delivered == 3
    names = [(m["traits"]["email"], m["traits"]["first_name"]) for m in sandbox.received]
    assert names.index(("user1@example.com", "Ann")) < names.index(("user1@example.com", "Bea"))
    assert names[0] == ("user2@example.com", "Cy")  # not held back by Ann's retry
    assert claims < 20  # it waited for the retry time instead of claiming in a loop


async def test_two_unsent_versions_of_a_contact_go_in_order_in_separate_requests(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    """Ann's first version was never sent (the key was refused); she changes meanwhile. Both
    are due in the same pass: the older goes first, the newer in the next pass, once the
    older's outcome is recorded (never side by side, where a receiver may reorder them)."""
    sandbox, url = segment_sandbox
    configure(store, url, write_key="wrong-key")
    files.contacts(people(1, first_name="Ann"))
    result = await run(store)
    assert result.queued == 1
    with store.read() as conn:
        assert set(conn.execute(select(OUTBOX.c.attempts)).scalars()) == {0}

    configure(store, url)
    files.contacts(people(1, first_name="Bea"))
    result = await run(store, opts=options(max_wait_seconds=0))

    assert result.status == "ok" and result.counts.delivered == 2
    assert [m["traits"]["first_name"] for m in sandbox.received] == ["Ann", "Bea"]
    assert sandbox.batches == 2


# --- faults -----------------------------------------------------------------------------------


async def test_5xx_replies_are_retried_until_delivered(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    sandbox.faults.update({"error_rate": 0.5, "seed": 7})
    files.contacts(people(*range(1, 61)))
    configure(store, url)

    result = await run(store, opts=options(batch_rows=10, policy=FAST))

    assert result.status == "ok"
    assert result.counts.delivered == 60
    assert result.counts.retrying > 0
    assert sandbox.requests > 6  # six batches, and the refused ones again
    # 5xx replies processed nothing, so every message arrived exactly once.
    assert len(sandbox.message_ids) == 60
    assert set(sandbox.message_ids.values()) == {1}
    assert set(statuses(store).values()) == {OutboxStatus.DELIVERED}


async def test_lost_replies_are_re_sent_with_the_same_message_ids(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    sandbox.faults.update({"reset_every": 3, "malformed_every": 4})
    files.contacts(people(*range(1, 51)))
    configure(store, url)

    result = await run(store, opts=options(batch_rows=5))

    assert result.status == "ok"
    assert set(statuses(store).values()) == {OutboxStatus.DELIVERED}
    # The reset requests were processed, then their reply lost: re-sent with the same ids.
    assert set(sandbox.message_ids) == set(statuses(store))
    assert sandbox.stats()["duplicates"] > 0


def time_requests(sandbox: SegmentSandbox) -> list[tuple[float, int]]:
    """(arrival time, reply status) of every API request the sandbox answers from now on."""
    seen: list[tuple[float, int]] = []
    handle: Callable[[Request], Response] = sandbox.handle

    def timed(request: Request) -> Response:
        arrived = time.monotonic()
        response = handle(request)
        if not request.path.startswith("/_sandbox/"):
            seen.append((arrived, response.status))
        return response

    sandbox.handle = timed  # type: ignore[method-assign]
    return seen


async def test_429_retry_after_is_honoured(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    sandbox.faults.update({"rate_limit_every": 2, "retry_after_seconds": 0.6})
    requests = time_requests(sandbox)
    # Request 1 is someone else's; the engine's first request is the 2nd: answered 429.
    httpx.post(f"{url}/v1/batch", json={"batch": []}, auth=(WRITE_KEY, ""))
    files.contacts(people(1, 2, 3))
    configure(store, url)

    result = await run(store)

    assert result.status == "ok"
    assert [status for _, status in requests] == [200, 429, 200]
    waited = requests[2][0] - requests[1][0]
    # Without Retry-After the policy would have waited about 0.01 s (5 ms for timer slack).
    assert 0.595 <= waited < 2.0
    with store.read() as conn:
        attempts = set(conn.execute(select(OUTBOX.c.attempts)).scalars())
    assert attempts == {2}


async def test_a_run_gives_up_after_max_attempts_with_the_receivers_words(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    sandbox.faults.update({"error_rate": 1.0})
    files.contacts(people(1, 2))
    configure(store, url)
    policy = RetryPolicy(base_seconds=0.01, cap_seconds=0.02, max_attempts=3)

    result = await run(store, opts=options(policy=policy))

    assert result.status == "partial"
    assert (result.counts.delivered, result.counts.rejected, result.queued) == (0, 2, 0)
    assert sandbox.requests == 3
    with store.read() as conn:
        failures = failures_page(conn)
        (today,) = daily_summary(conn)
    assert sorted(f.email for f in failures) == ["user1@example.com", "user2@example.com"]
    for failure in failures:
        assert failure.attempts == 3
        assert failure.http_status in (500, 503)
        assert failure.feedback is not None
        assert failure.feedback.startswith("gave up after 3 attempts: sandbox fault: ")
        assert failure.kind == "identify"
    assert (today.completions, today.failures, today.queued) == (0, 2, 0)


async def test_a_refused_batch_is_retried_as_one_batch(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    """Rows refused together wait the same backoff, so their retry is one request again rather
    than one request per row as their jitter drifts apart."""
    sandbox, url = segment_sandbox
    sandbox.faults.update({"error_rate": 1.0})
    files.contacts(people(*range(1, 301)))
    configure(store, url)
    policy = RetryPolicy(base_seconds=0.01, cap_seconds=0.05, max_attempts=4)

    result = await run(store, opts=options(policy=policy))

    assert (result.counts.rejected, result.queued) == (300, 0)
    assert sandbox.requests == 4
    assert result.counts.requests == 4


async def test_retries_not_due_within_max_wait_stay_queued(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    sandbox.faults.update({"rate_limit_every": 1, "retry_after_seconds": 30})
    files.contacts(people(1))
    configure(store, url)

    started = time.monotonic()
    result = await run(store, opts=options(max_wait_seconds=0.5))

    assert time.monotonic() - started < 5
    assert result.status == "partial"
    assert (result.counts.delivered, result.counts.rejected, result.queued) == (0, 0, 1)
    assert set(statuses(store).values()) == {OutboxStatus.QUEUED}
    with store.read() as conn:
        (today,) = daily_summary(conn)
    assert today.queued == 1


async def test_a_rejected_email_fails_alone_and_the_others_are_delivered(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    sandbox.faults.update({"reject_emails": ["user7@example.com"]})
    files.contacts(people(*range(1, 17)))
    configure(store, url)

    result = await run(store)

    assert result.status == "partial"
    assert (result.counts.delivered, result.counts.rejected) == (15, 1)
    assert sorted(identified(sandbox)) == sorted(
        f"user{n}@example.com" for n in range(1, 17) if n != 7
    )
    # Halving: the bad row stands alone after log2(16) splits, never one request per row.
    assert sandbox.requests <= 1 + 2 * 4
    with store.read() as conn:
        (failure,) = failures_page(conn)
        (today,) = daily_summary(conn)
    assert failure.email == "user7@example.com"
    assert failure.http_status == 400
    assert failure.feedback == "rejected: user7@example.com is on the sandbox's reject list"
    assert failure.attempts == 1
    assert failure.destination == "seg"
    assert (today.completions, today.failures) == (15, 1)

    # The operator fixes the cause and retries: the row is delivered, the failure is gone.
    sandbox.faults.update({"reject_emails": []})
    with store.write() as conn:
        assert requeue_failures(conn, failure_ids(conn, FailureFilter(destination="seg"))) == 1
    again = await run(store)

    assert (again.status, again.counts.delivered) == ("ok", 1)
    assert identified(sandbox)[-1] == "user7@example.com"
    with store.read() as conn:
        assert failures_page(conn) == []
        (today,) = daily_summary(conn)
    assert (today.completions, today.failures, today.queued) == (16, 0, 0)


async def test_a_refused_write_key_keeps_rows_queued_and_marks_the_destination(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    files.contacts(people(1, 2, 3))
    configure(store, url, write_key="not-the-key")

    for attempt in (1, 2, 3):
        result = await run(store)
        assert result.status == "failed"
        assert "Segment refused the write key: invalid write key" in result.message
        assert result.queued == 3
        assert result.counts.rejected == 0
        assert destination(store).healthy is (attempt < 3)
    assert sandbox.message_count == 0
    assert set(statuses(store).values()) == {OutboxStatus.QUEUED}
    record = destination(store)
    assert record.health_note is not None and "3 runs in a row failed" in record.health_note
    with store.read() as conn:
        assert [r.status for r in runs_page(conn)] == ["failed"] * 3
        assert failures_page(conn) == []

    configure(store, url, write_key=WRITE_KEY)
    fixed = await run(store)

    assert (fixed.status, fixed.counts.delivered, fixed.queued) == ("ok", 3, 0)
    assert sorted(identified(sandbox)) == [f"user{n}@example.com" for n in (1, 2, 3)]
    assert destination(store).healthy


async def test_an_unreachable_endpoint_keeps_rows_queued(store: Store, files: Files) -> None:
    files.contacts(people(1))
    # A port nobody listens on: connection refused at once.
    configure(store, "http://127.0.0.1:9")

    result = await run(store, opts=options(max_wait_seconds=0.3))

    assert result.status == "partial"
    assert (result.counts.delivered, result.queued) == (0, 1)
    with store.read() as conn:
        feedback = conn.execute(select(OUTBOX.c.feedback)).scalar_one()
        status = conn.execute(select(OUTBOX.c.status)).scalar_one()
    assert status == OutboxStatus.QUEUED
    assert feedback is not None and feedback.startswith("could not connect")


async def test_the_failed_row_keeps_its_payload_for_inspection(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    sandbox.faults.update({"reject_emails": ["user1@example.com"]})
    files.contacts(people(1))
    configure(store, url)
    await run(store)
    with store.read() as conn:
        status, payload = conn.execute(select(OUTBOX.c.status, OUTBOX.c.payload)).one()
    assert status == OutboxStatus.FAILED
    assert orjson.loads(payload)["traits"]["email"] == "user1@example.com"


async def test_a_wrong_endpoint_path_keeps_rows_queued(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    """A 404 says the URL is wrong, not the rows: nothing is failed and no request per row is
    made to find that out."""
    sandbox, url = segment_sandbox
    files.contacts(people(*range(1, 41)))
    configure(store, f"{url}/segment")

    result = await run(store)

    assert result.status == "failed"
    assert "no such endpoint: /segment/v1/batch" in result.message
    assert (result.counts.rejected, result.queued) == (0, 40)
    assert sandbox.requests == 1
    assert set(statuses(store).values()) == {OutboxStatus.QUEUED}


async def test_widened_filter_reconsiders_held_back_contacts(
    store: Store, segment_sandbox: tuple[SegmentSandbox, str], tmp_path: Path
) -> None:
    """Contacts a filter held back are sent once the filter is widened; nothing twice."""
    sandbox, url = segment_sandbox
    path = tmp_path / "c.csv"
    path.write_text("email\na@gmail.com\nb@yahoo.com\n")
    ingest.import_contacts(store, path)
    narrow = SegmentSettings(
        write_key="test-write-key",
        endpoint=url,
        reclaim=False,
        filters=SegmentFilters(email_domains=["gmail.com"]),
    )
    with store.write() as conn:
        save_destination(conn, "seg", narrow)
    with store.read() as conn:
        destination = get_destination(conn, "seg")
    first = await run_destination(store, destination, "manual", options())
    assert (first.counts.delivered, first.counts.filtered) == (1, 1)
    with store.write() as conn:
        save_destination(conn, "seg", narrow.model_copy(update={"filters": SegmentFilters()}))
    with store.read() as conn:
        destination = get_destination(conn, "seg")
    second = await run_destination(store, destination, "manual", options())
    assert second.counts.delivered == 1
    assert sorted(m["traits"]["email"] for m in sandbox.received) == ["a@gmail.com", "b@yahoo.com"]
    assert max(sandbox.message_ids.values()) == 1
