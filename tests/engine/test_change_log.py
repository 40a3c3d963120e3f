"""The change log: every change made through the commands (destination save, enable/disable,
pause, remove; audiences; authorizations; suppressions) is recorded with a field-level diff,
when and who; a secret never appears, in the table or in `retention-console changes`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlmodel import col

from console.destinations.segment.settings import SegmentSettings
from console.engine.commands import Commands, DestinationChange
from state.changes import changes_page
from state.db import Store
from state.models import ChangeRecord
from tests.cli.test_commands import cli

OLD_KEY = "old-write-key-1111"
NEW_KEY = "new-write-key-2222"


def segment(key: str, endpoint: str = "http://127.0.0.1:9") -> SegmentSettings:
    return SegmentSettings.model_validate({"write_key": key, "endpoint": endpoint})


def everything_stored(store: Store) -> str:
    with store.read() as conn:
        return repr(conn.execute(select(ChangeRecord)).all())


def test_a_save_with_a_new_key_is_recorded_masked(store: Store) -> None:
    commands = Commands(store)
    commands.save_destination("seg", segment(OLD_KEY))
    # Created as a draft (off); saved off again, so only the settings change.
    commands.save_destination("seg", segment(NEW_KEY, "http://127.0.0.1:10"), enabled=False)
    commands.save_destination("seg", segment(NEW_KEY, "http://127.0.0.1:10"), enabled=False)

    with store.read() as conn:
        saved, created = changes_page(conn, name="seg")
    assert (created.action, saved.action) == ("create", "save")
    assert saved.diff == {
        "endpoint": ["http://127.0.0.1:9", "http://127.0.0.1:10"],
        "write_key": ["••••1111", "••••2222"],
    }
    assert "@" in saved.changed_by and saved.changed_at
    stored = everything_stored(store)
    assert OLD_KEY not in stored and NEW_KEY not in stored


def test_a_rotated_key_with_the_same_last_characters_still_shows(store: Store) -> None:
    commands = Commands(store)
    commands.save_destination("seg", segment("first-key-abcd"))
    commands.save_destination("seg", segment("other-key-abcd"), enabled=False)
    with store.read() as conn:
        latest = changes_page(conn, name="seg")[0]
    assert latest.diff == {"write_key": ["••••abcd", "••••abcd (changed)"]}


def test_flags_removal_audiences_authorizations_and_suppressions_are_recorded(
    store: Store,
) -> None:
    commands = Commands(store)
    commands.save_destination("seg", segment(OLD_KEY))  # a draft: off
    commands.set_enabled("seg", True)
    commands.set_paused("seg", True)
    commands.set_enabled("seg", False)
    commands.apply_configuration(
        {"vip": "email_domain = 'example.com'"}, [DestinationChange("seg", segment(OLD_KEY))]
    )
    commands.save_authorization("prod", "resci-secret-key-9876", "production")
    commands.add_suppressions(["0" * 32], "added by test")
    commands.remove_destination("seg")

    with store.read() as conn:
        log = [(c.subject, c.name, c.action) for c in reversed(changes_page(conn))]
    assert log == [
        ("destination", "seg", "create"),
        ("destination", "seg", "enable"),
        ("destination", "seg", "pause"),
        ("destination", "seg", "disable"),
        ("audience", "vip", "save"),
        ("destination", "seg", "save"),  # switched on again by the file
        ("authorization", "prod", "save"),
        ("suppressions", "added by test", "add"),
        ("destination", "seg", "remove"),
    ]
    stored = everything_stored(store)
    assert OLD_KEY not in stored and "resci-secret-key-9876" not in stored


def test_the_changes_command_lists_a_destinations_changes_masked(
    store: Store, tmp_path: Path
) -> None:
    commands = Commands(store)
    commands.save_destination("seg", segment(OLD_KEY))
    commands.save_destination("seg", segment(NEW_KEY), enabled=False)
    commands.save_destination("other", segment(OLD_KEY))
    assert store.path is not None

    result = cli("changes", "--destination", "seg", "--since", "2000-01-01", "--db", store.path)

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["when", "who", "what", "name", "action", "changes"]
    assert len(lines) == 3 and "write_key: ••••1111 → ••••2222" in lines[1]
    assert OLD_KEY not in result.stdout and NEW_KEY not in result.stdout
    assert cli("changes", "--destination", "nope", "--db", store.path).exit_code == 2
    with store.read() as conn:
        assert len(list(conn.scalars(select(col(ChangeRecord.id))))) == 3


def test_audiences_changed_on_screen_are_logged(store: Store) -> None:
    commands = Commands(store)
    commands.save_audience("vip", "email_domain = 'gmail.com'", create=True)
    commands.save_audience("vip", "email_domain = 'yahoo.com'")
    commands.save_audience("vip", "email_domain = 'yahoo.com'")  # unchanged: not a change
    commands.remove_audience("vip")
    with store.read() as conn:
        rows = changes_page(conn, subject="audience", name="vip")
    assert sorted((row.action, str(row.diff)) for row in rows) == sorted(
        [
            ("save", str({"rule": [None, "email_domain = 'gmail.com'"]})),
            ("save", str({"rule": ["email_domain = 'gmail.com'", "email_domain = 'yahoo.com'"]})),
            ("remove", str({})),
        ]
    )
