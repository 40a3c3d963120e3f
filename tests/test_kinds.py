"""Destination kinds are declared once, in their package, and listed by the registry: settings
round-trip through the store's JSON, secrets are found by their type (never by their name), and no
module outside a kind's package names that kind's settings classes."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from console.config import apply_config, export_config
from console.core.secrets import mask_secret, secret_fields
from console.destinations import registry
from console.destinations.base import DestinationAdapter
from console.destinations.kind import Capabilities, DestinationKind, PlannedChunk
from console.engine.destinations import get_destination, list_destinations, save_destination
from state.db import Store

ROOT = Path(__file__).resolve().parents[1]

# A filled-in example of every kind, beyond the bare secrets every kind must accept alone.
EXAMPLES: dict[str, dict[str, Any]] = {
    "segment": {
        "write_key": "seg-write-key-123456",
        "endpoint": "eu",
        "group_id": "list-1",
        "revenue_metric": "Price",
        "reclaim_events": ["Viewed Product Reclaim"],
        "filters": {"email_domains": ["Gmail.com"], "referrer_urls": ["news"]},
        "schedule_minutes": 30,
    },
    "resci": {
        "api_key": "env:RESCI_KEY",
        "site_id": "4242",
        "on_site": True,
        "export": {"audience": "ca", "fields": {"first_name": "full_name"}},
        "events": {"Order Completed": "checkout_success"},
    },
    "webhook": {
        "url": "https://hooks.example.com/retention",
        "secret": "whsec-literal-0123456789",
        "reclaim_events": ["Add To Cart Reclaim"],
        "revenue_metric": "Price",
        "filters": {"email_domains": ["Gmail.com"]},
    },
}
# Fields a kind requires beside its secrets (a webhook has no default URL to fall back on).
REQUIRED: dict[str, dict[str, Any]] = {"webhook": {"url": "https://hooks.example.com/retention"}}


def test_registry_lists_every_kind() -> None:
    assert [k.name for k in registry.all_kinds()] == ["segment", "resci", "webhook"]
    assert [k.label for k in registry.all_kinds()] == ["Segment", "ReSci", "Webhook"]
    assert registry.kind("segment") is registry.KINDS["segment"]
    with pytest.raises(registry.UnknownKind, match="must be one of segment, resci, webhook"):
        registry.kind("sftp")


@pytest.mark.parametrize("declared", registry.all_kinds(), ids=lambda k: k.name)
def test_every_kind_accepts_its_secrets_alone_and_round_trips(declared: DestinationKind) -> None:
    model = declared.settings_model
    secrets = secret_fields(model)
    assert secrets, f"{declared.name} declares no SecretStr field"
    required = REQUIRED.get(declared.name, {})
    bare = model.model_validate({**required, **{name: "env:SOME_KEY" for name in secrets}})
    for settings in (bare, registry.parse_settings(declared.name, EXAMPLES[declared.name])):
        text = registry.dump_settings(settings)
        assert registry.parse_settings(declared.name, text) == settings
        assert registry.kind_of(settings) is declared
        # The stored JSON keeps the secret's text; the panel shows it masked.
        lines = " ".join(f"{label} {value}" for label, value in declared.describe(settings))
        for name in secrets:
            value = getattr(settings, name).get_secret_value()
            assert value in text
            if not value.startswith("env:"):
                assert value not in lines


def test_examples_cover_every_kind() -> None:
    assert set(EXAMPLES) == set(registry.KINDS)


# --- secrets by type: a throwaway kind whose secret is called `token` -----------------------


class TokenSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["token-test"] = "token-test"
    token: SecretStr = Field(title="Token")
    schedule_minutes: int = Field(default=15, ge=1, le=1440)


class _NoAdapter:
    """The throwaway kind is never run: building its adapter is a test failure."""

    def __call__(self, settings: TokenSettings) -> DestinationAdapter:
        raise AssertionError("the test kind never sends")


class _NoPlanner:
    def streams(self, settings: Any) -> list[str]:
        return []

    def wants_suppressions(self, settings: Any) -> bool:
        return False

    def plan(self, stream: str, settings: Any, rows: Any, suppressed: set[str]) -> PlannedChunk:
        return PlannedChunk()


TOKEN_KIND = DestinationKind(
    name="token-test",
    label="Token test",
    summary="a kind that only exists in this test",
    settings_model=TokenSettings,
    capabilities=Capabilities(),
    adapter=_NoAdapter(),
    describe=lambda s: [("token", mask_secret(s.token))],
    planner=_NoPlanner(),
)
TOKEN = "literal-token-abcdef-9876"


@pytest.fixture
def token_kind(monkeypatch: pytest.MonkeyPatch) -> DestinationKind:
    monkeypatch.setitem(registry.KINDS, TOKEN_KIND.name, TOKEN_KIND)
    return TOKEN_KIND


def test_secrets_are_found_by_type() -> None:
    assert secret_fields(TokenSettings) == ("token",)
    assert secret_fields(registry.kind("segment").settings_model) == ("write_key",)
    assert secret_fields(registry.kind("resci").settings_model) == ("api_key",)


def test_a_secret_named_otherwise_is_masked_on_export_and_kept_on_apply(
    store: Store, tmp_path: Path, token_kind: DestinationKind
) -> None:
    with store.write() as conn:
        save_destination(conn, "tok", TokenSettings(token=SecretStr(TOKEN)))
    exported = export_config(store)
    assert TOKEN not in exported
    assert mask_secret(SecretStr(TOKEN)) in exported
    assert 'kind = "token-test"' in exported
    path = tmp_path / "exported.toml"
    path.write_text(exported, encoding="utf-8")
    report = apply_config(store, path)
    assert report.updated == ["tok"]
    with store.read() as conn:
        record = get_destination(conn, "tok")
    assert record is not None
    # The mask stood for the stored key: the key is kept, the mask never saved as the key.
    assert record.settings.token.get_secret_value() == TOKEN
    assert TOKEN in export_config(store, include_secrets=True)


def test_a_mask_standing_for_no_stored_key_is_refused(
    store: Store, tmp_path: Path, token_kind: DestinationKind
) -> None:
    path = tmp_path / "new.toml"
    path.write_text(
        '[[destinations]]\nname = "tok"\nkind = "token-test"\ntoken = "••••9876"\n',
        encoding="utf-8",
    )
    with pytest.raises(Exception, match="token: is masked"):
        apply_config(store, path)
    with store.read() as conn:
        assert list_destinations(conn) == []


# --- no module outside a kind's package names its settings classes ---------------------------


def _settings_classes(declared: DestinationKind) -> set[str]:
    module = importlib.import_module(declared.settings_model.__module__)
    return {
        name
        for name, value in inspect.getmembers(module, inspect.isclass)
        if issubclass(value, BaseModel) and value.__module__ == module.__name__
    }


# The registry lists the kinds, the sandbox plays each kind's service.
ALLOWED = {"console/destinations/registry.py"}
ALLOWED_FOLDERS = ("console/sandbox/",)


def test_no_module_outside_its_package_names_a_kind_settings_class() -> None:
    offenders = []
    for declared in registry.all_kinds():
        package = Path(inspect.getfile(importlib.import_module(declared.settings_model.__module__)))
        own = package.parent.relative_to(ROOT).as_posix() + "/"
        pattern = re.compile(r"\b(" + "|".join(sorted(_settings_classes(declared))) + r")\b")
        for folder in ("console", "state", "bench"):
            for path in sorted((ROOT / folder).rglob("*.py")):
                relative = path.relative_to(ROOT).as_posix()
                if relative.startswith(own) or relative in ALLOWED:
                    continue
                if relative.startswith(ALLOWED_FOLDERS):
                    continue
                if pattern.search(path.read_text(encoding="utf-8")):
                    offenders.append(f"{relative} names a {declared.name} settings class")
    assert offenders == []


def test_no_branch_on_a_kind_name_outside_the_kinds() -> None:
    names = "|".join(re.escape(k) for k in registry.KINDS)
    branch = re.compile(r"""(==|!=|\bin\b)\s*\(?\s*["'](""" + names + r""")["']""")
    offenders = []
    for folder in ("console", "state"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(("console/destinations/", *ALLOWED_FOLDERS)):
                continue
            if relative in ALLOWED:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if branch.search(line):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []
