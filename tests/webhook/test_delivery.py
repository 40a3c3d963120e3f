"""A webhook destination end to end: `config apply` (secret literal or `env:NAME`), `--run-once`
against an independent receiver on 127.0.0.1 (the sandbox's, which verifies every signature
itself), and the engine's generic delivery under faults: 500 then success, 429 with
Retry-After, a 400 kept as a failure with the receiver's words, a refused signature and a
redirect halting the run with the events kept queued."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from console.cli import main
from console.core.vocab import OutboxStatus, RunStatus, Trigger
from console.engine.destinations import get_destination
from console.engine.options import EngineOptions
from console.engine.retries import RetryPolicy
from console.engine.runner import run_destination
from console.ingest import import_events
from console.sandbox import Request, Response, SandboxApp, SandboxServer
from console.sandbox.faults import FaultDecision, FaultKind, Faults
from console.sandbox.webhook import WebhookSandbox
from state.db import Store, open_store
from state.models import OutboxRow

from .conftest import SECRET, webhook_toml, write_events

OUTBOX = OutboxRow.__table__
Receiver = tuple[WebhookSandbox, str]


def cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


@dataclass
class Scripted(Faults):
    """Faults by request number: {1: 500} answers the first request 500, then behaves."""

    script: dict[int, int] = field(default_factory=dict)

    def decide(self, request_number: int) -> FaultDecision:
        status = self.script.get(request_number)
        if status == 429:
            return FaultDecision(FaultKind.RATE_LIMIT, 429)
        if status:
            return FaultDecision(FaultKind.ERROR, status)
        return super().decide(request_number)


def apply(tmp_path: Path, db: Path, toml: str, env: dict[str, str] | None = None) -> Result:
    config = tmp_path / "destinations.toml"
    config.write_text(toml, encoding="utf-8")
    return cli("config", "apply", config, "--db", db, env=env)


def seed(tmp_path: Path, db: Path, count: int) -> None:
    events = write_events(tmp_path / "events.jsonl", count)
    assert cli("import", "events", events, "--db", db).exit_code == 0


def outbox_rows(db: Path) -> list[tuple[str, int, str]]:
    store = open_store(db)
    with store.read() as conn:
        rows = conn.execute(
            select(OUTBOX.c.message_id, OUTBOX.c.attempts, OUTBOX.c.status).order_by(OUTBOX.c.id)
        ).all()
    store.dispose()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_config_apply_takes_a_literal_or_env_secret_and_export_masks_it(
    tmp_path: Path, receiver: Receiver
) -> None:
    _, url = receiver
    db = tmp_path / "console.db"
    toml = webhook_toml(url, "hook-literal", filters={"email_domains": ["gmail.com"]})
    toml += webhook_toml(url, "hook-env", secret="env:HOOK_SECRET", reclaim_events=["A"])
    done = apply(tmp_path, db, toml)
    assert done.exit_code == 0, done.output
    assert "created hook-literal, hook-env" in done.stdout
    store = open_store(db)
    with store.read() as conn:
        literal = get_destination(conn, "hook-literal")
        from_env = get_destination(conn, "hook-env")
    store.dispose()
    assert literal is not None and from_env is not None
    assert (literal.kind, literal.settings.url) == ("webhook", url)
    assert literal.settings.secret.get_secret_value() == SECRET
    assert literal.settings.filters.email_domains == ["gmail.com"]
    assert from_env.settings.secret.get_secret_value() == "env:HOOK_SECRET"
    assert from_env.settings.reclaim_events == ["A"]
    exported = cli("config", "export", "--db", db).stdout
    assert SECRET not in exported and 'secret = "env:HOOK_SECRET"' in exported
    assert 'kind = "webhook"' in exported
    # The exported file applies back unchanged: the mask stands for the stored secret.
    assert apply(tmp_path, db, exported).exit_code == 0


def test_config_apply_names_the_field_of_a_plain_http_url(tmp_path: Path) -> None:
    done = apply(tmp_path, tmp_path / "console.db", webhook_toml("http://hooks.example.com/x"))
    assert done.exit_code != 0
    assert "destination 'hook': url: must be https://" in done.output


def test_run_once_delivers_every_event_once_signed_and_verified(
    tmp_path: Path, receiver: Receiver
) -> None:
    sandbox, url = receiver
    db = tmp_path / "console.db"
    seed(tmp_path, db, 30)
    assert apply(tmp_path, db, webhook_toml(url, secret="env:HOOK_SECRET")).exit_code == 0

    unset = cli("--run-once", "--db", db)
    assert unset.exit_code == 2 and "HOOK_SECRET is not set" in unset.stdout
    done = cli("--run-once", "--db", db, env={"HOOK_SECRET": SECRET})

    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("hook: ok - 30 delivered, 0 rejected, 0 queued")
    assert sandbox.refused_signatures == 0
    assert sorted(sandbox.message_ids) == [f"ev-{i:04d}" for i in range(30)]
    assert set(sandbox.message_ids.values()) == {1}
    first = next(b for b in sandbox.received if b["id"] == "ev-0001")
    assert first["event_type"] == "Add To Cart Reclaim" and first["email"] == "shopper1@gmail.com"
    assert first["properties"]["product_id"] == "4891833342"
    again = cli("--run-once", "--db", db, env={"HOOK_SECRET": SECRET})
    assert again.exit_code == 0 and " 0 delivered" in again.stdout
    assert sandbox.stats()["messages"] == 30
    (day,) = orjson.loads(cli("summary", "--json", "--db", db).stdout)
    assert (day["destination"], day["completions"], day["failures"]) == ("hook", 30, 0)


@pytest.mark.parametrize("faults", [Scripted(script={1: 500, 2: 503})], ids=["5xx"])
def test_a_500_is_retried_and_then_delivered(tmp_path: Path, receiver: Receiver) -> None:
    sandbox, url = receiver
    db = tmp_path / "console.db"
    seed(tmp_path, db, 4)
    assert apply(tmp_path, db, webhook_toml(url)).exit_code == 0

    done = cli("--run-once", "--db", db)

    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("hook: ok - 4 delivered, 0 rejected, 0 queued")
    assert sandbox.requests == 6 and sorted(sandbox.message_ids.values()) == [1, 1, 1, 1]
    assert sorted(attempts for _, attempts, _ in outbox_rows(db)) == [1, 1, 2, 2]


def test_a_400_is_a_failure_with_the_receivers_words(tmp_path: Path, receiver: Receiver) -> None:
    sandbox, url = receiver
    sandbox.faults.update({"reject_emails": ["shopper2@gmail.com"]})
    db = tmp_path / "console.db"
    seed(tmp_path, db, 4)
    assert apply(tmp_path, db, webhook_toml(url)).exit_code == 0

    done = cli("--run-once", "--db", db)

    assert done.exit_code == 1
    assert done.stdout.startswith("hook: partial - 3 delivered, 1 rejected, 0 queued")
    (failure,) = orjson.loads(cli("failures", "--json", "--db", db).stdout)
    assert {k: failure[k] for k in ("email", "destination", "kind", "http_status")} == {
        "email": "shopper2@gmail.com",
        "destination": "hook",
        "kind": "event",
        "http_status": 400,
    }
    assert failure["feedback"] == "rejected: shopper2@gmail.com is on the sandbox's reject list"
    assert failure["attempts"] == 1


@pytest.mark.parametrize("faults", [Scripted(script={2: 429}, retry_after_seconds=0.3)])
async def test_429_holds_the_destination_for_retry_after_and_spends_no_attempts(
    store: Store, tmp_path: Path, receiver: Receiver
) -> None:
    sandbox, url = receiver
    import_events(store, write_events(tmp_path / "events.jsonl", 6))
    with store.write() as conn:
        from console.destinations import registry
        from console.engine.destinations import save_destination

        settings = registry.parse_settings("webhook", {"url": url, "secret": SECRET})
        save_destination(conn, "hook", settings)
        destination = get_destination(conn, "hook")
    assert destination is not None
    options = EngineOptions(
        policy=RetryPolicy(base_seconds=5, cap_seconds=5), batch_rows=50, max_wait_seconds=5
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await run_destination(store, destination, Trigger.MANUAL, options)
    assert result.status == RunStatus.OK, result.line()
    assert result.counts.delivered == 6
    assert "asked to wait 0.3 s (HTTP 429, Retry-After)" in result.message
    # Sent again after the 0.3 s asked for, not after the 5 s backoff.
    assert 0.3 <= loop.time() - started < 4
    assert sorted(sandbox.message_ids.values()) == [1] * 6
    with store.read() as conn:
        attempts = conn.execute(select(OUTBOX.c.attempts)).scalars().all()
    # The refused event spent one attempt; events the 429 kept from being sent spent none.
    assert sorted(attempts) == [1, 1, 1, 1, 1, 2]


class Redirecting(SandboxApp):
    def route(self, request: Request) -> Response:
        return Response(302, b"", headers={"Location": "https://elsewhere.example/hook"})


@pytest.mark.parametrize(
    ("app", "words"),
    [
        (WebhookSandbox(secret="another-secret-0123456789"), "refused the signature"),
        (Redirecting(), "redirects (HTTP 302) to https://elsewhere.example/hook"),
    ],
    ids=["401", "302"],
)
def test_a_refused_signature_or_a_redirect_halts_with_events_queued(
    tmp_path: Path, app: SandboxApp, words: str
) -> None:
    db = tmp_path / "console.db"
    seed(tmp_path, db, 3)
    with SandboxServer(app, port=0) as server:
        assert apply(tmp_path, db, webhook_toml(f"{server.url}/hook")).exit_code == 0
        done = cli("--run-once", "--db", db)
    assert done.exit_code == 1
    assert done.stdout.startswith("hook: failed - 0 delivered, 0 rejected, 3 queued")
    assert words in done.stdout
    assert {status for _, _, status in outbox_rows(db)} == {OutboxStatus.QUEUED}
    assert {attempts for _, attempts, _ in outbox_rows(db)} == {0}


async def test_test_connection_sends_a_signed_ping_the_receiver_does_not_record(
    receiver: Receiver,
) -> None:
    import httpx

    from console.destinations.base import ConnectionTestFailed
    from console.destinations.webhook.adapter import WebhookAdapter

    sandbox, url = receiver
    async with httpx.AsyncClient() as client:
        reply = await WebhookAdapter(url, SECRET).test_connection(client)
        assert reply == "the receiver accepted a signed ping (HTTP 200)"
        with pytest.raises(ConnectionTestFailed, match="the signature was refused"):
            await WebhookAdapter(url, "another-secret-0123456789").test_connection(client)
    assert sandbox.received == [] and sandbox.refused_signatures == 1


@pytest.mark.parametrize("faults", [Faults(refuse_after=3)], ids=["401 after 3"])
def test_events_accepted_before_a_401_are_booked_and_not_sent_again(
    tmp_path: Path, receiver: Receiver
) -> None:
    sandbox, url = receiver
    db = tmp_path / "console.db"
    seed(tmp_path, db, 8)
    assert apply(tmp_path, db, webhook_toml(url)).exit_code == 0
    done = cli("--run-once", "--db", db)
    assert done.exit_code == 1 and "refused the signature" in done.stdout
    accepted = set(sandbox.message_ids)
    assert len(accepted) == 3
    booked = {mid for mid, _, status in outbox_rows(db) if status == OutboxStatus.DELIVERED}
    assert booked == accepted
    # The secret fixed (the receiver well again): only the other five go.
    sandbox.faults.update({"refuse_after": 0})
    again = cli("--run-once", "--db", db)
    assert again.exit_code == 0, again.output
    assert sorted(sandbox.message_ids.values()) == [1] * 8
