"""`retention-console suppressions list|count|add|remove`: the suppression list, by email or MD5.

Only MD5s are stored, so `list` shows them with where and when each came from; `--search`
takes an email (matched by its MD5) or the start of an MD5. `add` and `remove` write through
the engine's commands; a removal makes every destination that applies suppression reconsider
its contacts on its next run. A value that is neither an email nor an MD5 exits 2, nothing
written.
"""

from __future__ import annotations

import click

from console.cli.options import db_option, fail, print_json, print_report, store_for


@click.group("suppressions")
def suppressions_group() -> None:
    """See and manage the suppression list (import a file with `import suppressions`)."""


def _search(ctx: click.Context, text: str | None) -> str | None:
    from console.ingest.suppressions import suppression_search

    if text is None:
        return None
    try:
        return suppression_search(text)
    except ValueError as exc:
        fail(ctx, str(exc))


def _md5s(ctx: click.Context, values: tuple[str, ...]) -> list[str]:
    from console.ingest.suppressions import suppression_md5

    md5s = []
    for value in values:
        try:
            md5s.append(suppression_md5(value))
        except ValueError as exc:
            fail(ctx, str(exc))
    return md5s


@suppressions_group.command("list")
@click.option("--search", default=None, help="An email, or the start of an MD5.")
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=200,
    show_default=True,
    help="At most this many suppressions.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@db_option
@click.pass_context
def list_command(
    ctx: click.Context, search: str | None, limit: int, as_json: bool, db: str | None
) -> None:
    """Suppressions in MD5 order, with the file (or operator) each came from and when."""
    from console.reports.suppressions import SUPPRESSIONS
    from state.suppression_list import suppressions_page

    prefix = _search(ctx, search)
    with store_for(ctx, db).read() as conn:
        rows = suppressions_page(conn, prefix, limit=limit)
    print_report(SUPPRESSIONS, rows, as_json)


@suppressions_group.command("count")
@click.option("--search", default=None, help="An email, or the start of an MD5.")
@click.option("--json", "as_json", is_flag=True, help='A JSON array: [{"suppressions": N}].')
@db_option
@click.pass_context
def count_command(ctx: click.Context, search: str | None, as_json: bool, db: str | None) -> None:
    """How many suppressions there are (matching --search)."""
    from state.suppression_list import suppression_count

    prefix = _search(ctx, search)
    with store_for(ctx, db).read() as conn:
        total = suppression_count(conn, prefix)
    if as_json:
        print_json([{"suppressions": total}])
    else:
        click.echo(str(total))


@suppressions_group.command("add")
@click.argument("values", nargs=-1, required=True)
@db_option
@click.pass_context
def add_command(ctx: click.Context, values: tuple[str, ...], db: str | None) -> None:
    """Suppress emails or MD5s; rows queued for them and not sent yet are stopped."""
    from console.core.operator import operator_name
    from console.engine.commands import Commands

    md5s = _md5s(ctx, values)
    added = Commands(store_for(ctx, db, create=True)).add_suppressions(
        md5s, f"added by {operator_name()}"
    )
    click.echo(f"{added} suppressed, {len(set(md5s)) - added} already were")


@suppressions_group.command("remove")
@click.argument("values", nargs=-1, required=True)
@db_option
@click.pass_context
def remove_command(ctx: click.Context, values: tuple[str, ...], db: str | None) -> None:
    """Lift suppressions; their contacts are reconsidered on each destination's next run."""
    from console.engine.commands import Commands

    md5s = _md5s(ctx, values)
    removed = Commands(store_for(ctx, db)).remove_suppressions(md5s)
    click.echo(f"{len(removed)} removed, {len(set(md5s)) - len(removed)} were not suppressed")
