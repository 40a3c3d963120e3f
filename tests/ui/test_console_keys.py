"""Keys an operator expects to work the way README and `?` say they do."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette

from console.ui.screens.destination_form import DestinationForm
from tests.ui.conftest import AppFactory
from tests.ui.test_pilot import SIZE, press, settle


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
