"""Crash safety of a Segment delivery: a `--run-once` killed with SIGKILL at 20 seeded-random
moments of a 50,000-event delivery (3 while it plans, 17 while it delivers), then run to
completion.

What must hold: every event reaches the sandbox; every copy the sandbox saw more than once
carries a messageId it had already seen, with the same content (none lost, none re-sent under
a new id); the store ends with each event delivered exactly once in its books, no run left
`running`, and the daily counters agree with the outbox.

The sandbox answers every request after `SANDBOX_DELAY` seconds, after recording it, so a kill
often lands between "the receiver has it" and "the store knows it": the window that forces a
re-send.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from console.sandbox import Faults, SandboxServer, SegmentSandbox

from .conftest import (
    WRITE_KEY,
    Figures,
    check_delivery,
    copies_differ,
    run_cli,
    seed_segment_store,
    sqlite_rows,
    sqlite_scalar,
    start_cli,
    wait_until,
)

EVENTS = 50_000
KILLS = 20
PLAN_KILLS = 3
SEED = 20_240_416
SANDBOX_DELAY = 0.1
PLAN_CHUNK = 5_000  # console.engine.planning.CHUNK: rows queued per plan transaction
# Delivery kills fall below this many received ids, so a killed run can never have finished.
DELIVERY_SPAN = 45_000


@dataclass
class Kill:
    """One kill: what the store and the sandbox held right after it."""

    number: int
    phase: str
    planned: int
    received: int


def _outbox_count(db: Path) -> int:
    try:
        return int(sqlite_scalar(db, "SELECT count(*) FROM outbox"))
    except sqlite3.OperationalError:
        return 0


def _plan_thresholds(rng: random.Random) -> list[int]:
    """Outbox counts at which to kill a planning run: one in each third of the plan, two chunks
    apart, so each kill lands inside a later chunk's transaction than the one before."""
    chunks = [rng.choice((1, 2)), rng.choice((4, 5)), rng.choice((7, 8))]
    return [c * PLAN_CHUNK for c in chunks]


def _delivery_targets(rng: random.Random, count: int) -> list[int]:
    """Received-id counts at which to kill a delivering run: one per equal stratum of the
    first DELIVERY_SPAN ids, so kills spread over the whole delivery."""
    width = DELIVERY_SPAN / count
    return [int(i * width + rng.uniform(0, width)) for i in range(count)]


def test_sigkill_twenty_times_then_complete(tmp_path: Path, figures: Figures) -> None:
    rng = random.Random(SEED)
    plan_thresholds = _plan_thresholds(rng)
    delivery_targets = _delivery_targets(rng, KILLS - PLAN_KILLS)
    jitters = [rng.uniform(0, 0.08) for _ in range(PLAN_KILLS)] + [
        rng.uniform(0, 1.5 * SANDBOX_DELAY) for _ in range(KILLS - PLAN_KILLS)
    ]
    sandbox = SegmentSandbox(write_keys={WRITE_KEY}, faults=Faults(delay_seconds=SANDBOX_DELAY))
    db = tmp_path / "console.db"
    kills: list[Kill] = []
    with SandboxServer(sandbox) as server:
        expected = seed_segment_store(db, server.url, EVENTS)
        for number in range(KILLS):
            proc = start_cli("--db", str(db), "--run-once", out=tmp_path / f"run{number}")
            try:
                if number < PLAN_KILLS:
                    threshold = plan_thresholds[number]
                    reached = wait_until(
                        lambda t=threshold, p=proc: _outbox_count(db) >= t or p.poll() is not None,
                        timeout=60,
                    )
                else:
                    target = delivery_targets[number - PLAN_KILLS]
                    reached = wait_until(
                        lambda t=target, p=proc: (
                            len(sandbox.message_ids) >= t or p.poll() is not None
                        ),
                        timeout=60,
                    )
                assert reached, f"kill {number}: the run made no progress within 60 s"
                time.sleep(jitters[number])
                assert proc.poll() is None, (
                    f"kill {number}: the run ended (exit {proc.returncode}) before the kill"
                )
                proc.send_signal(signal.SIGKILL)
            finally:
                if proc.poll() is None:
                    proc.kill()
                # Reap it: an unreaped child still answers kill(pid, 0) as if alive.
                proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            planned = _outbox_count(db)
            kills.append(
                Kill(
                    number,
                    "plan" if planned < EVENTS else "deliver",
                    planned,
                    len(sandbox.message_ids),
                )
            )

        final = run_cli("--db", str(db), "--run-once")
        assert final.returncode == 0, final.stdout + final.stderr
        assert "seg: ok" in final.stdout

        lost, foreign = check_delivery(sandbox, expected, figures)
        assert not lost, f"{len(lost)} events never reached the sandbox"
        assert not foreign, f"{len(foreign)} messages re-sent under ids no event carries"
        assert copies_differ(sandbox) == [], "a re-send differs from the first copy"
        with sandbox.lock:
            duplicates = sandbox.message_count - len(sandbox.message_ids)

    in_plan = [k for k in kills if k.phase == "plan"]
    assert len(kills) == KILLS
    assert len(in_plan) >= 2, f"kills during the plan step: {in_plan}"
    # The delay window makes re-sends near certain; none would mean the kills missed it.
    assert duplicates > 0, "no kill landed between the receiver's record and the store's"

    # The store's books: each event queued once and delivered once.
    rows = sqlite_rows(db, "SELECT status, count(*), count(DISTINCT message_id) FROM outbox")
    assert rows == [("delivered", EVENTS, EVENTS)]
    assert sqlite_scalar(db, "SELECT sum(completions) FROM daily_stats") == EVENTS
    assert sqlite_scalar(db, "SELECT lease_owner FROM destinations") is None
    # History: every run a kill cut short shows as interrupted (a kill during start-up may come
    # before the run row exists); none is left `running`; the last one finished ok.
    runs = dict(sqlite_rows(db, "SELECT status, count(*) FROM sync_runs GROUP BY status"))
    assert runs.keys() == {"interrupted", "ok"}, runs
    assert runs["ok"] == 1
    assert PLAN_KILLS <= runs["interrupted"] <= KILLS
    cursor = sqlite_scalar(db, "SELECT position FROM cursors WHERE stream = 'events'")
    assert cursor == EVENTS

    print("kills:", *kills, sep="\n  ")
    figures.kills += len(kills)
    figures.kills_during_plan += len(in_plan)
