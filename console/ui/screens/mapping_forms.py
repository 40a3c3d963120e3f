"""Small dialogs of the Mapping screen: add a field or event mapping, name a Reclaim event,
set the revenue metric. Each validates through `console.ui.mapping_changes` and shows the
reason it refuses inside the dialog; it dismisses with the new settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Select, Static

from console.ui.screens.base import ConsoleModal
from console.ui.widgets.form_fields import FieldRow, FormInput

Apply = Callable[[dict[str, str]], Any]
"""Turns the dialog's values into new settings, or raises ValueError(reason)."""


class MappingDialog(ConsoleModal[Any]):
    """A titled dialog of a few fields. `fields` are (field id, label, widget)."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="mapping-save"),
        Binding("escape", "cancel", "Cancel", id="cancel"),
    ]

    def __init__(
        self, title: str, fields: list[tuple[str, str, Any]], apply: Apply, hint: str = ""
    ) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.apply = apply
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            for field, label, widget in self.fields:
                yield FieldRow(label, widget, field)
            yield Static("", id="dialog-error", classes="dialog-error", markup=False)
            if self.hint:
                yield Static(self.hint, classes="dialog-hint", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.fields[0][2].focus()

    def values(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for field, _, widget in self.fields:
            value = widget.value
            found[field] = "" if value is Select.NULL or value is None else str(value)
        return found

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        error = self.query_one("#dialog-error", Static)
        try:
            result = self.apply(self.values())
        except ValueError as exc:
            error.update(f"Refused: {exc}")
            error.add_class("-shown")
            return
        self.dismiss(result)


def words(names: tuple[str, ...]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return " and ".join(filter(None, (", ".join(names[:-1]), names[-1]))) if names else ""


def field_dialog(
    label: str,
    contact_fields: tuple[str, ...],
    user_fields: tuple[str, ...],
    always_sent: tuple[str, ...],
    apply: Apply,
    title: str = "",
) -> MappingDialog:
    """Map a contact field onto one of the user fields of the kind named `label`."""
    return MappingDialog(
        title or f"Map a console field onto a {label} user field",
        [
            (
                "source",
                "Console field",
                Select([(f, f) for f in contact_fields], id="m-source", compact=True),
            ),
            (
                "target",
                f"{label} field",
                Select([(f, f) for f in user_fields], id="m-target", compact=True),
            ),
        ],
        apply,
        hint=(f"{words(always_sent)} are always sent. " if always_sent else "")
        + "enter opens a list, ↑↓ choose.",
    )


def event_dialog(
    label: str, reserved: tuple[str, ...], known_events: list[str], apply: Apply
) -> MappingDialog:
    """Map a custom event onto one of the reserved events of the kind named `label`."""
    return MappingDialog(
        f"Map a custom event onto a {label} reserved event",
        [
            (
                "custom",
                "Custom event",
                FormInput(
                    placeholder="e.g. Viewed Product Reclaim",
                    id="m-custom",
                    suggester=SuggestFromList(known_events, case_sensitive=False),
                ),
            ),
            (
                "reserved",
                "Reserved event",
                Select(
                    [(r, r) for r in reserved], id="m-reserved", compact=True, value=reserved[1]
                ),
            ),
        ],
        apply,
        hint="Reserved names (" + ", ".join(reserved) + ") cannot be custom events. "
        "→ accepts a suggestion.",
    )


def text_dialog(
    title: str, label: str, value: str, placeholder: str, suggestions: list[str], apply: Apply
) -> MappingDialog:
    return MappingDialog(
        title,
        [
            (
                "text",
                label,
                FormInput(
                    value,
                    placeholder=placeholder,
                    id="m-text",
                    suggester=SuggestFromList(suggestions, case_sensitive=False)
                    if suggestions
                    else None,
                ),
            )
        ],
        apply,
        hint="→ accepts a suggestion; enter saves." if suggestions else "enter saves.",
    )


def revenue_dialog(known_events: list[str], apply: Apply) -> MappingDialog:
    """Read one event's revenue from its own property (seed 002: Checkout Started carries
    `cart_amount`, product events `Price`)."""
    return MappingDialog(
        "Revenue of one event",
        [
            (
                "event",
                "Event name",
                FormInput(
                    placeholder="e.g. Checkout Started Reclaim",
                    id="m-event",
                    suggester=SuggestFromList(known_events, case_sensitive=False),
                ),
            ),
            (
                "property",
                "Revenue property",
                FormInput(
                    placeholder="e.g. cart_amount (empty: use the revenue metric)",
                    id="m-property",
                    suggester=SuggestFromList(
                        ["Price", "price", "cart_amount", "CurrencyPrice"], case_sensitive=False
                    ),
                ),
            ),
        ],
        apply,
        hint="Other events read the revenue metric (v). → accepts a suggestion.",
    )
