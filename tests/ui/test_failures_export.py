"""`E`/`J` on Failures: private files in the export directory, a plain refusal when it cannot
be written (the console stays up), and a word when the view is empty."""

from __future__ import annotations

import stat
from pathlib import Path

from console.ui.screens.failures import FailuresScreen
from tests.ui.conftest import AppFactory
from tests.ui.pilot import SIZE, press, settle

NAME = "failures-20261120-090000"


async def test_export_files_are_private_and_the_notice_says_where(
    ui_app: AppFactory, tmp_path: Path
) -> None:
    app = ui_app(export_dir=tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "E", "J")
        await settle(pilot)
        messages = [n.message for n in app._notifications]
    for suffix in ("csv", "json"):
        path = tmp_path / "exports" / f"{NAME}.{suffix}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert any(str(tmp_path / "exports") in m and path.name in m for m in messages)


async def test_an_unwritable_directory_is_refused_and_the_console_stays(
    ui_app: AppFactory, tmp_path: Path
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory should be")
    app = ui_app(export_dir=blocked)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "E")
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, FailuresScreen)
        notices = [(n.message, n.severity) for n in app._notifications]
        assert any(
            m.startswith(f"Export refused: cannot create the directory {blocked}") and s == "error"
            for m, s in notices
        ), notices


async def test_an_existing_file_is_not_overwritten(ui_app: AppFactory, tmp_path: Path) -> None:
    (tmp_path / f"{NAME}.csv").symlink_to(tmp_path / "elsewhere")
    app = ui_app(export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "E")
        await settle(pilot)
        assert any("exists already" in n.message for n in app._notifications)
    assert not (tmp_path / "elsewhere").exists()


async def test_an_empty_view_says_there_is_nothing_to_export(
    ui_app: AppFactory, tmp_path: Path
) -> None:
    app = ui_app(export_dir=tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "slash")
        await pilot.press(*"no-such-address")
        await pilot.pause(0.4)
        await press(pilot, "enter", "J")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen) and not screen.rows
        assert any("Nothing to export" in n.message for n in app._notifications)
    assert not (tmp_path / "exports").exists()
