"""Summary's full history on screen: every day a page at a time ([ ]), and a date range (/)."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from console.ui.screens.mapping_forms import MappingDialog
from console.ui.screens.summary import SummaryScreen, parse_range
from tests.ui.conftest import AppFactory
from tests.ui.pilot import SIZE, press, settle


def title(app: object) -> str:
    return str(app.screen.query_one(".screen-title", Static).render())  # type: ignore[attr-defined]


async def test_pages_reach_the_oldest_day_and_a_range_narrows(ui_app: AppFactory) -> None:
    app = ui_app(page_size=10)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "s")
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        assert len(screen.rows) == 10 and "[ ]: page" in title(app)
        seen = [(row.date, row.destination) for row in screen.rows]
        while True:
            before = list(screen.rows)
            await press(pilot, "right_square_bracket")
            if screen.rows == before:
                break
            seen += [(row.date, row.destination) for row in screen.rows]
        # Every day of both destinations (14 days), each row once.
        assert len(seen) == len(set(seen)) == 28
        assert min(day for day, _ in seen) == "2026-11-07"
        await press(pilot, "slash")
        dialog = app.screen
        assert isinstance(dialog, MappingDialog)
        dialog.query_one("#m-text", Input).value = "2026-11-10..2026-11-11"
        await press(pilot, "ctrl+s")
        await settle(pilot, rounds=3)
        assert {row.date for row in screen.rows} == {"2026-11-10", "2026-11-11"}
        assert "2026-11-10 to 2026-11-11" in title(app)


def test_parse_range() -> None:
    assert parse_range("") == (None, None)
    assert parse_range(" 2026-11-01..2026-11-30 ") == ("2026-11-01", "2026-11-30")
    assert parse_range("2026-11-01..") == ("2026-11-01", None)
    with pytest.raises(ValueError, match="is after"):
        parse_range("2026-11-30..2026-11-01")
    with pytest.raises(ValueError, match="not a day"):
        parse_range("2026-13-01..")
    with pytest.raises(ValueError, match=r"FROM\.\.TO"):
        parse_range("2026-11-01")
