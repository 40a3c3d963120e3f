"""The destination form's authorization picker (seed 001: "Select the Authorization you would
like to use or create a new one"): a Select of the saved authorizations, this destination's own
key, or a new one, created in a small dialog (label, description, key) and saved through the
engine's commands."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from rich.text import Text
from textual.widgets import Select

from console.core.secrets import check_secret
from console.core.text import printable
from console.ui.screens.mapping_forms import Apply, MappingDialog
from console.ui.widgets.form_fields import FormInput

OWN_KEY = "__own_key__"
NEW = "__new__"


def picker_options(labels: list[str], current: str | None) -> list[tuple[Text, str]]:
    """The picker's choices; labels are the operator's words, shown as text, never markup."""
    options = [(Text("none: this destination's own API key (below)"), OWN_KEY)]
    options += [(Text(printable(label)), label) for label in labels]
    if current and current not in labels:
        options.append((Text(printable(f"{current} (missing)")), current))
    options.append((Text("create a new authorization…"), NEW))
    return options


def picker(field_id: str, labels: list[str], current: str | None) -> Select[str]:
    return Select(
        picker_options(labels, current),
        value=current or OWN_KEY,
        id=f"f-{field_id}",
        allow_blank=False,
        compact=True,
    )


def picked(value: object) -> str | None:
    """The settings value of the picker: a label, or None for the destination's own key."""
    return value if isinstance(value, str) and value not in (OWN_KEY, NEW) else None


def new_authorization(values: dict[str, str]) -> dict[str, str]:
    """The dialog's values checked (label, key); raises ValueError with the reason."""
    label = values["label"].strip()
    if not label:
        raise ValueError("an authorization needs a label")
    try:
        key = check_secret(SecretStr(values["api_key"])).get_secret_value()
    except ValueError as exc:
        raise ValueError(f"API key {exc}") from None
    return {"label": label, "description": values["description"].strip(), "api_key": key}


def new_authorization_dialog(apply: Apply = new_authorization) -> MappingDialog:
    fields: list[tuple[str, str, Any]] = [
        ("label", "Label", FormInput(placeholder="e.g. production", id="a-label")),
        (
            "description",
            "Description",
            FormInput(placeholder="optional: what this key is for", id="a-description"),
        ),
        (
            "api_key",
            "API key",
            FormInput(placeholder="ReSci Data API key, or env:NAME", password=True, id="a-key"),
        ),
    ]
    return MappingDialog(
        "Create a ReSci authorization",
        fields,
        apply,
        hint="Destinations that choose it share its key: changing it here changes it for all.",
    )
