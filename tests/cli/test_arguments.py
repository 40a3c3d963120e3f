"""Arguments the CLI cannot use are refused with exit 2 and the reason on stderr, never
answered with an empty report and exit 0 (or a traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
