"""`retention-console forget EMAIL...` and `retention-console prune`: what the store keeps.

`forget` erases contacts (an erasure request) through the engine's commands and says what it
removed; a value that is not an email exits 2 with nothing deleted. `prune` deletes delivered
rows older than `--older-than` days (default: the engine setting `history_retention_days`),
`--vacuum` then gives the space back to the file system (SQLite's `VACUUM`).
"""

from __future__ import annotations

import click

from console.cli.options import EXIT_FAILED, db_option, engine_settings, fail, store_for


@click.command()
@click.argument("emails", nargs=-1, required=True)
@db_option
@click.pass_context
def forget(ctx: click.Context, emails: tuple[str, ...], db: str | None) -> None:
    """Erase contacts: their rows, events, queued, delivered and failed messages and lines of
    pending ReSci import files; their MD5s join the suppressions. What the destinations hold
    is not touched: see README, "Forgetting a contact"."""
    from console.engine.commands import CommandRefused, Commands

    try:
        forgotten = Commands(store_for(ctx, db)).forget(list(emails))
    except CommandRefused as exc:
        fail(ctx, exc.reason)
    click.echo(forgotten.line())
    if forgotten.residue:
        names = ", ".join(str(path) for path in forgotten.residue)
        click.echo(
            f"warning: {names} still hold(s) an erased email (another process kept the "
            "write-ahead log open); close the console and run: retention-console prune --vacuum",
            err=True,
        )
        ctx.exit(EXIT_FAILED)


@click.command()
@click.option(
    "--older-than",
    "older_than",
    type=click.IntRange(1, 36500),
    metavar="DAYS",
    default=None,
    help="Days of delivered history to keep (default: history_retention_days, 90).",
)
@click.option("--vacuum", is_flag=True, help="Then rebuild the store's file to free the space.")
@db_option
@click.pass_context
def prune(ctx: click.Context, older_than: int | None, vacuum: bool, db: str | None) -> None:
    """Delete delivered rows older than the retention; failures, counters and runs stay."""
    from console.engine.commands import Commands

    days = older_than or engine_settings(ctx).history_retention_days
    pruned = Commands(store_for(ctx, db)).prune(days, vacuum=vacuum)
    click.echo(
        f"{pruned.rows:,} delivered rows older than {days} days pruned"
        + ("; store vacuumed" if vacuum else "")
    )
