"""`retention-console changes [--destination NAME] [--since DAY]`: the change log, newest
first: when, who (`user@host`), what and the field-level diff (secrets masked when recorded)."""

from __future__ import annotations

import click

from console.cli.options import (
    DAY,
    day_text,
    db_option,
    known_destination,
    print_json,
    print_table,
    store_for,
)


@click.command()
@click.option(
    "--destination", metavar="NAME", default=None, help="Only this destination's changes."
)
@click.option(
    "--since",
    type=DAY,
    metavar="YYYY-MM-DD",
    default=None,
    callback=day_text,
    help="Only changes made on this day or later (UTC).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=200,
    show_default=True,
    help="At most this many changes, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@db_option
@click.pass_context
def changes(
    ctx: click.Context,
    destination: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
    db: str | None,
) -> None:
    """Changes to destinations, mappings, audiences, authorizations and suppressions."""
    from console.reports.changes import diff_text
    from state.changes import changes_page

    with store_for(ctx, db).read() as conn:
        if destination is not None:
            known_destination(ctx, conn, destination)
        rows = changes_page(
            conn,
            subject="destination" if destination else None,
            name=destination,
            since=since,
            limit=limit,
        )
    if as_json:
        print_json([row.as_json() for row in rows])
        return
    print_table(
        [
            ("when", "who", "what", "name", "action", "changes"),
            *(
                (r.changed_at, r.changed_by, r.subject, r.name, r.action, diff_text(r.diff))
                for r in rows
            ),
        ]
    )
