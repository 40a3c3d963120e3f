"""`retention-console demo`: a fresh store with generated data, local Segment and ReSci
sandboxes, and the console open on it with the engine running."""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

import click

from console.cli.options import console_log, end_console, engine_settings


@click.command("demo")
@click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to create the demo store (must not exist; default: a new temporary directory).",
)
@click.option(
    "--history-days",
    type=click.IntRange(0, 60),
    default=14,
    show_default=True,
    help="Days of past Segment deliveries to generate, so the Sync summary has a chart.",
)
@click.option(
    "--schedule",
    "schedule_minutes",
    type=click.IntRange(1, 1440),
    default=1,
    show_default=True,
    help="Minutes between scheduled runs of each demo destination.",
)
@click.pass_context
def demo(ctx: click.Context, db: Path | None, history_days: int, schedule_minutes: int) -> None:
    """Open the console on a demo store fed to local Segment and ReSci sandboxes."""
    from console.demo import DemoOptions, create_demo, fill_demo
    from console.ui.app import make_app

    # Short waits so a demo run ends promptly; the rest of the settings apply as elsewhere.
    settings = engine_settings(ctx, max_wait_seconds=10.0)
    # The log goes to the console's file before the data is built: the build logs its runs
    # while the console is drawing.
    log_file = console_log(ctx)

    path = db or Path(tempfile.mkdtemp(prefix="retention-demo-")) / "demo.db"
    try:
        env = create_demo(
            path, DemoOptions(history_days=history_days, schedule_minutes=schedule_minutes)
        )
    except FileExistsError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"Demo store: {path}", err=True)
    click.echo(f"Segment sandbox {env.segment.url}, ReSci sandbox {env.resci.url}", err=True)
    try:
        # The console is on screen at once; the contacts, events and days of history land
        # while it shows them (seconds), then the engine starts and runs every minute.
        app = make_app(
            env.store,
            engine_options=settings.engine_options(headless=False),
            page_size=settings.page_size,
            log_file=log_file,
            startup=("building demo data…", partial(fill_demo, env)),
        )
        app.run()
    finally:
        env.close()
    click.echo(f"The demo store stays at {path}; open it again with: retention-console --db {path}")
    end_console(ctx, app)
