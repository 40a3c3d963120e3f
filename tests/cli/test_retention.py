"""`retention-console forget` and `prune` on the command line: what they say, exit codes, and
bad input refused with nothing changed."""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import func, select

from console import ingest
from state.db import open_store
from state.forget import erasures
from state.models import Contact
from tests.cli.test_commands import cli


def store_with(tmp_path: Path, *emails: str) -> Path:
    db = tmp_path / "console.db"
    store = open_store(db)
    path = tmp_path / "contacts.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"email": e}) + b"\n" for e in emails))
    ingest.import_contacts(store, path)
    store.dispose()
    return db


def test_forget_says_what_it_removed_and_notes_the_erasure(tmp_path: Path) -> None:
    db = store_with(tmp_path, "ann@example.com", "bob@example.com")

    result = cli("forget", "ANN@example.com", "--db", db)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("forgot 1 email(s): 1 contact(s), 0 event(s)")
    assert "1 newly suppressed" in result.stdout
    store = open_store(db)
    with store.read() as conn:
        assert conn.scalar(select(func.count()).select_from(Contact)) == 1
        assert len(erasures(conn)) == 1
    assert b"ann@example.com" not in db.read_bytes()


def test_forget_of_a_bad_value_exits_2_and_deletes_nothing(tmp_path: Path) -> None:
    db = store_with(tmp_path, "ann@example.com")

    result = cli("forget", "ann@example.com", "not-an-email", "--db", db)

    assert result.exit_code == 2
    assert "'not-an-email' is not an email" in result.stderr
    with open_store(db).read() as conn:
        assert conn.scalar(select(func.count()).select_from(Contact)) == 1


def test_prune_reports_its_count_and_refuses_a_bad_retention(tmp_path: Path) -> None:
    db = store_with(tmp_path, "ann@example.com")

    result = cli("prune", "--older-than", "30", "--vacuum", "--db", db)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "0 delivered rows older than 30 days pruned; store vacuumed"
    assert cli("prune", "--older-than", "0", "--db", db).exit_code == 2
    default = cli("prune", "--db", db, env={"RETENTION_CONSOLE_HISTORY_RETENTION_DAYS": "45"})
    assert "older than 45 days" in default.stdout
