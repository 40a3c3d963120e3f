"""Text from outside is data (issue 15, items 1-3): a receiver's reply, a destination's name and
an email carrying Rich markup (`[@click=app.quit]`, `[/x]`) and control characters (ESC, OSC,
BEL) render literally on every screen, in the toasts and in the dialogs; clicking them runs
nothing, and the control characters show escaped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from rich.text import Text
from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.core.vocab import RowKind, Trigger
from console.destinations.base import Outcome, RowOutcome
from console.destinations.segment.adapter import identify_message
from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import save_destination
from console.engine.retries import RetryPolicy, record_outcomes
from console.engine.runs import RunCounts, finish_run
from console.ui.app import RetentionConsoleApp
from console.ui.screens.failures import FailuresScreen
from console.ui.screens.history import HistoryScreen, RunRowsScreen
from console.ui.screens.summary import SummaryScreen
from state.db import Store, open_store
from state.models import OutboxRow
from state.outbox import NewRow, queue_rows
from state.runs import start_run
from tests.hostile import HOSTILE, SHOWN
from tests.ui.conftest import AppFactory, Clock, contact, fill_store
from tests.ui.pilot import painted, press, settle

NAME = "[/x]"
EMAIL = "[@click=app.quit]m@e.co"
WIDE = (200, 40)


@pytest.fixture
def hostile_store(tmp_path: Path, ui_clock: Clock, hostile_url: str) -> Iterator[Store]:
    """The UI test store plus a destination named `[/x]` pointed at the hostile receiver, two
    rows queued for it, and a stored failure of it whose email and feedback are hostile."""
    store = open_store(tmp_path / "hostile.db")
    fill_store(store, ui_clock)
    with store.write() as conn:
        dest_id, _ = save_destination(
            conn,
            NAME,
            SegmentSettings(write_key="hostile-key-0123456789", endpoint=hostile_url),  # type: ignore[arg-type]
        )
        run_id = start_run(conn, dest_id, Trigger.SCHEDULE)
        rows = []
        for n, email in ((900, EMAIL), (901, None), (902, None)):
            c = contact(n)
            c["email"] = email or c["email"]
            message = identify_message(c, None)
            rows.append(
                NewRow(RowKind.IDENTIFY, message["messageId"], c["email"], orjson.dumps(message))
            )
        queue_rows(conn, dest_id, run_id, rows)
        outbox = OutboxRow.__table__
        first_id = conn.execute(
            select(outbox.c.id).where(outbox.c.run_id == run_id).order_by(outbox.c.id).limit(1)
        ).scalar_one()
        totals = record_outcomes(
            conn,
            dest_id,
            run_id,
            [RowOutcome(first_id, Outcome.FAILED, 400, HOSTILE)],
            RetryPolicy(),
        )
        finish_run(
            conn,
            run_id,
            dest_id,
            RunCounts(added=3, rejected=totals.failed, requests=1),
            "partial",
            f"{NAME}: partial - 0 delivered, 1 rejected, 2 queued, 0 suppressed, 0 filtered, "
            f"0 skipped, 1 requests ({HOSTILE})",
            errored=False,
        )
    yield store
    store.dispose()


def cell_texts(app: RetentionConsoleApp, selector: str, column: str) -> list[str]:
    table = app.screen.query_one(selector, DataTable)
    cells = [table.get_cell(row_key, column) for row_key in table.rows]
    # A str cell would be parsed as markup by the DataTable: every outside value is Text.
    assert all(isinstance(cell, Text) for cell in cells), cells
    return [cell.plain for cell in cells]


def static_text(app: RetentionConsoleApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def click_row_cells(pilot: Pilot[None], selector: str, row: int) -> None:
    """Click across the whole row (every column's cells), as a curious operator would; a click
    that opens another screen (a drill-down) ends the round."""
    screen = pilot.app.screen
    table = screen.query_one(selector, DataTable)
    table.move_cursor(row=row)
    await settle(pilot)
    y = row + 1 - table.scroll_offset.y  # below the header
    for x in range(1, min(table.size.width, 190), 3):
        if pilot.app.screen is not screen:
            break
        await pilot.click(table, offset=(x, y))
    await settle(pilot)


def assert_untouched(app: RetentionConsoleApp, *screens: type) -> None:
    """Still running, on the screen the test is on, nothing executed."""
    assert app.is_running and app.return_code is None
    assert isinstance(app.screen, screens)
    text = painted(app)
    assert "\x1b" not in text and "\x07" not in text


async def test_failures_show_a_hostile_reply_literally(
    ui_app: AppFactory, hostile_store: Store
) -> None:
    app = ui_app(hostile_store)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "slash")
        await pilot.press(*"pwned")
        await pilot.pause(0.4)
        await press(pilot, "enter")
        assert isinstance(app.screen, FailuresScreen)
        assert cell_texts(app, "#failures", "feedback") == [SHOWN]
        assert cell_texts(app, "#failures", "email") == [EMAIL]
        assert cell_texts(app, "#failures", "destination") == [NAME]
        await click_row_cells(pilot, "#failures", 0)
        assert_untouched(app, FailuresScreen)
        detail = static_text(app, "#failure-summary")
        assert f"Feedback: {SHOWN}" in detail and EMAIL in detail and NAME in detail


async def test_history_and_a_runs_rows_show_hostile_text_literally(
    ui_app: AppFactory, hostile_store: Store
) -> None:
    app = ui_app(hostile_store)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await press(pilot, "h")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        index = next(i for i, run in enumerate(screen.runs) if run.destination == NAME)
        assert cell_texts(app, "#runs", "destination")[index] == NAME
        await click_row_cells(pilot, "#runs", index)
        assert_untouched(app, HistoryScreen)
        assert f"Note: {SHOWN}" in static_text(app, "#run-summary")
        await press(pilot, "enter")
        assert isinstance(app.screen, RunRowsScreen)
        # Cut to the column (50) with an ellipsis, its ESC escaped before the cut.
        assert cell_texts(app, "#run-rows", "feedback")[0] == SHOWN[:49] + "…"
        assert cell_texts(app, "#run-rows", "email")[0] == EMAIL
        await click_row_cells(pilot, "#run-rows", 0)
        assert_untouched(app, RunRowsScreen)
        assert f"Feedback: {SHOWN}" in static_text(app, "#run-row-summary")


async def test_summary_shows_a_hostile_name_literally(
    ui_app: AppFactory, hostile_store: Store
) -> None:
    app = ui_app(hostile_store)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await press(pilot, "s")
        assert isinstance(app.screen, SummaryScreen)
        names = cell_texts(app, "#summary", "destination")
        assert NAME in names
        await click_row_cells(pilot, "#summary", names.index(NAME))
        assert app.is_running and app.return_code is None
        # A click on a row opens that day's failures (the drill-down), nothing else.
        assert isinstance(app.screen, (SummaryScreen, FailuresScreen))


async def test_destinations_run_now_and_test_connection_show_replies_literally(
    ui_app: AppFactory, hostile_store: Store
) -> None:
    app = ui_app(hostile_store)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#destinations", DataTable)
        table.move_cursor(row=table.get_row_index(NAME))
        await settle(pilot)
        names = [cell.plain for cell in (table.get_cell(k, "name") for k in table.rows)]
        assert NAME in names
        result = table.get_cell(NAME, "result")
        # The line's words grew (`partial`, `rejected`): the cell now ends just past the markup.
        assert isinstance(result, Text) and "([@click=app.quit]Details[/]" in result.plain
        detail = static_text(app, "#detail-text")
        assert SHOWN in detail and "\x1b" not in detail

        # Run now: the hostile receiver refuses every row with its hostile message.
        await press(pilot, "r")
        await settle(pilot, rounds=4)
        assert app.last_results[NAME].status != "ok"
        # Test connection: the reply is the receiver's words.
        await press(pilot, "t")
        await settle(pilot, rounds=4)
        notices = list(app._notifications)
        assert any(n.title == f"Run of {NAME}: partial" for n in notices)
        assert any(n.title == f"Test connection: {NAME}" for n in notices)
        for notice in notices:
            assert not notice.markup
            assert "\x1b" not in notice.message and "\x07" not in notice.message
        assert any(SHOWN in n.message for n in notices if n.title.startswith("Test"))
        text = painted(app)
        assert "\x1b" not in text and NAME in text
        # The dialog that names the destination shows it literally.
        await press(pilot, "x")
        assert NAME in painted(app)
        await press(pilot, "n")
        assert app.is_running and len(app.screen_stack) == 1
        # A click on the row opens its form (that is what a click does there), nothing else.
        await click_row_cells(pilot, "#destinations", table.get_row_index(NAME))
        assert app.is_running and app.return_code is None
        assert "\x1b" not in painted(app)

        # The rows the run just failed carry the receiver's message, shown literally.
        while len(app.screen_stack) > 1:
            await press(pilot, "escape")
        await press(pilot, "f")
        assert isinstance(app.screen, FailuresScreen)
        feedback = cell_texts(app, "#failures", "feedback")
        assert any("pwned" in f for f in feedback)
        assert all("\x1b" not in f and "\x07" not in f for f in feedback)
        await click_row_cells(pilot, "#failures", 0)
        assert_untouched(app, FailuresScreen)
