"""Typing into the destination form keeps every key, however fast the keys come: the terminal
hands the app a burst of keys in one read (fast typing over SSH, key repeat, tmux), and a
Backspace in the burst must act before the letters typed after it."""

from __future__ import annotations

import pytest
from textual import events
from textual.keys import _character_to_key
from textual.widgets import Input

from console.ui.app import RetentionConsoleApp
from console.ui.screens.destination_form import DestinationForm
from tests.ui.conftest import AppFactory
from tests.ui.pilot import press, settle


def burst(app: RetentionConsoleApp, keys: list[str]) -> None:
    """Queue every key at once, as the driver does for one read of the terminal (Pilot's
    `press` waits for each key to be handled, which hides the race)."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key, character = _character_to_key(key), key
        else:
            character = key if len(key) == 1 else ("\x7f" if key == "backspace" else None)
        event = events.Key(key, character)
        event.set_sender(app)
        driver.send_message(event)


@pytest.mark.parametrize(
    ("field", "first", "then"),
    [
        ("#f-name", "abcdef", "segment-new"),
        ("#f-endpoint", "https://abcdef", "ftp://example.com"),
        ("#f-write_key", "abcdefghij", "a-new-write-key-0123"),
    ],
)
async def test_bursts_of_keys_all_land(
    ui_app: AppFactory, field: str, first: str, then: str
) -> None:
    app = ui_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "a")
        await press(pilot, "enter")  # Segment
        assert isinstance(app.screen, DestinationForm)
        box = app.screen.query_one(field, Input)
        box.value = ""
        box.focus()
        await settle(pilot)
        burst(app, list(first))
        await settle(pilot)
        assert box.value == first
        burst(app, ["backspace"] * (len(first) + 4) + list(then))
        await settle(pilot, rounds=3)
        assert box.value == then
        # Editing in the middle: two lefts, a Backspace, a letter, then End and more letters.
        burst(app, ["left", "left", "backspace", "X", "end", *"yz"])
        await settle(pilot, rounds=3)
        assert box.value == then[:-3] + "X" + then[-2:] + "yz"
