"""The full history of the Sync summary (seed 002: "View Full History"): every day, paged by
keyset, within a date range; completions split into contacts and events; a pending ReSci
backfill counted as queued."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import orjson
from click.testing import CliRunner
from pydantic import SecretStr

from console.cli import main
from console.core import clock
from console.core.vocab import ImportJobStatus
from console.destinations.resci.settings import ResciExport, ResciSettings
from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import save_destination
from state.daily_streams import bump_stream_completions
from state.db import Store
from state.import_jobs import create_job, update_job
from state.outbox import bump_stats
from state.summary import summary_page, summary_position

DAYS = 45


def fill(store: Store) -> str:
    """Two destinations with activity on each of the last 45 days; returns today."""
    today = clock.today()
    with store.write() as conn:
        save_destination(conn, "seg", SegmentSettings(write_key=SecretStr("w-1234567890")))
        save_destination(
            conn,
            "resci",
            ResciSettings(
                api_key=SecretStr("k-1234567890"),
                export=ResciExport(audience="a", fields={"first_name": "full_name"}),
            ),
        )
        for back in range(DAYS):
            day = (date.fromisoformat(today) - timedelta(days=back)).isoformat()
            bump_stats(conn, 1, day, completions=3, failures=1)
            bump_stream_completions(conn, 1, day, {"contacts": 2, "events": 1})
            bump_stats(conn, 2, day, completions=5)
            bump_stream_completions(conn, 2, day, {"contacts": 5})
        job = create_job(conn, 2, "a", ImportJobStatus.QUEUED)
        update_job(conn, job, rows=120)
    return today


def test_every_day_a_page_at_a_time(store: Store) -> None:
    today = fill(store)
    seen = []
    after = None
    with store.read() as conn:
        while True:
            page = summary_page(conn, after=after, limit=20)
            seen.extend(page)
            if len(page) < 20:
                break
            after = summary_position(page[-1])
    assert len(seen) == 2 * DAYS  # not only 30 days
    assert len({(r.date, r.destination) for r in seen}) == len(seen)  # no row twice
    assert [r.date for r in seen] == sorted((r.date for r in seen), reverse=True)
    first = seen[0]
    assert (first.date, first.destination, first.completions) == (today, "seg", 3)
    assert (first.contacts, first.events) == (2, 1)
    resci_today = seen[1]
    # The pending backfill's 120 users wait: queued on today's row.
    assert (resci_today.destination, resci_today.queued, resci_today.contacts) == ("resci", 120, 5)


def test_a_date_range(store: Store) -> None:
    today = fill(store)
    since = (date.fromisoformat(today) - timedelta(days=40)).isoformat()
    until = (date.fromisoformat(today) - timedelta(days=35)).isoformat()
    with store.read() as conn:
        rows = summary_page(conn, "resci", since=since, until=until)
    assert [r.date for r in rows] == sorted({r.date for r in rows}, reverse=True)
    assert len(rows) == 6 and rows[0].date == until and rows[-1].date == since
    assert all(r.queued == 0 for r in rows)  # today is outside the range


def test_summary_cli_since_until(store: Store, tmp_path: Path) -> None:
    today = fill(store)
    db = str(tmp_path / "console.db")
    runner = CliRunner()
    every = orjson.loads(runner.invoke(main, ["summary", "--json", "--db", db]).stdout)
    assert len(every) == 2 * DAYS
    since = (date.fromisoformat(today) - timedelta(days=2)).isoformat()
    recent = runner.invoke(main, ["summary", "--json", "--since", since, "--db", db])
    assert {row["date"] for row in orjson.loads(recent.stdout)} == {
        (date.fromisoformat(today) - timedelta(days=n)).isoformat() for n in range(3)
    }
    backwards = runner.invoke(main, ["summary", "--since", today, "--until", since, "--db", db])
    assert backwards.exit_code == 2 and "is after --until" in backwards.stderr
    bad = runner.invoke(main, ["summary", "--since", "yesterday", "--db", db])
    assert bad.exit_code == 2
