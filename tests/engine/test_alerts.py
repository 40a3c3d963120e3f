"""Alerts on a change of state, once: a destination that starts failing is alerted once, its
recovery once, never again while the state holds, across processes sharing the store; each
channel (an HTTP POST to 127.0.0.1, a command, e-mail to a local SMTP server) carries it, and a
channel that fails is noted on the run without stopping the delivery."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from console.core.vocab import Trigger
from console.engine.destinations import get_destination
from console.engine.options import EngineOptions
from console.engine.retries import RetryPolicy
from console.engine.runner import RunResult, run_all
from console.sandbox import AlertSandbox, SandboxServer
from state.alerts import change_alert_state
from state.db import open_store
from state.history import runs_page
from state.monitoring import alert_states
from tests.cli.test_commands import Sandbox, process, segment_toml, setup_store, write
from tests.smtp_sink import SmtpSink

FAST = EngineOptions(policy=RetryPolicy(base_seconds=0.01, cap_seconds=0.05, max_attempts=2))
HOOK_ENV = "TEST_ALERT_WEBHOOK_URL"
Receiver = tuple[AlertSandbox, str]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    sandbox = AlertSandbox()
    with SandboxServer(sandbox, port=0) as server:
        yield sandbox, server.url


def alerts_toml(*, failures_above: int = 0, **channels: dict[str, object]) -> str:
    lines = ["[alerts]", f"failures_above = {failures_above}"]
    for name, values in channels.items():
        lines.append(f"[alerts.{name}]")
        for key, value in values.items():
            lines.append(f"{key} = {orjson.dumps(value).decode()}")
    return "\n".join(lines) + "\n"


def run_in_process(db: Path) -> list[RunResult]:
    store = open_store(db)
    try:
        return asyncio.run(run_all(store, Trigger.MANUAL, FAST))
    finally:
        store.dispose()


def test_alert_once_when_failing_and_once_on_recovery_across_processes(
    tmp_path: Path, segment_sandbox: Sandbox, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = segment_sandbox
    alerts, alerts_url = receiver
    hook = {HOOK_ENV: f"{alerts_url}/services/T0/B0"}
    monkeypatch.setenv(HOOK_ENV, hook[HOOK_ENV])
    db = tmp_path / "console.db"
    webhook = {"url": f"env:{HOOK_ENV}"}
    setup_store(
        tmp_path,
        db,
        url,
        segment_toml("seg", endpoint=url, write_key="a-revoked-key") + alerts_toml(http=webhook),
    )
    # The console's engine: the key is refused, the run ends in error, one alert.
    (failed,) = run_in_process(db)
    assert failed.status == "failed"
    assert [a["state"] for a in alerts.received] == ["failing"]
    first = alerts.received[0]
    assert first["text"].startswith("Retention Console: seg is failing - ")
    assert "refused the write key" in first["reason"] and first["destination"] == "seg"
    # Still failing: in this engine, a new engine, and two cron processes: nothing more.
    run_in_process(db)
    run_in_process(db)
    for _ in range(2):
        assert process("--run-once", "--db", db, env=hook).returncode == 1
    assert len(alerts.received) == 1
    # The key is put right: the next cron run recovers, and says so once.
    fixed = write(tmp_path / "fixed.toml", segment_toml("seg", endpoint=url))
    assert process("config", "apply", fixed, "--db", db).returncode == 0
    assert process("--run-once", "--db", db, env=hook).returncode == 0
    run_in_process(db)
    assert process("--run-once", "--db", db, env=hook).returncode == 0
    assert [a["state"] for a in alerts.received] == ["failing", "recovered"]
    assert alerts.received[1]["text"].startswith("Retention Console: seg recovered - run ")
    store = open_store(db)
    with store.read() as conn:
        (state,) = alert_states(conn)
    store.dispose()
    assert (state.destination, state.failing) == ("seg", False)


def test_of_engines_changing_the_state_at_once_exactly_one_alerts(
    tmp_path: Path, segment_sandbox: Sandbox
) -> None:
    _, url = segment_sandbox
    db = tmp_path / "console.db"
    setup_store(tmp_path, db, url)
    stores = [open_store(db) for _ in range(6)]
    with stores[0].read() as conn:
        record = get_destination(conn, "seg")
    assert record is not None
    start = threading.Barrier(len(stores))
    changed: list[bool] = []

    def engine(index: int) -> None:
        start.wait()
        with stores[index].write() as conn:
            changed.append(
                change_alert_state(conn, record.id, failing=True, reason="down", run_id=index)
            )

    threads = [threading.Thread(target=engine, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.dispose()
    assert sorted(changed) == [False] * (len(stores) - 1) + [True]


def test_rows_refused_above_the_threshold_alert_and_a_failing_channel_is_noted(
    tmp_path: Path, segment_sandbox: Sandbox, receiver: Receiver
) -> None:
    sandbox, url = segment_sandbox
    sandbox.faults.update({"reject_emails": ["a@example.com", "b@example.com"]})
    alerts, alerts_url = receiver
    alerts.faults.update({"error_rate": 1.0})
    db = tmp_path / "console.db"
    setup_store(
        tmp_path,
        db,
        url,
        segment_toml("seg", endpoint=url) + alerts_toml(failures_above=1, http={"url": alerts_url}),
    )
    (result,) = run_in_process(db)
    # The delivery stands; the alert that could not go out is said on the run.
    assert result.status == "partial" and result.counts.rejected == 2
    assert result.message.endswith("alert via http failed: the alert URL answered HTTP 500")
    assert alerts.requests == 1 and alerts.received == []
    store = open_store(db)
    with store.read() as conn:
        (run,) = runs_page(conn, "seg")
    store.dispose()
    assert run.message is not None and "alert via http failed" in run.message
    assert alerts_url not in run.message


def test_the_command_gets_the_alert_as_json_on_stdin_and_is_bounded_in_time(
    tmp_path: Path, segment_sandbox: Sandbox
) -> None:
    _, url = segment_sandbox
    db = tmp_path / "console.db"
    out = tmp_path / "alert.json"
    script = f"import sys, pathlib; pathlib.Path({str(out)!r}).write_text(sys.stdin.read())"
    command = {"argv": [sys.executable, "-c", script], "timeout_seconds": 10}
    setup_store(
        tmp_path,
        db,
        url,
        segment_toml("seg", endpoint=url, write_key="revoked") + alerts_toml(command=command),
    )
    run_in_process(db)
    alert = orjson.loads(out.read_text())
    assert alert["state"] == "failing" and alert["destination"] == "seg"
    # A command that hangs is killed at its timeout; the run says so.
    slow = {"argv": [sys.executable, "-c", "import time; time.sleep(30)"], "timeout_seconds": 0.5}
    fixed = write(
        tmp_path / "slow.toml", segment_toml("seg", endpoint=url) + alerts_toml(command=slow)
    )
    assert process("config", "apply", fixed, "--db", db).returncode == 0
    (recovered,) = run_in_process(db)
    assert recovered.status == "ok"
    assert "alert via command failed: " in recovered.message
    assert "did not finish within 0.5 s (killed)" in recovered.message


def test_email_goes_to_a_local_smtp_server_with_the_password_from_the_environment(
    tmp_path: Path, segment_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = segment_sandbox
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "smtp-secret-1234")
    db = tmp_path / "console.db"
    with SmtpSink() as smtp:
        email = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "starttls": False,
            "username": "alerts",
            "password": "env:TEST_SMTP_PASSWORD",
            "from": "console@example.com",
            "to": ["ops@example.com", "oncall@example.com"],
        }
        setup_store(
            tmp_path,
            db,
            url,
            segment_toml("seg", endpoint=url, write_key="revoked") + alerts_toml(email=email),
        )
        (result,) = run_in_process(db)
        assert "alert via" not in result.message
    (mail,) = smtp.received
    assert smtp.logins == [("alerts", "smtp-secret-1234")]
    assert (mail.sender, mail.recipients) == (
        "console@example.com",
        ["ops@example.com", "oncall@example.com"],
    )
    assert str(mail.message["Subject"]).startswith("Retention Console: seg is failing - ")
    assert '"state": "failing"' in mail.message.get_content()


def test_an_smtp_server_that_is_not_there_is_noted_on_the_run(
    tmp_path: Path, segment_sandbox: Sandbox
) -> None:
    _, url = segment_sandbox
    db = tmp_path / "console.db"
    with SmtpSink() as smtp:
        port = smtp.port  # then closed: nothing listens there any more
    email = {
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "from": "a@x.io",
        "to": ["b@x.io"],
    }
    setup_store(
        tmp_path,
        db,
        url,
        segment_toml("seg", endpoint=url, write_key="revoked") + alerts_toml(email=email),
    )
    (result,) = run_in_process(db)
    assert f"alert via email failed: SMTP 127.0.0.1:{port}: " in result.message


def test_config_apply_and_export_the_alerts_section_with_secrets_masked(tmp_path: Path) -> None:
    db = tmp_path / "console.db"
    hook = "http://127.0.0.1:9/services/T0/B0/secret-token-XYZW"
    email = {
        "host": "127.0.0.1",
        "port": 2525,
        "username": "alerts",
        "password": "smtp-password-ABCD",
        "from": "console@example.com",
        "to": ["ops@example.com"],
    }
    config = write(
        tmp_path / "alerts.toml",
        segment_toml("seg") + alerts_toml(failures_above=5, http={"url": hook}, email=email),
    )
    applied = process("config", "apply", config, "--db", db)
    assert applied.returncode == 0, applied.stderr
    assert "alerts http, email" in applied.stdout
    exported = process("config", "export", "--db", db).stdout
    assert "secret-token" not in exported and "smtp-password" not in exported
    assert "[alerts]" in exported and "failures_above = 5" in exported
    assert 'url = "••••XYZW"' in exported and 'password = "••••ABCD"' in exported
    assert 'from = "console@example.com"' in exported
    # The exported file applies again: its masks keep the stored secrets.
    again = write(tmp_path / "exported.toml", exported)
    assert process("config", "apply", again, "--db", db).returncode == 0
    full = process("config", "export", "--include-secrets", "--db", db).stdout
    assert hook in full and 'password = "smtp-password-ABCD"' in full
    # A mask that stands for nothing stored is refused, naming the section and field.
    alerts_only = write(tmp_path / "alerts-only.toml", exported.split("[[destinations]]")[0])
    refused = process("config", "apply", alerts_only, "--db", tmp_path / "other.db")
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: {alerts_only}: [alerts]: http.url: is masked")


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ('[alerts]\nhttp = { url = "ftp://x" }\n', "[alerts]: http.url: must be an http"),
        ('[alerts]\nemail = { host = "h", to = ["a@b.c"] }\n', "[alerts]: email.from: Field"),
        ("[alerts]\ncommand = { argv = [] }\n", "[alerts]: command.argv: List should have"),
        ("[alerts]\npager = 1\n", "[alerts]: pager: Extra inputs are not permitted"),
    ],
)
def test_a_bad_alerts_section_is_refused_naming_the_field(
    tmp_path: Path, section: str, says: str
) -> None:
    config = write(tmp_path / "bad.toml", segment_toml("seg") + section)
    refused = process("config", "apply", config, "--db", tmp_path / "console.db")
    assert refused.returncode == 2
    assert says in refused.stderr, refused.stderr
