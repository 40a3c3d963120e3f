"""Keys that mean one thing everywhere: the row keys of every table (j/k, g/G, Home/End, End
through the pages), `[`/`]` for pages, Escape that stops at the home screen, and `q` that asks
while a run is in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from console.sandbox import Faults, SandboxServer, SegmentSandbox
from console.ui.app import RetentionConsoleApp
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.destinations import DestinationsScreen
from console.ui.screens.failures import FailuresScreen
from console.ui.screens.history import HistoryScreen, RunRowsScreen
from console.ui.screens.mapping import MappingScreen
from console.ui.screens.summary import SummaryScreen
from console.ui.screens.suppressions import SuppressionsScreen
from console.ui.widgets.paged_table import PagedTable
from console.ui.widgets.row_table import RowTable
from state.db import Store, open_store
from state.failures import failures_page
from tests.ui.conftest import SEGMENT, AppFactory, Clock, fill_store
from tests.ui.pilot import SIZE, painted, press, settle

ROW_KEYS = (("G", "last"), ("g", 0), ("j", 1), ("k", 0), ("end", "last"), ("home", 0))


async def check_row_keys(pilot: object, table: DataTable[object]) -> None:
    table.focus()
    await settle(pilot)  # type: ignore[arg-type]
    last = table.row_count - 1
    assert last >= 1, table.id
    for key, row in ROW_KEYS:
        await press(pilot, key)  # type: ignore[arg-type]
        assert table.cursor_row == (last if row == "last" else row), (table.id, key)


async def test_row_keys_move_the_cursor_in_every_table(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await check_row_keys(pilot, app.screen.query_one("#destinations", DataTable))
        await press(pilot, "s")
        await check_row_keys(pilot, app.screen.query_one("#summary", DataTable))
        await press(pilot, "h")
        await check_row_keys(pilot, app.screen.query_one("#runs", DataTable))
        await press(pilot, "g", "j", "enter")  # a finished run's rows
        assert isinstance(app.screen, RunRowsScreen)
        await check_row_keys(pilot, app.screen.query_one("#run-rows", DataTable))
        await press(pilot, "escape", "f")
        await check_row_keys(pilot, app.screen.query_one("#failures", DataTable))


async def test_end_goes_to_the_last_row_through_the_pages(
    ui_app: AppFactory, ui_store: Store
) -> None:
    with ui_store.read() as conn:
        everything = [row.id for row in failures_page(conn, limit=1000)]
    assert len(everything) == 60
    app = ui_app(page_size=25)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        table = screen.table
        await press(pilot, "end")
        assert screen.current() is not None and screen.current().id == everything[-1]  # type: ignore[union-attr]
        assert "rows 51–60 of 60" in str(screen.query_one("#title", Static).render())
        # From the last page, `[` still steps back one page at a time.
        await press(pilot, "left_square_bracket")
        assert [row.id for row in screen.rows] == everything[25:50]
        await press(pilot, "G")
        assert table.page == 2 and table.cursor_row == 9
        await press(pilot, "home")
        assert table.page == 0 and screen.current().id == everything[0]  # type: ignore[union-attr]


@pytest.mark.parametrize("page_size", [10, 30])
async def test_end_on_a_whole_number_of_pages_shows_a_full_last_page(
    ui_app: AppFactory, page_size: int
) -> None:
    """60 failures in pages of 10 or 30: the last page is full, never an empty one past it."""
    app = ui_app(page_size=page_size)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "G")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert len(screen.rows) == page_size and not screen.table.has_more
        assert screen.table.page == 60 // page_size - 1


SCREENS = (DestinationsScreen, MappingScreen, SummaryScreen, FailuresScreen, HistoryScreen,
           RunRowsScreen, SuppressionsScreen)  # fmt: skip


def test_each_key_means_one_thing_on_every_screen() -> None:
    """A key does the same action wherever it is bound (Enter opens the row, whatever a row
    is; the screen keys d m s f h are the app's own)."""
    actions: dict[str, set[str]] = {}
    bindings: list[Binding] = [*RowTable.BINDINGS, *PagedTable.BINDINGS]  # type: ignore[list-item]
    for screen in SCREENS:
        bindings += [b for b in screen.BINDINGS if isinstance(b, Binding)]
    bindings += [b for b in RetentionConsoleApp.BINDINGS if isinstance(b, Binding)]
    for binding in bindings:
        for key in binding.key.split(","):
            actions.setdefault(key.strip(), set()).add(binding.action)
    shared = {key: acts for key, acts in actions.items() if len(acts) > 1 and key != "enter"}
    assert shared == {}
    assert actions["space"] == {"mark"}
    assert actions["p"] == {"pause"}
    assert actions["o"] == {"toggle_enabled"}
    assert actions["right_square_bracket"] == {"page(1)"}


async def test_escape_closes_what_is_open_and_stops_at_home(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "h", "d", "escape")
        assert app.current_mode == "destinations"  # it used to jump to History
        await press(pilot, "escape", "escape")
        assert app.current_mode == "destinations" and app.is_running
        # A filter, then the detail, then the screen: one Escape each.
        await press(pilot, "f", "slash")
        await pilot.press(*"gmail")
        await press(pilot, "enter", "enter")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert screen.flt.text == "gmail" and screen.detail_open
        await press(pilot, "escape")
        assert screen.flt.text is None and screen.detail_open
        await press(pilot, "escape")
        assert not screen.detail_open and app.current_mode == "failures"
        await press(pilot, "escape")
        assert app.current_mode == "destinations"
        await press(pilot, "escape")
        assert app.current_mode == "destinations"


@pytest.fixture
def slow_segment_store(tmp_path: Path, ui_clock: Clock) -> Iterator[Store]:
    """The test store with segment-prod pointed at a Segment sandbox that answers slowly."""
    sandbox = SegmentSandbox(faults=Faults(delay_seconds=1.5))
    with SandboxServer(sandbox, port=0) as server:
        store = open_store(tmp_path / "slow.db")
        fill_store(store, ui_clock, segment_endpoint=server.url)
        yield store
        store.dispose()


async def test_q_asks_while_a_run_is_in_flight(
    ui_app: AppFactory, slow_segment_store: Store
) -> None:
    app = ui_app(slow_segment_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#destinations", DataTable)
        table.move_cursor(row=table.get_row_index(SEGMENT))
        await pilot.press("r")
        for _ in range(100):
            if app.engine.running:
                break
            await asyncio.sleep(0.02)
        assert app.engine.running == {SEGMENT}
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert f"Quit while {SEGMENT} is running?" in painted(app)
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ConfirmScreen)
        await app.workers.wait_for_complete()
        assert not app.engine.running
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_q_right_after_run_now_asks_too(
    ui_app: AppFactory, slow_segment_store: Store
) -> None:
    """`r q` typed at once: the run has not reached the engine when `q` lands, and still counts."""
    app = ui_app(slow_segment_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # As when both keys arrive in one read: the run's worker has not started yet.
        app.run_now(SEGMENT)
        assert not app.engine.running
        await app.action_quit()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.is_running
        await pilot.press("y")
        await pilot.pause()
    assert app.return_code == 0


async def test_escape_clears_the_summary_date_range_first(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "s", "slash")
        app.screen.query_one("#m-text", Input).value = "2026-11-10..2026-11-11"
        await press(pilot, "ctrl+s")
        await settle(pilot, rounds=3)
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        assert {row.date for row in screen.rows} == {"2026-11-10", "2026-11-11"}
        await press(pilot, "escape")
        await settle(pilot, rounds=3)
        assert app.screen is screen and (screen.since, screen.until) == (None, None)
        assert len({row.date for row in screen.rows}) > 2
        await press(pilot, "escape")
        assert app.current_mode == "destinations"
