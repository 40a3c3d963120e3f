"""`retention-console retry`: put matching failures back in the queue."""

from __future__ import annotations

import click

from console.cli.options import DAY, day_text, db_option, known_destination, store_for


@click.command()
@click.option(
    "--destination", metavar="NAME", default=None, help="Only this destination's failures."
)
@click.option(
    "--day",
    type=DAY,
    metavar="YYYY-MM-DD",
    default=None,
    callback=day_text,
    help="Only failures recorded on this day.",
)
@click.option(
    "--search", default=None, help="Failures whose email, domain or feedback holds this text."
)
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
    from console.engine.commands import Commands
    from console.reports.formatting import counted
    from state.failures import FailureFilter, failure_ids

    store = store_for(ctx, db)
    flt = FailureFilter(destination=destination, day=day, text=search)
    with store.read() as conn:
        known_destination(ctx, conn, destination)
        row_ids = failure_ids(conn, flt)
    # The re-queue the console's retry makes too (`EngineService.retry`), without delivering
    # at once: the next run (or --run-once) does.
    requeued = Commands(store).requeue(row_ids)
    click.echo(f"{counted(requeued.count, 'failure')} queued again")
    if requeued.refused:
        click.echo(requeued.refused_line())
