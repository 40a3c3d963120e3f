"""The audience editor: a name and a rule, the rule checked as it is typed (the parser's
message, with its position, under the field) and, once it parses, how many contacts it matches
now, counted off the UI thread (a count for a rule typed on since is dropped). It dismisses
with (name, rule); the Audiences screen saves it through the engine's commands."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Button, Input, Static
from textual.worker import get_current_worker

from console.audiences.counting import CountCancelled, count_matching
from console.audiences.rules import parse_rule
from console.audiences.tree import Rule
from console.core.fields import CONTACT_FIELDS
from console.core.text import printable
from console.ui.formatting import counted
from console.ui.screens.base import ConsoleModal
from console.ui.widgets.form_fields import FieldRow, FormInput

COUNT_DELAY = 0.3
"""Seconds of no typing before the rule is counted: each count scans every contact."""

HINT = (
    "e.g. email_domain in [gmail.com, yahoo.com] and address_state = 'CA'  ·  "
    "= != in contains < > before after, and / or / not, ( )  ·  fields: "
    + ", ".join(CONTACT_FIELDS)
)

Edited = tuple[str, str]
"""(name, rule) as saved."""


class AudienceEditor(ConsoleModal[Edited | None]):
    """Create an audience (`name` None) or change the rule of the one named."""

    DEFAULT_CSS = """
    #audience-check { height: auto; padding-left: 22; color: $text-muted; }
    #audience-check.-valid { color: $success; }
    #audience-check.-invalid { color: $error; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="audience-save"),
        Binding("escape", "cancel", "Cancel", id="cancel"),
    ]

    class Counted(Message):
        def __init__(self, rule: str, matching: int) -> None:
            super().__init__()
            self.rule = rule
            self.matching = matching

    def __init__(
        self, name: str | None = None, rule: str = "", taken: frozenset[str] = frozenset()
    ):
        super().__init__()
        self.name_given = name
        self.rule_given = rule
        self.taken = taken
        """Names in use (a new audience may not take one)."""
        self.checked: Rule | None = None
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        title = "New audience" if self.name_given is None else f"Audience {self.name_given}"
        with Vertical(classes="dialog wide-dialog", id="audience-editor"):
            yield Static(printable(title), classes="dialog-title", markup=False)
            yield FieldRow(
                "Name",
                FormInput(
                    self.name_given or "",
                    placeholder="e.g. West coast",
                    id="audience-name",
                    disabled=self.name_given is not None,
                ),
                "name",
            )
            yield FieldRow(
                "Rule",
                FormInput(
                    self.rule_given,
                    placeholder="e.g. address_state in [CA, WA]",
                    id="audience-rule",
                ),
                "rule",
            )
            yield Static("", id="audience-check", markup=False)
            yield Static(HINT, classes="dialog-hint", markup=False)
            yield Static("", id="dialog-error", classes="dialog-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#audience-rule" if self.name_given else "#audience-name", Input).focus()
        self.check(self.rule_given)

    @property
    def rule_text(self) -> str:
        return self.query_one("#audience-rule", Input).value

    @on(Input.Changed, "#audience-rule")
    def _rule_changed(self, event: Input.Changed) -> None:
        self.check(event.value)

    def check(self, text: str) -> None:
        """Parse the rule now; count it once typing pauses."""
        status = self.query_one("#audience-check", Static)
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.workers.cancel_group(self, "audience-count")
        self.checked = None
        if not text.strip():
            status.update("Type a rule: which contacts are in the audience.")
            status.set_classes("")
            return
        try:
            self.checked = parse_rule(text)
        except ValueError as exc:
            status.update(printable(f"✗ {exc}"))
            status.set_classes("-invalid")
            return
        status.update(printable(f"✓ reads as: {self.checked.describe()} · counting…"))
        status.set_classes("-valid")
        rule = self.checked
        self._timer = self.set_timer(COUNT_DELAY, lambda: self._count(text, rule))

    @work(thread=True, exclusive=True, group="audience-count")
    def _count(self, text: str, rule: Rule) -> None:
        worker = get_current_worker()
        try:
            with self.console.store.read() as conn:
                found = count_matching(conn, {"rule": rule}, cancelled=lambda: worker.is_cancelled)
        except CountCancelled:
            return
        if not worker.is_cancelled:
            self.post_message(self.Counted(text, found["rule"]))

    @on(Counted)
    def _counted(self, message: Counted) -> None:
        if message.rule != self.rule_text or self.checked is None:
            return  # typed on since: a newer count is coming
        self.query_one("#audience-check", Static).update(
            printable(
                f"✓ reads as: {self.checked.describe()} · "
                f"{counted(message.matching, 'contact matches', 'contacts match')} now"
            )
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        error = self.query_one("#dialog-error", Static)
        name = self.query_one("#audience-name", Input).value.strip()
        rule = self.rule_text.strip()
        reason = None
        if not name:
            reason = "give the audience a name"
        elif self.name_given is None and name in self.taken:
            reason = f"an audience named {name!r} exists already"
        else:
            try:
                parse_rule(rule)
            except ValueError as exc:
                reason = f"the rule: {exc}"
        if reason is not None:
            error.update(printable(f"Refused: {reason}"))
            error.add_class("-shown")
            return
        self.dismiss((name, rule))
