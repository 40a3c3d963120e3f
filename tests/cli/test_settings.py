"""The engine's settings on the command line: `--run-once` and the console load the same
`EngineSettings` (file of `--settings` or $RETENTION_CONSOLE_SETTINGS, then $RETENTION_CONSOLE_*,
then flags); a bad value exits 2 naming the variable before anything runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

import console.ui.app
from console.cli import main
from console.engine.options import EngineOptions
from console.sandbox import SegmentSandbox

WRITE_KEY = "test-write-key"  # what the shared `segment_sandbox` fixture accepts


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RETENTION_CONSOLE_* variable of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.upper().startswith("RETENTION_CONSOLE_"):
            monkeypatch.delenv(name)


def cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path, segment_sandbox: tuple[SegmentSandbox, str]) -> Path:
    """A store with three contacts and one Segment destination on the sandbox."""
    _, url = segment_sandbox
    path = tmp_path / "console.db"
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email\na@example.com\nb@example.com\nc@example.com\n", encoding="utf-8")
    config = tmp_path / "destinations.toml"
    config.write_text(
        '[[destinations]]\nname = "seg"\nkind = "segment"\n'
        f"write_key = {orjson.dumps(WRITE_KEY).decode()}\n"
        f"endpoint = {orjson.dumps(url).decode()}\n",
        encoding="utf-8",
    )
    assert cli("import", "contacts", contacts, "--db", path).exit_code == 0
    assert cli("config", "apply", config, "--db", path).exit_code == 0
    return path


def requests_made(result: Result) -> str:
    (line,) = result.stdout.splitlines()
    return line.rsplit(", ", 1)[1]


def test_run_once_takes_batch_rows_from_a_settings_file(tmp_path: Path, db: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("batch_rows = 1\n", encoding="utf-8")

    done = cli("--settings", settings, "--db", db, "--run-once", "--max-wait", "0")

    assert done.exit_code == 0, done.output
    assert requests_made(done) == "3 requests"  # one contact per request


def test_run_once_takes_the_file_from_the_environment_and_the_environment_over_it(
    tmp_path: Path, db: Path
) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("batch_rows = 1\n", encoding="utf-8")
    env = {"RETENTION_CONSOLE_SETTINGS": str(settings), "RETENTION_CONSOLE_BATCH_ROWS": "2"}

    done = cli("--db", db, "--run-once", "--max-wait", "0", env=env)

    assert done.exit_code == 0, done.output
    assert requests_made(done) == "2 requests"


def test_a_bad_value_exits_2_naming_the_variable(db: Path) -> None:
    done = cli("--db", db, "--run-once", env={"RETENTION_CONSOLE_IN_FLIGHT": "0"})

    assert done.exit_code == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: RETENTION_CONSOLE_IN_FLIGHT: ")
    assert "greater than or equal to 1" in done.stderr


def test_a_missing_settings_file_exits_2(tmp_path: Path, db: Path) -> None:
    done = cli("--settings", tmp_path / "nope.toml", "--db", db, "--run-once")

    assert done.exit_code == 2
    assert f"settings file {tmp_path / 'nope.toml'} does not exist" in done.stderr


def test_flags_override_the_environment(db: Path) -> None:
    # A value the settings would refuse never matters when the flag replaces it.
    env = {"RETENTION_CONSOLE_MAX_WAIT_SECONDS": "-1", "RETENTION_CONSOLE_LEASE_WAIT_SECONDS": "x"}

    done = cli("--db", db, "--run-once", "--max-wait", "0", "--lease-wait", "0", env=env)

    assert done.exit_code == 0, done.output


class OpenedConsole:
    """Stands in for `make_app`: records what the console was opened with."""

    # How the console ended, as the real app tells the command line: normally.
    store_failure = None
    signalled = None
    return_code = 0

    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    def __call__(self, store: object, **kwargs: Any) -> OpenedConsole:
        self.kwargs = kwargs
        return self

    def run(self) -> None:
        pass


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenedConsole]:
    fake = OpenedConsole()
    monkeypatch.setattr(console.ui.app, "make_app", fake)
    yield fake


def test_the_console_loads_the_same_settings(
    tmp_path: Path, db: Path, opened: OpenedConsole
) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("page_size = 25\nin_flight = 3\n", encoding="utf-8")

    done = cli("--settings", settings, "--db", db, env={"RETENTION_CONSOLE_BATCH_ROWS": "10"})

    assert done.exit_code == 0, done.output
    assert opened.kwargs["page_size"] == 25
    options: EngineOptions = opened.kwargs["engine_options"]
    assert (options.in_flight, options.batch_rows) == (3, 10)
    assert options.lease_wait_seconds == 0.0  # the console never waits for a lease


def test_the_console_refuses_a_bad_value_before_opening(db: Path, opened: OpenedConsole) -> None:
    done = cli("--db", db, env={"RETENTION_CONSOLE_PAGE_SIZE": "5"})

    assert done.exit_code == 2
    assert done.stderr.startswith("error: RETENTION_CONSOLE_PAGE_SIZE: ")
    assert opened.kwargs == {}
