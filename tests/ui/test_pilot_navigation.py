"""Pilot tests of moving around the console: screens, keys, the palette."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from console.sandbox import SegmentSandbox
from console.ui.screens.failures import FailuresScreen
from console.ui.screens.keys import KeysScreen
from console.ui.screens.summary import SummaryScreen
from state.db import Store
from state.failures import FailureFilter, failures_page
from tests.ui.conftest import (
    RESCI,
    RESCI_KEY,
    SEGMENT,
    SEGMENT_KEY,
    AppFactory,
)
from tests.ui.pilot import SIZE, painted, press, settle, table_column

# -- navigation ---------------------------------------------------------------------------------


async def test_escape_goes_back(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "h")
        assert app.current_mode == "history"
        await press(pilot, "escape")
        assert app.current_mode == "failures"
        await press(pilot, "escape")
        assert app.current_mode == "destinations"
        # A drill-down: a summary day opens its failures; Escape returns to the summary.
        await press(pilot, "s", "enter")
        drilled = app.screen
        assert isinstance(drilled, FailuresScreen)
        assert drilled.flt.day == "2026-11-20" and drilled.flt.destination == SEGMENT
        assert {r.at[:10] for r in drilled.rows} == {"2026-11-20"}
        await press(pilot, "escape")
        assert isinstance(app.screen, SummaryScreen)


async def test_question_mark_lists_every_key(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "question_mark")
        assert isinstance(app.screen, KeysScreen)
        text = painted(app)
        for words in ("Filter by email", "Retry the marked rows", "Export the filtered view",
                      "Go to History", "Command palette"):  # fmt: skip
            assert words in text
        await press(pilot, "escape")
        assert isinstance(app.screen, FailuresScreen)


async def test_palette_jumps_to_a_destinations_failures(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "colon")
        await pilot.press(*"ures: res")
        await pilot.pause(0.3)
        await press(pilot, "enter")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert screen.flt.destination == RESCI
        assert {r.destination for r in screen.rows} == {RESCI}


async def test_retry_every_failure_of_a_day(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, _sandbox = sandbox_store
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "s", "down", "down", "enter")  # 2026-11-19, segment-prod
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert (screen.flt.day, screen.flt.destination) == ("2026-11-19", SEGMENT)
        assert table_column(app, "#failures", "status") == ["failed"] * 3
        await press(pilot, "D")
        assert "Retry all 3 failures of 2026-11-19 (segment-prod)?" in painted(app)
        await press(pilot, "y")
        await settle(pilot, rounds=4)
        assert table_column(app, "#failures", "status") == ["delivered"] * 3
    with store.read() as conn:
        assert failures_page(conn, FailureFilter(destination=SEGMENT, day="2026-11-19")) == []


def test_no_snapshot_or_screenshot_holds_a_secret() -> None:
    """Every SVG the project keeps shows keys masked, never in full."""
    from console.demo import RESCI_API_KEY, SEGMENT_WRITE_KEY

    root = Path(__file__).resolve().parents[2]
    pictures = [
        *(Path(__file__).parent / "__snapshots__").rglob("*.svg"),
        *(root / "screenshots").glob("*.svg"),
    ]
    assert pictures
    for picture in pictures:
        text = picture.read_text(encoding="utf-8")
        for secret in (SEGMENT_KEY, RESCI_KEY, SEGMENT_WRITE_KEY, RESCI_API_KEY):
            assert secret not in text, picture.name
            assert secret[:12] not in text, picture.name


async def test_failures_pages_turn_with_brackets(ui_app: AppFactory, ui_store: Store) -> None:
    """Keyset pages: ] reads the page past the last row shown, [ the one before, and the
    pages together are the whole listing in order, each row once."""
    with ui_store.read() as conn:
        everything = [row.id for row in failures_page(conn, limit=1000)]
    app = ui_app(page_size=25)  # the page_size engine setting
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        pages = [[row.id for row in screen.rows]]
        for _ in range(2):
            await press(pilot, "right_square_bracket")
            pages.append([row.id for row in screen.rows])
        title = str(screen.query_one("#title", Static).render())
        assert "rows 51–60 of 60" in title
        await press(pilot, "right_square_bracket")  # no page past the last: nothing moves
        assert [row.id for row in screen.rows] == pages[-1]
        await press(pilot, "left_square_bracket")
        assert [row.id for row in screen.rows] == pages[1]
    assert [len(page) for page in pages] == [25, 25, 10]
    assert [i for page in pages for i in page] == everything
