"""Reusable ReSci authorizations (seed 001: "Select the Authorization you would like to use or
create a new one"): one saved key chosen by several destinations; changing it changes it for
all; removing one in use is refused naming its users; `[[authorizations]]` in config apply and
export (key masked). A destination with its own key keeps working (both are accepted)."""

from __future__ import annotations

import tomllib

import orjson
import pytest

from console.config import ConfigError, export_config
from console.engine.commands import CommandRefused, Commands
from console.engine.destinations import get_destination
from state.db import Store
from tests.resci.conftest import API_KEY, SITE_ID, Console, Resci

TOML = """
[[authorizations]]
label = "production"
description = "the Data API key of the shop"
api_key = "{key}"

[[destinations]]
name = "resci-a"
kind = "resci"
authorization = "production"
endpoint = "{url}"
site_id = "{site}"
on_site = true
export_label = "Cal gmail export"
export_description = "nightly"
[destinations.events]
"Viewed Product Reclaim" = "view"

[[destinations]]
name = "resci-b"
kind = "resci"
authorization = "production"
endpoint = "{url}"
site_id = "{site}"
on_site = true
[destinations.events]
"Viewed Product Reclaim" = "view"

[[destinations]]
name = "resci-own"
kind = "resci"
api_key = "own-key-0123456789"
endpoint = "{url}"
"""


def track(n: int) -> dict[str, object]:
    return {
        "type": "track",
        "event": "Viewed Product Reclaim",
        "messageId": f"evt-{n}",
        "email": f"user{n}@gmail.com",
        "timestamp": "2024-04-16T16:54:01.697Z",
        "properties": {"price": 1},
    }


def stored_settings(store: Store, name: str) -> dict[str, object]:
    with store.read() as conn:
        (text,) = conn.exec_driver_sql(
            "SELECT settings FROM destinations WHERE name = ?", (name,)
        ).one()
    return dict(orjson.loads(text))


async def test_one_key_for_several_destinations(console: Console, resci: Resci) -> None:
    console.apply(TOML.format(key="an-old-key-0000", url=resci.url, site=SITE_ID))
    with console.store.read() as conn:
        a, b, own = (get_destination(conn, n) for n in ("resci-a", "resci-b", "resci-own"))
    assert a is not None and b is not None and own is not None
    assert a.settings.api_key.get_secret_value() == "an-old-key-0000"
    assert own.settings.api_key.get_secret_value() == "own-key-0123456789"  # still its own
    assert stored_settings(console.store, "resci-a")["api_key"] is None  # kept only once

    # The sandbox refuses the old key: one change to the authorization fixes both.
    console.events([track(1)])
    console.name = "resci-a"
    refused = await console.run()
    assert refused.status != "ok" and resci.sandbox.events == []
    Commands(console.store).save_authorization("production", API_KEY, "rotated")
    for name in ("resci-a", "resci-b"):
        console.name = name
        assert (await console.run()).counts.delivered == 1
    assert len(resci.sandbox.events) == 2

    with pytest.raises(CommandRefused, match="is used by resci-a, resci-b"):
        Commands(console.store).remove_authorization("production")


def test_config_export_masks_the_key_and_applies_back(console: Console, resci: Resci) -> None:
    console.apply(TOML.format(key="secret-key-0123456789", url=resci.url, site=SITE_ID))
    exported = export_config(console.store)
    assert "secret-key-0123456789" not in exported
    document = tomllib.loads(exported)
    assert document["authorizations"] == [
        {
            "label": "production",
            "api_key": "••••6789",
            "description": "the Data API key of the shop",
        }
    ]
    first = document["destinations"][0]
    assert (first["authorization"], first["export_label"]) == ("production", "Cal gmail export")
    assert "api_key" not in first
    console.apply(exported)  # the mask keeps the stored key
    with console.store.read() as conn:
        a = get_destination(conn, "resci-a")
    assert a is not None and a.settings.api_key.get_secret_value() == "secret-key-0123456789"
    assert "secret-key-0123456789" in export_config(console.store, include_secrets=True)


def test_a_destination_naming_a_missing_authorization_is_refused(
    console: Console, resci: Resci
) -> None:
    text = TOML.format(key="k-0123456789", url=resci.url, site=SITE_ID)
    text = text.replace(
        'authorization = "production"\nendpoint', 'authorization = "nope"\nendpoint', 1
    )
    with pytest.raises(ConfigError, match="no authorization named 'nope'"):
        console.apply(text)


def test_removing_an_unused_authorization(console: Console, resci: Resci) -> None:
    commands = Commands(console.store)
    commands.save_authorization("spare", "spare-key-0123456789")
    commands.remove_authorization("spare")
    with pytest.raises(CommandRefused, match="no authorization named 'spare'"):
        commands.remove_authorization("spare")
    with pytest.raises(CommandRefused, match="must not contain spaces"):
        commands.save_authorization("bad", "two keys")
