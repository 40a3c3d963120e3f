"""Suppressions: the list of known contacts never sent as Grow contacts (seed 002: "suppression
is critical"), with where and when each came from and how many there are. `/` searches by email
(its MD5) or the start of an MD5; `a` adds emails or MD5s, `x` lifts the one under the cursor
(asked once; its contact is reconsidered on each destination's next run). Writes go through
the engine's commands."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from console.core.operator import operator_name
from console.ingest.suppressions import suppression_md5, suppression_search
from console.reports.suppressions import SUPPRESSIONS, UNKNOWN
from console.ui.form_values import split_list
from console.ui.formatting import count, counted
from console.ui.screens.base import PagedScreen, page_bindings
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.mapping_forms import text_dialog
from console.ui.widgets.filter_bar import FilterBar
from console.ui.widgets.paged_table import PagedTable
from state.db import Connection
from state.suppression_list import SuppressionRow, suppression_count, suppressions_page


def parse_values(text: str) -> list[str]:
    """`a@x.com, 0cc1…` -> their MD5s; raises ValueError naming the first bad value."""
    values = split_list(text)
    if not values:
        raise ValueError("type one or more emails or MD5s, comma separated")
    return [suppression_md5(value) for value in values]


class SuppressionsScreen(PagedScreen):
    MODE = "suppressions"
    HELP_NAME = "Suppressions"
    BINDINGS = [
        Binding("slash", "filter", "Search", key_display="/", id="suppressions-search"),
        Binding("a", "add", "Add", id="suppressions-add"),
        Binding("x", "remove", "Remove", id="suppressions-remove"),
        *page_bindings("suppressions"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.prefix: str | None = None
        self.search_text: str | None = None
        self.total: int | None = None

    def compose_body(self) -> ComposeResult:
        yield FilterBar("an email, or the start of an MD5; ⏎ done, esc keep", id="filter-bar")
        yield Static("", id="suppressions-error", classes="inline-error", markup=False)
        yield PagedTable(
            SUPPRESSIONS,
            page_size=self.console.page_size,
            position=lambda row: row.email_md5,
            key=lambda row: row.email_md5,
            id="suppressions",
        )
        yield Static(
            "Only the MD5 of each email is kept. Rows added before sources were recorded show "
            f"{UNKNOWN}. Import a file: retention-console import suppressions FILE",
            id="suppressions-note",
            classes="detail",
            markup=False,
        )

    @property
    def table(self) -> PagedTable[SuppressionRow]:
        return self.query_one("#suppressions", PagedTable)

    def on_mount(self) -> None:
        self.table.focus()
        self.reload_first()

    def jumped(self) -> None:
        self.reload_first()

    def reload_first(self) -> None:
        prefix = self.prefix

        def page(conn: Connection, after: Any, limit: int) -> list[SuppressionRow]:
            return suppressions_page(conn, prefix, after=after, limit=limit)

        def total(conn: Connection) -> int:
            return suppression_count(conn, prefix)

        self.total = None
        self.table.load_query(self.console.store, page, total)

    @on(PagedTable.Counted, "#suppressions")
    def _counted(self, event: PagedTable.Counted) -> None:
        self.total = event.total
        self._title()

    @on(PagedTable.PageShown, "#suppressions")
    def _page_shown(self, _event: PagedTable.PageShown) -> None:
        self._title()

    def _title(self) -> None:
        table = self.table
        parts = ["Suppressions"]
        if self.total is not None:
            parts.append(counted(self.total, "suppression"))
        if self.search_text:
            parts.append(f"search “{self.search_text}”")
        if table.items:
            parts.append(table.page_label())
            if table.page or table.has_more:
                parts.append("[ ]: page")
        elif self.total == 0:
            parts.append("none" if not self.search_text else "no match")
        self.set_title(" · ".join(parts))

    def show_error(self, message: str | None) -> None:
        error = self.query_one("#suppressions-error", Static)
        error.update(message or "")
        error.set_class(bool(message), "-shown")

    # -- search -------------------------------------------------------------------------------
    def action_filter(self) -> None:
        """`/`, the key that filters every table: search the list."""
        self.query_one(FilterBar).open()

    @on(FilterBar.Applied)
    def _search_applied(self, event: FilterBar.Applied) -> None:
        text = event.text
        try:
            prefix = suppression_search(text) if text else None
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.show_error(None)
        if prefix == self.prefix:
            return
        self.prefix, self.search_text = prefix, text
        self.reload_first()

    def action_back(self) -> None:
        bar = self.query_one(FilterBar)
        if bar.typing:
            bar.finish()
            self.table.focus()
        elif self.prefix is not None:
            bar.clear()
            self.prefix = self.search_text = None
            self.show_error(None)
            self.reload_first()
        else:
            super().action_back()

    # -- add and remove -----------------------------------------------------------------------
    def action_add(self) -> None:
        def added(md5s: object) -> None:
            if isinstance(md5s, list) and md5s:
                self._add(md5s)

        self.app.push_screen(
            text_dialog(
                "Suppress emails or MD5s",
                "Emails or MD5s",
                "",
                "ann@example.com, 0cc175b9c0f1b6a831c399e269772661",
                [],
                lambda v: parse_values(v["text"]),
            ),
            added,
        )

    @work(thread=True, exclusive=True, group="suppressions-write")
    def _add(self, md5s: list[str]) -> None:
        added = self.console.engine.commands.add_suppressions(md5s, f"added by {operator_name()}")
        already = len(set(md5s)) - added
        self.app.call_from_thread(
            self.notify,
            f"Suppressed {count(added)}" + (f" ({count(already)} already were)" if already else ""),
            timeout=4,
        )
        self.app.call_from_thread(self.table.reload, True)

    def action_remove(self) -> None:
        row = self.table.current()
        if row is None:
            return

        def answered(confirmed: object) -> None:
            if confirmed is True:
                self._remove(row.email_md5)

        self.app.push_screen(
            ConfirmScreen(
                f"Lift the suppression {row.email_md5}?",
                "Its contact is reconsidered on each destination's next run, and sent unless "
                "a filter holds it back.",
                "Lift",
            ),
            answered,
        )

    @work(thread=True, exclusive=True, group="suppressions-write")
    def _remove(self, md5: str) -> None:
        removed = self.console.engine.commands.remove_suppressions([md5])
        self.app.call_from_thread(
            self.notify, "Lifted 1 suppression" if removed else "It was lifted already", timeout=4
        )
        self.app.call_from_thread(self.table.reload, True)
