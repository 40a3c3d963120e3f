"""What issue 12 adds to the destination form, kept beside it (the form stays under 500
lines): live counts as values change, and the one confirmation before a save that switches a
destination on or sends again what was sent. A new destination is saved as a draft."""

from __future__ import annotations

from functools import partial
from typing import Any

from pydantic import BaseModel
from textual.widgets import Checkbox

from console.ui.change_confirm import DRAFT_HINT, check_then
from console.ui.widgets.preview_counts import PreviewCounts

__all__ = ["DRAFT_HINT", "FormPreview"]

Form = Any
"""The `DestinationForm` the methods run on (it imports this module, so it is not named)."""


class FormPreview:
    """Mixed into `DestinationForm`."""

    def _preview_soon(self: Form) -> None:
        name = self._value("name").strip() or "new"
        counts = self.query_one(PreviewCounts)
        counts.request_values(
            self.console.store, name, self.declaration.settings_model, self.collect()
        )

    def on_checkbox_changed(self: Form, _event: Checkbox.Changed) -> None:
        self._preview_soon()

    def save_or_ask(self: Form, name: str, settings: BaseModel) -> None:
        """Save a new destination as a draft; ask once before a save that sends."""
        if self.record is None:
            self._save(name, settings, False)  # a draft: the engine's rule too
            return
        enabled = self._checked("enabled")
        save = partial(self._save, name, settings, enabled)
        check_then(self, self.record, settings, save, enabled=enabled)
