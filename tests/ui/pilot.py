"""What the Pilot tests share: settling the console after keys, reading tables and the
terminal, moving to a row, opening Mapping."""

from __future__ import annotations

import io

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.ui.app import RetentionConsoleApp

SIZE = (100, 32)


async def settle(pilot: Pilot[None], rounds: int = 2) -> None:
    """Let key presses land and every worker (SQL, engine) finish."""
    for _ in range(rounds):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def press(pilot: Pilot[None], *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


def table_column(app: RetentionConsoleApp, selector: str, column: str) -> list[str]:
    table = app.screen.query_one(selector, DataTable)
    return [str(table.get_cell(row_key, column)) for row_key in table.rows]


def painted(app: RetentionConsoleApp) -> str:
    """Everything on the terminal right now, as plain text (what the SVG export draws)."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True, record=True
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


async def select_row(pilot: Pilot[None], selector: str, key: str) -> None:
    table = pilot.app.screen.query_one(selector, DataTable)
    table.move_cursor(row=table.get_row_index(key))
    await settle(pilot)


async def open_mapping(pilot: Pilot[None], destination: str) -> None:
    await settle(pilot)
    await select_row(pilot, "#destinations", destination)
    await press(pilot, "m")
