"""Receivers that misbehave in ways a network does not: a reply dripped one byte at a time, a 2xx
that is not Segment's answer, a redirect, a key revoked part-way through a run, a reply of
100 MB or a gzip bomb. Each against the sandbox on 127.0.0.1 (issue 15, items 5 to 9).

What must hold: a run ends within its bounds and releases its lease; only Segment's documented
reply is a delivery; a redirect halts the run with rows queued; what was accepted before a halt
is booked; a reply is read up to a small cap, inflated size included.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from console.destinations.base import ConnectionTestFailed
from console.destinations.http import engine_client
from console.destinations.segment.adapter import SegmentAdapter
from console.engine.options import EngineOptions
from console.ingest import import_events
from console.sandbox import Faults, SandboxServer, SegmentSandbox
from state.db import Store

from .conftest import WRITE_KEY, received_ids
from .test_faults import options, outbox, run, seed, set_endpoint


@pytest.fixture
def segment() -> Iterator[tuple[SegmentSandbox, Faults, str]]:
    faults = Faults()
    sandbox = SegmentSandbox(write_keys={WRITE_KEY}, faults=faults)
    with SandboxServer(sandbox) as server:
        yield sandbox, faults, server.url


def statuses(store: Store) -> dict[str, int]:
    found: dict[str, int] = {}
    for row in outbox(store):
        found[str(row["status"])] = found.get(str(row["status"]), 0) + 1
    return found


# -- 5: a dripping reply -----------------------------------------------------------------------


async def test_a_dripping_reply_is_cut_by_the_whole_request_deadline(
    store: Store, tmp_path: Path, segment: tuple[SegmentSandbox, Faults, str]
) -> None:
    _sandbox, faults, url = segment
    # One byte every 0.5 s: never 1 s between two reads, so httpx's read timeout never trips;
    # `{"success":true}` would take 8 s a request.
    faults.update({"drip_seconds": 0.5})
    seed(store, tmp_path, url)
    started = time.monotonic()
    result = await run(store, options(max_wait=1.0, timeout=1.0))
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"the run took {elapsed:.1f} s"
    assert result.status != "ok"
    assert result.counts.delivered == 0 and result.queued == 120
    assert {r["feedback"] for r in outbox(store) if r["attempts"]} == {
        "no reply within the timeout (ReadTimeout)"
    }
    # The lease was released: the next run (the receiver well again) is not "busy".
    faults.update({"drip_seconds": 0.0})
    again = await run(store, options(max_wait=5.0))
    assert again.status == "ok", again.line()
    assert statuses(store) == {"delivered": 120}


# -- 6: a 2xx that is not Segment's reply ---------------------------------------------------------


@pytest.mark.parametrize(
    ("switch", "feedback"),
    [
        ("empty_every", "HTTP 200 but not the documented reply: an empty reply (HTTP 200)"),
        (
            "malformed_every",
            "HTTP 200 but not the documented reply: <html><body>502 Bad Gateway</body></html>",
        ),
    ],
)
async def test_a_2xx_other_than_success_true_is_retried_never_delivered(
    store: Store,
    tmp_path: Path,
    segment: tuple[SegmentSandbox, Faults, str],
    switch: str,
    feedback: str,
) -> None:
    _sandbox, faults, url = segment
    faults.update({switch: 1})
    seed(store, tmp_path, url)
    result = await run(store, options(max_attempts=2, max_wait=0.5))
    assert result.counts.delivered == 0
    rows = outbox(store)
    assert {r["status"] for r in rows} <= {"queued", "retrying", "failed"}
    # Each row gave up after its attempts, in Segment's words: "gave up after 2 attempts: ...".
    assert {str(r["feedback"]).partition(" attempts: ")[2] for r in rows} == {feedback}
    async with engine_client(2.0) as client:
        with pytest.raises(ConnectionTestFailed, match="not Segment's reply"):
            await SegmentAdapter(url, WRITE_KEY).test_connection(client)


# -- 7: a redirect ----------------------------------------------------------------------------


async def test_a_redirect_halts_the_run_with_every_row_kept_queued(
    store: Store, tmp_path: Path, segment: tuple[SegmentSandbox, Faults, str]
) -> None:
    _sandbox, faults, url = segment
    faults.update({"redirect_every": 1})
    seed(store, tmp_path, url)
    result = await run(store, options())
    assert result.status == "failed"
    assert "redirects (HTTP 302) to http://elsewhere.invalid/" in result.message
    assert result.counts.rejected == 0 and result.queued == 120
    assert result.counts.requests <= 2  # not 2 requests a row, as when each was split
    assert {(r["status"], r["attempts"]) for r in outbox(store)} == {("queued", 0)}
    async with engine_client(2.0) as client:
        with pytest.raises(ConnectionTestFailed, match="redirects"):
            await SegmentAdapter(url, WRITE_KEY).test_connection(client)


# -- 8: a key revoked part-way through a run ----------------------------------------------------


async def test_batches_accepted_before_a_401_are_booked_delivered(
    store: Store, tmp_path: Path, segment: tuple[SegmentSandbox, Faults, str]
) -> None:
    sandbox, faults, url = segment
    # 1,500 events of about 1 KB: one claimed batch, three requests under Segment's 500 KB.
    path = tmp_path / "big.jsonl"
    padding = "x" * 1000
    lines = [
        {
            "type": "track",
            "event": "Viewed",
            "messageId": f"big-{n}",
            "anonymousId": f"anon-{n}",
            "properties": {"padding": padding},
            "timestamp": "2024-04-16T16:54:00.000Z",
        }
        for n in range(1500)
    ]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    assert import_events(store, path).inserted == 1500
    set_endpoint(store, url)
    faults.update({"refuse_after": 1})  # the first request is accepted, then 401
    result = await run(store, EngineOptions(batch_rows=2500, timeout_seconds=5.0))
    assert result.status == "failed" and "refused the write key" in result.message
    counted = received_ids(sandbox)
    received = set(counted)
    assert received and set(counted.values()) == {1}
    delivered = {r["message_id"] for r in outbox(store) if r["status"] == "delivered"}
    assert delivered == received
    queued = [r for r in outbox(store) if r["status"] == "queued"]
    assert len(queued) == 1500 - len(received)
    assert {r["attempts"] for r in queued} == {0}


# -- 9: a huge reply, a gzip bomb --------------------------------------------------------------

_MEMORY_PROBE = textwrap.dedent(
    """
    import asyncio, resource, sys, time
    from console.destinations.base import OutgoingRow
    from console.destinations.http import engine_client
    from console.destinations.segment.adapter import SegmentAdapter
    from console.sandbox import Faults, SandboxServer, SegmentSandbox
    from console.sandbox.faults import gzip_bomb

    switch, size = sys.argv[1], int(sys.argv[2])
    gzip_bomb(size)  # built before measuring: the sandbox's cost, not the client's
    faults = Faults.from_dict({switch: 1, "huge_reply_bytes": size})
    row = OutgoingRow(1, "track", "m-1", None,
        b'{"type":"track","event":"e","messageId":"m-1","anonymousId":"a"}')

    async def main() -> None:
        with SandboxServer(SegmentSandbox(write_keys={"k"}, faults=faults)) as server:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.monotonic()
            async with engine_client(10.0) as client:
                result = await SegmentAdapter(server.url, "k").send(client, [row])
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
            [outcome] = result.outcomes
            print(outcome.outcome.value, outcome.feedback, grown // 1024,
                  round(time.monotonic() - started, 2), sep="|")

    asyncio.run(main())
    """
)


@pytest.mark.parametrize(
    ("switch", "size"),
    [("huge_every", 100 * 1024 * 1024), ("bomb_every", 60 * 1024 * 1024)],
    ids=["100 MB body", "gzip bomb of 60 MB in 60 KB"],
)
def test_a_reply_is_read_up_to_64_kb_inflated_size_included(switch: str, size: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, switch, str(size)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    outcome, feedback, grown_mb, seconds = done.stdout.strip().split("|")
    assert (outcome, feedback) == ("retry", "reply over 64 KB")
    assert int(grown_mb) < 20, f"RSS grew by {grown_mb} MB"
    assert float(seconds) < 5
