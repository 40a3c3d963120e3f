"""The one list of destination kinds. Adding a kind = its package plus one line in `KINDS`.

Settings are stored as JSON text (secrets included: the store's file is 0600); this module turns
that text into the kind's typed model and back, so the store never knows the kinds.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

from console.core.secrets import reveal
from console.destinations import resci, segment, webhook
from console.destinations.kind import DestinationKind

KINDS: dict[str, DestinationKind] = {k.name: k for k in (segment.KIND, resci.KIND, webhook.KIND)}


class UnknownKind(ValueError):
    """A kind no package declares (a store or file written by a newer console, or a typo)."""


def kind(name: str) -> DestinationKind:
    """The declaration of `name`; raises UnknownKind."""
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownKind(f"kind: must be one of {', '.join(KINDS)} (got {name!r})") from None


def all_kinds() -> list[DestinationKind]:
    """Every kind, in the order the kind picker lists them."""
    return list(KINDS.values())


def kind_of(settings: BaseModel) -> DestinationKind:
    """The kind whose settings model `settings` is."""
    for declared in KINDS.values():
        if isinstance(settings, declared.settings_model):
            return declared
    raise UnknownKind(f"{type(settings).__name__} is not a destination kind's settings")


def parse_settings(kind_name: str, data: str | bytes | dict[str, Any]) -> BaseModel:
    """The kind's typed settings from stored JSON text or a dictionary (TOML, a form)."""
    model = kind(kind_name).settings_model
    if isinstance(data, dict):
        return model.model_validate(data)
    return model.model_validate_json(data)


def settings_dict(settings: BaseModel) -> dict[str, Any]:
    """The settings as plain data with every secret's text in it (for the store)."""
    data: dict[str, Any] = reveal(settings.model_dump(mode="python"))
    return data


def dump_settings(settings: BaseModel) -> str:
    """JSON for the `destinations.settings` column, secrets included (the file is 0600)."""
    return orjson.dumps(settings_dict(settings)).decode()
