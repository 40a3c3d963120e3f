"""The `retention-console` command line, through click's CliRunner and as real processes
(`.venv/bin/retention-console` and `python -m console.cli`): import exit codes, config apply and
export (masking, `--include-secrets`, `env:NAME`, errors naming file, destination and field),
`summary` / `failures --json`, `--run-once` exit codes against a sandbox on 127.0.0.1, and the
store location (`--db`, `RETENTION_CONSOLE_DB`, the user data directory)."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner, Result

from console.cli import main
from console.engine.destinations import get_destination
from console.sandbox import SegmentSandbox
from state.db import ENV_DB, open_store
from tests.hostile import HOSTILE, SHOWN

WRITE_KEY = "test-write-key"  # what the shared `segment_sandbox` fixture accepts
ENTRY_POINT = Path(sys.executable).parent / "retention-console"
Sandbox = tuple[SegmentSandbox, str]

SUMMARY_KEYS = [
    "date",
    "destination",
    "completions",
    "contacts",
    "events",
    "failures",
    "suppressed",
    "queued",
]
FAILURE_KEYS = ["email", "destination", "kind", "feedback", "http_status", "attempts", "at"]


def cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    """Run the command in-process, stdout and stderr kept apart."""
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def process(
    *args: str | Path, env: dict[str, str] | None = None, module: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the installed entry point (or `python -m console.cli`) as a real process."""
    command = [sys.executable, "-m", "console.cli"] if module else [str(ENTRY_POINT)]
    full_env = {k: v for k, v in os.environ.items() if k != ENV_DB}
    full_env.update(env or {})
    return subprocess.run(
        [*command, *(str(a) for a in args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def segment_toml(name: str = "seg", **fields: Any) -> str:
    values: dict[str, Any] = {"kind": "segment", "write_key": WRITE_KEY}
    values.update(fields)
    lines = ["[[destinations]]", f'name = "{name}"']
    filters = values.pop("filters", None)
    for key, value in values.items():
        lines.append(f"{key} = {orjson.dumps(value).decode()}")
    if filters:
        lines.append("[destinations.filters]")
        lines += [f"{k} = {orjson.dumps(v).decode()}" for k, v in filters.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "console.db"


# --- import -----------------------------------------------------------------------------------


def test_import_contacts_ok_exits_0(tmp_path: Path, db: Path) -> None:
    path = write(tmp_path / "contacts.csv", "email,first_name\na@example.com,Ann\nb@x.com,\n")
    result = cli("import", "contacts", path, "--db", db)
    assert result.exit_code == 0
    assert result.stdout.strip() == (
        "contacts.csv: 2 rows, 2 new, 0 updated, 0 unchanged, 0 rejected"
    )
    assert result.stderr == ""
    again = cli("import", "contacts", path, "--db", db)
    assert again.exit_code == 0
    assert "0 new, 0 updated, 2 unchanged" in again.stdout


def test_import_with_rejected_rows_exits_1_and_names_the_lines(tmp_path: Path, db: Path) -> None:
    path = write(
        tmp_path / "contacts.csv",
        "email,address_state\ngood@example.com,CA\nnot-an-email,NY\nalso@example.com,TX\n",
    )
    result = cli("import", "contacts", path, "--db", db)
    assert result.exit_code == 1
    assert "2 new" in result.stdout and "1 rejected" in result.stdout
    (error,) = result.stderr.strip().splitlines()
    assert error.startswith(f"{path}:3: email 'not-an-email'")
    store = open_store(db)
    with store.read() as conn:
        emails = sorted(conn.exec_driver_sql("select email from contacts").scalars())
    store.dispose()
    assert emails == ["also@example.com", "good@example.com"]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("contacts.csv", "mail,first_name\na@example.com,Ann\n", "unknown column(s) 'mail'"),
        ("contacts.xlsx", "email\na@example.com\n", "unsupported file type ('.xlsx')"),
        ("contacts.csv", "", "no rows (the file is empty)"),
        ("contacts.csv", None, "cannot be read"),
    ],
)
def test_a_rejected_file_exits_2_and_writes_nothing(
    tmp_path: Path, db: Path, name: str, content: str | None, reason: str
) -> None:
    path = tmp_path / name
    if content is not None:
        write(path, content)
    result = cli("import", "contacts", path, "--db", db)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: ")
    assert reason in result.stderr
    store = open_store(db)
    with store.read() as conn:
        assert conn.exec_driver_sql("select count(*) from contacts").scalar() == 0
    store.dispose()


def test_import_events_and_suppressions_as_real_processes(tmp_path: Path, db: Path) -> None:
    events = jsonl(
        tmp_path / "events.jsonl",
        [
            {
                "event": "Viewed Product Reclaim",
                "email": "a@example.com",
                "timestamp": "2024-04-16T16:54:23.497Z",
                "messageId": "api-1",
            },
            {"event": "", "email": "b@example.com", "timestamp": "2024-04-16T16:54:23.497Z"},
        ],
    )
    done = process("import", "events", events, "--db", db)
    assert done.returncode == 1, done.stderr
    assert "1 new" in done.stdout and "1 rejected" in done.stdout
    assert f"{events}:2: event is missing" in done.stderr
    md5 = hashlib.md5(b"known@example.com").hexdigest()
    known = write(tmp_path / "known.csv", f"email\nknown@example.com\n{md5}\n")
    done = process("import", "suppressions", known, "--db", db, module=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "known.csv: 2 rows, 1 new, 0 updated, 1 unchanged, 0 rejected"
    done = process("import", "events", tmp_path / "events.csv", "--db", db)
    assert done.returncode == 2
    assert "error:" in done.stderr


def test_an_event_reusing_a_message_id_with_other_content_exits_1_naming_the_line(
    tmp_path: Path, db: Path
) -> None:
    first = {
        "event": "Viewed Product Reclaim",
        "email": "a@example.com",
        "timestamp": "2024-04-16T16:54:23.497Z",
        "messageId": "api-1",
    }
    assert cli("import", "events", jsonl(tmp_path / "a.jsonl", [first]), "--db", db).exit_code == 0
    same = cli("import", "events", jsonl(tmp_path / "same.jsonl", [first]), "--db", db)
    assert same.exit_code == 0 and "1 unchanged" in same.stdout

    other = jsonl(tmp_path / "b.jsonl", [first, {**first, "event": "Order Completed"}])
    result = cli("import", "events", other, "--db", db)

    assert result.exit_code == 1
    assert "1 unchanged, 1 rejected" in result.stdout
    assert f"{other}:2: messageId 'api-1' is already stored with other content" in result.stderr


# --- config -----------------------------------------------------------------------------------


def test_config_apply_creates_then_updates(tmp_path: Path, db: Path) -> None:
    path = write(tmp_path / "destinations.toml", segment_toml(schedule_minutes=5))
    first = cli("config", "apply", path, "--db", db)
    assert (first.exit_code, first.stdout.strip()) == (0, "created seg")
    write(path, segment_toml(schedule_minutes=30, endpoint="eu", group_id="vip"))
    second = cli("config", "apply", path, "--db", db)
    assert (second.exit_code, second.stdout.strip()) == (0, "updated seg")
    store = open_store(db)
    with store.read() as conn:
        record = get_destination(conn, "seg")
    store.dispose()
    assert record is not None
    assert record.schedule_minutes == 30
    assert record.settings.endpoint == "https://events.eu1.segmentapis.com"
    assert record.settings.group_id == "vip"  # type: ignore[union-attr]


def test_config_export_masks_secrets_unless_asked(tmp_path: Path, db: Path) -> None:
    path = write(
        tmp_path / "destinations.toml",
        segment_toml("literal", write_key="sk_live_abcdefgh1234")
        + segment_toml("from-env", write_key="env:SEGMENT_WRITE_KEY"),
    )
    assert cli("config", "apply", path, "--db", db).exit_code == 0

    masked = cli("config", "export", "--db", db)
    full = cli("config", "export", "--include-secrets", "--db", db)

    assert masked.exit_code == full.exit_code == 0
    assert "sk_live_abcdefgh1234" not in masked.stdout
    assert 'write_key = "••••1234"' in masked.stdout
    assert 'write_key = "sk_live_abcdefgh1234"' in full.stdout
    # An env: reference is not a secret: it is exported as written either way.
    assert 'write_key = "env:SEGMENT_WRITE_KEY"' in masked.stdout
    assert 'write_key = "env:SEGMENT_WRITE_KEY"' in full.stdout
    assert 'endpoint = "https://api.segment.io"' in full.stdout
    # The full export applies to a fresh store as the same configuration.
    copy = write(tmp_path / "copy.toml", full.stdout)
    other = tmp_path / "other.db"
    assert cli("config", "apply", copy, "--db", other).stdout.strip() == (
        "created from-env, literal"
    )
    assert cli("config", "export", "--include-secrets", "--db", other).stdout == full.stdout


def test_a_masked_export_applied_again_keeps_the_stored_key(tmp_path: Path, db: Path) -> None:
    path = write(tmp_path / "d.toml", segment_toml(write_key="sk_live_abcdefgh1234"))
    assert cli("config", "apply", path, "--db", db).exit_code == 0
    exported = write(tmp_path / "exported.toml", cli("config", "export", "--db", db).stdout)
    text = exported.read_text().replace("schedule_minutes = 15", "schedule_minutes = 45")
    write(exported, text)

    applied = cli("config", "apply", exported, "--db", db)

    assert (applied.exit_code, applied.stdout.strip()) == (0, "updated seg")
    full = cli("config", "export", "--include-secrets", "--db", db).stdout
    assert 'write_key = "sk_live_abcdefgh1234"' in full
    assert "schedule_minutes = 45" in full
    # Into a store that has no such key, the mask is refused, naming the field.
    fresh = cli("config", "apply", exported, "--db", tmp_path / "fresh.db")
    assert fresh.exit_code == 2
    assert f"error: {exported}: destination 'seg': write_key: is masked" in fresh.stderr


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        (segment_toml(schedule_minutes=0), "schedule_minutes: "),
        (segment_toml(filters={"colour": ["red"]}), "filters.colour: "),
        (segment_toml(filters={"states": [""]}), "filters.states.0: "),
        (segment_toml(endpoint="ftp://example.com"), "endpoint: "),
        (segment_toml(write_key="env:not a name"), "write_key: "),
        (segment_toml(write_key=""), "write_key: "),
        (segment_toml(enabled="yes"), "enabled: "),
        (segment_toml(grow="maybe"), "grow: "),
        (segment_toml(kind="mailchimp"), "kind: "),
        ('[[destinations]]\nname = "seg"\nkind = "segment"\n', "write_key: "),
    ],
)
def test_config_errors_name_file_destination_and_field(
    tmp_path: Path, db: Path, toml: str, where: str
) -> None:
    good = segment_toml("good-one")
    path = write(tmp_path / "destinations.toml", good + toml)

    result = cli("config", "apply", path, "--db", db)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: destination 'seg': {where}")
    # All or nothing: the good destination in the same file was not created either.
    assert cli("config", "export", "--db", db).stdout.count("[[destinations]]") == 0


def test_config_errors_for_the_file_itself(tmp_path: Path, db: Path) -> None:
    broken = write(tmp_path / "broken.toml", "[[destinations]\nname=")
    result = cli("config", "apply", broken, "--db", db)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {broken}: not valid TOML")
    nameless = write(tmp_path / "nameless.toml", '[[destinations]]\nkind = "segment"\n')
    result = cli("config", "apply", nameless, "--db", db)
    assert result.stderr.startswith(f"error: {nameless}: destination #1: name: required")
    listed = write(tmp_path / "listed.toml", "[[destinations]]\nname = ['']\nkind = 'segment'\n")
    result = cli("config", "apply", listed, "--db", db)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {listed}: destination #1: name: required, as text")
    twice = write(tmp_path / "twice.toml", segment_toml() + segment_toml())
    result = cli("config", "apply", twice, "--db", db)
    assert result.stderr.startswith(f"error: {twice}: destination 'seg': name: appears twice")
    missing = cli("config", "apply", tmp_path / "missing.toml", "--db", db)
    assert missing.exit_code == 2
    assert missing.stderr.startswith(f"error: {tmp_path / 'missing.toml'}: cannot read")


# --- --run-once, summary, failures ------------------------------------------------------------


def setup_store(tmp_path: Path, db: Path, url: str, toml: str | None = None) -> None:
    contacts = write(
        tmp_path / "contacts.csv",
        "email,address_state\na@example.com,CA\nb@example.com,CA\nc@example.com,TX\n",
    )
    assert cli("import", "contacts", contacts, "--db", db).exit_code == 0
    known = write(tmp_path / "known.csv", "email\nc@example.com\n")
    assert cli("import", "suppressions", known, "--db", db).exit_code == 0
    config = write(tmp_path / "destinations.toml", toml or segment_toml(endpoint=url))
    assert cli("config", "apply", config, "--db", db).exit_code == 0


def test_run_once_exits_0_when_everything_was_delivered(
    tmp_path: Path, db: Path, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    setup_store(
        tmp_path,
        db,
        url,
        segment_toml("seg", endpoint=url)
        + segment_toml("seg-ca", endpoint=url, filters={"states": ["CA"]}, suppression=False)
        + segment_toml("seg-off", endpoint=url, enabled=False),
    )

    done = process("--run-once", "--db", db)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "seg: ok - 2 delivered, 0 rejected, 0 queued, 1 suppressed, 0 filtered, 0 skipped, 1 request",
        "seg-ca: ok - 2 delivered, 0 rejected, 0 queued, 0 suppressed, 1 filtered, 0 skipped, "
        "1 request",
    ]
    assert sandbox.message_count == 4
    again = process("--run-once", "--db", db)
    assert again.returncode == 0
    assert all(
        " 0 delivered" in line and "0 requests" in line for line in again.stdout.splitlines()
    )
    assert sandbox.message_count == 4


def test_run_once_exits_1_when_rows_failed_and_reports_them(
    tmp_path: Path, db: Path, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    sandbox.faults.update({"reject_emails": ["b@example.com"]})
    setup_store(tmp_path, db, url)

    done = cli("--run-once", "--db", db)

    assert done.exit_code == 1
    assert done.stdout.splitlines() == [
        "seg: partial - 1 delivered, 1 rejected, 0 queued, 1 suppressed, 0 filtered, 0 skipped, "
        "3 requests"
    ]
    summary = cli("summary", "--json", "--db", db)
    assert summary.exit_code == 0
    (day,) = orjson.loads(summary.stdout)
    assert list(day) == SUMMARY_KEYS
    assert {k: v for k, v in day.items() if k != "date"} == {
        "destination": "seg",
        "completions": 1,
        "contacts": 1,
        "events": 0,
        "failures": 1,
        "suppressed": 1,
        "queued": 0,
    }
    assert len(day["date"]) == 10 and day["date"][4] == "-"
    failures = cli("failures", "--json", "--db", db)
    assert failures.exit_code == 0
    (failure,) = orjson.loads(failures.stdout)
    assert list(failure) == FAILURE_KEYS
    assert {k: v for k, v in failure.items() if k != "at"} == {
        "email": "b@example.com",
        "destination": "seg",
        "kind": "identify",
        "feedback": "rejected: b@example.com is on the sandbox's reject list",
        "http_status": 400,
        "attempts": 1,
    }
    assert failure["at"].startswith(day["date"] + "T") and failure["at"].endswith("Z")
    # The tables say the same in columns.
    table = cli("failures", "--db", db).stdout.splitlines()
    assert table[0].split() == [
        "at",
        "email",
        "destination",
        "kind",
        "status",
        "attempts",
        "feedback",
    ]
    assert "b@example.com" in table[1] and "400" in table[1]
    assert cli("summary", "--db", db).stdout.splitlines()[0].split() == SUMMARY_KEYS
    # Retry puts it back; once the receiver accepts it, the next run exits 0.
    sandbox.faults.update({"reject_emails": []})
    assert cli("retry", "--db", db).stdout.strip() == "1 failure queued again"
    assert cli("--run-once", "--db", db).exit_code == 0
    assert orjson.loads(cli("failures", "--json", "--db", db).stdout) == []


def test_run_once_exits_1_when_rows_wait_for_a_retry(
    tmp_path: Path, db: Path, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    sandbox.faults.update({"rate_limit_every": 1, "retry_after_seconds": 60})
    setup_store(tmp_path, db, url)

    done = cli("--run-once", "--max-wait", "0.2", "--db", db)

    assert done.exit_code == 1
    assert done.stdout.startswith("seg: partial - 0 delivered, 0 rejected, 2 queued")
    (day,) = orjson.loads(cli("summary", "--json", "--db", db).stdout)
    assert day["queued"] == 2


def test_run_once_exits_2_on_bad_configuration(
    tmp_path: Path, db: Path, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    setup_store(tmp_path, db, url, segment_toml(endpoint=url, write_key="env:SEG_TEST_KEY"))

    unset = process("--run-once", "--db", db)
    assert unset.returncode == 2
    assert "environment variable SEG_TEST_KEY is not set" in unset.stdout
    assert sandbox.requests == 0
    unknown = process("--run-once", "--destination", "nope", "--db", db)
    assert unknown.returncode == 2
    assert "no destination named nope" in unknown.stderr

    done = process("--run-once", "--db", db, env={"SEG_TEST_KEY": WRITE_KEY})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("seg: ok - 2 delivered")


def test_a_file_that_is_not_a_store_exits_2(tmp_path: Path) -> None:
    not_a_store = write(tmp_path / "notes.db", "hello, I am a text file\n" * 100)
    for args in (("--run-once",), ("summary", "--json")):
        result = cli(*args, "--db", not_a_store)
        assert result.exit_code == 2
        assert result.stderr.startswith(f"error: {not_a_store}")


def test_a_database_url_without_its_driver_or_dialect_exits_2() -> None:
    result = cli("summary", "--db", "postgresql+asyncpg://user@127.0.0.1:1/console")
    assert result.exit_code == 2
    assert "needs a database driver that is not installed (asyncpg)" in result.stderr
    assert "retention-console[postgres]" in result.stderr
    result = cli("summary", "--db", "nosuchdb://127.0.0.1/console")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: not a database URL")


def test_run_once_without_destinations_says_so(db: Path, tmp_path: Path) -> None:
    contacts = write(tmp_path / "contacts.csv", "email\na@example.com\n")
    assert cli("import", "contacts", contacts, "--db", db).exit_code == 0
    result = cli("--run-once", "--db", db)
    assert result.exit_code == 0
    assert "no enabled destinations" in result.stdout


def test_reports_and_run_once_refuse_a_store_that_does_not_exist(tmp_path: Path) -> None:
    """A mistyped --db in a cron line is an error, not an empty store reported as success."""
    missing = tmp_path / "typo" / "consol.db"
    for args in (
        ("--run-once",),
        ("summary",),
        ("failures",),
        ("history",),
        ("retry",),
        ("config", "export"),
    ):
        result = cli(*args, "--db", missing)
        assert result.exit_code == 2, args
        assert result.stderr.startswith(f"error: no store at {missing}; check --db"), args
    assert not missing.exists() and not missing.parent.exists()


# --- where the store lives --------------------------------------------------------------------


def test_retention_console_db_and_db_choose_the_store(tmp_path: Path) -> None:
    contacts = write(tmp_path / "contacts.csv", "email\na@example.com\n")
    from_env = tmp_path / "env" / "store.db"

    done = process("import", "contacts", contacts, env={ENV_DB: str(from_env)})

    assert done.returncode == 0, done.stderr
    assert from_env.exists()
    assert stat.S_IMODE(from_env.stat().st_mode) == 0o600
    explicit = tmp_path / "explicit.db"
    # --db wins over the environment, before or after the command name.
    done = process("--db", explicit, "import", "contacts", contacts, env={ENV_DB: str(from_env)})
    assert done.returncode == 0 and explicit.exists()
    assert "1 new" in done.stdout
    in_process = cli("import", "contacts", contacts, env={ENV_DB: str(from_env)})
    assert "1 unchanged" in in_process.stdout


def test_db_takes_a_database_url(tmp_path: Path) -> None:
    contacts = write(tmp_path / "contacts.csv", "email\na@example.com\n")
    target = tmp_path / "by-url.db"

    result = cli("import", "contacts", contacts, "--db", f"sqlite:///{target}")

    assert result.exit_code == 0, result.stderr
    assert target.exists()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert cli("import", "contacts", contacts, "--db", target).stdout.count("1 unchanged") == 1


def test_the_default_store_lives_in_the_user_data_directory(tmp_path: Path) -> None:
    contacts = write(tmp_path / "contacts.csv", "email\na@example.com\n")
    home = tmp_path / "home"
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data")}

    done = process("import", "contacts", contacts, env=env, module=True)

    assert done.returncode == 0, done.stderr
    assert (home / "data" / "retention-console" / "console.db").exists()


def test_a_store_readable_by_others_is_warned_about(tmp_path: Path, db: Path) -> None:
    contacts = write(tmp_path / "contacts.csv", "email\na@example.com\n")
    assert cli("import", "contacts", contacts, "--db", db).exit_code == 0
    db.chmod(0o644)
    result = cli("summary", "--json", "--db", db)
    assert result.exit_code == 0
    assert orjson.loads(result.stdout) == []
    assert f"warning: {db} is readable by other users; run: chmod 600 {db}" in result.stderr


def test_sandbox_command_serves_a_run_once_end_to_end(tmp_path: Path, db: Path) -> None:
    """`retention-console sandbox` in one process, `--run-once` in another, on 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if k != ENV_DB}
    server = subprocess.Popen(
        [str(ENTRY_POINT), "sandbox", "--port", "0", "--resci-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("Segment sandbox: http://127.0.0.1:"), first
        url = first.split(": ", 1)[1].strip()
        setup_store(tmp_path, db, url, segment_toml(endpoint=url))

        done = process("--run-once", "--db", db)

        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("seg: ok - 2 delivered")
        stats = orjson.loads(httpx.get(f"{url}/_sandbox/stats").content)
        assert (stats["messages"], stats["duplicates"]) == (2, 0)
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)
    assert server.returncode == 0


# --- hostile text (issue 15, item 3) -----------------------------------------------------------


def test_reports_and_run_once_never_print_raw_control_characters(
    tmp_path: Path, db: Path, hostile_url: str
) -> None:
    """A destination named with markup and an ESC sequence, sent to a receiver whose every reply
    carries markup and an OSC title set: `--run-once`, `failures`, `history` and `summary`
    print them escaped (`\\x1b`), never as raw bytes a terminal would obey."""
    name = "[/x]\x1b[2J"
    setup_store(tmp_path, db, hostile_url, segment_toml("[/x]\\u001b[2J", endpoint=hostile_url))

    done = process("--run-once", "--max-wait", "0", "--db", db)
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith("[/x]\\x1b[2J: partial - 0 delivered, 2 rejected")
    reports = {
        args: cli(*args, "--db", db).stdout
        for args in (("failures",), ("history",), ("summary",), ("failures", "--json"))
    }
    for args, out in reports.items():
        assert "\x1b" not in out and "\x07" not in out, args
    assert SHOWN in reports[("failures",)] and "[/x]\\x1b[2J" in reports[("failures",)]
    assert "[/x]\\x1b[2J" in reports[("history",)] and "[/x]\\x1b[2J" in reports[("summary",)]
    # JSON stays JSON: the same values, with the controls as \u escapes.
    (failure, *_) = orjson.loads(reports[("failures", "--json")])
    assert failure["destination"] == name and failure["feedback"] == HOSTILE
