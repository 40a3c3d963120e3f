"""A `--run-once` process killed with SIGKILL in the middle of delivering 20,000 events loses
nothing: a second run delivers the rest, and the only repeats Segment sees are messageIds it
already has (which it de-duplicates). The receiver is a Segment sandbox in this test process,
slowed down so the kill lands mid-delivery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
from sqlalchemy import func, select

from console import ingest
from console.core.vocab import OutboxStatus
from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import save_destination
from console.sandbox import SegmentSandbox
from state.db import Store
from state.history import runs_page
from state.models import OutboxRow

OUTBOX = OutboxRow.__table__
WRITE_KEY = "test-write-key"  # what the shared `segment_sandbox` fixture accepts
EVENTS = 20_000
IN_FLIGHT_ROWS = 2 * 2_500  # EngineOptions: two batches of up to 2,500 rows on the wire


def run_once(db: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "RETENTION_CONSOLE_DB"}
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--run-once", "--db", str(db), "--max-wait", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def outbox_counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return dict(
            conn.execute(select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status)).all()
        )


def test_sigkill_mid_delivery_loses_nothing(
    store: Store, tmp_path: Path, segment_sandbox: tuple[SegmentSandbox, str]
) -> None:
    sandbox, url = segment_sandbox
    sandbox.keep_messages = False
    expected = {f"api-crash-{n:05d}" for n in range(EVENTS)}
    events = tmp_path / "events.jsonl"
    with events.open("wb") as handle:
        for n, message_id in enumerate(sorted(expected)):
            handle.write(
                orjson.dumps(
                    {
                        "type": "track",
                        "event": "Viewed Product Reclaim",
                        "messageId": message_id,
                        "email": f"user{n}@example.com",
                        "timestamp": "2024-04-16T16:54:23.497Z",
                        "properties": {"EventSource": "Reclaim", "Price": "47", "n": n},
                    }
                )
                + b"\n"
            )
    assert ingest.import_events(store, events).inserted == EVENTS
    with store.write() as conn:
        save_destination(conn, "seg", SegmentSettings(write_key=WRITE_KEY, endpoint=url))
    assert store.path is not None
    # Each reply is held back after the batch was recorded: the kill lands between Segment
    # accepting a batch and the console recording it, the case that makes duplicates.
    sandbox.faults.update({"delay_seconds": 0.1})

    first = run_once(store.path)
    deadline = time.monotonic() + 20
    while sandbox.message_count < EVENTS // 4:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first run delivered nothing in 20 s"
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL
    first.communicate()

    arrived = sandbox.message_count
    at_kill = outbox_counts(store)
    assert arrived < EVENTS, "the first run finished before it was killed"
    assert at_kill.get("queued", 0) > 0
    assert sum(at_kill.values()) == EVENTS  # the plan step had queued every event
    delivered_before = at_kill.get(OutboxStatus.DELIVERED, 0)
    assert delivered_before <= arrived

    sandbox.faults.update({"delay_seconds": 0})
    second = run_once(store.path)
    out, err = second.communicate(timeout=60)

    assert second.returncode == 0, out.decode() + err.decode()
    line = out.decode().strip()
    assert line.startswith(
        f"seg: ok - {EVENTS - delivered_before:,} delivered, 0 rejected, 0 queued"
    )
    # Every event arrived, nothing outside the set did, and each repeat is an id already seen.
    assert set(sandbox.message_ids) == expected
    repeats = sandbox.message_count - len(sandbox.message_ids)
    assert repeats == sum(count - 1 for count in sandbox.message_ids.values())
    # The kill left accepted but unrecorded batches: they were sent again, and only they.
    assert 0 < repeats <= IN_FLIGHT_ROWS
    assert outbox_counts(store) == {OutboxStatus.DELIVERED: EVENTS}
    with store.read() as conn:
        runs = runs_page(conn, "seg")
    assert [(r.trigger, r.status) for r in runs] == [
        ("run-once", "ok"),
        ("run-once", "interrupted"),
    ]
    assert runs[0].delivered == EVENTS - delivered_before
