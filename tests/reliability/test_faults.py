"""Receiver faults: 30% 5xx, 429 with Retry-After, connections reset mid-reply, replies slower
than the client's timeout, malformed JSON replies, a closed port and an https:// endpoint on a
plain-HTTP (TLS-less) server.

What must hold: everything is delivered once the receiver recovers, and nothing twice under a
new id; attempts and backoff are bounded and visible in Failures and History; a destination
that keeps failing is marked unhealthy and left alone by the scheduler instead of spinning.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from sqlalchemy import select

from console.cli import main
from console.core import clock
from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import get_destination, save_destination
from console.engine.options import EngineOptions
from console.engine.retries import RetryPolicy
from console.engine.runner import RunResult, run_destination
from console.engine.service import EngineService
from console.ingest import import_events
from console.sandbox import Faults, SandboxServer, SegmentSandbox
from console.sandbox.faults import FaultDecision, FaultKind
from state.db import Store
from state.failures import FailureFilter, failure_count, failures_page
from state.history import runs_page
from state.models import Destination, OutboxRow

from .conftest import WRITE_KEY, Figures, check_delivery, copies_differ, write_events

EVENTS = 120
BATCH_ROWS = 10  # 12 batches: enough requests for every-Nth faults to hit many of them
OUTBOX = OutboxRow.__table__
DESTINATION = Destination.__table__


@dataclass
class CountingFaults(Faults):
    """The sandbox's Faults, counting what it injects."""

    injected: Counter[str] = field(default_factory=Counter)

    def decide(self, request_number: int) -> FaultDecision:
        decision = super().decide(request_number)
        if decision.kind is not FaultKind.NONE:
            self.injected[decision.kind.value] += 1
        elif decision.delay_seconds:
            self.injected["slow"] += 1
        return decision


def options(max_attempts: int = 12, max_wait: float = 15.0, timeout: float = 2.0) -> EngineOptions:
    return EngineOptions(
        policy=RetryPolicy(base_seconds=0.01, cap_seconds=0.05, max_attempts=max_attempts),
        batch_rows=BATCH_ROWS,
        in_flight=2,
        max_wait_seconds=max_wait,
        timeout_seconds=timeout,
    )


def seed(store: Store, tmp_path: Path, endpoint: str) -> set[str]:
    ids = write_events(tmp_path / "events.jsonl", EVENTS)
    assert import_events(store, tmp_path / "events.jsonl").inserted == EVENTS
    set_endpoint(store, endpoint)
    return ids


def set_endpoint(store: Store, endpoint: str) -> None:
    settings = SegmentSettings(write_key=SecretStr(WRITE_KEY), endpoint=endpoint, grow=False)
    with store.write() as conn:
        save_destination(conn, "seg", settings)


async def run(store: Store, opts: EngineOptions) -> RunResult:
    with store.read() as conn:
        destination = get_destination(conn, "seg")
    assert destination is not None
    return await run_destination(store, destination, "manual", opts)


def outbox(store: Store) -> list[dict[str, object]]:
    with store.read() as conn:
        return [dict(r) for r in conn.execute(select(OUTBOX)).mappings()]


def health(store: Store) -> tuple[bool, str | None]:
    with store.read() as conn:
        destination = get_destination(conn, "seg")
    assert destination is not None
    return destination.healthy, destination.health_note


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served() -> Iterator[tuple[SegmentSandbox, CountingFaults, str]]:
    faults = CountingFaults()
    sandbox = SegmentSandbox(write_keys={WRITE_KEY}, faults=faults)
    with SandboxServer(sandbox) as server:
        yield sandbox, faults, server.url


def cli(store: Store, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--db", str(store.path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


# -- intermittent faults: one run delivers everything ------------------------------------------

INTERMITTENT = {
    "5xx 30%": {"error_rate": 0.3, "seed": 7},
    "429 every 3rd": {"rate_limit_every": 3, "retry_after_seconds": 0.05},
    "reset mid-reply every 3rd": {"reset_every": 3},
    "malformed JSON every 2nd": {"malformed_every": 2},
    "all at once": {
        "error_rate": 0.3,
        "seed": 11,
        "rate_limit_every": 5,
        "retry_after_seconds": 0.05,
        "reset_every": 4,
        "malformed_every": 3,
    },
}


@pytest.mark.parametrize("switches", INTERMITTENT.values(), ids=INTERMITTENT.keys())
async def test_intermittent_faults_deliver_everything(
    store: Store,
    tmp_path: Path,
    served: tuple[SegmentSandbox, CountingFaults, str],
    switches: dict[str, float | int],
    figures: Figures,
) -> None:
    sandbox, faults, url = served
    faults.update(switches)
    expected = seed(store, tmp_path, url)

    # A faulted 200 is retried now, not booked: all faults at once need more attempts.
    result = await run(store, options(max_attempts=20))

    assert result.status == "ok", result.line()
    lost, foreign = check_delivery(sandbox, expected, figures)
    assert not lost and not foreign
    assert copies_differ(sandbox) == []
    assert sum(faults.injected.values()) > 0, "the faults never fired"
    rows = outbox(store)
    assert {r["status"] for r in rows} == {"delivered"}
    # Attempts are visible per row, and bounded by the policy. A 200 whose body is not
    # Segment's `{"success": true}` is not a delivery: those rows are sent again (same id).
    most = max(int(r["attempts"]) for r in rows)  # type: ignore[call-overload]
    assert most <= 20
    assert most > 1
    # History counts every request the receiver saw, faulted ones included.
    with store.read() as conn:
        (history,) = runs_page(conn, "seg")
    assert history.status == "ok"
    assert history.delivered == EVENTS
    assert history.requests == sandbox.requests
    figures.faults_injected += sum(faults.injected.values())


# -- persistent faults: bounded attempts, visible failures, then recovery ----------------------


async def _fail_then_recover(
    store: Store,
    sandbox: SegmentSandbox,
    faults: CountingFaults,
    expected: set[str],
    feedback: str,
    figures: Figures,
) -> None:
    """Run against a receiver that fails every request: each row is tried exactly 3 times
    and recorded as a failure with the receiver's words; then the receiver recovers, the
    operator retries, and everything is delivered."""
    started = time.monotonic()
    result = await run(store, options(max_attempts=3, timeout=0.2))
    assert time.monotonic() - started < 15
    assert result.status == "partial"
    assert result.counts.rejected == EVENTS and result.queued == 0
    batches = EVENTS // BATCH_ROWS
    assert result.counts.requests == 3 * batches  # bounded: 3 attempts of each batch
    rows = outbox(store)
    assert {(r["status"], r["attempts"]) for r in rows} == {("failed", 3)}
    assert all(str(r["feedback"]).startswith("gave up after 3 attempts") for r in rows)
    assert all(feedback in str(r["feedback"]) for r in rows)

    # Visible to the operator: Failures and History, in the console's queries and the CLI.
    with store.read() as conn:
        assert failure_count(conn, FailureFilter(destination="seg")) == EVENTS
        page = failures_page(conn, FailureFilter(destination="seg"), limit=5)
        (history,) = runs_page(conn, "seg")
    assert all(f.attempts == 3 and feedback in (f.feedback or "") for f in page)
    assert history.status == "partial" and history.rejected == EVENTS
    assert history.requests == 3 * batches
    listed = orjson.loads(cli(store, "failures", "--json", "--limit", "1000"))
    assert len(listed) == EVENTS
    assert {item["attempts"] for item in listed} == {3}
    assert "failed" in cli(store, "history")

    figures.faults_injected += sum(faults.injected.values())
    faults.update(Faults().to_dict())  # the receiver recovers
    assert "120 failures queued again" in cli(store, "retry", "--destination", "seg")
    result = await run(store, options())
    assert result.status == "ok", result.line()
    assert result.counts.delivered == EVENTS
    lost, foreign = check_delivery(sandbox, expected, figures)
    assert not lost and not foreign
    assert copies_differ(sandbox) == []


async def test_every_request_5xx_then_recovery(
    store: Store,
    tmp_path: Path,
    served: tuple[SegmentSandbox, CountingFaults, str],
    figures: Figures,
) -> None:
    sandbox, faults, url = served
    faults.update({"error_rate": 1.0})
    expected = seed(store, tmp_path, url)
    await _fail_then_recover(store, sandbox, faults, expected, "sandbox fault", figures)
    # A 5xx is answered before anything is recorded: each event arrived exactly once.
    assert set(sandbox.message_ids.values()) == {1}


async def test_engine_timeout_reaches_the_adapter(
    store: Store,
    tmp_path: Path,
    served: tuple[SegmentSandbox, CountingFaults, str],
) -> None:
    _sandbox, faults, url = served
    faults.update({"delay_seconds": 0.6})
    seed(store, tmp_path, url)
    started = time.monotonic()
    result = await run(store, options(max_attempts=1, max_wait=0, timeout=0.2))
    assert result.counts.rejected == EVENTS, result.line()
    assert time.monotonic() - started < 0.6 * EVENTS / BATCH_ROWS / 2


async def test_replies_slower_than_timeout_then_recovery(
    store: Store,
    tmp_path: Path,
    served: tuple[SegmentSandbox, CountingFaults, str],
    figures: Figures,
) -> None:
    sandbox, faults, url = served
    faults.update({"delay_seconds": 0.6})  # the client gives up after 0.2 s
    expected = seed(store, tmp_path, url)
    await _fail_then_recover(
        store, sandbox, faults, expected, "no reply within the timeout", figures
    )
    # The receiver recorded each timed-out attempt: re-sends carry the same id.
    assert max(sandbox.message_ids.values()) >= 2


async def test_retry_after_is_honoured_and_capped(
    store: Store,
    tmp_path: Path,
    served: tuple[SegmentSandbox, CountingFaults, str],
    figures: Figures,
) -> None:
    sandbox, faults, url = served
    faults.update({"rate_limit_every": 1, "retry_after_seconds": 1.5})
    expected = seed(store, tmp_path, url)

    before = clock.now()
    result = await run(store, options(max_wait=0))
    assert result.status == "partial" and result.queued == EVENTS
    # The first 429 holds the destination: only the batches already on the wire (in_flight=2)
    # were sent; the other rows kept every attempt.
    assert sandbox.requests == 2
    assert "asked to wait 1.5 s (HTTP 429, Retry-After)" in " ".join(result.counts.notes)
    rows = outbox(store)
    refused = [r for r in rows if r["attempts"]]
    assert {(r["status"], r["attempts"], r["http_status"]) for r in refused} == {("queued", 1, 429)}
    assert len(refused) == 2 * BATCH_ROWS
    assert {(r["status"], r["attempts"]) for r in rows if not r["attempts"]} == {("queued", 0)}
    waits = [(clock.parse_iso(str(r["next_attempt_at"])) - before).total_seconds() for r in refused]
    # Retry-After, not the policy's 0.01 s backoff, sets when a row is tried again.
    assert min(waits) >= 1.4 and max(waits) < 5

    # The receiver asks for a week: the wait is capped at an hour, and the run does not sit.
    faults.retry_after_seconds = 7 * 86400.0  # past what the control endpoint allows
    with store.write() as conn:
        conn.execute(OUTBOX.update().values(next_attempt_at=clock.now_iso()))
    started = time.monotonic()
    result = await run(store, options(max_wait=5))
    assert time.monotonic() - started < 5
    refused = [r for r in outbox(store) if r["attempts"] == 2]
    assert len(refused) == 2 * BATCH_ROWS
    waits = [(clock.parse_iso(str(r["next_attempt_at"])) - before).total_seconds() for r in refused]
    assert min(waits) > 3500 and max(waits) <= 3600 + 60

    # Recovery: the rows wait their turn, then go.
    faults.update({"rate_limit_every": 0, "retry_after_seconds": 0.5})
    with store.write() as conn:
        conn.execute(OUTBOX.update().values(next_attempt_at=clock.now_iso()))
    faults.update({"rate_limit_every": 1})
    await run(store, options(max_wait=0))  # one 429 with Retry-After 0.5 s
    faults.update({"rate_limit_every": 0})
    started = time.monotonic()
    result = await run(store, options(max_wait=5))
    assert time.monotonic() - started >= 0.3  # it waited for Retry-After before re-sending
    assert result.status == "ok" and result.counts.delivered == EVENTS
    lost, foreign = check_delivery(sandbox, expected, figures)
    assert not lost and not foreign
    figures.faults_injected += sum(faults.injected.values())


async def test_retry_after_holds_every_batch_then_the_run_goes_on(
    store: Store,
    tmp_path: Path,
    served: tuple[SegmentSandbox, CountingFaults, str],
    figures: Figures,
) -> None:
    """A 429 within the run's patience: nothing leaves during the Retry-After, then the same
    run delivers everything, each refused row after one refused attempt only."""
    sandbox, faults, url = served
    faults.update({"rate_limit_every": 1, "retry_after_seconds": 1.0})
    expected = seed(store, tmp_path, url)
    requests_during_hold: list[int] = []

    async def receiver_recovers() -> None:
        while sandbox.requests < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        faults.update({"rate_limit_every": 0})
        requests_during_hold.append(sandbox.requests)
        await asyncio.sleep(0.6)  # still inside the 1 s Retry-After
        requests_during_hold.append(sandbox.requests)

    started = time.monotonic()
    result, _ = await asyncio.gather(run(store, options(max_wait=10)), receiver_recovers())
    assert time.monotonic() - started >= 0.95
    assert requests_during_hold == [2, 2]
    assert result.status == "ok" and result.counts.delivered == EVENTS
    assert sandbox.requests == 2 + EVENTS // BATCH_ROWS
    assert max(int(str(r["attempts"])) for r in outbox(store)) == 2
    lost, foreign = check_delivery(sandbox, expected, figures)
    assert not lost and not foreign
    figures.faults_injected += sum(faults.injected.values())


# -- a receiver that keeps failing: unhealthy, not spinning ------------------------------------

UNREACHABLE = {
    "refused (closed port)": lambda port, _url: f"http://127.0.0.1:{port}",
    "https to a TLS-less server": lambda _port, url: url.replace("http://", "https://"),
}


@pytest.mark.parametrize("endpoint", UNREACHABLE.values(), ids=UNREACHABLE.keys())
async def test_unreachable_marks_unhealthy_then_recovers(
    store: Store,
    tmp_path: Path,
    served: tuple[SegmentSandbox, CountingFaults, str],
    endpoint,  # type: ignore[no-untyped-def]
    figures: Figures,
) -> None:
    sandbox, _faults, url = served
    expected = seed(store, tmp_path, endpoint(closed_port(), url))
    attempts = 0
    for number in range(1, 4):
        started = time.monotonic()
        result = await run(store, options(max_wait=0))
        assert time.monotonic() - started < 10  # a dead receiver never hangs a run
        assert result.status == "partial" and result.queued == EVENTS
        assert result.counts.delivered == 0
        attempts += result.counts.requests
        healthy, note = health(store)
        assert healthy is (number < 3)
        await asyncio.sleep(0.06)  # past the backoff, so the next run tries again
    assert note is not None and "3 runs in a row failed" in note
    rows = outbox(store)
    assert {(r["status"], r["attempts"]) for r in rows} == {("queued", 3)}
    feedback = {str(r["feedback"]) for r in rows}
    assert all(f.startswith(("could not connect", "connection failed")) for f in feedback)
    assert sandbox.requests == 0

    # The scheduler leaves an unhealthy destination alone instead of spinning on it.
    service = EngineService(store, options(max_wait=0))
    await service._scheduled_run("seg")
    with store.read() as conn:
        assert len(runs_page(conn, "seg")) == 3

    # Recovery: the operator points it at a working receiver and switches it back on.
    set_endpoint(store, url)
    service.set_paused("seg", False)
    assert health(store) == (True, None)
    result = await service.run_now("seg")
    assert result.status == "ok" and result.counts.delivered == EVENTS
    lost, foreign = check_delivery(sandbox, expected, figures)
    assert not lost and not foreign
    figures.faults_injected += attempts


async def test_refused_key_halts_and_marks_unhealthy(
    store: Store,
    tmp_path: Path,
    served: tuple[SegmentSandbox, CountingFaults, str],
) -> None:
    sandbox, _faults, url = served
    seed(store, tmp_path, url)
    sandbox.write_keys = {"another-key"}
    for _ in range(3):
        result = await run(store, options(max_wait=0))
        assert result.status == "failed" and "refused the write key" in result.message
        assert result.queued == EVENTS  # nothing failed for a wrong key: it all waits
    assert health(store)[0] is False
    # At most one refused request per batch in flight, then the run stops.
    assert sandbox.requests <= 3 * options().in_flight


async def test_a_run_that_sends_nothing_keeps_the_failure_streak(
    store: Store, tmp_path: Path
) -> None:
    """Rows still waiting for their retry time make a run that sends nothing: it says nothing
    about the receiver, so it must not wipe the streak that leads to "unhealthy"."""
    seed(store, tmp_path, f"http://127.0.0.1:{closed_port()}")
    slow_retry = EngineOptions(
        policy=RetryPolicy(base_seconds=60, cap_seconds=60, max_attempts=8),
        batch_rows=BATCH_ROWS,
        max_wait_seconds=0,
    )

    def streak() -> int:
        with store.read() as conn:
            return int(
                conn.execute(
                    select(DESTINATION.c.consecutive_failures).where(DESTINATION.c.name == "seg")
                ).scalar_one()
            )

    for expected in (1, 2):
        assert (await run(store, slow_retry)).counts.requests > 0
        assert streak() == expected
        idle = await run(store, slow_retry)  # every row waits a minute: nothing is sent
        assert idle.counts.requests == 0 and idle.queued == EVENTS
        assert streak() == expected
        with store.write() as conn:
            conn.execute(OUTBOX.update().values(next_attempt_at=clock.now_iso()))
    await run(store, slow_retry)
    assert health(store)[0] is False
