"""`retention-console audiences list|show NAME`: the audiences, how many contacts each rule
matches now (one scan of the contacts for all of them), and the destinations that export each.
Audiences are created and changed on the console's Audiences screen (`A`) or by `config
apply`; an unknown NAME exits 2."""

from __future__ import annotations

import click

from console.cli.options import db_option, fail, print_json, print_report, store_for


@click.group("audiences")
def audiences_group() -> None:
    """See the audiences and their member counts."""


@audiences_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@db_option
@click.pass_context
def list_command(ctx: click.Context, as_json: bool, db: str | None) -> None:
    """Every audience by name: members now, the exports sending it, when it changed, its rule."""
    from console.reports.audiences import AUDIENCES, audience_rows

    with store_for(ctx, db).read() as conn:
        rows = audience_rows(conn)
    print_report(AUDIENCES, rows, as_json)


@audiences_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="A JSON object instead of lines.")
@db_option
@click.pass_context
def show_command(ctx: click.Context, name: str, as_json: bool, db: str | None) -> None:
    """One audience: its rule as written and as read, members now, the exports sending it."""
    from console.audiences.rules import parse_rule
    from console.core.text import printable
    from console.reports.audiences import AUDIENCES, audience_rows

    with store_for(ctx, db).read() as conn:
        rows = [row for row in audience_rows(conn) if row.name == name]
    if not rows:
        fail(ctx, printable(f"no audience named {name}"))
    row = rows[0]
    if as_json:
        print_json([AUDIENCES.export_item(row)])
        return
    try:
        read_as = parse_rule(row.rule).describe()
    except ValueError as exc:
        read_as = f"does not parse: {exc}"
    lines = [
        ("Audience", row.name),
        ("Rule", row.rule),
        ("Read as", read_as),
        ("Members", "—" if row.members is None else f"{row.members:,} contacts match now"),
        ("Exported by", ", ".join(row.used_by) or "no destination"),
        ("Changed", row.updated_at),
    ]
    for label, value in lines:
        click.echo(f"{label + ':':<13}{printable(value)}")
