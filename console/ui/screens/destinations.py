"""Destinations: the configured destinations, their schedule and last result, and the
operator's actions on them (add, edit, switch on/off, pause, remove, run now, test)."""

from __future__ import annotations

from functools import partial
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from console.core.text import printable
from console.destinations import registry
from console.engine.commands import CommandRefused
from console.engine.destinations import DestinationRecord, list_destinations
from console.engine.dry_run import change_impact
from console.reports.changes import diff_text
from console.reports.export_files import ExportRefused
from console.ui.change_confirm import ask
from console.ui.formatting import (
    clock_time,
    count,
    ellipsize,
    full_time,
    relative,
    schedule,
    short_time,
)
from console.ui.literal import literal
from console.ui.messages import (
    ConnectionTested,
    DestinationRemoved,
    DestinationSaved,
    DestinationsLoaded,
)
from console.ui.screens.base import ConsoleScreen
from console.ui.screens.choose import ChooseScreen
from console.ui.screens.destination_form import DestinationForm
from console.ui.screens.dry_run import DryRunScreen
from console.ui.screens.remove_destination import (
    EXPORT_THEN_REMOVE,
    REMOVE,
    RemoveDestinationScreen,
    export_failures,
)
from console.ui.screens.site_tag import SiteTagScreen
from console.ui.widgets.paged_table import row_under_cursor
from console.ui.widgets.row_table import RowTable
from state.changes import ChangeRow, changes_page
from state.destination_dates import DestinationDates, destination_dates


def kind_label(kind: str) -> str:
    """The kind's label, or its stored name when no package declares it."""
    declared = registry.KINDS.get(kind)
    return declared.label if declared else kind


STATE_MEANINGS = {
    "on": "runs as often as its Schedule column says",
    "off": "switched off by the operator (o, or Enabled in its form): never scheduled, and run "
    "now is refused until it is switched on",
    "paused": "switched on, but its schedule is suspended (p resumes it): no scheduled runs; "
    "run now still delivers",
}
"""What each state of the State column means (the detail panel and `?` say it)."""


def state_text(record: DestinationRecord) -> Text:
    """`on`, `off` or `paused`, with a warning mark when the destination is unhealthy."""
    if not record.enabled:
        text = Text("off", style="dim")
    elif record.paused:
        text = Text("paused", style="yellow")
    else:
        text = Text("on", style="green")
    if not record.healthy:
        text.append(" ⚠", style="bold red")
    return text


def settings_lines(record: DestinationRecord) -> list[str]:
    """What the destination is set to, secrets masked (the kind's `describe`)."""
    return [f"{label} {value}" for label, value in record.declaration.describe(record.settings)]


PANEL_CHANGES = 3
"""Changes shown on the settings panel (all of them: `retention-console changes`)."""


def change_lines(changes: list[ChangeRow]) -> list[str]:
    """The last changes, newest first: when, who, what (secrets were masked when recorded)."""
    return [
        f"Changed {full_time(c.changed_at)} by {c.changed_by}: {c.action}"
        + (f" {ellipsize(diff_text(c.diff), 100)}" if c.diff and c.action != "remove" else "")
        for c in changes
    ]


def dates_line(record: DestinationRecord, dates: DestinationDates) -> str:
    """Seed 002's integration date: created, last changed (by whom), enabled since; what was
    not recorded yet (a destination saved by an older release) is `unknown`."""
    if not record.enabled:
        since = "off"
    elif dates.enabled_since:
        since = full_time(dates.enabled_since)
    else:
        since = "unknown"
    return (
        f"Integrated {full_time(dates.created_at)} · changed {full_time(dates.changed_at)} "
        f"by {dates.changed_by or 'unknown'} · enabled since {since}"
    )


class DestinationsScreen(ConsoleScreen):
    """The home screen. The highlighted row is the console's current destination."""

    MODE = "destinations"
    HELP_NAME = "Destinations"
    HELP_NOTES = tuple((f"state {name}", meaning) for name, meaning in STATE_MEANINGS.items())
    BINDINGS = [
        Binding("a", "add", "Add", id="destination-add"),
        Binding("e", "edit", "Edit", id="destination-edit"),
        Binding("x", "remove", "Remove", id="destination-remove"),
        Binding(
            "o",
            "toggle_enabled",
            "On/off",
            tooltip="Switch the destination on or off (off: never scheduled, run now refused)",
            id="destination-toggle",
        ),
        Binding(
            "p",
            "pause",
            "Pause",
            tooltip="Pause or resume its schedule (paused: not scheduled, run now still works)",
            id="destination-pause",
        ),
        Binding("r", "run_now", "Run now", id="destination-run"),
        Binding("t", "test", "Test", id="destination-test"),
        # Not on the footer, whose line is full at 80 columns: listed under `?` and in `:`.
        Binding("i", "import_jobs", "Import jobs", show=False, id="destination-import-jobs"),
        Binding("P", "dry_run", "Dry run", key_display="P", id="destination-dry-run"),
        # A ReSci destination's on-site tag (the kind declares it): under `?`, `:` and the panel.
        Binding("w", "site_tag", "On-site tag", show=False, id="destination-site-tag"),
        # The home screen: Escape closes nothing here and goes nowhere (it says so).
        Binding("escape", "back", "Home screen: Escape goes no further", show=False, id="back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.destinations: list[DestinationRecord] = []
        self.dates: dict[int, DestinationDates] = {}
        self.changes: dict[int, list[ChangeRow]] = {}
        self.result_width = 40
        self._token = 0

    def compose_body(self) -> ComposeResult:
        table = RowTable(id="destinations", zebra_stripes=True)
        self._add_columns(table, self.app.size.width)
        yield table
        with VerticalScroll(id="destination-detail", classes="detail"):
            yield Static(id="detail-text", markup=False)

    def _add_columns(self, table: DataTable[Any], terminal_width: int) -> None:
        table.add_column("Name", key="name", width=18)
        table.add_column("Kind", key="kind", width=7)
        table.add_column("State", key="enabled", width=8)
        table.add_column("Schedule", key="schedule", width=10)
        table.add_column("Last run", key="last_run", width=11)
        # The last result takes what the terminal has left (the panel below has it whole).
        self.result_width = max(40, terminal_width - 78)
        table.add_column("Last result", key="result", width=self.result_width)

    def on_resize(self, event: events.Resize) -> None:
        if max(40, event.size.width - 78) != self.result_width:
            table = self.query_one(DataTable)
            table.clear(columns=True)
            self._add_columns(table, event.size.width)
            self.reload()

    def on_mount(self) -> None:
        self.set_title("Destinations")
        self.watch(self.app, "engine_tick", self._engine_moved, init=False)
        self.query_one(DataTable).focus()
        self.reload()

    def jumped(self) -> None:
        self.reload()

    def _engine_moved(self, _tick: int) -> None:
        if self.is_current:
            self.reload()
        else:
            self._refresh_detail()

    # -- loading ------------------------------------------------------------------------------
    def reload(self) -> None:
        self._token += 1
        self._load(self._token)

    @work(thread=True, group="destinations-load")
    def _load(self, token: int) -> None:
        with self.console.store.read() as conn:
            rows = list_destinations(conn)
            dates = {d.id: found for d in rows if (found := destination_dates(conn, d.id))}
            changes = {
                d.id: changes_page(conn, subject="destination", name=d.name, limit=PANEL_CHANGES)
                for d in rows
            }
        self.post_message(DestinationsLoaded(rows, token, dates, changes))

    def on_destinations_loaded(self, message: DestinationsLoaded) -> None:
        if message.token != self._token:
            return
        self.destinations = message.destinations
        self.dates = message.dates
        self.changes = message.changes
        # Edit, remove and the other row actions depend on having rows: redraw the footer now,
        # not at the next focus change.
        self.refresh_bindings()
        table = self.query_one(DataTable)
        wanted = self.console.current_destination
        table.clear()
        running = self.console.engine.running
        for record in self.destinations:
            last_run = "running…" if record.name in running else short_time(record.last_run_at)
            table.add_row(
                literal(record.name),
                kind_label(record.kind),
                state_text(record),
                schedule(record.schedule_minutes),
                last_run,
                literal(ellipsize(printable(self._result_of(record)), self.result_width)),
                key=record.name,
            )
        names = [d.name for d in self.destinations]
        if wanted in names:
            table.move_cursor(row=names.index(wanted))
        elif names:
            self.console.current_destination = names[0]
        count = len(names)
        self.set_title(
            f"Destinations · {count} configured"
            if count
            else "Destinations · none yet: press a to add one"
        )
        self._refresh_detail()

    def _result_of(self, record: DestinationRecord) -> str:
        result = record.last_result or "never run"
        # The stored line starts with the destination's name, already in the first column.
        return result.removeprefix(f"{record.name}: ")

    # -- selection ----------------------------------------------------------------------------
    def selected(self) -> DestinationRecord | None:
        return row_under_cursor(self.query_one(DataTable), self.destinations)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.console.current_destination = str(event.row_key.value)
        self.refresh_bindings()  # `o` is there for kinds with an on-site tag only
        self._refresh_detail()

    @on(DataTable.RowSelected)
    def _selected(self, _event: DataTable.RowSelected) -> None:
        self.action_edit()

    def _refresh_detail(self) -> None:
        record = self.selected()
        detail = self.query_one("#detail-text", Static)
        if record is None:
            detail.update("No destination yet. Press a to add a Segment or ReSci destination.")
            return
        engine = self.console.engine
        next_run = engine.next_run_time(record.name)
        state = "off" if not record.enabled else "paused" if record.paused else "on"
        if next_run is not None:
            when = f"next run {clock_time(next_run)} ({relative(next_run, self.console.now())})"
        elif state == "on" and self.console.preparing is not None:
            when = f"scheduled once the console is done {self.console.preparing}"
        elif state == "on" and self.console.engine_elsewhere:
            when = "engine off here: scheduled where the engine runs"
        elif state == "on":
            when = f"engine {engine.state}: not scheduled"
        else:
            when = "not scheduled"
        lines = [
            f"{record.name} · {kind_label(record.kind)} · "
            f"{state_text(record).plain} · {schedule(record.schedule_minutes)} · {when}",
            *([dates_line(record, dates)] if (dates := self.dates.get(record.id)) else []),
            *([f"{state.capitalize()}: {STATE_MEANINGS[state]}"] if state != "on" else []),
            *settings_lines(record),
            f"Last run {full_time(record.last_run_at)}: {self._result_of(record)}",
            *change_lines(self.changes.get(record.id, [])),
        ]
        progress = engine.progress.get(record.name)
        if record.name in engine.running and progress is not None:
            lines.insert(1, f"Running now: {progress.text(self.console.now())}")
        if not record.healthy and record.health_note:
            lines.append(f"Unhealthy: {record.health_note}")
        reply = self.console.connection_replies.get(record.name)
        if reply is not None and reply[2] == record.settings:  # else edited since: stale
            lines.append(f"Test connection {'OK' if reply[0] else 'FAILED'}: {reply[1]}")
        else:
            lines.append("Test connection: press t")
        if record.declaration.site_tag is not None:
            lines.append("On-site tag: press w to see it and copy it")
        detail.update(printable("\n".join(lines), keep="\n"))  # names, replies: escaped

    # -- actions ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {
            "edit",
            "remove",
            "toggle_enabled",
            "pause",
            "run_now",
            "test",
            "import_jobs",
            "dry_run",
        }:
            return True if self.destinations else None
        if action == "site_tag":
            record = self.selected()
            return record is not None and record.declaration.site_tag is not None
        return True

    def action_site_tag(self) -> None:
        record = self.selected()
        if record is None or record.declaration.site_tag is None:
            return
        try:
            tag = record.declaration.site_tag(record.settings, record.name)
        except ValueError as exc:
            self.notify(
                printable(f"No on-site tag yet: {exc}"), severity="warning", timeout=6, markup=False
            )
            return
        self.app.push_screen(SiteTagScreen(record.name, tag))

    def action_add(self) -> None:
        def chosen(kind: object) -> None:
            if isinstance(kind, str) and kind in registry.KINDS:
                self.app.push_screen(DestinationForm(kind, None), self._form_closed)

        kinds = registry.all_kinds()
        choices = [(k.name, k.summary) for k in kinds]
        self.app.push_screen(
            ChooseScreen("Add a destination: which kind?", choices, kinds[0].name), chosen
        )

    def action_edit(self) -> None:
        record = self.selected()
        if record is not None:
            self.app.push_screen(DestinationForm(record.kind, record), self._form_closed)

    def _form_closed(self, name: object) -> None:
        # The form saved through the engine, which rescheduled: only the view is stale.
        if isinstance(name, str):
            self.console.current_destination = name
            self.reload()

    def action_remove(self) -> None:
        record = self.selected()
        if record is None:
            return

        def answered(choice: str | None) -> None:
            if choice in (REMOVE, EXPORT_THEN_REMOVE):
                self._remove(record, export=choice == EXPORT_THEN_REMOVE)

        self.app.push_screen(RemoveDestinationScreen(record.name), answered)

    @work(thread=True, group="destination-write")
    def _remove(self, record: DestinationRecord, *, export: bool = False) -> None:
        if export:
            stamp = self.console.now().strftime("%Y%m%d-%H%M%S")
            name = f"failures-{stamp}.csv"
            directory = self.console.export_dir
            try:
                written = export_failures(self.console.store, record.name, directory, name)
            except (ExportRefused, OSError) as exc:
                self.app.call_from_thread(
                    self.notify,
                    printable(f"Export refused, nothing removed: {exc}"),
                    title="Not removed",
                    severity="error",
                    markup=False,
                    timeout=10,
                )
                return
            self.app.call_from_thread(
                self.notify,
                printable(f"Wrote {count(written)} failures to {name} (in {directory})"),
                title="Export",
                markup=False,
                timeout=8,
            )
        # The engine takes the destination's lease first: a run in flight makes it wait a few
        # seconds, then refuse with words the operator can act on.
        try:
            self.console.engine.remove_destination(record.name)
        except CommandRefused as exc:
            self.app.call_from_thread(
                self.notify, str(exc), title="Not removed", severity="warning", timeout=8
            )
            return
        self.post_message(DestinationRemoved(record.name))

    def on_destination_removed(self, message: DestinationRemoved) -> None:
        self.notify(f"Removed {message.name}", timeout=4)
        if self.console.current_destination == message.name:
            self.console.current_destination = None
        self.reload()

    def on_destination_saved(self, message: DestinationSaved) -> None:
        self.reload()

    def action_toggle_enabled(self) -> None:
        record = self.selected()
        if record is None:
            return
        if record.enabled:
            self._set_flag(partial(self.console.engine.set_enabled, record.name, False))
        else:
            self._switch_on(record)

    @work(thread=True, group="destination-write")
    def _switch_on(self, record: DestinationRecord) -> None:
        # What the first run would send is shown, and asked about, before it is switched on.
        change = partial(self.console.engine.set_enabled, record.name, True)
        try:
            plan = change_impact(self.console.store, record, record.settings, enabled=True)
        except Exception as exc:  # the store could not be read: not switched on blind
            self.app.call_from_thread(
                self.notify, f"Not switched on: {exc}", severity="warning", markup=False
            )
            return
        if plan is None:
            self.app.call_from_thread(self._set_flag, change)
            return
        self.app.call_from_thread(
            ask, self, plan, lambda: self._set_flag(change), enabling=True, yes="Switch on"
        )

    def action_pause(self) -> None:
        record = self.selected()
        if record is not None:
            self._set_flag(partial(self.console.engine.set_paused, record.name, not record.paused))

    @work(thread=True, group="destination-write")
    def _set_flag(self, change: partial[None]) -> None:
        # The engine writes the flag and reschedules; its lock waits are kept off the UI thread.
        change()
        self.post_message(DestinationSaved(str(change.args[0])))

    def action_run_now(self) -> None:
        record = self.selected()
        if record is None:
            return
        if not record.enabled:
            self.notify(f"{record.name} is off; press o to switch it on.", severity="warning")
            return
        self.console.run_now(record.name)

    def action_test(self) -> None:
        record = self.selected()
        if record is not None:
            self.console.test_connection(record.name)

    def action_import_jobs(self) -> None:
        record = self.selected()
        if record is not None:
            self.console.show_import_jobs(record.name)

    def action_dry_run(self) -> None:
        record = self.selected()
        if record is not None:
            self.app.push_screen(DryRunScreen(record))

    def on_connection_tested(self, _message: ConnectionTested) -> None:
        self._refresh_detail()
