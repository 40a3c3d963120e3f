"""`retention-console retry`: put matching failures back in the queue."""

from __future__ import annotations

import click

from console.cli.options import db_option, store_for


@click.command()
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
    from console.engine.commands import Commands
    from state.queries import FailureFilter, failure_ids

    store = store_for(ctx, db)
    flt = FailureFilter(destination=destination, day=day, text=search)
    with store.read() as conn:
        row_ids = failure_ids(conn, flt)
    # The re-queue the console's retry makes too (`EngineService.retry`), without delivering
    # at once: the next run (or --run-once) does.
    count = Commands(store).requeue(row_ids).count
    click.echo(f"{count} failures queued again")
