"""While the console draws, the log goes to a private rotating file, never to stderr (where
it would land on the screen); the engine's own decisions are in it; `-v` adds debug lines."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from console.cli import main
from console.log_file import log_file_path, log_to_file


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    own = logging.getLogger("retention_console")
    own_level = own.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            handler.close()
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    own.setLevel(own_level)


def stream_handlers() -> list[logging.Handler]:
    return [
        h
        for h in logging.getLogger().handlers
        if type(h) is logging.StreamHandler  # the file handler is a StreamHandler subclass
    ]


@pytest.mark.parametrize("verbose", [False, True])
def test_the_console_logs_to_a_private_file(tmp_path: Path, verbose: bool) -> None:
    logging.basicConfig(stream=None)  # a stderr handler, as the command line sets up
    path = log_to_file(verbose, tmp_path / "logs" / "console.log")
    assert stream_handlers() == []
    logging.getLogger("retention_console.engine").info("segment-prod: run 4 started")
    logging.getLogger("retention_console.engine").debug("segment-prod: unhealthy")
    logging.getLogger("apscheduler.scheduler").info("Added job")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text()
    assert "segment-prod: run 4 started" in text
    assert ("segment-prod: unhealthy" in text) is verbose
    assert ("Added job" in text) is verbose
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_default_path_is_under_the_user_log_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert log_file_path().is_relative_to(tmp_path)
    assert log_file_path().name == "console.log"


def test_the_cli_hands_the_console_its_log_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    built: dict[str, Any] = {}

    class Console:
        store_failure = signalled = None  # ended normally
        return_code = 0

        def run(self) -> None:
            logging.getLogger("retention_console.engine").warning("drawn over the screen?")

    def make_app(store: Any, **kwargs: Any) -> Console:
        built.update(kwargs)
        return Console()

    monkeypatch.setattr("console.ui.app.make_app", make_app)
    result = CliRunner().invoke(main, ["-v", "--db", str(tmp_path / "c.db")])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    log_file = built["log_file"]
    assert log_file == log_file_path() and log_file.is_relative_to(tmp_path / "state")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "drawn over the screen?" in log_file.read_text()
