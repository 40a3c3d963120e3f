"""Secrets: write keys and API keys never appear in logs (even with -v), `config export`
without --include-secrets, `failures`, `history`, `summary`, the payload detail panel, error
messages and tracebacks, nor in the UI snapshots and screenshots. The store file is created
0600 (its WAL files too) and every command warns when it is readable by others. A key given
as `env:NAME` is read from the environment at use and never written to the store.

Each scan looks for the full key and for its base64 form (Segment's HTTP Basic header), so a
leaked Authorization header is caught too. `--include-secrets` is scanned as a control: it
must show the keys, or the scan would prove nothing.
"""

from __future__ import annotations

import ast
import base64
import html
import logging
import os
import re
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from console.config import ConfigError, apply_config
from console.core.secrets import mask_secret
from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import get_destination, list_destinations, save_destination
from console.engine.options import EngineOptions
from console.engine.runner import run_destination
from console.sandbox import ResciSandbox, SandboxServer, SegmentSandbox
from state.db import open_store
from state.models import Contact, OutboxRow

from .conftest import (
    API_KEY,
    ROOT,
    WRITE_KEY,
    Figures,
    cli_env,
    run_cli,
    write_events,
)

ENV_NAME = "RC_RELIABILITY_WRITE_KEY"
ENV_KEY = "wk-FROM-ENVIRONMENT-5a4b3c2d1e0f9a8b"
ROTATED_KEY = "wk-ROTATED-IN-ENVIRONMENT-77e6d5c4b3"


def leak_forms(key: str) -> list[str]:
    """The key, and the HTTP Basic token Segment's header carries it as."""
    return [key, base64.b64encode(f"{key}:".encode()).decode()]


def leaks(text: str | bytes, keys: list[str]) -> list[str]:
    """Which keys (in any leak form) appear in `text`."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    return [k for k in keys if any(form.encode() in data for form in leak_forms(k))]


KEYS = [WRITE_KEY, API_KEY, ENV_KEY, ROTATED_KEY]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CONTACTS_CSV = "email,first_name,address_state,created_at\n" + "".join(
    f"user{i}@gmail.com,Name{i},CA,2024-04-0{1 + i % 9}\n" for i in range(20)
)


def config_text(segment_url: str, resci_url: str, segment_key: str = WRITE_KEY) -> str:
    return f"""
[[audiences]]
name = "california"
rule = "address_state = 'CA'"

[[destinations]]
name = "seg"
kind = "segment"
write_key = "{segment_key}"
endpoint = "{segment_url}"

[[destinations]]
name = "resci"
kind = "resci"
api_key = "{API_KEY}"
endpoint = "{resci_url}"
site_id = "4242"
on_site = true
events = {{ "Order Completed" = "checkout_success" }}

[destinations.export]
audience = "california"
fields = {{ first_name = "full_name" }}
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    """A store with contacts, events, an audience and both destinations; yields
    (db, segment url, resci url) with both sandboxes serving."""
    segment = SegmentSandbox(write_keys={WRITE_KEY})
    resci = ResciSandbox(api_keys={API_KEY}, job_delay_seconds=0.0)
    with SandboxServer(segment) as seg_server, SandboxServer(resci) as resci_server:
        db = tmp_path / "console.db"
        (tmp_path / "contacts.csv").write_text(CONTACTS_CSV)
        write_events(tmp_path / "events.jsonl", 30)
        (tmp_path / "config.toml").write_text(config_text(seg_server.url, resci_server.url))
        for args in (
            ("config", "apply", str(tmp_path / "config.toml")),
            ("import", "contacts", str(tmp_path / "contacts.csv")),
            ("import", "events", str(tmp_path / "events.jsonl")),
        ):
            result = run_cli("--db", str(db), *args)
            assert result.returncode == 0, result.stderr
        yield db, seg_server.url, resci_server.url


def test_no_command_output_shows_a_key(
    world: tuple[Path, str, str], tmp_path: Path, figures: Figures
) -> None:
    db, segment_url, resci_url = world
    outputs: dict[str, str] = {}

    def run(name: str, *args: str) -> None:
        result = run_cli("-v", "--db", str(db), *args)
        outputs[name] = result.stdout + result.stderr

    run("run-once", "--run-once", "--max-wait", "3")
    run("run-once again (polls the import job)", "--run-once", "--max-wait", "3")
    assert "seg: ok" in outputs["run-once"], outputs["run-once"]
    assert "resci:" in outputs["run-once"]
    run("config export", "config", "export")
    run("failures", "failures")
    run("failures --json", "failures", "--json")
    run("history", "history")
    run("history --json", "history", "--json")
    run("summary --json", "summary", "--json")

    # The error paths: a closed port, https to a plain-HTTP server, refused keys.
    broken = tmp_path / "broken.toml"
    broken.write_text(
        config_text(f"http://127.0.0.1:{closed_port()}", resci_url.replace("http:", "https:"))
    )
    run("apply broken endpoints", "config", "apply", str(broken))
    write_events(tmp_path / "more.jsonl", 5, prefix="more")
    run("import more", "import", "events", str(tmp_path / "more.jsonl"))
    run("run-once unreachable", "--run-once", "--max-wait", "0")
    refused = tmp_path / "refused.toml"
    refused.write_text(config_text(segment_url, resci_url, segment_key=WRITE_KEY + "-old"))
    run("apply refused key", "config", "apply", str(refused))
    run("run-once refused key", "--run-once", "--max-wait", "0")
    run("failures after errors", "failures", "--json")
    run("history after errors", "history", "--json")
    assert "seg: partial - 0 delivered, 0 rejected, 5 queued" in outputs["run-once unreachable"]
    assert "WRONG_VERSION_NUMBER" in outputs["run-once unreachable"]  # the TLS-less ReSci
    assert "refused the write key" in outputs["run-once refused key"]

    found = {name: leaks(text, KEYS) for name, text in outputs.items()}
    assert {name: keys for name, keys in found.items() if keys} == {}

    # Control: the scan does find keys where they are meant to be.
    (tmp_path / "good.toml").write_text(config_text(segment_url, resci_url))
    run_cli("--db", str(db), "config", "apply", str(tmp_path / "good.toml"))
    full = run_cli("--db", str(db), "config", "export", "--include-secrets").stdout
    assert leaks(full, KEYS) == [WRITE_KEY, API_KEY]
    masked = outputs["config export"]
    assert mask_secret(SecretStr(WRITE_KEY)) in masked
    figures.outputs_scanned += len(outputs)


def test_payload_panel_and_stored_rows_hold_no_key(
    world: tuple[Path, str, str], figures: Figures
) -> None:
    db, *_ = world
    assert run_cli("--db", str(db), "--run-once", "--max-wait", "3").returncode in (0, 1)
    from console.ui.widgets.failure_detail import payload_text

    store = open_store(db)
    try:
        with store.read() as conn:
            payloads = list(conn.execute(OutboxRow.__table__.select()).mappings())
            contacts = list(conn.execute(Contact.__table__.select()).mappings())
            destinations = list_destinations(conn)
    finally:
        store.dispose()
    assert len(payloads) > 30 and contacts
    for row in payloads:
        assert leaks(payload_text(row["payload"]), KEYS) == [], row["message_id"]
        assert leaks(row["feedback"] or "", KEYS) == []
    # What a traceback or a debugger prints of a destination shows the key masked.
    for record in destinations:
        assert leaks(repr(record) + str(record) + repr(record.settings), KEYS) == []
    figures.outputs_scanned += len(payloads) + len(destinations)


async def test_tracebacks_and_errors_hold_no_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error inside an HTTP send is logged with its traceback: no key in it."""
    store = open_store(tmp_path / "console.db")
    try:
        write_events(tmp_path / "events.jsonl", 3)
        from console.ingest import import_events

        import_events(store, tmp_path / "events.jsonl")
        settings = SegmentSettings(
            write_key=SecretStr(WRITE_KEY), endpoint="http://127.0.0.1:9", grow=False
        )
        with store.write() as conn:
            save_destination(conn, "seg", settings)
            destination = get_destination(conn, "seg")
        assert destination is not None

        async def broken(self: object, request: httpx.Request) -> httpx.Response:
            raise RuntimeError(f"transport exploded on {request.url}")

        monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", broken)
        with caplog.at_level(logging.DEBUG):
            result = await run_destination(store, destination, "manual", EngineOptions())
        assert result.status == "failed" and "transport exploded" in result.message
        logged = "\n".join(
            record.getMessage()
            + "\n"
            + (caplog.handler.formatter or logging.Formatter()).format(record)
            for record in caplog.records
        )
        assert "Traceback" in logged and "transport exploded" in logged
        assert leaks(logged + result.message + result.line(), KEYS) == []
    finally:
        store.dispose()


def test_config_errors_never_echo_a_key(tmp_path: Path) -> None:
    """A bad config file is refused naming the field, without repeating the key in it."""
    store = open_store(tmp_path / "console.db")
    try:
        bad = tmp_path / "bad.toml"
        for body in (
            f'[[destinations]]\nname = "s"\nkind = "segment"\nwrite_key = "{WRITE_KEY}"\n'
            'endpoint = "ftp://nowhere"\n',
            f'[[destinations]]\nname = "s"\nkind = "segment"\nwrite_key = ["{WRITE_KEY}"]\n',
            f'[[destinations]]\nname = "r"\nkind = "resci"\napi_key = "{API_KEY}"\n'
            'site_id = "not-a-number"\n',
            f'[[destinations]]\nname = "r"\nkind = "resci"\napi_key = "{API_KEY}"\n'
            f'bogus = "{API_KEY}"\n',
            # A key pasted into the wrong field is not repeated in the error either.
            f'[[destinations]]\nname = "s"\nkind = "segment"\nwrite_key = "x"\n'
            f'endpoint = "{WRITE_KEY}"\n',
            f'[[destinations]]\nname = "r"\nkind = "resci"\napi_key = "x"\nsite_id = "{API_KEY}"\n',
        ):
            bad.write_text(body)
            with pytest.raises(ConfigError) as caught:
                apply_config(store, bad)
            assert leaks(str(caught.value), KEYS) == [], str(caught.value)
    finally:
        store.dispose()


# -- the store file ----------------------------------------------------------------------------


def test_store_file_is_private_and_wal_files_too(tmp_path: Path) -> None:
    db = tmp_path / "new" / "console.db"
    store = open_store(db)
    try:
        with store.write() as conn:
            save_destination(
                conn, "s", SegmentSettings(write_key=SecretStr(WRITE_KEY), endpoint="us")
            )
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        store.dispose()
    # Created through the command line, with a permissive umask, it is 0600 as well.
    other = tmp_path / "cli.db"
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email\na@example.com\n")
    env = cli_env()
    old = os.umask(0o000)
    try:
        result = run_cli("--db", str(other), "import", "contacts", str(contacts), env=env)
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(other.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604], ids=oct)
def test_world_readable_store_warns_on_every_command(tmp_path: Path, mode: int) -> None:
    db = tmp_path / "console.db"
    open_store(db).dispose()
    os.chmod(db, mode)
    for args in (("summary",), ("history",), ("--run-once",), ("config", "export")):
        result = run_cli("--db", str(db), *args)
        assert f"warning: {db} is readable by other users; run: chmod 600 {db}" in result.stderr
        assert "warning" not in result.stdout  # stdout stays clean for scripts
    os.chmod(db, 0o600)
    assert "warning" not in run_cli("--db", str(db), "summary").stderr


# -- env:NAME ----------------------------------------------------------------------------------


def test_env_key_is_read_at_use_and_never_stored(tmp_path: Path) -> None:
    sandbox = SegmentSandbox(write_keys={ENV_KEY})
    with SandboxServer(sandbox) as server:
        db = tmp_path / "console.db"
        write_events(tmp_path / "events.jsonl", 20)
        (tmp_path / "c.toml").write_text(
            f'[[destinations]]\nname = "seg"\nkind = "segment"\nwrite_key = "env:{ENV_NAME}"\n'
            f'endpoint = "{server.url}"\ngrow = false\n'
        )
        assert run_cli("--db", str(db), "config", "apply", str(tmp_path / "c.toml")).returncode == 0
        assert (
            run_cli("--db", str(db), "import", "events", str(tmp_path / "events.jsonl")).returncode
            == 0
        )

        with_key = cli_env({ENV_NAME: ENV_KEY})
        result = run_cli("-v", "--db", str(db), "--run-once", env=with_key)
        assert result.returncode == 0, result.stdout + result.stderr
        assert sandbox.message_count == 20
        assert leaks(result.stdout + result.stderr, KEYS) == []

        # Rotated in the environment: the next run uses the new key, nothing to re-apply.
        sandbox.write_keys = {ROTATED_KEY}
        write_events(tmp_path / "more.jsonl", 5, prefix="more")
        run_cli("--db", str(db), "import", "events", str(tmp_path / "more.jsonl"))
        rotated = run_cli("--db", str(db), "--run-once", env=cli_env({ENV_NAME: ROTATED_KEY}))
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        assert sandbox.message_count == 25

        # Unset: a clear configuration error, exit 2, nothing sent.
        write_events(tmp_path / "last.jsonl", 1, prefix="last")
        run_cli("--db", str(db), "import", "events", str(tmp_path / "last.jsonl"))
        unset = run_cli("--db", str(db), "--run-once")
        assert unset.returncode == 2, unset.stdout + unset.stderr
        assert f"environment variable {ENV_NAME} is not set" in unset.stdout + unset.stderr
        assert sandbox.message_count == 25

        export = run_cli("--db", str(db), "config", "export", "--include-secrets").stdout
        assert f"env:{ENV_NAME}" in export and leaks(export, KEYS) == []

    # The raw bytes of the store and its WAL: the name is there, the value never is.
    for path in tmp_path.glob("console.db*"):
        data = path.read_bytes()
        assert leaks(data, [ENV_KEY, ROTATED_KEY]) == [], path
    assert b"env:" + ENV_NAME.encode() in b"".join(
        p.read_bytes() for p in tmp_path.glob("console.db*")
    )


# -- UI snapshots and screenshots --------------------------------------------------------------


def _known_keys() -> list[str]:
    """Every string constant named `*_KEY` in the UI tests, the demo, the sandbox and the
    shared test fixtures: the keys the pictures could have been taken with."""
    sources = [
        *sorted((ROOT / "tests" / "ui").glob("*.py")),
        ROOT / "tests" / "conftest.py",
        ROOT / "console" / "demo.py",
        ROOT / "console" / "sandbox" / "server.py",
    ]
    keys: set[str] = set(KEYS)
    for source in sources:
        if not source.exists():
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
                and any(isinstance(t, ast.Name) and t.id.endswith("_KEY") for t in node.targets)
            ):
                keys.add(node.value.value)
    return sorted(k for k in keys if len(k) >= 8)


def _visible_text(raw: str) -> str:
    """SVG text as a terminal shows it: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", raw)).replace("\xa0", " ")


def test_ui_snapshots_and_screenshots_hold_no_key(figures: Figures) -> None:
    keys = _known_keys()
    assert len(keys) > len(KEYS), "found none of the UI's or demo's keys to look for"
    pictures = [
        p
        for folder in (ROOT / "tests" / "ui" / "__snapshots__", ROOT / "screenshots")
        if folder.exists()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]
    if not pictures:
        pytest.skip("no UI snapshots or screenshots in this checkout")
    found = {}
    for picture in pictures:
        raw = picture.read_text(encoding="utf-8", errors="replace")
        hits = leaks(raw, keys) + leaks(_visible_text(raw), keys)
        if hits:
            found[str(picture.relative_to(ROOT))] = sorted(set(hits))
    assert found == {}
    figures.outputs_scanned += len(pictures)
