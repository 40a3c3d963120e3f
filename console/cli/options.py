"""What every `retention-console` command shares: exit codes, the `--db` option and opening the
store it names, logging, tables and JSON on stdout, and the engine's settings.

The command modules import this one and nothing of each other; `console.cli` assembles them.
It imports no Textual and nothing heavy at module level, so `--run-once` stays lean.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import tomllib
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
import orjson

from console.core.text import json_printable, printable
from state.errors import StoreError

# The store (SQLAlchemy) is imported by the commands that open it, not here: `--version`,
# `--help` and shell completion answer without it.

if TYPE_CHECKING:
    from console.engine.settings import EngineSettings
    from console.reports.columns import View
    from state.db import Store

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BUSY = 0, 1, 2, 3
"""0 all went well; 1 some rows failed or are still queued for retry; 2 bad configuration or
input, or a store that cannot be written; 3 another engine is working a destination (nothing
was sent for it); 128 + the signal's number (130 SIGINT, 143 SIGTERM) when a signal ended it."""

T = TypeVar("T")


class Interrupted(Exception):
    """SIGINT or SIGTERM ended the command after it closed what it had started."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class ConsoleGroup(click.Group):
    """The root command. Every command's store failure (read-only, disk full: `StoreFailed`
    from `state.db`) and every signal that ended a command meet here, once: one line on
    stderr, no traceback (it would carry SQL), exit 2 or 128 + the signal."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoreError as exc:
            click.echo(printable(f"error: {exc}"), err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except Interrupted as exc:
            click.echo(f"interrupted by {exc}; runs in flight were closed as interrupted", err=True)
            ctx.exit(128 + exc.signum)


def end_console(ctx: click.Context, app: Any) -> None:
    """After the console's `run()`: what ended it becomes the exit (a store failure: its line
    and 2; a signal: 130 / 143; a crash: Textual's non-zero return code, never 0)."""
    if app.store_failure is not None:
        raise app.store_failure
    if app.signalled is not None:
        raise Interrupted(app.signalled)
    ctx.exit(app.return_code or EXIT_OK)


def run_interruptible(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, ended cleanly by SIGINT or SIGTERM: the task is cancelled (a run
    in flight closes itself as `interrupted` and gives back its lease), then Interrupted is
    raised for `ConsoleGroup` to turn into exit 130 / 143."""
    received: list[int] = []

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(signum: int) -> None:
            if not received:  # a second Ctrl-C does not cut the closing writes short
                received.append(signum)
                task.cancel()

        if threading.current_thread() is threading.main_thread():  # signals reach only it
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, on_signal, signum)
        try:
            return await main
        except asyncio.CancelledError:
            if received:
                raise Interrupted(received[0]) from None
            raise

    return asyncio.run(guarded())


EXIT_CODES_HELP = """\b
Exit codes (--run-once and the commands):
  0  all went well
  1  rows failed or wait for a retry (import: rows were rejected)
  2  bad configuration or input: a usage error, a refused file or store
  3  another engine holds a destination (--run-once sent it nothing)
  130, 143  SIGINT or SIGTERM ended it (runs in flight closed as interrupted)"""
"""The codes above as the root command's `--help` lists them (`\\b`: click keeps the lines)."""


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db",
        # Kept as text: a Path would fold `sqlite:///abs/path` or `postgresql://host/db` into a
        # local file name.
        type=click.Path(dir_okay=False),
        default=None,
        help="Store file or database URL (default: $RETENTION_CONSOLE_DB or the user data dir).",
    )(func)


def store_for(
    ctx: click.Context, db: str | None, *, create: bool = False, cache_kib: int | None = None
) -> Store:
    """The store named by --db (here or on the main command), $RETENTION_CONSOLE_DB or the
    default path. Only commands that put something in it (`create`) make a new one: a
    mistyped path given to cron's `--run-once` or to a report exits 2 instead of reporting
    an empty store as a success. `cache_kib`: see state.db (the console asks for more)."""
    from state.db import CACHE_KIB, StoreMissing, default_db_path, open_store, privacy_warning

    target = db or (ctx.find_root().params.get("db")) or default_db_path()
    try:
        store = open_store(target, create=create, cache_kib=cache_kib or CACHE_KIB)
    except StoreMissing as exc:
        click.echo(
            printable(
                f"error: {exc}; check --db, or create it with: retention-console config apply FILE"
            ),
            err=True,
        )
        ctx.exit(EXIT_BAD_INPUT)
    except StoreError as exc:
        click.echo(printable(f"error: {exc}"), err=True)
        ctx.exit(EXIT_BAD_INPUT)
    if warning := privacy_warning(store):
        click.echo(f"warning: {warning}", err=True)
    return store


def engine_settings(ctx: click.Context, **flags: float | None) -> EngineSettings:
    """The engine's settings: `flags` given on the command line (None: not given) over
    $RETENTION_CONSOLE_* over the file of --settings / $RETENTION_CONSOLE_SETTINGS over the
    defaults. A bad value exits 2 naming the variable or file that holds it."""
    from console.engine.settings import EngineSettings, SettingsError

    path: str | None = ctx.find_root().params.get("settings_file")
    try:
        return EngineSettings.load(
            Path(path) if path else None,
            **{name: value for name, value in flags.items() if value is not None},
        )
    except SettingsError as exc:
        fail(ctx, str(exc))


ENV_TIMEZONE = "RETENTION_CONSOLE_TIMEZONE"
"""The `timezone` engine setting's variable (`console.engine.settings.env_name`)."""


def apply_time_zone(ctx: click.Context, tz: str | None) -> None:
    """Where a day starts for this command (`--tz`, else the `timezone` setting from
    $RETENTION_CONSOLE_TIMEZONE or the settings file, else UTC). Only that one setting is read
    here, so a report does not fail on a bad value of a knob it does not use; the console and
    `--run-once` validate them all when they load the settings. A bad name exits 2."""
    from console.core import clock

    where = "--tz"
    name = tz
    if name is None and (found := os.environ.get(ENV_TIMEZONE)) is not None:
        where, name = ENV_TIMEZONE, found
    if name is None:
        path = ctx.find_root().params.get("settings_file")
        if path:
            try:
                with Path(path).open("rb") as handle:
                    found = tomllib.load(handle).get("timezone")
            except (OSError, tomllib.TOMLDecodeError):
                found = None  # the full load, where there is one, says what is wrong
            if isinstance(found, str):
                where, name = f"timezone in {path}", found
    try:
        clock.set_zone(clock.zone_named(name) if name else None)
    except ValueError as exc:
        fail(ctx, f"{where}: {exc}")


def fail(ctx: click.Context, message: str) -> NoReturn:
    """`error: message` on stderr, exit 2 (bad configuration or input)."""
    click.echo(f"error: {message}", err=True)
    ctx.exit(EXIT_BAD_INPUT)


# A day as the store keeps it; click refuses anything else (`bogus`, `12/01/2026`) with exit 2,
# where a free string used to match nothing and print an empty report with exit 0.
DAY = click.DateTime(formats=["%Y-%m-%d"])


def day_text(_ctx: click.Context, _param: click.Parameter, value: Any) -> str | None:
    """`--day`'s callback: the parsed date back as `YYYY-MM-DD`, the store's form."""
    return value.date().isoformat() if value is not None else None


def known_destination(ctx: click.Context, conn: Any, name: str | None) -> None:
    """Exit 2 when `--destination` names none: an empty report would read as "all is well"."""
    if name is None:
        return
    from console.engine.destinations import get_destination

    if get_destination(conn, name) is None:
        fail(ctx, printable(f"no destination named {name}"))


def configure_logging(verbose: bool) -> None:
    """Diagnostics on stderr for the command line (`-v`: everything at DEBUG)."""
    from console.log_file import configure_cli_logging

    configure_cli_logging(verbose)


def console_log(ctx: click.Context) -> Path:
    """While the console draws, the log goes to its file (stderr would land on the screen)."""
    from console.log_file import log_to_file

    return log_to_file(bool(ctx.find_root().params.get("verbose")))


def print_json(items: list[dict[str, object]]) -> None:
    click.echo(json_printable(orjson.dumps(items, option=orjson.OPT_INDENT_2).decode()))


def print_report(view: View[Any], rows: list[Any], as_json: bool) -> None:
    """A view's rows as its JSON export or as its plain-text report (the console's columns;
    control characters escaped)."""
    if as_json:
        print_json([view.export_item(row) for row in rows])
        return
    for line in view.report_lines(rows):
        click.echo(line)


def print_table(rows: Sequence[tuple[str, ...]]) -> None:
    """Left-aligned columns two spaces apart; the first row is the header."""
    # Cells may hold the outside world's words (names, a job's message): never raw controls.
    rows = [tuple(printable(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
