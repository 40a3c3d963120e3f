"""Audiences: every audience with how many contacts its rule matches now (counted off the UI
thread, one scan for all of them), the exports that send it, when it changed and its rule.
`a` creates one, `e` (or enter) changes the rule under the cursor, `x` removes it (asked once;
refused, naming the destinations, while an export sends it). Writes go through the engine's
commands."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from console.audiences.counting import CountCancelled
from console.core.text import printable
from console.engine.commands import CommandRefused
from console.reports.audiences import AUDIENCES, AudienceRow, audience_rows
from console.ui.formatting import counted
from console.ui.screens.audience_editor import AudienceEditor
from console.ui.screens.base import ConsoleScreen
from console.ui.screens.confirm import ConfirmScreen
from console.ui.widgets.paged_table import PagedTable
from state.db import Connection


class AudiencesScreen(ConsoleScreen):
    MODE = "audiences"
    HELP_NAME = "Audiences"
    BINDINGS = [
        Binding("a", "add", "New", id="audiences-add"),
        Binding("e", "edit", "Edit", id="audiences-edit"),
        Binding("x", "remove", "Remove", id="audiences-remove"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def compose_body(self) -> ComposeResult:
        yield PagedTable(
            AUDIENCES,
            page_size=self.console.page_size,
            key=lambda row: row.name,
            id="audiences",
        )
        yield Static(
            "Members: the contacts each rule matches now; an export's own count follows on "
            "its next run. Also: retention-console audiences list|show NAME",
            id="audiences-note",
            classes="detail",
            markup=False,
        )

    @property
    def table(self) -> PagedTable[AudienceRow]:
        return self.query_one("#audiences", PagedTable)

    def on_mount(self) -> None:
        self.table.focus()
        self.reload()

    def jumped(self) -> None:
        self.reload()

    def reload(self) -> None:
        def page(conn: Connection, _after: Any, _limit: int) -> list[AudienceRow]:
            return audience_rows(conn, counted=False)

        self.counting = True
        self.table.load_query(self.console.store, page, keep_cursor=True)

    @on(PagedTable.PageShown, "#audiences")
    def _page_shown(self, _event: PagedTable.PageShown) -> None:
        self._title()
        self._count()

    @work(thread=True, exclusive=True, group="audiences-count")
    def _count(self) -> None:
        worker = get_current_worker()
        try:
            with self.console.store.read() as conn:
                rows = audience_rows(conn, cancelled=lambda: worker.is_cancelled)
        except CountCancelled:
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_counts, rows)

    def _show_counts(self, rows: list[AudienceRow]) -> None:
        members = {row.name: row.members for row in rows}
        table = self.table
        for index, row in enumerate(table.items):
            if row.name in members:
                table.update_row(replace(row, members=members[row.name]), index)
        self.counting = False
        self._title()

    def _title(self) -> None:
        parts = ["Audiences"]
        items = self.table.items
        parts.append(counted(len(items), "audience") if items else "none yet: a creates one")
        if items and self.counting:
            parts.append("counting members…")
        self.set_title(" · ".join(parts))

    # -- create, edit, remove -----------------------------------------------------------------
    def action_add(self) -> None:
        taken = frozenset(row.name for row in self.table.items)
        self.app.push_screen(AudienceEditor(taken=taken), lambda r: self._edited(r, True))

    def action_edit(self) -> None:
        row = self.table.current()
        if row is None:
            return
        self.app.push_screen(AudienceEditor(row.name, row.rule), lambda r: self._edited(r, False))

    @on(DataTable.RowSelected, "#audiences")
    def _selected(self, _event: DataTable.RowSelected) -> None:
        self.action_edit()

    def _edited(self, result: tuple[str, str] | None, create: bool) -> None:
        if result is not None:
            self._save(*result, create)

    @work(thread=True, exclusive=True, group="audiences-write")
    def _save(self, name: str, rule: str, create: bool) -> None:
        try:
            saved = self.console.engine.commands.save_audience(name, rule, create=create)
        except CommandRefused as exc:
            self.app.call_from_thread(
                self.notify, printable(exc.reason), severity="error", timeout=8, markup=False
            )
            return
        verb = "Created" if saved.created else "Saved"
        self.app.call_from_thread(
            self.notify, printable(f"{verb} audience {name}"), timeout=4, markup=False
        )
        self.app.call_from_thread(self.reload)

    def action_remove(self) -> None:
        row = self.table.current()
        if row is None:
            return
        if row.used_by:
            # Said at once: the command refuses it too, but there is nothing to confirm.
            self.notify(
                printable(
                    f"Audience {row.name} is exported by {', '.join(row.used_by)}; choose "
                    "another audience for them first."
                ),
                severity="error",
                timeout=8,
                markup=False,
            )
            return

        def answered(confirmed: object) -> None:
            if confirmed is True:
                self._remove(row.name)

        self.app.push_screen(
            ConfirmScreen(
                f"Remove the audience {row.name}?",
                "No export sends it; its rule is gone once removed.",
                "Remove",
            ),
            answered,
        )

    @work(thread=True, exclusive=True, group="audiences-write")
    def _remove(self, name: str) -> None:
        try:
            self.console.engine.commands.remove_audience(name)
        except CommandRefused as exc:
            self.app.call_from_thread(
                self.notify, printable(exc.reason), severity="error", timeout=8, markup=False
            )
            return
        self.app.call_from_thread(
            self.notify, printable(f"Removed audience {name}"), timeout=4, markup=False
        )
        self.app.call_from_thread(self.reload)
