"""`retention-console summary|failures|history`: the console's reports on stdout, as a table or
(`--json`) a JSON array, through the same column specs as the console's tables (console.reports).
They only read the store; a store that does not exist exits 2.
"""

from __future__ import annotations

import click

from console.cli.options import DAY, day_text, db_option, known_destination, print_report, store_for


@click.command()
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

    with store_for(ctx, db).read() as conn:
        known_destination(ctx, conn, destination)
        rows = daily_summary(conn, destination, days)
    print_report(SUMMARY, rows, as_json)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@click.option("--destination", default=None, help="Only this destination.")
@click.option(
    "--day",
    type=DAY,
    default=None,
    callback=day_text,
    help="Only failures recorded on this day (YYYY-MM-DD).",
)
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
    with store_for(ctx, db).read() as conn:
        known_destination(ctx, conn, destination)
        rows = failures_page(conn, flt, limit=limit)
    print_report(FAILURES, rows, as_json)


@click.command()
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

    with store_for(ctx, db).read() as conn:
        known_destination(ctx, conn, destination)
        rows = runs_page(conn, destination, limit=limit)
    print_report(RUNS, rows, as_json)
