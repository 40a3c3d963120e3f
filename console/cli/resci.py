"""`retention-console resci ...`: the on-site tag and the import jobs of a ReSci destination.

Exit codes follow `console.cli.options`: 0 done; 2 no such destination, not a ReSci destination, or it
lacks what the command needs (a Site ID for `tag`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from console.cli.options import EXIT_BAD_INPUT, db_option, print_json, print_table, store_for
from console.core.text import printable

if TYPE_CHECKING:
    from console.engine.destinations import DestinationRecord
    from state.db import Store


@click.group("resci")
def resci() -> None:
    """Retention Science: on-site tag and import jobs."""


def _resci_destination(
    ctx: click.Context, db: str | None, name: str
) -> tuple[Store, DestinationRecord]:
    from console.destinations import resci as resci_kind
    from console.engine.destinations import get_destination

    store = store_for(ctx, db)
    with store.read() as conn:
        destination = get_destination(conn, name)
    if destination is None:
        click.echo(f"error: no destination named {name!r}", err=True)
        ctx.exit(EXIT_BAD_INPUT)
    # This command group is the ReSci kind's own: it asks for that kind by its declaration.
    if destination.kind != resci_kind.KIND.name:
        click.echo(
            f"error: {name!r} is a {destination.kind} destination, "
            f"not a {resci_kind.KIND.label} one",
            err=True,
        )
        ctx.exit(EXIT_BAD_INPUT)
    return store, destination


@resci.command("tag")
@click.argument("destination")
@db_option
@click.pass_context
def tag(ctx: click.Context, destination: str, db: str | None) -> None:
    """Print the on-site tag (`_rsq` snippet) for DESTINATION's website, ready to paste."""
    from console.destinations.resci.tag import onsite_tag

    _, record = _resci_destination(ctx, db, destination)
    settings = record.settings
    try:
        text = onsite_tag(settings, record.name)
    except ValueError as exc:
        click.echo(f"error: {record.name}: {exc}", err=True)
        ctx.exit(EXIT_BAD_INPUT)
    if not settings.on_site:
        click.echo(
            f"note: Enable On-Site is off for {record.name}; events are not delivered "
            "and the tag does not enable on-site features",
            err=True,
        )
    click.echo(text, nl=False)


@resci.command("jobs")
@click.argument("destination")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="At most this many jobs, newest first.",
)
@db_option
@click.pass_context
def jobs(ctx: click.Context, destination: str, as_json: bool, limit: int, db: str | None) -> None:
    """List DESTINATION's audience import jobs, newest first, with their state."""
    from state.import_jobs import import_jobs_for

    store, record = _resci_destination(ctx, db, destination)
    with store.read() as conn:
        rows = import_jobs_for(conn, record.id, limit=limit)
    if as_json:
        print_json([r.as_json() for r in rows])
        return
    if not rows:
        click.echo(f"{record.name}: no import jobs yet")
        return
    header = ("job", "remote id", "audience", "status", "rows", "imported", "rejected", "updated")
    table = [header] + [
        (
            str(r.id),
            r.remote_id or "-",
            r.audience,
            r.status,
            str(r.rows),
            str(r.imported),
            str(r.rejected),
            r.updated_at,
        )
        for r in rows
    ]
    print_table(table)
    for r in rows:
        if r.message:
            click.echo(printable(f"job {r.id}: {r.message}"))
