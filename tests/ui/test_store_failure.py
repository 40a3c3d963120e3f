"""A store that stops accepting writes while the console runs (made read-only, a full disk)
ends the console with the store's one line and exit 2 (printed by the command line), never
Textual's traceback, whose frames' locals would show the SQL and the rows being written."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner
from sqlalchemy import event

import console.ui.app
from console.cli import main
from state.db import Store, StoreFailed
from tests.ui.conftest import AppFactory


async def test_a_store_that_refuses_a_write_ends_the_console_with_exit_2(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test() as pilot:
        await pilot.pause()

        def read_only(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            dbapi_conn.execute("PRAGMA query_only = ON")  # writes fail as on a read-only file

        ui_store.engine.dispose()
        event.listen(ui_store.engine, "connect", read_only)
        await pilot.press("o")  # switch the selected destination off: a write
        await pilot.pause(0.5)
    assert app.return_code == 2
    assert isinstance(app.store_failure, StoreFailed)
    assert "read-only" in str(app.store_failure)
    assert not app._exit_renderables  # no traceback was queued for the terminal


@pytest.mark.parametrize(
    ("ended", "code", "stderr"),
    [
        (
            {"store_failure": StoreFailed("store x.db: it is read-only (attempt ...)")},
            2,
            "error: store x.db",
        ),
        ({"signalled": 15}, 143, "interrupted by SIGTERM"),
        ({"return_code": 1}, 1, ""),
        ({}, 0, ""),
    ],
    ids=["store failure", "SIGTERM", "crash", "quit"],
)
def test_how_the_console_ended_is_the_exit_code(
    tmp_path: object,
    monkeypatch: pytest.MonkeyPatch,
    ended: dict[str, object],
    code: int,
    stderr: str,
) -> None:
    class Ended:
        store_failure: object = None
        signalled: object = None
        return_code = 0

        def __init__(self, *_args: object, **_kwargs: object) -> None:
            for name, value in ended.items():
                setattr(self, name, value)

        def run(self) -> None:
            pass

    monkeypatch.setattr(console.ui.app, "make_app", Ended)
    result = CliRunner().invoke(main, ["--db", f"{tmp_path}/c.db"])
    assert result.exit_code == code
    assert result.stderr.startswith(stderr)
    assert "Traceback" not in result.stderr
