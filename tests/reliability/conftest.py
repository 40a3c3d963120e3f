"""Shared pieces of the reliability tests: the `retention-console` command as a subprocess,
stores seeded with events and a Segment destination, sandbox helpers, and the figures the
README's Reliability section quotes (kills survived, faults injected, inputs tried, rows lost).

Everything listens on 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.config import apply_config
from console.ingest import import_events
from console.sandbox import SegmentSandbox
from state.db import Store, open_store
from state.scratch import scratch_database

ROOT = Path(__file__).resolve().parents[2]
# Distinctive keys, so a scan of any output finds them if they leak.
WRITE_KEY = "wk-RELIABILITY-7f3c9a1e5b2d4e6f"
API_KEY = "ak-RELIABILITY-0d9e8c7b6a5f4e3d"
SUBPROCESS_TIMEOUT = 90.0


# -- the fuzz profile -------------------------------------------------------------------------

FUZZ_VARIABLE = "RETENTION_CONSOLE_FUZZ"
"""`RETENTION_CONSOLE_FUZZ=N` runs the bad-input suite with N generated inputs spread over its
generated-input tests (the importers, `config apply`, the rule parser, the form values, the
ReSci users CSV), and hostile text through every screen N / 100 times; unset, each test
tries `default` inputs and the suite stays quick."""
FUZZED_TESTS = 7
"""The generated-input tests the profile's N is spread over (test_bad_input.py)."""


def fuzz_examples(default: int) -> int:
    """Examples for one generated-input test: `default`, or its share of the fuzz profile's N."""
    wanted = os.environ.get(FUZZ_VARIABLE, "").strip()
    if not wanted:
        return default
    return max(default, -(-int(wanted) // FUZZED_TESTS))


def fuzz_screen_examples(default: int) -> int:
    """Hostile texts pushed through every screen (a Pilot session each, so about a second)."""
    wanted = os.environ.get(FUZZ_VARIABLE, "").strip()
    return max(default, int(wanted) // 100) if wanted else default


# -- figures ----------------------------------------------------------------------------------


@dataclass
class Figures:
    """What the reliability run did; printed at the end of the session."""

    kills: int = 0
    kills_during_plan: int = 0
    faults_injected: int = 0
    inputs_tried: int = 0
    screens_fuzzed: int = 0
    outputs_scanned: int = 0
    rows_checked: int = 0
    rows_lost: int = 0
    resent_same_id: int = 0
    resent_new_id: int = 0


_FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Figures:
    """The session's counters; tests add to them."""
    return _FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if Figures() == _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, value in asdict(_FIGURES).items():
        terminalreporter.write_line(f"{name.replace('_', ' ')}: {value:,}")
    target = os.environ.get("RELIABILITY_FIGURES")
    if target:
        Path(target).write_bytes(orjson.dumps(asdict(_FIGURES), option=orjson.OPT_INDENT_2))


# -- the command line as a subprocess ----------------------------------------------------------


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a `retention-console` subprocess: no inherited store, unbuffered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_CONSOLE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "console.cli", *args]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = SUBPROCESS_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run `retention-console ARGS` to completion; stdout and stderr captured as text."""
    return subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        env=env or cli_env(),
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def start_cli(*args: str, out: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `retention-console ARGS` in the background; stdout and stderr go to `out`.*."""
    return subprocess.Popen(
        cli_command(*args),
        stdout=out.with_suffix(".out").open("wb"),
        stderr=out.with_suffix(".err").open("wb"),
        env=env or cli_env(),
        cwd=ROOT,
    )


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.005) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; returns whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def cli_ok(*args: str) -> str:
    """Run `retention-console ARGS`, which must succeed without a traceback; its stdout."""
    result = run_cli(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


# -- stores ------------------------------------------------------------------------------------

POSTGRES_ADMIN_URL = os.environ.get("RETENTION_CONSOLE_TEST_POSTGRES", "")
requires_postgres = pytest.mark.skipif(
    not POSTGRES_ADMIN_URL,
    reason="no PostgreSQL server: set RETENTION_CONSOLE_TEST_POSTGRES to an admin URL "
    "(.ci/run starts one with .ci/postgres-up)",
)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a new, empty database on the test server, dropped after the test."""
    with scratch_database(POSTGRES_ADMIN_URL, "rc_test") as url:
        yield url


def event_line(index: int, prefix: str = "ev") -> dict[str, Any]:
    return {
        "anonymousId": f"anon-{index}",
        "email": f"user{index}@example.com",
        "event": "Order Completed",
        "messageId": f"{prefix}-{index:06d}",
        "properties": {"order": index, "total": f"${index % 500}.00"},
        "timestamp": "2024-04-16T16:54:10.519Z",
        "type": "track",
    }


def write_events(path: Path, count: int, prefix: str = "ev") -> set[str]:
    """A JSONL file of `count` track events; returns their messageIds."""
    with path.open("wb") as handle:
        for index in range(count):
            handle.write(orjson.dumps(event_line(index, prefix)) + b"\n")
    return {f"{prefix}-{index:06d}" for index in range(count)}


def segment_toml(
    url: str, write_key: str = WRITE_KEY, name: str = "seg", **extra: str | bool | int
) -> str:
    """One Segment destination sending events only (Reclaim), as `config apply` reads it."""
    lines = [
        "[[destinations]]",
        f'name = "{name}"',
        'kind = "segment"',
        f'write_key = "{write_key}"',
        f'endpoint = "{url}"',
        "grow = false",
    ]
    for key, value in extra.items():
        lines.append(f"{key} = {orjson.dumps(value).decode()}")
    return "\n".join(lines) + "\n"


def resci_export_toml(url: str, api_key: str = API_KEY) -> str:
    """A ReSci destination exporting the audience `california` (address_state CA) with
    first_name as full_name, as `config apply` reads it."""
    return f"""
[[audiences]]
name = "california"
rule = "address_state = 'CA'"

[[destinations]]
name = "resci"
kind = "resci"
api_key = "{api_key}"
endpoint = "{url}"

[destinations.export]
audience = "california"
fields = {{ first_name = "full_name" }}
"""


def seed_segment_store(
    db: Path,
    url: str,
    events: int,
    *,
    write_key: str = WRITE_KEY,
    name: str = "seg",
) -> set[str]:
    """Create a store at `db` with `events` events and one Segment destination at `url`;
    returns the events' messageIds."""
    events_path = db.with_name(db.stem + "-events.jsonl")
    ids = write_events(events_path, events)
    config = db.with_name(db.stem + "-config.toml")
    config.write_text(segment_toml(url, write_key, name))
    store = open_store(db)
    try:
        report = import_events(store, events_path)
        assert report.inserted == events, report.summary_line()
        apply_config(store, config)
    finally:
        store.dispose()
    return ids


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "console.db"


@pytest.fixture
def fresh_store(store_path: Path) -> Iterator[Store]:
    store = open_store(store_path)
    yield store
    store.dispose()


def sqlite_scalar(db: Path, sql: str, params: Iterable[Any] = ()) -> Any:
    """One value read with a plain sqlite3 connection (as a separate observer would)."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, tuple(params)).fetchone()[0]
    finally:
        conn.close()


def sqlite_rows(db: Path, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, tuple(params)).fetchall()
    finally:
        conn.close()


# -- sandbox observations ----------------------------------------------------------------------


def received_ids(sandbox: SegmentSandbox) -> dict[str, int]:
    """messageId -> times the sandbox accepted it."""
    with sandbox.lock:
        return dict(sandbox.message_ids)


def copies_differ(sandbox: SegmentSandbox) -> list[str]:
    """messageIds whose copies (re-sends) differ in content: a re-send must be the same message."""
    first: dict[str, bytes] = {}
    differing: list[str] = []
    with sandbox.lock:
        messages = list(sandbox.received)
    for message in messages:
        body = orjson.dumps(message, option=orjson.OPT_SORT_KEYS)
        seen = first.setdefault(message["messageId"], body)
        if seen != body:
            differing.append(message["messageId"])
    return differing


def check_delivery(
    sandbox: SegmentSandbox, expected: set[str], figures: Figures
) -> tuple[set[str], set[str]]:
    """Returns (lost, foreign): expected ids the sandbox never accepted, and ids it accepted
    that no event carries. Adds to the figures."""
    counts = received_ids(sandbox)
    lost = expected - counts.keys()
    foreign = counts.keys() - expected
    figures.rows_checked += len(expected)
    figures.rows_lost += len(lost)
    figures.resent_same_id += sum(c - 1 for i, c in counts.items() if i in expected)
    figures.resent_new_id += sum(counts[i] for i in foreign)
    return lost, foreign
