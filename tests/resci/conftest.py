"""Fixtures for the ReSci tests: a ReSci sandbox on 127.0.0.1 whose import jobs advance on a
clock the test moves, a store with a ReSci destination applied from TOML, contact and event
files imported through the real importers, and runs through the real engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from console.config import apply_config
from console.engine.destinations import DestinationRecord, get_destination
from console.engine.options import EngineOptions
from console.engine.retries import RetryPolicy
from console.engine.runner import RunResult, run_destination
from console.ingest import import_contacts, import_events
from console.sandbox import ResciSandbox, SandboxServer
from state.db import Store
from state.models import OutboxRow

API_KEY = "resci-test-key"
SITE_ID = 4242
JOB_DELAY = 10.0  # sandbox seconds from upload to completion (half queued, half processing)
OUTBOX = OutboxRow.__table__

FAST = EngineOptions(
    policy=RetryPolicy(base_seconds=0.01, cap_seconds=0.05, max_attempts=4),
    max_wait_seconds=2.0,
    timeout_seconds=10.0,
)


class JobClock:
    """The sandbox's monotonic clock, moved by hand so a job's state is the test's choice."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Resci:
    """A running ReSci sandbox: the app (to inspect), its URL and its job clock."""

    sandbox: ResciSandbox
    url: str
    clock: JobClock

    def to_processing(self) -> None:
        """Move past half the job delay: a job created before is now `processing`."""
        self.clock.advance(JOB_DELAY * 0.6)

    def to_done(self) -> None:
        """Move past the whole job delay: a job created before is now done."""
        self.clock.advance(JOB_DELAY * 1.1)


@pytest.fixture
def resci() -> Iterator[Resci]:
    clock = JobClock()
    sandbox = ResciSandbox(
        api_keys={API_KEY}, site_id=SITE_ID, job_delay_seconds=JOB_DELAY, clock=clock
    )
    with SandboxServer(sandbox, port=0) as server:
        yield Resci(sandbox, server.url, clock)


def destination_toml(
    endpoint: str,
    *,
    name: str = "resci-main",
    audience: str = "california-gmail",
    rule: str = "email_domain = 'gmail.com' and address_state = 'CA'",
    fields: dict[str, str] | None = None,
    events: dict[str, str] | None = None,
    on_site: bool = True,
    exit_mode: str | None = None,
    api_key: str = API_KEY,
    extra_audiences: dict[str, str] | None = None,
) -> str:
    """The issue's config example, pointed at the sandbox, with the parts a test changes."""
    fields = {"first_name": "full_name", "address_city": "city"} if fields is None else fields
    events = (
        {"Viewed Product Reclaim": "view", "Checkout Started Reclaim": "checkout_success"}
        if events is None
        else events
    )
    audiences = {audience: rule, **(extra_audiences or {})}
    lines: list[str] = []
    for audience_name, audience_rule in audiences.items():
        lines += ["[[audiences]]", f"name = {_q(audience_name)}", f"rule = {_q(audience_rule)}"]
    lines += [
        "[[destinations]]",
        f"name = {_q(name)}",
        'kind = "resci"',
        f"api_key = {_q(api_key)}",
        'api_key_label = "production key"',
        f"endpoint = {_q(endpoint)}",
        f'site_id = "{SITE_ID}"',
        f"on_site = {'true' if on_site else 'false'}",
        "schedule_minutes = 15",
        "[destinations.export]",
        f"audience = {_q(audience)}",
    ]
    if exit_mode:
        lines.append(f"exit_mode = {_q(exit_mode)}")
    lines.append("[destinations.export.fields]")
    lines += [f"{source} = {_q(target)}" for source, target in fields.items()]
    lines.append("[destinations.events]")
    lines += [f"{_q(custom)} = {_q(reserved)}" for custom, reserved in events.items()]
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return orjson.dumps(text).decode()


@dataclass
class Console:
    """The store plus helpers to configure, import and run exactly as the CLI does."""

    store: Store
    tmp: Path
    name: str = "resci-main"
    files: int = field(default=0)

    def apply(self, toml: str) -> None:
        self.files += 1
        path = self.tmp / f"config-{self.files}.toml"
        path.write_text(toml, encoding="utf-8")
        apply_config(self.store, path)

    def contacts(self, rows: list[dict[str, Any]]) -> None:
        self.files += 1
        path = self.tmp / f"contacts-{self.files}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        report = import_contacts(self.store, path)
        assert report.rejected == 0, report.errors[:3]

    def events(self, rows: list[dict[str, Any]]) -> None:
        self.files += 1
        path = self.tmp / f"events-{self.files}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        report = import_events(self.store, path)
        assert report.rejected == 0, report.errors[:3]

    def destination(self) -> DestinationRecord:
        with self.store.read() as conn:
            found = get_destination(conn, self.name)
        assert found is not None
        return found

    async def run(self, options: EngineOptions = FAST) -> RunResult:
        return await run_destination(self.store, self.destination(), "manual", options)

    def outbox(self, kind: str | None = None) -> list[dict[str, Any]]:
        stmt = select(OUTBOX).order_by(OUTBOX.c.id)
        if kind is not None:
            stmt = stmt.where(OUTBOX.c.kind == kind)
        with self.store.read() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]


@pytest.fixture
def console(store: Store, tmp_path: Path) -> Console:
    return Console(store, tmp_path)


def contact(
    i: int,
    *,
    domain: str = "gmail.com",
    state: str | None = "CA",
    first_name: str | None = None,
    city: str | None = "Los Angeles",
    created_at: str = "2024-01-02T03:04:05.000Z",
    **extra: Any,
) -> dict[str, Any]:
    """A contact in the seed's Grow shape; `user<i>@<domain>`."""
    return {
        "email": f"user{i}@{domain}",
        "first_name": first_name if first_name is not None else f"First{i}",
        "last_name": f"Last{i}",
        "address_city": city,
        "address_state": state,
        "created_at": created_at,
        **extra,
    }
