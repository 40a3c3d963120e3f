"""`config apply` and `config export`: destinations and audiences as TOML.

Every error names the file, the destination (or audience) and the field, so an operator can fix
a file without reading a traceback. Applying is all or nothing: one bad entry changes nothing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, SecretStr, ValidationError

from console.core.secrets import mask_secret
from console.destinations import registry
from console.engine.alert_settings import AlertSettings
from console.engine.alerts import load_alert_settings
from console.engine.commands import (
    AuthorizationChange,
    CommandRefused,
    Commands,
    DestinationChange,
)
from console.engine.destinations import detached, list_destinations
from console.engine.masked_secrets import ALERTS_SECTION
from state.audiences import list_audiences
from state.authorizations import list_authorizations
from state.db import Store


class ConfigError(Exception):
    """A configuration file that cannot be applied; the message says where and why."""


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    audiences: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    alerts: list[str] | None = None

    def summary_line(self) -> str:
        parts = []
        if self.created:
            parts.append("created " + ", ".join(self.created))
        if self.updated:
            parts.append("updated " + ", ".join(self.updated))
        if self.audiences:
            parts.append("audiences " + ", ".join(self.audiences))
        if self.authorizations:
            parts.append("authorizations " + ", ".join(self.authorizations))
        if self.alerts is not None:
            parts.append("alerts " + (", ".join(self.alerts) or "off (no channel)"))
        return "; ".join(parts) or "nothing to apply"


def validation_message(exc: ValidationError) -> str:
    """`field: reason` for each problem pydantic found, without echoing the input values."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        reason = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {reason}")
    return "; ".join(problems)


def parse_destination(name: str, data: dict[str, Any]) -> BaseModel:
    """Validate one destination table against its kind's model; raises ValueError with
    `field: reason`."""
    kind = data.get("kind")
    declared = registry.KINDS.get(str(kind))
    if declared is None:
        raise ValueError(f"kind: must be one of {', '.join(registry.KINDS)} (got {kind!r})")
    values = {k: v for k, v in data.items() if k not in ("name", "enabled")}
    try:
        return declared.settings_model.model_validate(values)
    except ValidationError as exc:
        raise ValueError(validation_message(exc)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
        return tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {_located(exc, text)}") from None


def _located(exc: tomllib.TOMLDecodeError, text: str) -> str:
    """tomllib's message, with a line and column even where it says `(at end of document)`
    (a file cut short), so every TOML error tells the operator where to look."""
    message = str(exc)
    end = "(at end of document)"
    if not message.endswith(end):
        return message
    text = text.replace("\r\n", "\n")  # as tomllib counts
    line = text.count("\n") + 1
    column = len(text) - text.rfind("\n")
    return f"{message.removesuffix(end)}(at line {line}, column {column})"


def apply_config(store: Store, path: Path) -> ApplyReport:
    """Create or update destinations and audiences by name, in one transaction (the engine's
    command service writes them; this reads and validates the file)."""
    document = _read_toml(path)
    unknown = set(document) - {"destinations", "audiences", "authorizations", "alerts"}
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}")
    alerts = _parse_alerts(path, document.get("alerts"))
    audiences = document.get("audiences", [])
    destinations = document.get("destinations", [])
    if not isinstance(audiences, list) or not isinstance(destinations, list):
        raise ConfigError(f"{path}: use [[destinations]] and [[audiences]] tables")
    audience_rules: dict[str, str] = {}
    for index, entry in enumerate(audiences, 1):
        raw_name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(raw_name, str) or not raw_name.strip():
            raise ConfigError(f"{path}: audience #{index}: name: required, as text")
        name = raw_name.strip()
        rule = entry.get("rule")
        if not isinstance(rule, str) or not rule.strip():
            raise ConfigError(f"{path}: audience {name!r}: rule: required")
        try:
            from console.audiences.rules import parse_rule

            parse_rule(rule)
        except ValueError as exc:
            raise ConfigError(f"{path}: audience {name!r}: rule: {exc}") from None
        audience_rules[name] = rule.strip()
    parsed: list[DestinationChange] = []
    seen: set[str] = set()
    for index, entry in enumerate(destinations, 1):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: destination #{index}: must be a table")
        raw_name = entry.get("name")
        if not isinstance(raw_name, str) or not raw_name.strip():
            raise ConfigError(f"{path}: destination #{index}: name: required, as text")
        name = raw_name.strip()
        if name in seen:
            raise ConfigError(f"{path}: destination {name!r}: name: appears twice")
        seen.add(name)
        try:
            settings = parse_destination(name, entry)
        except ValueError as exc:
            raise ConfigError(f"{path}: destination {name!r}: {exc}") from None
        enabled = entry.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{path}: destination {name!r}: enabled: must be true or false")
        parsed.append(DestinationChange(name, settings, enabled))
    authorizations = parse_authorizations(path, document.get("authorizations", []))
    try:
        applied = Commands(store).apply_configuration(
            audience_rules, parsed, authorizations, alerts=alerts
        )
    except CommandRefused as exc:
        if exc.destination is None:
            raise ConfigError(f"{path}: {exc.field}: {exc}") from None
        if exc.destination == ALERTS_SECTION:
            raise ConfigError(f"{path}: {ALERTS_SECTION}: {exc.field}: {exc}") from None
        raise ConfigError(f"{path}: destination {exc.destination!r}: {exc.field}: {exc}") from None
    return ApplyReport(
        applied.created,
        applied.updated,
        applied.audiences,
        applied.authorizations,
        applied.alerts,
    )


def parse_authorizations(path: Path, entries: Any) -> list[AuthorizationChange]:
    """`[[authorizations]]`: label, api_key (the key, `env:NAME`, or the mask of the stored
    one), optional description."""
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: use [[authorizations]] tables")
    found: list[AuthorizationChange] = []
    for index, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: authorization #{index}: must be a table")
        unknown = set(entry) - {"label", "description", "api_key"}
        if unknown:
            raise ConfigError(
                f"{path}: authorization #{index}: unknown field(s) {', '.join(sorted(unknown))}"
            )
        label, key, description = entry.get("label"), entry.get("api_key"), entry.get("description")
        if not isinstance(label, str) or not label.strip():
            raise ConfigError(f"{path}: authorization #{index}: label: required, as text")
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"{path}: authorization {label!r}: api_key: required, as text")
        if description is not None and not isinstance(description, str):
            raise ConfigError(f"{path}: authorization {label!r}: description: must be text")
        found.append(AuthorizationChange(label.strip(), key, description))
    return found


def _parse_alerts(path: Path, section: object) -> AlertSettings | None:
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [alerts]: must be a table")
    try:
        return AlertSettings.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(f"{path}: [alerts]: {validation_message(exc)}") from None


def _plain(value: Any, include_secrets: bool) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value() if include_secrets else mask_secret(value)
    if isinstance(value, BaseModel):
        return _plain(dict(value), include_secrets)
    if isinstance(value, dict):
        return {k: _plain(v, include_secrets) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v, include_secrets) for v in value]
    return value


def export_config(store: Store, *, include_secrets: bool = False) -> str:
    """The store's destinations and audiences as TOML; secrets masked unless asked for."""
    with store.read() as conn:
        destinations = list_destinations(conn)
        audiences = list_audiences(conn)
        authorizations = list_authorizations(conn)
        alerts = load_alert_settings(conn)
    document: dict[str, Any] = {}
    if alerts is not None:
        document["alerts"] = _plain(
            alerts.model_dump(by_alias=True, exclude_none=True), include_secrets
        )
    if authorizations:
        document["authorizations"] = [
            {"label": a.label, "api_key": _plain(SecretStr(a.api_key), include_secrets)}
            | ({"description": a.description} if a.description else {})
            for a in authorizations
        ]
    if audiences:
        document["audiences"] = [{"name": a.name, "rule": a.rule} for a in audiences]
    entries = []
    for destination in destinations:
        data = {"name": destination.name, "enabled": destination.enabled}
        # A destination naming an authorization carries its key only through it.
        data.update(_plain(dict(detached(destination.settings)), include_secrets))
        entries.append(data)
    if entries:
        document["destinations"] = entries
    header = "# Retention Console configuration\n" + (
        ""
        if include_secrets
        else "# Secrets are masked: put the keys back (or env:NAME) before applying this file.\n"
    )
    return header + tomli_w.dumps(document)
