"""Audiences an operator manages (issue 13 item 9): created and changed through the engine's
commands with the rule checked there too, removal refused while an export sends the audience
(naming the destinations), member counts from one scan of the contacts (stoppable between
chunks), and `audiences list|show` on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from console.audiences.counting import CountCancelled, count_matching
from console.audiences.rules import parse_rule
from console.cli import main
from console.config import apply_config
from console.engine.commands import CommandRefused, Commands
from state.audiences import get_audience, list_audiences
from state.contacts import insert_contacts
from state.db import Store, open_store
from tests.hostile import HOSTILE, SHOWN

CONFIG = """
[[audiences]]
name = "california-gmail"
rule = "email_domain = 'gmail.com' and address_state = 'CA'"
[[audiences]]
name = "yahoo"
rule = "email_domain = 'yahoo.com'"
[[destinations]]
name = "resci-main"
kind = "resci"
api_key = "resci-test-key-0123456789"
endpoint = "http://127.0.0.1:8766"
site_id = "4242"
[destinations.export]
audience = "california-gmail"
[destinations.export.fields]
first_name = "full_name"
"""


def people(count: int) -> list[dict[str, Any]]:
    """`count` contacts: every third in CA, domains gmail / yahoo / outlook in turn."""
    domains = ("gmail.com", "yahoo.com", "outlook.com")
    return [
        {
            "email": f"user{n}@{domains[n % 3]}",
            "email_domain": domains[n % 3],
            "address_state": "CA" if n % 2 == 0 else "NY",
            "created_at": "2026-11-01T10:00:00.000Z",
            "updated_at": "2026-11-01T10:00:00.000Z",
            "content_hash": f"h{n}",
            "seq": n + 1,
        }
        for n in range(count)
    ]


def filled(tmp_path: Path, count: int = 12) -> Store:
    store = open_store(tmp_path / "console.db")
    with store.write() as conn:
        insert_contacts(conn, people(count))
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    apply_config(store, path)
    return store


def test_create_change_and_refusals(tmp_path: Path) -> None:
    store = filled(tmp_path)
    commands = Commands(store)
    saved = commands.save_audience(" west ", "address_state in [CA, WA]", create=True)
    assert saved.created
    with pytest.raises(CommandRefused, match="exists already"):
        commands.save_audience("west", "address_state = 'CA'", create=True)
    with pytest.raises(CommandRefused, match="position 1: unknown field 'emial'") as refused:
        commands.save_audience("west", "emial = 'x'")
    assert refused.value.field == "rule"
    assert not commands.save_audience("west", "address_state = 'WA'").created
    with store.read() as conn:
        audience = get_audience(conn, "west")
    assert audience is not None and audience.rule == "address_state = 'WA'"


def test_removal_is_refused_while_an_export_sends_it(tmp_path: Path) -> None:
    store = filled(tmp_path)
    commands = Commands(store)
    with pytest.raises(CommandRefused, match=r"'california-gmail' is exported by resci-main"):
        commands.remove_audience("california-gmail")
    commands.remove_audience("yahoo")
    with pytest.raises(CommandRefused, match="no audience named 'yahoo'"):
        commands.remove_audience("yahoo")
    with store.read() as conn:
        assert [a.name for a in list_audiences(conn)] == ["california-gmail"]


def test_counts_come_from_one_scan_and_stop_when_asked(tmp_path: Path) -> None:
    store = filled(tmp_path, count=12_000)  # more than one chunk of the scan
    rules = {
        "california-gmail": parse_rule("email_domain = 'gmail.com' and address_state = 'CA'"),
        "yahoo": parse_rule("email_domain = 'yahoo.com'"),
        "none": parse_rule("referrer contains google"),
    }
    everyone = people(12_000)
    expected = {
        name: sum(1 for person in everyone if rule.matches(person)) for name, rule in rules.items()
    }
    with store.read() as conn:
        assert count_matching(conn, rules) == expected
        assert expected["california-gmail"] == 2_000 and expected["none"] == 0
        asked: list[int] = []

        def cancelled() -> bool:
            asked.append(1)
            return len(asked) > 1

        with pytest.raises(CountCancelled):
            count_matching(conn, rules, cancelled=cancelled)


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_list_and_show(tmp_path: Path) -> None:
    filled(tmp_path)
    db = tmp_path / "console.db"
    listed = cli("audiences", "list", "--db", db)
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == ["name", "members", "used_by", "updated_at", "rule"]
    assert lines[1].split()[:3] == ["california-gmail", "2", "resci-main"]
    assert lines[2].split()[:2] == ["yahoo", "4"]
    as_json = orjson.loads(cli("audiences", "list", "--json", "--db", db).output)
    assert [(a["name"], a["members"], a["used_by"]) for a in as_json] == [
        ("california-gmail", 2, "resci-main"),
        ("yahoo", 4, ""),
    ]
    shown = cli("audiences", "show", "yahoo", "--db", db)
    assert shown.exit_code == 0
    assert "Read as:     email_domain = 'yahoo.com'" in shown.output
    assert "Members:     4 contacts match now" in shown.output
    assert "Exported by: no destination" in shown.output
    missing = CliRunner().invoke(main, ["audiences", "show", HOSTILE, "--db", str(db)])
    assert missing.exit_code == 2
    assert f"no audience named {SHOWN}" in missing.stderr
