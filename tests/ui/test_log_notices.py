"""With its log in a file, the console shows logged errors as notices and names the file
under `?`; the store-privacy notice leaves after a while and stays under `?`."""

from __future__ import annotations

import logging
from pathlib import Path

from console.ui.screens.keys import KeysScreen
from state.db import Store
from tests.ui.conftest import AppFactory
from tests.ui.pilot import SIZE, painted, press, settle


async def test_logged_errors_become_notices(ui_app: AppFactory, tmp_path: Path) -> None:
    app = ui_app(log_file=tmp_path / "console.log")
    root = logging.getLogger()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        logging.getLogger("retention_console.engine").error("run of segment-prod failed")
        await settle(pilot)
        notices = list(app._notifications)
        assert [(n.message, n.severity) for n in notices] == [
            ("run of segment-prod failed", "error")
        ]
    # The handler goes with the app.
    assert not any(type(h).__name__ == "NoticeHandler" for h in root.handlers)


async def test_the_keys_panel_names_the_log_file(ui_app: AppFactory) -> None:
    log_file = Path("/home/ops/.local/state/retention-console/log/console.log")  # never opened
    app = ui_app(log_file=log_file)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "question_mark")
        assert isinstance(app.screen, KeysScreen)
        # Destinations' keys (P, dry run, among them) fill 100x32: the path is the list's
        # last line, reached with the list's own scroll.
        app.screen.query_one("#keys-scroll").scroll_end(animate=False)
        await settle(pilot)
        assert str(log_file) in painted(app)


async def test_the_privacy_notice_leaves_and_stays_under_keys(
    ui_app: AppFactory, ui_store: Store
) -> None:
    assert ui_store.path is not None
    ui_store.path.chmod(0o644)
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        (notice,) = list(app._notifications)
        assert notice.timeout <= 15  # was a minute over the detail panel
        await press(pilot, "question_mark")
        assert isinstance(app.screen, KeysScreen)
        assert "readable by other users" in app.screen.store_label
