"""The root `retention-console` command: the console (no subcommand) and the headless
`--run-once` for cron and systemd timers.

Exit codes (see `console.cli.options`): 0 all went well; 1 some rows failed or are still queued
for retry; 2 bad configuration or input; 3 another engine is working a destination (nothing was
sent for it). Summaries go to stdout, diagnostics to stderr.

`--run-once` never imports Textual: the UI is imported inside `_open_console` only.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from dataclasses import dataclass

import click

from console.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_BUSY,
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_OK,
    ConsoleGroup,
    apply_time_zone,
    configure_logging,
    console_log,
    db_option,
    end_console,
    engine_settings,
    run_interruptible,
    store_for,
)
from console.core.text import printable


@dataclass(frozen=True)
class RunOutput:
    """How `--run-once` reports: every line, only what needs attention, or JSON; how long it
    keeps polling pending import jobs; and whether it shares destinations as a worker."""

    quiet: bool = False
    as_json: bool = False
    wait_jobs_minutes: float = 0
    worker: bool = False
    """Share the destinations with other workers (PostgreSQL)."""


@click.group(cls=ConsoleGroup, invoke_without_command=True, epilog=EXIT_CODES_HELP)
@click.version_option(
    package_name="retention-console",
    prog_name="retention-console",
    message="%(prog)s %(version)s",
    help="Print the installed version and exit.",
)
@click.option("--run-once", is_flag=True, help="Deliver every enabled destination once and exit.")
@click.option(
    "--destination",
    "destinations",
    metavar="NAME",
    multiple=True,
    help="With --run-once: only this destination (repeat for more).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="With --run-once: plan and count what the run would send; send and write nothing.",
)
@click.option(
    "--show",
    type=click.IntRange(0, 1000),
    default=None,
    help="With --dry-run: print this many payloads per destination as they would leave.",
)
@click.option(
    "--max-wait",
    type=click.FloatRange(0, 3600),
    default=None,
    help="With --run-once: seconds to wait for retries that fall due "
    "(default: the max_wait_seconds setting, 60).",
)
@click.option(
    "--lease-wait",
    type=click.FloatRange(0, 3600),
    default=None,
    help="With --run-once: seconds to wait for a destination another run is working "
    "(default: the lease_wait_seconds setting, 300).",
)
@click.option(
    "--worker",
    is_flag=True,
    help="With --run-once on PostgreSQL: share each destination with the other workers "
    "started so (on this host or others), slot by slot, instead of taking turns.",
)
@click.option(
    "--quiet",
    is_flag=True,
    help="With --run-once: print nothing when everything was delivered, else one line per "
    "destination that needs attention, the reason first.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="With --run-once: one JSON object per destination (the fields of summary --json, "
    "state and reason).",
)
@click.option(
    "--wait-jobs",
    type=click.FloatRange(0, 24 * 60),
    default=0,
    metavar="MINUTES",
    help="With --run-once: keep polling pending import jobs (backing off) until they complete "
    "or MINUTES are up.",
)
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False),
    envvar="RETENTION_CONSOLE_SETTINGS",
    default=None,
    help="A TOML file of engine settings (default: $RETENTION_CONSOLE_SETTINGS); "
    "$RETENTION_CONSOLE_<NAME> variables override it, flags override both.",
)
@click.option(
    "--tz",
    default=None,
    metavar="ZONE",
    help="The operator's time zone (IANA name, e.g. Europe/Paris): where a day starts for "
    "Summary, Failures and --day/--since/--until (default: the timezone setting, UTC). "
    "Stored times stay UTC; days already counted keep their UTC day.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Debug diagnostics, the engine's decisions included: on stderr, or in the console's "
    "log file while the console runs.",
)
@click.option(
    "--no-engine",
    is_flag=True,
    help="Open the console without a scheduler of its own: scheduled runs are left to the "
    "engine that runs elsewhere (another console, cron's --run-once); run now, retry and test "
    "connection still work, through the same lease. `serve` opens each browser tab this way.",
)
@db_option
@click.pass_context
def main(
    ctx: click.Context,
    run_once: bool,
    destinations: tuple[str, ...],
    dry_run: bool,
    show: int | None,
    max_wait: float | None,
    lease_wait: float | None,
    worker: bool,
    quiet: bool,
    as_json: bool,
    wait_jobs: float,
    settings_file: str | None,
    tz: str | None,
    verbose: bool,
    no_engine: bool,
    db: str | None,
) -> None:
    """Retention Console: feed Retention Science and Segment from your contact store.

    Without a command, opens the console (a terminal UI); --run-once delivers once and exits,
    for cron and systemd timers.
    """
    configure_logging(verbose)
    apply_time_zone(ctx, tz)
    if ctx.invoked_subcommand is not None:
        return
    if dry_run and not run_once:
        raise click.UsageError("--dry-run goes with --run-once")
    if show is not None and not dry_run:
        raise click.UsageError("--show goes with --dry-run")
    if worker and (not run_once or dry_run):
        raise click.UsageError("--worker goes with --run-once")
    if run_once and dry_run:
        ctx.exit(_dry_run(ctx, db, destinations, show or 0))
    if run_once:
        if quiet and as_json:
            raise click.UsageError("--quiet and --json cannot be combined")
        output = RunOutput(quiet=quiet, as_json=as_json, wait_jobs_minutes=wait_jobs, worker=worker)
        ctx.exit(_run_once(ctx, db, destinations, max_wait, lease_wait, output))
    _open_console(ctx, db, start_engine=not no_engine)


def _open_console(ctx: click.Context, db: str | None, *, start_engine: bool) -> None:
    # --max-wait and --lease-wait are --run-once's; the console takes the settings as they are.
    from state.db import CONSOLE_CACHE_KIB

    settings = engine_settings(ctx)
    store = store_for(ctx, db, create=True, cache_kib=CONSOLE_CACHE_KIB)
    # A read-only store is one line here, not a console that cannot record its first run.
    store.check_writable()
    try:
        # Here and nowhere else at the root: `--run-once` must not pay for (or depend on) Textual.
        from console.ui.app import make_app
    except ImportError:
        click.echo(ctx.get_help())
        return
    app = make_app(
        store,
        engine_options=settings.engine_options(headless=False),
        start_engine=start_engine,
        engine_elsewhere=not start_engine,
        page_size=settings.page_size,
        log_file=console_log(ctx),
    )
    app.run()
    end_console(ctx, app)


def _run_once(
    ctx: click.Context,
    db: str | None,
    names: tuple[str, ...],
    max_wait: float | None,
    lease_wait: float | None,
    output: RunOutput,
) -> int:
    from console.cli.run_output import StderrProgress, print_results, run_waiting_for_jobs
    from console.core.vocab import RunStatus, Trigger
    from console.engine.destinations import list_destinations

    settings = engine_settings(ctx, max_wait_seconds=max_wait, lease_wait_seconds=lease_wait)
    store = store_for(ctx, db)
    options = settings.engine_options(headless=True)
    if output.worker:
        from state.sharing import is_shared_store

        if not is_shared_store(store):
            click.echo(
                "error: --worker needs a PostgreSQL store (--db postgresql+psycopg://...); "
                "on SQLite one engine at a time works a destination",
                err=True,
            )
            return EXIT_BAD_INPUT
        options = dataclasses.replace(options, shared=True)
    with store.read() as conn:
        known = {d.name for d in list_destinations(conn)}
    missing = [n for n in names if n not in known]
    if missing:
        click.echo(f"error: no destination named {', '.join(missing)}", err=True)
        return EXIT_BAD_INPUT
    shown = StderrProgress(sys.stderr, shutil.get_terminal_size().columns)
    if sys.stderr.isatty():
        options = dataclasses.replace(options, progress=shown.update)
    try:
        results = run_interruptible(
            run_waiting_for_jobs(
                store, Trigger.RUN_ONCE, options, names or None, output.wait_jobs_minutes
            )
        )
    finally:
        shown.clear()
    if not results:
        if not (output.quiet or output.as_json):
            click.echo("no enabled destinations; add one with: retention-console config apply FILE")
        return EXIT_OK
    print_results(results, quiet=output.quiet, as_json=output.as_json, store=store)
    if any(r.config_error for r in results):
        return EXIT_BAD_INPUT
    if any(r.status == RunStatus.BUSY for r in results):
        return EXIT_BUSY
    if any(r.status != "ok" for r in results):
        return EXIT_FAILED
    return EXIT_OK


def _dry_run(ctx: click.Context, db: str | None, names: tuple[str, ...], show: int) -> int:
    """Print what `--run-once` would do, destination by destination, writing nothing. Exits 0
    when every plan could be made, 1 when a run would stop (a missing audience), 2 for a bad
    configuration (an unset `env:` key, an unknown destination)."""
    from console.engine.destinations import list_destinations
    from console.engine.dry_run import dry_run_all
    from console.reports.dry_run import plan_lines

    store = store_for(ctx, db)
    with store.read() as conn:
        known = {d.name for d in list_destinations(conn)}
    missing = [n for n in names if n not in known]
    if missing:
        click.echo(f"error: no destination named {', '.join(missing)}", err=True)
        return EXIT_BAD_INPUT
    plans = dry_run_all(store, names or None, show=show)
    if not plans:
        click.echo("no enabled destinations; add one with: retention-console config apply FILE")
        return EXIT_OK
    click.echo("dry run: nothing is sent, queued or moved")
    for plan in plans:
        for line in plan_lines(plan):
            # Names, emails and payloads are data: escaped, never raw control characters.
            click.echo(printable(line))
    if any(p.config_error for p in plans):
        return EXIT_BAD_INPUT
    if any(p.halted for p in plans):
        return EXIT_FAILED
    return EXIT_OK
