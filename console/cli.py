"""`retention-console`: the console, the headless run, imports, configuration and reports.

Exit codes: 0 all went well; 1 some rows failed or are still queued for retry; 2 bad
configuration or input; 3 another engine is working a destination (nothing was sent for it).
Summaries go to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from console.core.text import json_printable, printable
from state.db import (
    Store,
    StoreError,
    StoreMissing,
    default_db_path,
    open_store,
    privacy_warning,
)

if TYPE_CHECKING:
    from console.reports.columns import View

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BUSY = 0, 1, 2, 3

if __name__ == "__main__":
    # `python -m console.cli`: modules that extend the CLI import `console.cli`; let them find
    # this module instead of importing a second copy half way through loading this one.
    sys.modules.setdefault("console.cli", sys.modules[__name__])


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


def _store(ctx: click.Context, db: str | None, *, create: bool = False) -> Store:
    """The store named by --db (here or on the main command), $RETENTION_CONSOLE_DB or the
    default path. Only commands that put something in it (`create`) make a new one: a
    mistyped path given to cron's `--run-once` or to a report exits 2 instead of reporting
    an empty store as a success."""
    target = db or (ctx.find_root().params.get("db")) or default_db_path()
    try:
        store = open_store(target, create=create)
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


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs request URLs at INFO; keep them out of operator logs unless asked for.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)


@click.group(invoke_without_command=True)
@click.option("--run-once", is_flag=True, help="Deliver every enabled destination once and exit.")
@click.option("--destination", "destinations", multiple=True, help="With --run-once: only these.")
@click.option(
    "--max-wait",
    type=click.FloatRange(0, 3600),
    default=60.0,
    show_default=True,
    help="With --run-once: seconds to wait for retries that fall due.",
)
@click.option(
    "--lease-wait",
    type=click.FloatRange(0, 3600),
    default=300.0,
    show_default=True,
    help="With --run-once: seconds to wait for a destination another run is working.",
)
@click.option("-v", "--verbose", is_flag=True, help="Diagnostics on stderr.")
@db_option
@click.pass_context
def main(
    ctx: click.Context,
    run_once: bool,
    destinations: tuple[str, ...],
    max_wait: float,
    lease_wait: float,
    verbose: bool,
    db: str | None,
) -> None:
    """Retention Console: feed Retention Science and Segment from your contact store."""
    _configure_logging(verbose)
    if ctx.invoked_subcommand is not None:
        return
    if run_once:
        ctx.exit(_run_once(ctx, db, destinations, max_wait, lease_wait))
    store = _store(ctx, db, create=True)
    try:
        from console.ui.app import make_app
    except ImportError:
        click.echo(ctx.get_help())
        return
    make_app(store).run()


def _run_once(
    ctx: click.Context,
    db: str | None,
    names: tuple[str, ...],
    max_wait: float,
    lease_wait: float,
) -> int:
    from console.core.vocab import RunStatus, Trigger
    from console.engine.runner import EngineOptions, run_all

    store = _store(ctx, db)
    options = EngineOptions(max_wait_seconds=max_wait, lease_wait_seconds=lease_wait)
    with store.read() as conn:
        from console.engine.destinations import list_destinations

        known = {d.name for d in list_destinations(conn)}
    missing = [n for n in names if n not in known]
    if missing:
        click.echo(f"error: no destination named {', '.join(missing)}", err=True)
        return EXIT_BAD_INPUT
    results = asyncio.run(run_all(store, Trigger.RUN_ONCE, options, names or None))
    if not results:
        click.echo("no enabled destinations; add one with: retention-console config apply FILE")
        return EXIT_OK
    for result in results:
        # The line carries names and a receiver's words: cron mails it, a terminal shows it.
        click.echo(printable(result.line()))
    if any(r.config_error for r in results):
        return EXIT_BAD_INPUT
    if any(r.status == RunStatus.BUSY for r in results):
        return EXIT_BUSY
    if any(r.status != "ok" for r in results):
        return EXIT_FAILED
    return EXIT_OK


@main.group("import")
def import_group() -> None:
    """Load contacts, events or suppressions from CSV / JSONL files."""


def _import_command(kind: str) -> None:
    @import_group.command(kind)
    @click.argument("path", type=click.Path(path_type=Path))
    @db_option
    @click.pass_context
    def command(ctx: click.Context, path: Path, db: str | None) -> None:
        from console import ingest

        importer = {
            "contacts": ingest.import_contacts,
            "events": ingest.import_events,
            "suppressions": ingest.import_suppressions,
        }[kind]
        store = _store(ctx, db, create=True)
        try:
            report = importer(store, path)
        except ingest.FileRejected as exc:
            click.echo(printable(f"error: {exc}"), err=True)
            ctx.exit(EXIT_BAD_INPUT)
        for error in report.errors[:200]:
            click.echo(printable(f"{path}:{error.line}: {error.reason}"), err=True)
        if report.rejected > 200:
            click.echo(f"... and {report.rejected - 200} more rejected rows", err=True)
        click.echo(printable(report.summary_line()))  # it names the file
        # Rejected rows were skipped and reported; the good ones landed.
        ctx.exit(EXIT_FAILED if report.rejected else EXIT_OK)

    command.__doc__ = f"Import {kind} from a CSV or JSONL file."


for _kind in ("contacts", "events", "suppressions"):
    _import_command(_kind)


@main.group("config")
def config_group() -> None:
    """Apply or export destinations and audiences as TOML."""


@config_group.command("apply")
@click.argument("path", type=click.Path(path_type=Path))
@db_option
@click.pass_context
def config_apply(ctx: click.Context, path: Path, db: str | None) -> None:
    """Create or update destinations and audiences from a TOML file."""
    from console.config import ConfigError, apply_config

    store = _store(ctx, db, create=True)
    try:
        report = apply_config(store, path)
    except ConfigError as exc:
        click.echo(printable(f"error: {exc}"), err=True)
        ctx.exit(EXIT_BAD_INPUT)
    click.echo(printable(report.summary_line()))  # it names destinations


@config_group.command("export")
@click.option("--include-secrets", is_flag=True, help="Write keys in full (keep the file private).")
@db_option
@click.pass_context
def config_export(ctx: click.Context, include_secrets: bool, db: str | None) -> None:
    """Print the configuration as TOML (secrets masked unless --include-secrets)."""
    from console.config import export_config

    click.echo(export_config(_store(ctx, db), include_secrets=include_secrets), nl=False)


def _print_json(items: list[dict[str, object]]) -> None:
    click.echo(json_printable(orjson.dumps(items, option=orjson.OPT_INDENT_2).decode()))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@click.option("--destination", default=None, help="Only this destination.")
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True)
@db_option
@click.pass_context
def summary(
    ctx: click.Context, as_json: bool, destination: str | None, days: int, db: str | None
) -> None:
    """Daily sync summary: date, destination, completions, failures, suppressed, queued."""
    from console.reports.views import SUMMARY
    from state.queries import daily_summary

    with _store(ctx, db).read() as conn:
        rows = daily_summary(conn, destination, days)
    _print_report(SUMMARY, rows, as_json)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@click.option("--destination", default=None, help="Only this destination.")
@click.option("--day", default=None, help="Only failures recorded on this day (YYYY-MM-DD).")
@click.option("--search", default=None, help="Match email, domain or feedback text.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=200, show_default=True)
@db_option
@click.pass_context
def failures(
    ctx: click.Context,
    as_json: bool,
    destination: str | None,
    day: str | None,
    search: str | None,
    limit: int,
    db: str | None,
) -> None:
    """Per-email failures with the destination's feedback."""
    from console.reports.views import FAILURES
    from state.queries import FailureFilter, failures_page

    flt = FailureFilter(destination=destination, day=day, text=search)
    with _store(ctx, db).read() as conn:
        rows = failures_page(conn, flt, limit=limit)
    _print_report(FAILURES, rows, as_json)


@main.command()
@click.option("--destination", default=None)
@click.option("--day", default=None, help="Failures recorded on this day (YYYY-MM-DD).")
@click.option("--search", default=None)
@db_option
@click.pass_context
def retry(
    ctx: click.Context,
    destination: str | None,
    day: str | None,
    search: str | None,
    db: str | None,
) -> None:
    """Put matching failures back in the queue; the next run delivers them."""
    from state.outbox import requeue_failures
    from state.queries import FailureFilter, failure_ids

    store = _store(ctx, db)
    flt = FailureFilter(destination=destination, day=day, text=search)
    with store.write() as conn:
        count = requeue_failures(conn, failure_ids(conn, flt))
    click.echo(f"{count} failures queued again")


@main.command()
@click.option("--destination", default=None)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@db_option
@click.pass_context
def history(
    ctx: click.Context, destination: str | None, limit: int, as_json: bool, db: str | None
) -> None:
    """Every run: trigger, destination, start, duration and counts."""
    from console.reports.views import RUNS
    from state.queries import runs_page

    with _store(ctx, db).read() as conn:
        rows = runs_page(conn, destination, limit=limit)
    _print_report(RUNS, rows, as_json)


def _print_report(view: View[Any], rows: list[Any], as_json: bool) -> None:
    """A view's rows as its JSON export or as its plain-text report (the console's columns;
    control characters escaped)."""
    if as_json:
        _print_json([view.export_item(row) for row in rows])
        return
    for line in view.report_lines(rows):
        click.echo(line)


def _print_table(rows: list[tuple[str, ...]]) -> None:
    # Cells may hold the outside world's words (names, a job's message): never raw controls.
    rows = [tuple(printable(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@main.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Segment receiver port; the ReSci receiver listens on port+1.",
)
@click.option("--resci-port", type=click.IntRange(0, 65535), default=None)
@click.option(
    "--job-delay",
    type=click.FloatRange(0, 7200),
    default=5.0,
    show_default=True,
    help="Seconds a ReSci import job takes to complete.",
)
def sandbox(port: int, resci_port: int | None, job_delay: float) -> None:
    """Serve local Segment- and ReSci-compatible receivers on 127.0.0.1."""
    from console.sandbox import serve_sandboxes

    serve_sandboxes(port, resci_port, job_delay_seconds=job_delay)


from console.cli_resci import resci  # noqa: E402

main.add_command(resci)


from console.cli_demo import demo  # noqa: E402

main.add_command(demo)


if __name__ == "__main__":  # pragma: no cover
    main()
