"""A kind's settings model read as form fields: label, help, placeholder, section and the kind
of input, from the hints each field carries (see `kind.py`). Textual-free, so the console's form
and any other front end read the same declaration."""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, SupportsInt, Union, get_args, get_origin

from annotated_types import Ge, Le
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

GENERAL = "General"
DISCRIMINATOR = "kind"  # every settings model names its kind; never a form field


class Input(Enum):
    TEXT = "text"
    OPTIONAL_TEXT = "optional text"  # empty means None
    SECRET = "secret"
    CHECKBOX = "checkbox"
    INTEGER = "integer"
    LIST = "list"  # list[str], typed as a comma-separated list
    SECTION = "section"  # a nested model: a titled group of its own fields
    WIDGET = "widget"  # a named widget the front end supplies (hint `widget`)
    HIDDEN = "hidden"  # kept as stored; edited elsewhere


@dataclass(frozen=True)
class FormField:
    path: tuple[str, ...]
    """("write_key",) or, inside a nested model, ("filters", "email_domains")."""
    input: Input
    label: str
    help: str
    placeholder: str
    section: str | None
    """A title shown before the field (a new group), if any."""
    default: Any
    """What an empty form shows (the hint `form_default`, else the model's default)."""
    pattern: str | None
    invalid: str | None
    """The inline check's message (and, for integers, the message shown on save)."""
    widget: str | None
    suggest: str | None
    """A store column whose values the form offers as this field is typed (hint `suggest`)."""
    minimum: int | None
    maximum: int | None
    children: tuple[FormField, ...] = ()

    @property
    def id(self) -> str:
        """The form's id for the field: `write_key`, `filters-email_domains`."""
        return "-".join(self.path)

    @property
    def name(self) -> str:
        return self.path[-1]


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _input_of(info: FieldInfo, hints: dict[str, Any]) -> Input:
    if hints.get("form") == "hidden":
        return Input.HIDDEN
    if hints.get("widget"):
        return Input.WIDGET
    annotation, optional = _unwrap_optional(info.annotation)
    if annotation is SecretStr:
        return Input.SECRET
    if annotation is bool:
        return Input.CHECKBOX
    if annotation is int:
        return Input.INTEGER
    if get_origin(annotation) is list:
        return Input.LIST
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return Input.SECTION
    if annotation is str:
        return Input.OPTIONAL_TEXT if optional else Input.TEXT
    raise TypeError(f"no form input for {info.annotation!r}: mark the field form hidden")


def _bound(info: FieldInfo, kind: type[Ge] | type[Le]) -> int | None:
    for item in info.metadata:
        if isinstance(item, kind):
            value = item.ge if isinstance(item, Ge) else item.le
            if not isinstance(value, SupportsInt):
                raise TypeError(f"a form's bound must be a number, not {value!r}")
            return int(value)
    return None


def _field(path: tuple[str, ...], info: FieldInfo) -> FormField:
    extra = info.json_schema_extra
    hints: dict[str, Any] = dict(extra) if isinstance(extra, dict) else {}
    kind = _input_of(info, hints)
    default = hints.get("form_default", info.default)
    if default is PydanticUndefined:
        default = None
    children: tuple[FormField, ...] = ()
    if kind is Input.SECTION:
        model, _ = _unwrap_optional(info.annotation)
        children = tuple(form_fields(model, path))
    return FormField(
        path=path,
        input=kind,
        label=info.title or path[-1],
        help=info.description or "",
        placeholder=str(hints.get("placeholder", "")),
        section=hints.get("section"),
        default=default,
        pattern=hints.get("pattern"),
        invalid=hints.get("invalid"),
        widget=hints.get("widget"),
        suggest=hints.get("suggest"),
        minimum=_bound(info, Ge),
        maximum=_bound(info, Le),
        children=children,
    )


def form_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[FormField]:
    """The model's fields in declaration order, the kind discriminator left out."""
    for name, info in model.model_fields.items():
        if not prefix and name == DISCRIMINATOR:
            continue
        yield _field((*prefix, name), info)


def errors_shown_at(model: type[BaseModel]) -> str:
    """The field under which model-level rules are shown (`errors_shown_at` in the model's
    `json_schema_extra`), or an empty string."""
    extra = model.model_config.get("json_schema_extra")
    return str(extra.get("errors_shown_at", "")) if isinstance(extra, dict) else ""
