"""`retention-console summary|failures|history`: the console's reports on stdout, as a table or
(`--json`) a JSON array, through the same column specs as the console's tables (console.reports).
They only read the store; a store that does not exist exits 2.
"""

from __future__ import annotations

import click

from console.cli.options import (
    DAY,
    day_text,
    db_option,
    fail,
    known_destination,
    print_report,
    store_for,
)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@click.option("--destination", metavar="NAME", default=None, help="Only this destination.")
@click.option(
    "--since", type=DAY, metavar="YYYY-MM-DD", default=None, callback=day_text, help="First day."
)
@click.option(
    "--until", type=DAY, metavar="YYYY-MM-DD", default=None, callback=day_text, help="Last day."
)
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=None,
    help="Only the last N days (today included); without it or --since, every day.",
)
@click.option("--limit", type=click.IntRange(1, 10_000_000), default=None, help="At most N rows.")
@db_option
@click.pass_context
def summary(
    ctx: click.Context,
    as_json: bool,
    destination: str | None,
    since: str | None,
    until: str | None,
    days: int | None,
    limit: int | None,
    db: str | None,
) -> None:
    """Daily sync summary of every day (or --since/--until): date, destination, completions
    (contacts and events), failures, suppressed, queued."""
    from datetime import timedelta

    from console.core import clock
    from console.reports.views import SUMMARY
    from state.summary import SummaryPosition, SummaryRow, summary_page, summary_position

    if days is not None:
        if since is not None:
            fail(ctx, "give --days or --since, not both")
        since = (clock.now().date() - timedelta(days=days - 1)).isoformat()
    if since is not None and until is not None and since > until:
        fail(ctx, f"--since {since} is after --until {until}")
    rows: list[SummaryRow] = []
    with store_for(ctx, db).read() as conn:
        known_destination(ctx, conn, destination)
        # Page by page (keyset), so a long history is never one huge query.
        after: SummaryPosition | None = None
        while limit is None or len(rows) < limit:
            page = summary_page(
                conn, destination, since=since, until=until, after=after, limit=PAGE
            )
            rows.extend(page)
            if len(page) < PAGE:
                break
            after = summary_position(page[-1])
    print_report(SUMMARY, rows[:limit], as_json)


PAGE = 1000


@click.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@click.option("--destination", metavar="NAME", default=None, help="Only this destination.")
@click.option(
    "--day",
    type=DAY,
    metavar="YYYY-MM-DD",
    default=None,
    callback=day_text,
    help="Only failures recorded on this day.",
)
@click.option("--search", default=None, help="Match email, domain or feedback text.")
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=200,
    show_default=True,
    help="At most this many failures, newest first.",
)
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
    from state.failures import FailureFilter, failures_page

    flt = FailureFilter(destination=destination, day=day, text=search)
    with store_for(ctx, db).read() as conn:
        known_destination(ctx, conn, destination)
        rows = failures_page(conn, flt, limit=limit)
    print_report(FAILURES, rows, as_json)


@click.command()
@click.option("--destination", metavar="NAME", default=None, help="Only this destination's runs.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    help="At most this many runs, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@db_option
@click.pass_context
def history(
    ctx: click.Context, destination: str | None, limit: int, as_json: bool, db: str | None
) -> None:
    """Every run: trigger, destination, start, duration and counts."""
    from console.reports.views import RUNS
    from state.history import runs_page

    with store_for(ctx, db).read() as conn:
        known_destination(ctx, conn, destination)
        rows = runs_page(conn, destination, limit=limit)
    print_report(RUNS, rows, as_json)
