"""Arguments the CLI cannot use are refused with exit 2 and the reason on stderr, never
answered with an empty report and exit 0 (or a traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import main
from tests.cli.test_commands import cli, write


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "args.db"


def test_a_deeply_nested_rule_is_refused_with_its_position(tmp_path: Path, db: Path) -> None:
    rule = "(" * 340 + "email_domain = 'gmail.com'" + ")" * 340
    path = write(tmp_path / "deep.toml", f'[[audiences]]\nname = "deep"\nrule = "{rule}"\n')
    result = cli("config", "apply", path, "--db", db)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: audience 'deep': rule: position 41:")
    assert "Traceback" not in result.stderr


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = tmp_path / "filled.db"
    config = write(
        tmp_path / "seg.toml",
        '[[destinations]]\nname = "seg"\nkind = "segment"\nwrite_key = "k-0123456789"\n',
    )
    assert cli("config", "apply", config, "--db", path).exit_code == 0
    return path


@pytest.mark.parametrize("day", ["bogus", "12/01/2026", "2026-13-01", "2026-11-31"])
@pytest.mark.parametrize("command", ["failures", "retry"])
def test_a_day_that_is_not_one_is_refused(filled: Path, command: str, day: str) -> None:
    result = CliRunner().invoke(main, [command, "--day", day, "--db", str(filled)])
    assert result.exit_code == 2
    assert "--day" in result.stderr and "%Y-%m-%d" in result.stderr


def test_a_well_formed_day_is_accepted(filled: Path) -> None:
    assert cli("failures", "--day", "2026-11-20", "--db", filled).exit_code == 0
    assert cli("retry", "--day", "2026-11-20", "--db", filled).stdout == (
        "0 failures queued again\n"
    )


@pytest.mark.parametrize(
    "command", [["summary"], ["failures"], ["retry"], ["history"], ["failures", "--json"]]
)
def test_an_unknown_destination_is_refused(filled: Path, command: list[str]) -> None:
    result = cli(*command, "--destination", "nope", "--db", filled)
    assert result.exit_code == 2
    assert result.stderr == "error: no destination named nope\n"
    assert result.stdout == ""
    assert cli(*command, "--destination", "seg", "--db", filled).exit_code == 0
