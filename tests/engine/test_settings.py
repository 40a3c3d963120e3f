"""`EngineSettings`: defaults equal the engine's own, then the TOML file, the environment and
flags override each other in that order; a bad value is an error naming where it came from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import main
from console.engine.destinations import DestinationRecord, get_destination
from console.engine.options import EngineOptions
from console.engine.retries import RetryPolicy
from console.engine.runner import run_destination
from console.engine.service import EngineService
from console.engine.settings import EngineSettings, SettingsError, env_name
from console.sandbox import SegmentSandbox
from state.db import Store
from state.history import runs_page


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RETENTION_CONSOLE_* variable of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.upper().startswith("RETENTION_CONSOLE_"):
            monkeypatch.delenv(name)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_engines_defaults() -> None:
    settings = EngineSettings.load()
    # The console does not wait for a lease, as EngineOptions() does not.
    assert settings.engine_options(headless=False) == EngineOptions()
    assert settings.engine_options(headless=True).lease_wait_seconds == 300.0
    assert settings.retry_policy() == RetryPolicy()
    assert settings.page_size == 100


def test_every_field_has_a_description_for_readme() -> None:
    for name, field in EngineSettings.model_fields.items():
        assert field.description, f"{name} has no docstring"


def test_environment_overrides_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTION_CONSOLE_BATCH_ROWS", "500")
    monkeypatch.setenv("RETENTION_CONSOLE_RETRY_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("RETENTION_CONSOLE_UNHEALTHY_PROBE_SECONDS", "60")

    options = EngineSettings.load().engine_options(headless=True)

    assert options.batch_rows == 500
    assert options.policy.max_attempts == 3
    assert options.unhealthy_probe_seconds == 60.0


def test_toml_file_then_environment_then_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path / "settings.toml",
        "batch_rows = 100\nin_flight = 4\nmax_wait_seconds = 5.0\npage_size = 50\n",
    )
    monkeypatch.setenv("RETENTION_CONSOLE_IN_FLIGHT", "3")
    monkeypatch.setenv("RETENTION_CONSOLE_MAX_WAIT_SECONDS", "7")

    settings = EngineSettings.load(path, max_wait_seconds=0.0)

    assert settings.batch_rows == 100  # the file
    assert settings.page_size == 50  # the file
    assert settings.in_flight == 3  # the environment over the file
    assert settings.max_wait_seconds == 0.0  # the flag over both


def test_a_flag_replaces_a_bad_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTION_CONSOLE_MAX_WAIT_SECONDS", "-1")
    assert EngineSettings.load(max_wait_seconds=2.0).max_wait_seconds == 2.0


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("batch_rows", "0", "greater than or equal to 1"),
        ("batch_rows", "2501", "less than or equal to 2500"),
        ("in_flight", "many", "valid integer"),
        ("timeout_seconds", "0", "greater than 0"),
        ("page_size", "5", "greater than or equal to 10"),
    ],
)
def test_a_bad_environment_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(env_name(field), value)
    with pytest.raises(SettingsError) as caught:
        EngineSettings.load()
    message = str(caught.value)
    assert message.startswith(f"{env_name(field)}: ")
    assert reason in message and repr(value) in message


def test_a_bad_file_value_names_the_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", "retry_max_attempts = 0\n")
    with pytest.raises(SettingsError, match=r"^retry_max_attempts in .*settings\.toml: .* 1"):
        EngineSettings.load(path)


def test_an_unknown_key_in_the_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", "batch_size = 10\n")
    with pytest.raises(
        SettingsError, match=r"batch_size in .*: no such setting \(known: batch_rows"
    ):
        EngineSettings.load(path)


def test_a_missing_or_broken_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        EngineSettings.load(tmp_path / "nowhere.toml")
    with pytest.raises(SettingsError, match="not valid TOML"):
        EngineSettings.load(write(tmp_path / "broken.toml", "batch_rows = \n"))


def test_retry_cap_below_base_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTION_CONSOLE_RETRY_BASE_SECONDS", "10")
    monkeypatch.setenv("RETENTION_CONSOLE_RETRY_CAP_SECONDS", "5")
    with pytest.raises(
        SettingsError, match=r"retry_cap_seconds \(5\) is below retry_base_seconds \(10\)"
    ):
        EngineSettings.load()


# -- the health knobs reach the engine ----------------------------------------------------------


def refused_destination(store: Store, tmp_path: Path, url: str) -> DestinationRecord:
    """A Segment destination whose write key the sandbox refuses, with one contact queued."""
    contacts = write(tmp_path / "contacts.csv", "email\na@example.com\n")
    config = write(
        tmp_path / "destinations.toml",
        f'[[destinations]]\nname = "seg"\nkind = "segment"\nwrite_key = "not-the-key"\n'
        f'endpoint = "{url}"\n',
    )
    db = str(store.path)  # the CLI opens the same file the fixture did
    for args in (["import", "contacts", str(contacts)], ["config", "apply", str(config)]):
        done = CliRunner().invoke(main, [*args, "--db", db])
        assert done.exit_code == 0, done.output
    with store.read() as conn:
        record = get_destination(conn, "seg")
    assert record is not None
    return record


async def test_unhealthy_after_and_the_probe_interval_are_the_options(
    store: Store, tmp_path: Path, segment_sandbox: tuple[SegmentSandbox, str]
) -> None:
    _, url = segment_sandbox
    record = refused_destination(store, tmp_path, url)

    result = await run_destination(
        store, record, "manual", EngineOptions(max_wait_seconds=0, unhealthy_after=1)
    )

    assert result.status == "failed"
    with store.read() as conn:
        after = get_destination(conn, "seg")
    assert after is not None and not after.healthy  # one failing run, not the default three

    def runs() -> int:
        with store.read() as conn:
            return len(runs_page(conn, "seg"))

    waiting = EngineService(store, EngineOptions(max_wait_seconds=0, unhealthy_probe_seconds=3600))
    await waiting._scheduled_run("seg")
    assert runs() == 1  # left alone: probed again only after an hour
    probing = EngineService(store, EngineOptions(max_wait_seconds=0, unhealthy_probe_seconds=0))
    await probing._scheduled_run("seg")
    assert runs() == 2
