"""Pilot tests of Failures and the engine behind the console: retries through the engine,
runs started from the console, what the screens say afterwards."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from textual.widgets import DataTable, Input, Static

from console.sandbox import SegmentSandbox
from console.ui.screens import failures as failures_screen
from console.ui.screens.failures import FailuresScreen
from console.ui.screens.history import HistoryScreen
from state.db import Store
from state.history import runs_page
from state.models import OutboxRow
from tests.ui.conftest import (
    RESCI,
    SEGMENT,
    SEGMENT_KEY,
    AppFactory,
)
from tests.ui.pilot import SIZE, painted, press, select_row, settle, table_column

# -- failures -----------------------------------------------------------------------------------


async def test_filter_with_slash(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f")
        assert len(table_column(app, "#failures", "email")) == 60
        await press(pilot, "slash")
        await pilot.press(*"yahoo")
        await pilot.pause(0.4)
        await press(pilot, "enter")
        emails = table_column(app, "#failures", "email")
        assert emails and all(e.endswith("@yahoo.com") for e in emails)
        assert "filter “yahoo”" in str(app.screen.query_one("#title", Static).render())
        # Feedback text matches too.
        await press(pilot, "slash")
        app.screen.query_one("#filter-input", Input).value = "invalid email"
        await press(pilot, "enter")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert {r.destination for r in screen.rows} == {RESCI}
        # Escape clears the filter first, and only then goes back.
        await press(pilot, "escape")
        assert len(table_column(app, "#failures", "email")) == 60
        assert isinstance(app.screen, FailuresScreen)


async def test_enter_shows_the_payload_without_secrets(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "c")
        await press(pilot, "down", "down", "enter")  # segment-prod
        await press(pilot, "enter")
        payload = str(app.screen.query_one("#failure-payload", Static).render())
        assert '"type": "identify"' in payload or '"type": "track"' in payload
        assert SEGMENT_KEY not in painted(app)


async def test_retry_goes_through_the_engine_and_updates_the_row(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, sandbox = sandbox_store
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "c", "down", "down", "enter")  # segment-prod only
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        first = screen.rows[0]
        assert table_column(app, "#failures", "status")[0] == "failed"
        await press(pilot, "R")
        await settle(pilot, rounds=4)
        assert table_column(app, "#failures", "status")[0] == "delivered"
        # The row stays where it was, its status changed in place.
        assert screen.rows[0].id == first.id
    with store.read() as conn:
        status = conn.execute(
            select(OutboxRow.__table__.c.status, OutboxRow.__table__.c.message_id).where(
                OutboxRow.__table__.c.id == first.id
            )
        ).one()
        runs = runs_page(conn, SEGMENT, limit=1)
    assert status.status == "delivered"
    assert sandbox.message_ids[status.message_id] == 1
    assert runs[0].trigger == "manual" and runs[0].delivered >= 1


async def test_failures_refresh_again_once_a_retry_outcome_was_shown(
    ui_app: AppFactory,
    sandbox_store: tuple[Store, SegmentSandbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once a retry's outcome has been shown (the row in place: the test above), the page
    refreshes (the delivered row leaves the list) and later runs refresh it again."""
    monkeypatch.setattr(failures_screen, "RETRY_OUTCOME_SECONDS", 0.2)
    store, _sandbox = sandbox_store
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "c", "down", "down", "enter")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        first = screen.rows[0]
        await press(pilot, "R")
        await settle(pilot, rounds=4)
        await pilot.pause(0.3)
        await settle(pilot)
        assert first.id not in [row.id for row in screen.rows]
        assert screen.states == {}
        # A new failure recorded by a later run shows without touching a key.
        count = len(screen.rows)
        with store.write() as conn:
            conn.execute(
                OutboxRow.__table__.update()
                .where(OutboxRow.__table__.c.id == first.id)
                .values(status="failed")
            )
        app.engine_tick += 1
        await settle(pilot)
        assert len(screen.rows) == count + 1


async def test_marked_rows_retry_together(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, _sandbox = sandbox_store
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "c", "down", "down", "enter")
        await press(pilot, "space", "space")
        assert "2 marked" in str(app.screen.query_one("#title", Static).render())
        await press(pilot, "R")
        await settle(pilot, rounds=4)
        assert table_column(app, "#failures", "status")[:3] == ["delivered", "delivered", "failed"]


async def test_export_writes_the_filtered_view(ui_app: AppFactory, tmp_path: Path) -> None:
    app = ui_app(export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "slash")
        await pilot.press(*"gmail")
        await pilot.pause(0.4)
        await press(pilot, "enter", "J", "E")
    exported = orjson.loads((tmp_path / "failures-20261120-090000.json").read_bytes())
    assert exported and all(row["email"].endswith("@gmail.com") for row in exported)
    lines = (tmp_path / "failures-20261120-090000.csv").read_text().splitlines()
    assert lines[0].startswith("email,destination,kind,feedback")
    assert len(lines) == len(exported) + 1


# -- engine -------------------------------------------------------------------------------------


async def test_run_now_delivers_through_the_engine(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, sandbox = sandbox_store
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "r")
        await settle(pilot, rounds=4)
        assert app.last_results[SEGMENT].status == "ok"
        await press(pilot, "h")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        top = screen.runs[0]
        assert (top.destination, top.trigger, top.status) == (SEGMENT, "manual", "ok")
    assert sandbox.stats()["messages"] == 2  # today's two queued rows


async def test_test_connection_shows_the_reply(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, _ = sandbox_store
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "t")
        detail = str(app.screen.query_one("#detail-text", Static).render())
        assert "Test connection OK: Segment accepted the write key" in detail


async def test_a_store_readable_by_others_is_warned_about_on_screen(
    ui_app: AppFactory, ui_store: Store
) -> None:
    assert ui_store.path is not None
    async with ui_app().run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not pilot.app._notifications
    ui_store.path.chmod(0o644)
    async with ui_app().run_test(size=SIZE) as pilot:
        await settle(pilot)
        (notice,) = list(pilot.app._notifications)
        assert notice.severity == "warning"
        assert notice.message == (
            f"{ui_store.path} is readable by other users; run: chmod 600 {ui_store.path}"
        )


async def test_wide_columns_follow_a_resized_terminal(ui_app: AppFactory) -> None:
    """Over SSH the terminal is resized under the console: the feedback and last-result
    columns take the new room (and give it back), marks stay."""
    app = ui_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        destinations = app.screen.query_one("#destinations", DataTable)
        narrow_result = destinations.columns["result"].width
        await press(pilot, "f", "space")
        failures = app.screen
        assert isinstance(failures, FailuresScreen)
        narrow_feedback = failures.feedback_width
        marked = set(failures.marked)

        await pilot.resize_terminal(160, 40)
        await settle(pilot)
        assert failures.feedback_width > narrow_feedback + 30
        table = failures.query_one("#failures", DataTable)
        assert table.columns["feedback"].width == failures.feedback_width
        assert failures.marked == marked and table.row_count == len(failures.rows)
        await press(pilot, "d")
        assert destinations.columns["result"].width > narrow_result + 30

        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert destinations.columns["result"].width == narrow_result
        await press(pilot, "f")
        assert failures.feedback_width == narrow_feedback
