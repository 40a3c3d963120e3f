"""The demo environment: a fresh store, two destinations on live sandboxes, a few rejected
emails, and the `demo` command registered on the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from console.cli import main
from console.core.vocab import Trigger
from console.demo import AUDIENCE_NAME, RESCI_NAME, SEGMENT_NAME, build_demo
from console.engine.destinations import list_destinations
from console.engine.runner import EngineOptions, run_all
from console.sandbox.receivers import discovered_receivers
from state.models import Audience, Contact, Event
from state.queries import FailureFilter, failure_count


def test_demo_builds_a_store_that_delivers_and_fails_a_few(tmp_path: Path) -> None:
    env = build_demo(tmp_path / "demo.db", contacts=120, events=300, history_days=1)
    try:
        with env.store.read() as conn:
            names = [d.name for d in list_destinations(conn)]
            contacts = conn.execute(select(func.count()).select_from(Contact.__table__)).scalar()
            events = conn.execute(select(func.count()).select_from(Event.__table__)).scalar()
            audiences = list(conn.execute(select(Audience.__table__.c.name)).scalars())
        others = [f"{spec.kind}-demo" for spec in discovered_receivers()]
        assert names == [RESCI_NAME, SEGMENT_NAME, *others]
        assert (contacts, events, audiences) == (120, 300, [AUDIENCE_NAME])
        asyncio.run(run_all(env.store, Trigger.MANUAL, EngineOptions(max_wait_seconds=0)))
        with env.store.read() as conn:
            failed = failure_count(conn, FailureFilter(destination=SEGMENT_NAME))
        assert failed > 0
        assert env.segment_sandbox.stats()["messages"] > 300
        # Every other kind's receiver was fed through the same engine, and refused nothing.
        for server in env.others:
            stats = server.app.stats()
            assert stats["messages"] > 0 and stats.get("refused_signatures", 0) == 0
    finally:
        env.close()


def test_demo_refuses_an_existing_store(tmp_path: Path) -> None:
    existing = tmp_path / "mine.db"
    existing.write_bytes(b"")
    with pytest.raises(FileExistsError):
        build_demo(existing)


def test_demo_command_is_registered() -> None:
    assert "demo" in main.commands  # type: ignore[attr-defined]
