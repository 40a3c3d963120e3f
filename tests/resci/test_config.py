"""`config apply` for ReSci: the issue's example is accepted; a rule that does not parse, an
unknown field, a missing or empty mapping, and a reserved name used as a custom event are
refused with the file, the destination (or audience) and the reason, and nothing is saved."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import main
from console.config import ConfigError, apply_config
from console.destinations.resci.settings import ResciSettings
from console.engine.destinations import list_destinations
from state.audiences import list_audiences
from state.db import Store

EXAMPLE = """
[[audiences]]
name = "california-gmail"
rule = "email_domain = 'gmail.com' and address_state = 'CA'"   # =, !=, in [..], contains, <, >, and, or, ( )
[[destinations]]
name = "resci-main"
kind = "resci"
api_key = "env:RESCI_API_KEY"
api_key_label = "production key"
endpoint = "http://127.0.0.1:8766"
site_id = "4242"
on_site = true
schedule_minutes = 15
[destinations.export]
audience = "california-gmail"
[destinations.export.fields]                  # console field = ReSci user field
first_name = "full_name"
address_city = "city"
[destinations.events]                         # custom event = reserved event
"Viewed Product Reclaim" = "view"
"Checkout Started Reclaim" = "checkout_success"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "resci.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_issue_example_applies(store: Store, tmp_path: Path) -> None:
    report = apply_config(store, write(tmp_path, EXAMPLE))
    assert report.created == ["resci-main"] and report.audiences == ["california-gmail"]
    with store.read() as conn:
        [destination] = list_destinations(conn)
        [audience] = list_audiences(conn)
    settings = destination.settings
    assert isinstance(settings, ResciSettings)
    assert settings.api_key_label == "production key"
    assert settings.export is not None
    assert list(settings.export.fields.items()) == [
        ("first_name", "full_name"),
        ("address_city", "city"),
    ]
    assert settings.events == {
        "Viewed Product Reclaim": "view",
        "Checkout Started Reclaim": "checkout_success",
    }
    assert audience.rule == "email_domain = 'gmail.com' and address_state = 'CA'"


REFUSALS = [
    (
        "rule does not parse",
        (
            "rule = \"email_domain = 'gmail.com' and address_state = 'CA'\"",
            'rule = "email_domain = and"',
        ),
        "audience 'california-gmail': rule: position 16: expected a value after '=', found the "
        "keyword 'and'",
    ),
    (
        "unknown field in the rule",
        ("address_state = 'CA'", "state = 'CA'"),
        "audience 'california-gmail': rule: position 32: unknown field 'state'",
    ),
    (
        "unknown contact field in the mapping",
        ('first_name = "full_name"', 'nickname = "full_name"'),
        "destination 'resci-main': export.fields: unknown contact field 'nickname'",
    ),
    (
        "mapping onto nothing",
        ('address_city = "city"', 'address_city = " "'),
        "destination 'resci-main': export.fields: 'address_city' is mapped onto nothing",
    ),
    (
        "no mapping at all",
        ('first_name = "full_name"\naddress_city = "city"\n', ""),
        "destination 'resci-main': export.fields: map at least one contact field onto a ReSci "
        "user field",
    ),
    (
        "mapping onto a field always sent",
        ('first_name = "full_name"', 'first_name = "email"'),
        "destination 'resci-main': export.fields: 'email' is always sent",
    ),
    (
        "reserved name as a custom event",
        ('"Viewed Product Reclaim" = "view"', '"search" = "view"'),
        "destination 'resci-main': events: 'search' is a ReSci reserved event and cannot be used "
        "as a custom event",
    ),
    (
        "custom event onto a name that is not reserved",
        ('"Viewed Product Reclaim" = "view"', '"Viewed Product Reclaim" = "viewed"'),
        "destination 'resci-main': events: 'Viewed Product Reclaim' is mapped onto 'viewed', "
        "which is not a ReSci reserved event",
    ),
    (
        "export of an audience that does not exist",
        ('audience = "california-gmail"', 'audience = "nobody"'),
        "destination 'resci-main': export.audience: no audience named 'nobody'",
    ),
    (
        "on-site without a Site ID",
        ('site_id = "4242"', ""),
        "destination 'resci-main': settings: Enable On-Site needs a Site ID",
    ),
]


@pytest.mark.parametrize(
    ("change", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_refusals_name_the_file_the_entry_and_the_reason(
    store: Store, tmp_path: Path, change: tuple[str, str], reason: str
) -> None:
    old, new = change
    assert old in EXAMPLE
    path = write(tmp_path, EXAMPLE.replace(old, new, 1))
    with pytest.raises(ConfigError) as refused:
        apply_config(store, path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ")
    assert reason in message
    with store.read() as conn:
        assert list_destinations(conn) == [] and list_audiences(conn) == []


def test_cli_config_apply_refusal_exits_2_with_the_reason(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE.replace('"Viewed Product Reclaim" = "view"', '"click" = "view"'))
    result = CliRunner().invoke(main, ["config", "apply", str(path), "--db", str(store.path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: destination 'resci-main': events: 'click'")
    assert "reserved event" in result.stderr
