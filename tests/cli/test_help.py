"""What an operator and the Python ecosystem expect of the command line: help on every command
and option, the exit codes in `--help`, `--version`, `python -m console` and shell completion."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version

import click
import pytest
from click.testing import CliRunner

from console.cli import main
from tests.cli.test_commands import ENTRY_POINT


def every_command(
    command: click.Command, path: tuple[str, ...] = ("retention-console",)
) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path), command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from every_command(sub, (*path, name))


def test_every_command_and_option_has_help() -> None:
    missing: list[str] = []
    commands = list(every_command(main))
    for path, command in commands:
        if not (command.help or command.short_help):
            missing.append(path)
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not param.help:
                missing.append(f"{path} {param.opts[0]}")
    assert len(commands) >= 15  # the walk reached the subcommands of the groups
    assert missing == []


def test_the_top_level_help_lists_the_exit_codes_of_run_once() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    text = result.output
    assert "--run-once" in text
    codes = text[text.index("Exit codes") :]
    for line in ("0  all went well", "1  rows failed", "2  bad configuration", "3  another"):
        assert line in codes


def test_version_comes_from_the_package_metadata() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"retention-console {version('retention-console')}\n"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_python_dash_m_console_is_the_same_command() -> None:
    done = run(sys.executable, "-m", "console", "--version")
    assert (done.returncode, done.stdout) == (
        0,
        f"retention-console {version('retention-console')}\n",
    )
    usage = run(sys.executable, "-m", "console", "import", "--help")
    assert usage.returncode == 0
    assert usage.stdout.startswith("Usage: retention-console import [OPTIONS] COMMAND")


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _retention_console_completion retention-console"),
        ("zsh", "compdef _retention_console_completion retention-console"),
        ("fish", "complete --no-files --command retention-console"),
    ],
)
def test_shell_completion_scripts_are_produced(shell: str, marker: str) -> None:
    """README's completion lines: `_RETENTION_CONSOLE_COMPLETE=<shell>_source retention-console`."""
    done = run(str(ENTRY_POINT), env={"_RETENTION_CONSOLE_COMPLETE": f"{shell}_source"})
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout


def test_completion_completes_commands_and_options() -> None:
    def complete(words: str) -> list[str]:
        done = run(
            str(ENTRY_POINT),
            env={
                "_RETENTION_CONSOLE_COMPLETE": "bash_complete",
                "COMP_WORDS": words,
                "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
            },
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    assert "plain,import" in complete("retention-console imp")
    assert "plain,--day" in complete("retention-console failures --da")
    assert "plain,--encoding" in complete("retention-console import contacts --enc")


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["import", "--help"]])
def test_help_and_version_answer_without_loading_the_store(args: list[str]) -> None:
    """`--version`, `--help` and shell completion (which runs the program on every Tab) do not
    import SQLAlchemy, the store or the destinations: they answer in about 0.1 s, not 0.8."""
    probe = (
        "import sys\n"
        "from console.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('sqlalchemy', 'state.db', 'console.destinations.registry',"
        " 'textual') if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert "heavy: []" in result.stdout, result.stdout[-500:]
