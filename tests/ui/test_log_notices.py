"""With its log in a file, the console shows logged errors as notices and names the file
under `?`."""

from __future__ import annotations

import logging
from pathlib import Path

from console.ui.screens.keys import KeysScreen
from tests.ui.conftest import AppFactory
from tests.ui.test_pilot import SIZE, painted, press, settle


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
        assert str(log_file) in painted(app)
