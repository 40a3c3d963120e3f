"""The operator's time zone (issue 13 item 13): `--tz` / the `timezone` setting decide which
day a failure or a delivery is counted on and what "today" is; stored timestamps stay UTC;
days already counted keep the day they were counted on; a bad zone exits 2 naming where it
came from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from console.cli import main
from console.core import clock
from console.core.vocab import Trigger
from console.engine.destinations import get_destination
from state.db import open_store
from state.outbox import NewRow, queue_rows
from state.runs import start_run
from tests.engine.test_audiences import filled

LATE = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # already the 21st in Tokyo (UTC+9)


@pytest.fixture(autouse=True)
def late_clock() -> Iterator[None]:
    clock.set_clock(lambda: LATE)
    yield
    clock.set_clock(None)
    clock.set_zone(None)


def cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def fail_one(db: Path, message_id: str) -> None:
    """A row refused before it left: a failure counted on the operator's today."""
    store = open_store(db)
    with store.write() as conn:
        record = get_destination(conn, "resci-main")
        assert record is not None
        run_id = start_run(conn, record.id, Trigger.MANUAL)
        queue_rows(
            conn,
            record.id,
            run_id,
            [NewRow("identify", message_id, "ann@example.com", b"{}", problem="bad")],
        )


def test_today_follows_the_zone_and_timestamps_stay_utc() -> None:
    assert clock.today() == "2026-11-20"
    clock.set_zone(clock.zone_named("Asia/Tokyo"))
    assert clock.today() == "2026-11-21"
    assert clock.now_iso() == "2026-11-20T23:30:00.000Z"
    assert clock.zone_name() == "Asia/Tokyo"
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        clock.zone_named("Mars/Base")


def test_days_are_counted_in_the_operator_zone(tmp_path: Path) -> None:
    filled(tmp_path)
    db = tmp_path / "console.db"
    fail_one(db, "m-utc")  # counted on the UTC day, as before
    cli("--tz", "Asia/Tokyo", "audiences", "list", "--db", db)  # sets the zone for the process
    fail_one(db, "m-tokyo")
    summary = orjson.loads(cli("summary", "--json", "--db", db).output)
    days = {(row["date"], row["failures"]) for row in summary}
    assert days == {("2026-11-21", 1), ("2026-11-20", 1)}
    tokyo = orjson.loads(
        cli("--tz", "Asia/Tokyo", "failures", "--day", "2026-11-21", "--json", "--db", db).output
    )
    assert [row["at"] for row in tokyo] == ["2026-11-20T23:30:00.000Z"]  # still stored in UTC


def test_a_bad_zone_exits_2_naming_where_it_came_from(tmp_path: Path) -> None:
    filled(tmp_path)
    db = tmp_path / "console.db"
    flag = cli("--tz", "Mars/Base", "summary", "--db", db)
    assert flag.exit_code == 2 and "--tz: unknown time zone 'Mars/Base'" in flag.stderr
    env = cli("summary", "--db", db, env={"RETENTION_CONSOLE_TIMEZONE": "Nowhere"})
    assert env.exit_code == 2
    assert "RETENTION_CONSOLE_TIMEZONE: unknown time zone 'Nowhere'" in env.stderr
    settings = tmp_path / "settings.toml"
    settings.write_text('timezone = "Europe/Paris"\n', encoding="utf-8")
    ok = cli("--settings", settings, "summary", "--db", db)
    assert ok.exit_code == 0 and clock.zone_name() == "Europe/Paris"
