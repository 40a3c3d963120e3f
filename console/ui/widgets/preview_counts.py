"""Live counts under the destination form and on Mapping: what the settings as they stand
would send from the first row on (contacts passing the filters, suppressed, events, users a
backfill sends), worked out off the UI thread by the dry run (`console.engine.dry_run.preview`)
within its time budget (past it the counts are scaled from the rows read, and say so).

Changes come in bursts (typing): a count starts once they pause (`DEBOUNCE_SECONDS`), and a
count that finishes after a newer one was asked for is dropped."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from textual import work
from textual.timer import Timer
from textual.widgets import Static

from console.core.secrets import secret_fields
from console.core.text import printable
from console.engine.dry_run import PREVIEW_BUDGET_SECONDS, preview
from console.reports.dry_run import preview_line
from state.db import Store

DEBOUNCE_SECONDS = 0.4


class PreviewCounts(Static):
    """One line (wrapped) of counts; `request` asks for new ones."""

    DEFAULT_CSS = """
    PreviewCounts {
        height: auto;
        padding: 0 1;
        color: $text-muted;
    }
    """

    def __init__(
        self,
        *,
        debounce: bool = True,
        budget_seconds: float = PREVIEW_BUDGET_SECONDS,
        id: str | None = None,
    ) -> None:
        super().__init__("Preview: counting…", id=id, markup=False)
        self.debounce = debounce
        self.budget_seconds = budget_seconds
        self._asked = 0
        self._timer: Timer | None = None
        self._last: tuple[str, Any] | None = None
        self.counted = 0
        """How many counts were shown (tests wait on it)."""

    def request(self, store: Store, name: str, settings: Any) -> None:
        """Count for `settings`: at once the first time (and without `debounce`), else once
        the changes pause. The same settings again (a field that fired without changing what
        they say) count nothing new."""
        if (name, settings) == self._last:
            return
        self._last = (name, settings)
        self._asked += 1
        asked = self._asked
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self.debounce or asked == 1:
            self._count(store, name, settings, asked)
            return
        self._timer = self.set_timer(
            DEBOUNCE_SECONDS, lambda: self._count(store, name, settings, asked)
        )

    def request_values(
        self, store: Store, name: str, model: type[BaseModel], values: dict[str, Any]
    ) -> None:
        """Count for a form's values: validated by the kind's model, a key not typed yet stood
        in for (keys play no part in a count, so a new form counts at once)."""
        for field in secret_fields(model):
            if not values.get(field):
                values[field] = "preview-needs-no-key"
        try:
            settings = model.model_validate(values)
        except ValidationError:
            self.unavailable("counted once the fields marked are fixed")
            return
        self.request(store, name, settings)

    def unavailable(self, reason: str) -> None:
        """No count for settings that do not validate (a field to fix first)."""
        self._last = None
        self._asked += 1
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.update(printable(f"Preview: {reason}"))

    @work(thread=True, group="preview-counts")
    def _count(self, store: Store, name: str, settings: Any, asked: int) -> None:
        try:
            line = preview_line(preview(store, name, settings, budget_seconds=self.budget_seconds))
        except Exception as exc:  # a store error: said in place of the counts
            line = f"Preview: could not count ({exc})"
        self.app.call_from_thread(self._show, line, asked)

    def _show(self, line: str, asked: int) -> None:
        if asked != self._asked:
            return  # a newer count was asked for
        self.counted += 1
        self.update(printable(line))
