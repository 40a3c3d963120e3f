"""The operator's time zone on screen (issue 13 item 13): with a zone other than UTC, Summary
says whose days it counts (UTC, the default, reads as before)."""

from __future__ import annotations

from textual.widgets import Static

from console.core import clock
from tests.ui.conftest import AppFactory
from tests.ui.pilot import press, settle


async def test_summary_names_the_operator_zone(ui_app: AppFactory) -> None:
    """Issue 13 item 13: with a zone other than UTC, Summary says whose days it counts."""
    clock.set_zone(clock.zone_named("Asia/Tokyo"))
    try:
        app = ui_app()
        async with app.run_test(size=(120, 32)) as pilot:
            await settle(pilot)
            await press(pilot, "s")
            await settle(pilot, rounds=3)
            assert "days in Asia/Tokyo" in title(pilot)
    finally:
        clock.set_zone(None)


def title(pilot: object) -> str:
    return str(pilot.app.screen.query_one(".screen-title", Static).render())  # type: ignore[attr-defined]
