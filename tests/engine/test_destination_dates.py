"""Seed 002: "you will see the integration date". Created, last changed and by whom (the OS
user and host), enabled since; a destination saved before these were recorded shows unknown."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from console.destinations.segment.settings import SegmentSettings
from console.engine import commands as commands_module
from console.engine.commands import Commands
from console.engine.destinations import get_destination
from console.ui.screens.destinations import dates_line
from state.db import Store
from state.destination_dates import destination_dates
from tests.conftest import FrozenClock

SETTINGS = SegmentSettings(write_key=SecretStr("w-1234567890"))


def test_dates_follow_the_operators_changes(
    store: Store, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands_module, "operator_name", lambda: "ann@ops-1")
    commands = Commands(store)
    commands.save_destination("seg", SETTINGS, create=True)
    with store.read() as conn:
        record = get_destination(conn, "seg")
        assert record is not None
        created = destination_dates(conn, record.id)
    assert created is not None
    assert created.created_at == created.changed_at == "2024-04-16T16:54:09.697Z"
    # A destination the save creates is a draft (off) until switched on (issue 12).
    assert (created.changed_by, created.enabled_since) == ("ann@ops-1", None)

    frozen_clock.advance(86400)
    monkeypatch.setattr(commands_module, "operator_name", lambda: "bob@ops-2")
    commands.set_enabled("seg", True)
    with store.read() as conn:
        switched_on = destination_dates(conn, record.id)
    assert switched_on is not None
    assert switched_on.enabled_since == switched_on.changed_at == "2024-04-17T16:54:09.697Z"
    commands.set_enabled("seg", False)
    with store.read() as conn:
        off = destination_dates(conn, record.id)
    assert off is not None and (off.changed_by, off.enabled_since) == ("bob@ops-2", None)
    assert off.changed_at == "2024-04-17T16:54:09.697Z" and off.created_at == created.created_at

    frozen_clock.advance(7200)
    commands.set_enabled("seg", True)
    commands.set_paused("seg", True)  # pausing keeps "enabled since"
    with store.read() as conn:
        on = destination_dates(conn, record.id)
        record = get_destination(conn, "seg")
    assert on is not None and on.enabled_since == "2024-04-17T18:54:09.697Z"
    assert record is not None
    assert dates_line(record, on) == (
        "Integrated 2024-04-16 16:54:09 UTC · changed 2024-04-17 18:54:09 UTC by bob@ops-2 · "
        "enabled since 2024-04-17 18:54:09 UTC"
    )


def test_a_destination_saved_before_shows_unknown(store: Store) -> None:
    commands = Commands(store)
    commands.save_destination("seg", SETTINGS, create=True)
    commands.set_enabled("seg", True)  # saved as a draft; an older release's row was on
    with store.write() as conn:
        conn.exec_driver_sql("DELETE FROM destination_stamps")  # as an older release left it
    with store.read() as conn:
        record = get_destination(conn, "seg")
        assert record is not None
        dates = destination_dates(conn, record.id)
    assert dates is not None
    assert dates_line(record, dates).endswith("by unknown · enabled since unknown")
