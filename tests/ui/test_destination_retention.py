"""The destination's settings panel shows its last changes (secrets masked), and removing a
destination with failures offers to export them first (a CSV in the export directory)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from pydantic import SecretStr
from textual.pilot import Pilot

from console.engine import change_log, commands
from console.engine.commands import Commands
from console.engine.destinations import get_destination, list_destinations
from console.ui.screens.remove_destination import RemoveDestinationScreen
from state.db import Store
from state.failures import FailureFilter, failure_count
from tests.ui.conftest import SEGMENT, SEGMENT_KEY, AppFactory
from tests.ui.pilot import SIZE, painted, press, select_row, settle
from tests.ui.test_snapshots import BIG, on_destination

NEW_KEY = "seg-rotated-key-5555-ZzZz"


@pytest.fixture
def changed_segment(ui_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """SEGMENT's write key rotated through the commands, by a fixed operator."""
    for module in (change_log, commands):
        monkeypatch.setattr(module, "operator_name", lambda: "ops@console-host")
    with ui_store.read() as conn:
        record = get_destination(conn, SEGMENT)
    assert record is not None
    settings = record.settings.model_copy(update={"write_key": SecretStr(NEW_KEY)})
    Commands(ui_store).save_destination(SEGMENT, settings)


async def test_the_panel_shows_the_last_change_masked(
    ui_app: AppFactory, changed_segment: None
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        text = painted(app)
    assert "by ops@console-host: save write_key: ••••AbCd → ••••ZzZz" in text
    assert NEW_KEY not in text and SEGMENT_KEY not in text


async def test_remove_offers_to_export_the_failures_first(
    ui_app: AppFactory, ui_store: Store, tmp_path: Path
) -> None:
    with ui_store.read() as conn:
        failures = failure_count(conn, FailureFilter(destination=SEGMENT))
    assert failures
    exports = tmp_path / "exports"
    app = ui_app(export_dir=exports)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "x")
        assert isinstance(app.screen, RemoveDestinationScreen)
        assert f"It has {failures} failures: e exports them" in painted(app)
        await press(pilot, "e")
        await settle(pilot, rounds=3)
    (written,) = exports.iterdir()
    with written.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == failures and {r["destination"] for r in rows} == {SEGMENT}
    with ui_store.read() as conn:
        assert SEGMENT not in [d.name for d in list_destinations(conn)]


def test_panel_with_its_changes(snap_compare, ui_app: AppFactory, changed_segment: None) -> None:
    """The settings panel ends with the destination's last changes, the key masked."""

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, SEGMENT)

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)
