"""`D` on Failures retries the day of what the operator is looking at: the destination and the
`/` search narrow it too."""

from __future__ import annotations

from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.failures import FailuresScreen
from tests.ui.conftest import SEGMENT, AppFactory
from tests.ui.pilot import SIZE, press, settle


async def test_retry_the_day_keeps_the_search(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "s", "down", "down", "enter")  # 2026-11-19, segment-prod
        await press(pilot, "slash")
        await pilot.press(*"customer028")
        await pilot.pause(0.4)
        await press(pilot, "enter")
        screen = app.screen
        assert isinstance(screen, FailuresScreen) and len(screen.rows) == 1
        await press(pilot, "D")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert dialog.question == (
            f"Retry the 1 failure of 2026-11-19 ({SEGMENT}, matching 'customer028')?"
        )
        await press(pilot, "n")
