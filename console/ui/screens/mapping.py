"""Mapping: for a ReSci destination, which console field feeds which ReSci user field, and
which custom event stands for which reserved event; for Segment, the revenue metric and the
event names Reclaim sends. Each change is validated, saved at once, and refused with a reason."""

from __future__ import annotations

from functools import partial
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from console.core.fields import CONTACT_FIELDS
from console.destinations import registry
from console.destinations.kind import Capabilities
from console.destinations.settings_fields import per_event_words
from console.engine.commands import CommandRefused
from console.engine.destinations import DestinationRecord, get_destination, list_destinations
from console.engine.dry_run import change_impact
from console.ui import mapping_changes as changes
from console.ui.change_confirm import ask
from console.ui.literal import literal
from console.ui.messages import DestinationSaved, MappingLoaded
from console.ui.screens.base import ConsoleScreen
from console.ui.screens.choose import ChooseScreen
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.mapping_forms import (
    event_dialog,
    field_dialog,
    revenue_dialog,
    text_dialog,
    words,
)
from console.ui.widgets.preview_counts import PreviewCounts
from console.ui.widgets.row_table import RowTable
from state.choices import audience_names, event_names

NO_EXPORT = "__none__"


class MappingScreen(ConsoleScreen):
    """Shows the app's current destination; `c` picks another."""

    MODE = "mapping"
    HELP_NAME = "Mapping"
    BINDINGS = [
        Binding("c", "choose_destination", "Destination", id="mapping-destination"),
        Binding("a", "add", "Add", id="mapping-add"),
        Binding("x", "remove", "Remove", id="mapping-remove"),
        Binding("u", "audience", "Audience", id="mapping-audience"),
        Binding("v", "revenue", "Revenue metric", id="mapping-revenue"),
        Binding("V", "event_revenue", "Revenue per event", id="mapping-event-revenue"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.record: DestinationRecord | None = None
        self.audiences: list[str] = []
        self.known_events: list[str] = []
        self._token = 0

    def compose_body(self) -> ComposeResult:
        with Vertical(id="mapping-body"):
            yield Static(id="mapping-summary", markup=False)
            yield PreviewCounts(debounce=False, id="mapping-preview")
            yield Static(id="fields-title", classes="table-title", markup=False)
            fields = RowTable(id="user-fields", zebra_stripes=True)
            fields.add_column("Console field", key="source", width=22)
            fields.add_column("→ ReSci field", key="target", width=22)
            yield fields
            yield Static(id="events-title", classes="table-title", markup=False)
            yield RowTable(id="events", zebra_stripes=True)
            yield Static("", id="mapping-error", classes="inline-error", markup=False)

    def on_mount(self) -> None:
        self.set_title("Mapping")
        self.watch(self.app, "current_destination", self._destination_moved, init=False)
        self.reload()

    def jumped(self) -> None:
        if self.record is None or self.record.name != self.console.current_destination:
            self.reload()

    def _destination_moved(self, _name: str | None) -> None:
        if self.is_current:
            self.reload()

    # -- loading ------------------------------------------------------------------------------
    def reload(self) -> None:
        self._token += 1
        self._load(self.console.current_destination, self._token)

    @work(thread=True, group="mapping-load")
    def _load(self, name: str | None, token: int) -> None:
        with self.console.store.read() as conn:
            record = get_destination(conn, name) if name else None
            if record is None:
                every = list_destinations(conn)
                record = every[0] if every else None
            audiences = audience_names(conn)
            known = event_names(conn)
        self.post_message(MappingLoaded(record, audiences, known, token))

    def on_mapping_loaded(self, message: MappingLoaded) -> None:
        if message.token != self._token:
            return
        self.record = message.destination
        self.audiences = message.audiences
        self.known_events = message.event_names
        self.show_error(None)
        self._fill()
        self.refresh_bindings()

    def _fill(self) -> None:
        fields = self.query_one("#user-fields", DataTable)
        events = self.query_one("#events", DataTable)
        fields.clear()
        events.clear(columns=True)
        record = self.record
        summary = self.query_one("#mapping-summary", Static)
        fields_title = self.query_one("#fields-title", Static)
        events_title = self.query_one("#events-title", Static)
        if record is None:
            self.set_title("Mapping · no destination yet")
            summary.update("Add a destination on Destinations (d, then a) to map its fields.")
            fields.display = events.display = False
            self.query_one(PreviewCounts).display = False
            fields_title.update("")
            events_title.update("")
            return
        declared = registry.kind(record.kind)
        self.set_title(f"Mapping · {record.name} ({declared.label}) · c: another destination")
        counts = self.query_one(PreviewCounts)
        counts.display = True
        counts.request(self.console.store, record.name, record.settings)
        settings = record.settings
        if not declared.capabilities.event_selection:
            fields.display = True
            export = settings.export
            if export is None:
                summary.update(
                    "No audience export: press u to export an audience, then map its fields."
                )
            else:
                summary.update(
                    f"Exports audience {export.audience} (a user leaving it: {export.exit_mode}). "
                    "u: another audience · tab: the other table"
                )
            always = declared.capabilities.always_sent
            fields_title.update(
                f"User fields: console field → {declared.label} user field (at least one"
                + (f"; {words(always)} always go)" if always else ")")
            )
            for source, target in (export.fields if export else {}).items():
                fields.add_row(literal(source), literal(target), key=source)
            events_title.update(f"Events: custom event → {declared.label} reserved event")
            events.add_column("Custom event", key="custom", width=30)
            events.add_column("→ Reserved event", key="reserved", width=18)
            for custom, reserved in settings.events.items():
                events.add_row(literal(custom), literal(reserved), key=custom)
            if not settings.events:
                events_title.update(
                    f"Events: custom event → {declared.label} reserved event "
                    "(none mapped yet: a adds one)"
                )
        else:
            fields.display = False
            fields_title.update("")
            summary.update(
                f"Revenue metric: {settings.revenue_metric or 'none'} (the event property sent "
                "as properties.revenue) · v: change"
                + (
                    per_event_words(settings.revenue_by_event) + " · V: per event"
                    if settings.revenue_by_event
                    else ""
                )
            )
            events_title.update(
                "Reclaim sends these event names"
                + ("" if settings.reclaim_events else " (none listed: every event is sent)")
                + ("" if settings.reclaim else " · Reclaim is off in the destination's form")
            )
            events.add_column("Event name", key="custom", width=30)
            events.add_column("In the store", key="reserved", width=14)
            known = set(self.known_events)
            for name in settings.reclaim_events:
                events.add_row(literal(name), "yes" if name in known else "not seen yet", key=name)
        events.display = True
        fields_title.display = fields.display
        target = fields if fields.display and not events.has_focus else events
        if not (fields.has_focus or events.has_focus):
            target.focus()

    # -- helpers ------------------------------------------------------------------------------
    def show_error(self, message: str | None) -> None:
        error = self.query_one("#mapping-error", Static)
        error.update(f"Refused: {message}" if message else "")
        error.set_class(bool(message), "-shown")

    def _focused_table(self) -> DataTable[Any]:
        fields = self.query_one("#user-fields", DataTable)
        if fields.display and fields.has_focus:
            return fields
        return self.query_one("#events", DataTable)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        record = self.record
        if action in ("add", "remove"):
            return True if record is not None else None
        if action == "audience":
            return record is not None and self._capabilities(record).audience_export
        if action in ("revenue", "event_revenue"):
            return record is not None and self._capabilities(record).event_selection
        return True

    @staticmethod
    def _capabilities(record: DestinationRecord) -> Capabilities:
        return registry.kind(record.kind).capabilities

    # -- actions ------------------------------------------------------------------------------
    def action_choose_destination(self) -> None:
        def chosen(name: object) -> None:
            if isinstance(name, str):
                self.console.current_destination = name
                self.reload()

        self._choose(chosen)

    @work(thread=True, group="mapping-load")
    def _choose(self, callback: Any) -> None:
        with self.console.store.read() as conn:
            names = [(d.name, f"{d.name} ({d.kind})") for d in list_destinations(conn)]
        current = self.record.name if self.record else None
        self.app.call_from_thread(
            self.app.push_screen,
            ChooseScreen("Mapping of which destination?", names, current),
            callback,
        )

    def action_add(self) -> None:
        record = self.record
        if record is None:
            return
        settings = record.settings
        capabilities = self._capabilities(record)
        if capabilities.event_selection:
            dialog = text_dialog(
                "Send this event name with Reclaim",
                "Event name",
                "",
                "e.g. Viewed Product Reclaim",
                self.known_events,
                lambda v: changes.add_reclaim_event(settings, v["text"]),
            )
        elif self._focused_table().id == "user-fields":
            dialog = field_dialog(
                registry.kind(record.kind).label,
                CONTACT_FIELDS,
                capabilities.user_fields,
                capabilities.always_sent,
                lambda v: changes.add_user_field(settings, v["source"], v["target"]),
            )
        else:
            dialog = event_dialog(
                registry.kind(record.kind).label,
                capabilities.reserved_events,
                self.known_events,
                lambda v: changes.add_event(settings, v["custom"], v["reserved"] or "view"),
            )
        self.app.push_screen(dialog, self._apply)

    def action_remove(self) -> None:
        record = self.record
        if record is None:
            return
        table = self._focused_table()
        if table.row_count == 0:
            self.show_error("nothing to remove in this table")
            return
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        settings = record.settings
        try:
            if self._capabilities(record).event_selection:
                new = changes.remove_reclaim_event(settings, key)
                what = f"Stop sending the event {key} with Reclaim"
            elif table.id == "user-fields":
                new = changes.remove_user_field(settings, key)
                target = table.get_cell(key, "target")
                what = f"Remove the mapping {key} → {target}"
            else:
                new = changes.remove_event(settings, key)
                target = table.get_cell(key, "reserved")
                what = f"Remove the event mapping {key} → {target}"
        except ValueError as exc:
            self.show_error(str(exc))
            return

        # A live mapping: the next run sends without it, so the removal is asked once.
        self._apply(new, removal=what)

    def action_audience(self) -> None:
        record = self.record
        if record is None or not self._capabilities(record).audience_export:
            return
        settings = record.settings
        options = [(NO_EXPORT, "no export")] + [(a, a) for a in self.audiences]
        current = settings.export.audience if settings.export else NO_EXPORT

        def chosen(audience: object) -> None:
            if not isinstance(audience, str):
                return
            if settings.export is None and audience != NO_EXPORT:
                # No default fields: the operator picks the first one, then adds more.
                self.app.push_screen(self._first_field_dialog(settings, audience), self._apply)
                return
            try:
                new = changes.set_export(settings, None if audience == NO_EXPORT else audience)
            except ValueError as exc:
                self.show_error(str(exc))
                return
            self._apply(new)

        self.app.push_screen(ChooseScreen("Export which audience?", options, current), chosen)

    def _first_field_dialog(self, settings: Any, audience: str) -> Any:
        assert self.record is not None
        capabilities = self._capabilities(self.record)
        return field_dialog(
            registry.kind(self.record.kind).label,
            CONTACT_FIELDS,
            capabilities.user_fields,
            capabilities.always_sent,
            lambda v: changes.set_export(settings, audience, {v["source"]: v["target"]}),
            title=f"Export {audience}: at least one user field is needed",
        )

    def action_revenue(self) -> None:
        record = self.record
        if record is None or not self._capabilities(record).event_selection:
            return
        settings = record.settings
        self.app.push_screen(
            text_dialog(
                "Revenue metric",
                "Event property",
                settings.revenue_metric or "",
                "e.g. Price or cart_amount (empty: none)",
                ["Price", "price", "cart_amount", "CurrencyPrice"],
                lambda v: changes.set_revenue_metric(settings, v["text"]),
            ),
            self._apply,
        )

    def action_event_revenue(self) -> None:
        record = self.record
        if record is None or not self._capabilities(record).event_selection:
            return
        settings = record.settings
        self.app.push_screen(
            revenue_dialog(
                self.known_events,
                lambda v: changes.set_event_revenue(settings, v["event"], v["property"]),
            ),
            self._apply,
        )

    def _apply(self, new_settings: object, removal: str | None = None) -> None:
        if new_settings is None or self.record is None:
            return
        self.show_error(None)
        self._check_then_save(self.record, new_settings, removal)

    @work(thread=True, exclusive=True, group="mapping-save")
    def _check_then_save(
        self, record: DestinationRecord, settings: Any, removal: str | None
    ) -> None:
        # A change that sends again what was sent (a ReSci re-export) says how much, and a
        # removal says what the next run leaves out: either is asked once, never twice.
        try:
            plan = change_impact(self.console.store, record, settings, enabled=record.enabled)
        except Exception as exc:  # the store could not be read: nothing is saved blind
            self.app.call_from_thread(self.show_error, f"not saved: {exc}")
            return
        save = partial(self._save, record, settings)
        if plan is not None:
            self.app.call_from_thread(
                ask, self, plan, save, action=removal, yes="Remove" if removal else "Save"
            )
        elif removal is not None:
            self.app.call_from_thread(self._confirm_removal, record, removal, save)
        else:
            self.app.call_from_thread(save)

    def _confirm_removal(self, record: DestinationRecord, what: str, save: partial[Any]) -> None:
        def answered(confirmed: object) -> None:
            if confirmed is True:
                save()

        self.app.push_screen(
            ConfirmScreen(f"{what}?", f"{record.name}: the next run sends without it.", "Remove"),
            answered,
        )

    @work(thread=True, exclusive=True, group="mapping-save")
    def _save(self, record: DestinationRecord, settings: Any) -> None:
        # Saved through the engine, the one writer of destinations.
        try:
            self.console.engine.save_destination(record.name, settings, enabled=record.enabled)
        except CommandRefused as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.post_message(DestinationSaved(record.name))

    def on_destination_saved(self, message: DestinationSaved) -> None:
        self.notify(f"Saved the mapping of {message.name}", timeout=3)
        self.reload()
