"""`python -m bench.console_bench`: how fast the console is on a large store.

Fills a store with `--rows` outbox rows (default 1,000,000: deliveries over 30 days for two
destinations, 8% of them failed) with `executemany`, then starts the console in a fresh
process, headless at 100x32, and reports:

* launch to first paint: from the process start (before Textual is imported) to the
  Destinations table painted with its rows;
* the Failures screen: from pressing `f` to its first page painted;
* a filtered failures page: from pressing Enter on `/ gmail` to the filtered page painted.

`--db PATH` reuses (or creates) a store there; an existing one is measured as it is.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # before anything heavy is imported: "launch" starts here

import argparse  # noqa: E402
import asyncio  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "aol.com", "icloud.com")
FEEDBACK = (
    "rejected: {email} is on the reject list",
    "Invalid email address: {email}",
    "gave up after 8 attempts: HTTP 503",
)


def fill(path: Path, rows: int) -> None:
    """Two destinations, `rows` outbox rows over 30 days, matching daily stats and runs."""
    from console.core import clock
    from console.destinations import registry
    from console.engine.commands import Commands
    from state.db import open_store

    store = open_store(path)
    commands = Commands(store)
    commands.save_destination(
        "segment-big",
        registry.parse_settings("segment", {"write_key": "bench-segment-key-0000"}),
    )
    commands.save_destination(
        "resci-big",
        registry.parse_settings("resci", {"api_key": "bench-resci-key-0000", "site_id": "1"}),
    )
    now = datetime.now(UTC).replace(microsecond=0)
    payload = b'{"type":"identify","traits":{"email":"x"}}'
    stats: dict[tuple[int, str], list[int]] = {}
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        batch: list[tuple[object, ...]] = []
        for i in range(rows):
            destination = 1 + i % 2
            moment = now - timedelta(seconds=(rows - i) * (30 * 86400 // max(rows, 1)))
            stamp = clock.iso(moment)
            day = stamp[:10]
            email = f"user{i % 400_000}@{DOMAINS[i % 5]}"
            failed = i % 25 in (3, 10)  # 8%, every domain among them
            status = "failed" if failed else "delivered"
            feedback = FEEDBACK[i % 3].format(email=email) if failed else None
            batch.append(
                (
                    destination,
                    "identify" if i % 3 else "track",
                    f"m{i}",
                    email,
                    payload,
                    status,
                    1,
                    stamp,
                    400 if failed else 200,
                    feedback,
                    stamp,
                    stamp,
                    day,
                    1 + (i // 700),
                )
            )
            counts = stats.setdefault((destination, day), [0, 0])
            counts[1 if failed else 0] += 1
            if len(batch) == 50_000:
                cur.executemany(INSERT, batch)
                batch.clear()
        if batch:
            cur.executemany(INSERT, batch)
        cur.executemany(
            "INSERT INTO daily_stats (destination_id, day, completions, failures, suppressed,"
            " skipped) VALUES (?, ?, ?, ?, 0, 0)",
            [(d, day, c[0], c[1]) for (d, day), c in stats.items()],
        )
        runs = 1 + rows // 700
        cur.executemany(
            "INSERT INTO sync_runs (id, destination_id, trigger, status, started_at, finished_at,"
            " added, changed, removed, delivered, rejected, suppressed, skipped, filtered,"
            " retrying, requests) VALUES (?, ?, 'schedule', 'ok', ?, ?, 700, 0, 0, 644, 56, 0,"
            " 0, 0, 0, 1)",
            [
                (
                    r + 1,
                    1 + r % 2,
                    clock.iso(now - timedelta(minutes=(runs - r) * 30)),
                    clock.iso(now - timedelta(minutes=(runs - r) * 30 - 1)),
                )
                for r in range(runs)
            ],
        )
        cur.execute("COMMIT")
        cur.execute("ANALYZE")
    finally:
        raw.close()
    store.dispose()


INSERT = (
    "INSERT INTO outbox (destination_id, kind, message_id, email, payload, status, attempts,"
    " next_attempt_at, http_status, feedback, created_at, updated_at, day, run_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def probe(path: Path) -> None:
    """Run in a fresh process: launch, first paint, failures, filtered failures."""
    from textual.widgets import DataTable

    from console.ui.app import make_app
    from console.ui.screens.failures import FailuresScreen
    from state.db import CONSOLE_CACHE_KIB, open_store

    store = open_store(path, cache_kib=CONSOLE_CACHE_KIB)  # as the console opens it
    app = make_app(store, start_engine=False, store_label="bench.db", cursor_blink=False)

    async def until(check, limit: float = 120.0) -> float:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        while not check():
            await asyncio.sleep(0.002)
            if time.perf_counter() - start > limit:
                raise TimeoutError("the console did not paint in time")
        return time.perf_counter()

    async with app.run_test(size=(100, 32)) as pilot:

        def destinations_painted() -> bool:
            tables = app.screen.query("#destinations")
            return bool(tables) and tables.first(DataTable).row_count > 0

        painted = await until(destinations_painted)
        await pilot.pause()
        print(f"launch to first paint (destinations listed): {painted - T0:.2f} s")

        # The key is pressed in a task: `pilot.press` also waits for every worker to finish
        # (the text filter's count among them), which is not what the operator waits for.
        start = time.perf_counter()
        pressing = asyncio.create_task(pilot.press("f"))

        def failures_painted() -> bool:
            screen = app.screen
            return isinstance(screen, FailuresScreen) and bool(screen.rows)

        done = await until(failures_painted)
        await pressing
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        print(
            f"failures screen, first page of {screen.total or 0:,} failures: {done - start:.2f} s"
        )
        await pilot.press("slash", *"gmail")
        start = time.perf_counter()
        pressing = asyncio.create_task(pilot.press("enter"))
        done = await until(lambda: screen.flt.text == "gmail" and not screen.page_pending)
        await pressing
        await pilot.pause()
        print(f"filtered failures page ('/ gmail': {screen.total:,} matches): {done - start:.2f} s")
    store.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--probe", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        asyncio.run(probe(args.probe))
        return 0
    path = args.db or Path(tempfile.mkdtemp(prefix="retention-bench-")) / "bench.db"
    if not path.exists():
        start = time.perf_counter()
        fill(path, args.rows)
        print(
            f"filled {path} with {args.rows:,} outbox rows in {time.perf_counter() - start:.1f} s"
        )
    result = subprocess.run(
        [sys.executable, "-m", "bench.console_bench", "--probe", str(path)], check=False
    )
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
