"""An import job that stays pending: within the destination's limit a run reports it pending
and is `ok` (`--run-once` exits 0); past it the run says "import job ID still processing after
N min" first and is not ok (exit 1); `--run-once --wait-jobs` polls on until it completes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from console.cli import main, run_output
from console.sandbox import AlertSandbox, ResciSandbox, SandboxServer
from tests.conftest import FrozenClock
from tests.resci.conftest import API_KEY, FAST, SITE_ID, Console, Resci, contact, destination_toml


def limit_toml(url: str, minutes: int | None = None) -> str:
    toml = destination_toml(url)
    if minutes is None:
        return toml
    # The setting sits with the destination's own keys, before its sub-tables.
    return toml.replace(
        "schedule_minutes = 15\n", f"schedule_minutes = 15\nimport_job_limit_minutes = {minutes}\n"
    )


def run_once(store_path: Path, *args: str) -> tuple[int, str]:
    done = CliRunner().invoke(
        main, ["--run-once", "--db", str(store_path), *args], catch_exceptions=False
    )
    return done.exit_code, done.stdout


async def test_a_pending_job_is_ok_within_its_limit_and_needs_attention_past_it(
    console: Console, resci: Resci, frozen_clock: FrozenClock
) -> None:
    console.contacts([contact(i) for i in range(3)])
    console.apply(limit_toml(resci.url))  # the default limit: 60 minutes
    first = await console.run()
    assert first.status == "ok" and first.counts.jobs_pending == 1, first.message
    frozen_clock.advance(59 * 60)
    within = await console.run()
    assert within.status == "ok" and within.reason() is None, within.message
    assert "import job job_1 queued" in within.message
    frozen_clock.advance(2 * 60)
    past = await console.run()
    assert past.status == "partial"
    assert past.message.startswith("import job job_1 still processing after 61 min (limit 60 min)")
    assert past.reason() == "import job job_1 still processing after 61 min (limit 60 min)"
    # Once ReSci completes it, the run is ok again.
    resci.to_done()
    done = await console.run()
    assert done.status == "ok" and done.counts.jobs_pending == 0, done.message


async def test_the_limit_is_per_destination(
    console: Console, resci: Resci, frozen_clock: FrozenClock
) -> None:
    console.contacts([contact(i) for i in range(3)])
    console.apply(limit_toml(resci.url, minutes=5))
    await console.run()
    frozen_clock.advance(6 * 60)
    late = await console.run()
    assert late.status == "partial"
    assert late.reason() == "import job job_1 still processing after 6 min (limit 5 min)"


def test_run_once_exits_0_while_pending_and_1_past_the_limit(
    console: Console, resci: Resci, frozen_clock: FrozenClock
) -> None:
    console.contacts([contact(i) for i in range(3)])
    console.apply(limit_toml(resci.url))
    path = console.store.path
    assert path is not None
    code, out = run_once(path)
    assert code == 0, out
    assert out.startswith("resci-main: ok - ") and "import job job_1 queued" in out
    frozen_clock.advance(90 * 60)
    code, out = run_once(path)
    assert code == 1, out
    assert out.startswith("resci-main: partial - ")
    assert "(import job job_1 still processing after 90 min (limit 60 min), " in out
    code, out = run_once(path, "--quiet")
    assert code == 1
    assert (
        out
        == "import job job_1 still processing after 90 min (limit 60 min) - resci-main: partial\n"
    )
    code, out = run_once(path, "--json")
    (item,) = [orjson.loads(line) for line in out.splitlines()]
    assert item["state"] == "partial" and item["import_jobs_pending"] == 1
    assert item["reason"].startswith("import job job_1 still processing after")


@pytest.fixture
def quick_resci() -> tuple[ResciSandbox, str]:
    """A ReSci sandbox on the real clock whose jobs complete 1.5 s after their upload."""
    sandbox = ResciSandbox(api_keys={API_KEY}, site_id=SITE_ID, job_delay_seconds=1.5)
    with SandboxServer(sandbox, port=0) as server:
        yield sandbox, server.url


def test_wait_jobs_polls_until_the_job_completes(
    console: Console, quick_resci: tuple[ResciSandbox, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_output, "FIRST_POLL_SECONDS", 0.5)
    sandbox, url = quick_resci
    console.contacts([contact(i) for i in range(3)])
    console.apply(limit_toml(url))
    path = console.store.path
    assert path is not None
    code, out = run_once(path, "--wait-jobs", "1")
    assert code == 0, out
    assert "import job job_1 completed: 3 imported, 0 rejected" in out
    assert sandbox.requests >= 3  # the upload, then a poll or more until it completed


def test_wait_jobs_gives_up_when_time_is_up(
    console: Console, resci: Resci, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_output, "FIRST_POLL_SECONDS", 0.2)
    console.contacts([contact(i) for i in range(3)])
    console.apply(limit_toml(resci.url))
    path = console.store.path
    assert path is not None
    code, out = run_once(path, "--wait-jobs", "0.01")  # 0.6 s: the job never completes
    assert code == 0, out  # still within its hour: pending, not late
    assert "import job job_1 queued" in out and resci.sandbox.requests >= 2


async def test_a_job_past_its_limit_alerts_once_and_its_completion_recovers(
    console: Console, resci: Resci, frozen_clock: FrozenClock
) -> None:
    alerts = AlertSandbox()
    with SandboxServer(alerts, port=0) as server:
        console.contacts([contact(i) for i in range(3)])
        console.apply(limit_toml(resci.url) + f'[alerts]\nhttp = {{ url = "{server.url}" }}\n')
        await console.run()
        frozen_clock.advance(61 * 60)
        await console.run()
        frozen_clock.advance(10 * 60)
        await console.run()  # still late: no second alert
        resci.to_done()
        await console.run()
    assert [(a["state"], a["reason"]) for a in alerts.received] == [
        ("failing", "import job job_1 still processing after 61 min (limit 60 min)"),
        ("recovered", None),
    ]


async def test_backfill_progress_says_rows_written_bytes_uploaded_and_the_job_state(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(i) for i in range(3)])
    console.apply(limit_toml(resci.url))
    said: list[str] = []
    options = replace(FAST, progress=lambda p: said.append(p.text()))
    await console.run(options)
    size = len(resci.sandbox.jobs["job_1"].csv_text.encode())
    assert said[:5] == [
        "planning…",
        "backfill: writing the users file of 'california-gmail'",
        "backfill: 3 rows written",
        f"backfill: 3 rows written · uploading {size:,} bytes",
        f"backfill: 3 rows written · {size:,} bytes uploaded · import job job_1 queued",
    ]
    said.clear()
    resci.to_done()
    await console.run(options)
    assert "backfill: asking ReSci about import job job_1 (queued)" in said
