"""Keys an operator expects to work the way README and `?` say they do."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette
from textual.widgets import DataTable

from console.destinations.resci.settings import ResciSettings
from console.engine.destinations import get_destination
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.destination_form import DestinationForm
from state.db import Store
from tests.ui.conftest import RESCI, AppFactory
from tests.ui.pilot import SIZE, open_mapping, painted, press, settle


@pytest.mark.parametrize("key", ["ctrl+p", "colon"])
async def test_palette_opens_with_ctrl_p_and_colon(ui_app: AppFactory, key: str) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, key)
        assert isinstance(app.screen, CommandPalette)


async def test_ctrl_p_opens_the_palette_from_a_form_field(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "a", "enter")
        assert isinstance(app.screen, DestinationForm)
        await press(pilot, "ctrl+p")
        assert isinstance(app.screen, CommandPalette)


async def test_mapping_asks_before_removing_and_end_moves_the_row(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mapping(pilot, RESCI)
        events = app.screen.query_one("#events", DataTable)
        events.focus()
        await settle(pilot)
        for key, row in (("end", 1), ("home", 0), ("G", 1), ("g", 0), ("j", 1), ("k", 0)):
            await press(pilot, key)
            assert events.cursor_row == row, key
        await press(pilot, "end", "x")
        assert isinstance(app.screen, ConfirmScreen)
        assert (
            app.screen.question == "Remove the event mapping Add To Cart Reclaim → shopping_cart?"
        )
        assert "Add To Cart Reclaim" in painted(app)
        await press(pilot, "n")
        assert len(events_of(ui_store)) == 2
        await press(pilot, "x", "y")
        assert events_of(ui_store) == {"Viewed Product Reclaim": "view"}


def events_of(store: Store) -> dict[str, str]:
    with store.read() as conn:
        record = get_destination(conn, RESCI)
    assert record is not None and isinstance(record.settings, ResciSettings)
    return dict(record.settings.events)


async def test_the_end_of_the_keys_panel_is_reachable_at_80x24(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f", "question_mark")
        assert "Go to Failures" not in painted(app)  # below the fold at first
        await press(pilot, "end")
        text = painted(app)
        for words in ("Command palette (same as :)", "/srv/retention/console.db", "esc or ? close"):
            assert words in text, words
