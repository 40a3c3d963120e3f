"""The demo environment: a fresh store, two destinations on live sandboxes, a few rejected
emails, and the `demo` command registered on the CLI."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from textual.widgets import DataTable

from console.cli import main
from console.core.vocab import Trigger
from console.demo import (
    AUDIENCE_NAME,
    DEMO_AUTHOR,
    RESCI_NAME,
    SEGMENT_NAME,
    DemoOptions,
    build_demo,
    create_demo,
    fill_demo,
)
from console.engine.destinations import list_destinations
from console.engine.options import EngineOptions
from console.engine.runner import run_all
from console.sandbox.receivers import discovered_receivers
from console.ui.app import make_app
from console.ui.screens.destinations import DestinationsScreen
from state.destination_dates import destination_dates
from state.failures import FailureFilter, failure_count
from state.history import runs_page
from state.models import Audience, Contact, Event
from tests.ui.pilot import painted, settle


def test_demo_builds_a_store_that_delivers_and_fails_a_few(tmp_path: Path) -> None:
    env = build_demo(tmp_path / "demo.db", DemoOptions(contacts=120, events=300, history_days=1))
    try:
        with env.store.read() as conn:
            names = [d.name for d in list_destinations(conn)]
            authors = {
                d.name: dates.changed_by
                for d in list_destinations(conn)
                if (dates := destination_dates(conn, d.id)) is not None
            }
            contacts = conn.execute(select(func.count()).select_from(Contact.__table__)).scalar()
            events = conn.execute(select(func.count()).select_from(Event.__table__)).scalar()
            audiences = list(conn.execute(select(Audience.__table__.c.name)).scalars())
        others = [f"{spec.kind}-demo" for spec in discovered_receivers()]
        assert names == [RESCI_NAME, SEGMENT_NAME, *others]
        # The panel says who set them up: the demo, not "unknown".
        assert authors == dict.fromkeys(names, DEMO_AUTHOR)
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


async def test_the_console_is_on_screen_before_the_demo_data_lands(tmp_path: Path) -> None:
    """The demo command's shape: the store and destinations first, the console mounted and
    saying it is building, the data landing from a thread, the engine started after it."""
    env = create_demo(tmp_path / "demo.db", DemoOptions(contacts=120, events=300, history_days=2))
    gate = threading.Event()

    def fill(progress: Callable[[str], None]) -> None:
        assert gate.wait(30)
        fill_demo(env, progress)

    app = make_app(env.store, store_label="demo.db", startup=("building demo data…", fill))
    try:
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, DestinationsScreen)
            assert "⧗ building demo data…" in painted(app)
            assert app.engine.state == "stopped"
            with env.store.read() as conn:
                assert runs_page(conn) == []
                assert not conn.execute(
                    select(func.count()).select_from(Contact.__table__)
                ).scalar()
            app.screen.query_one("#destinations", DataTable).move_cursor(row=1)
            await pilot.press("r")  # run now waits for the data: it would race the build
            await pilot.pause()
            assert any("still building demo data" in n.message for n in app._notifications)
            gate.set()
            await app.workers.wait_for_complete()
            await settle(pilot)
            assert app.preparing is None and app.engine.state == "running"
            assert "building demo data" not in painted(app)
            with env.store.read() as conn:
                runs = runs_page(conn)
                contacts = conn.execute(select(func.count()).select_from(Contact.__table__))
                assert contacts.scalar() == 120
            assert {run.trigger for run in runs} == {"schedule"} and len(runs) >= 2 * 2
    finally:
        env.close()
