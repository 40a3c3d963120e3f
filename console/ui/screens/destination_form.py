"""Add or edit a destination: the Segment fields of the seed, or the ReSci ones.

Fields validate as they are typed (Textual validators) and again as a whole on save (the
kind's pydantic model, the same one `config apply` uses), and each problem is shown under its
field. Secrets are never shown: on edit the key field is empty with the masked key as its
placeholder, and leaving it empty keeps the stored key.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr, ValidationError
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.validation import Function, Integer, Regex
from textual.widgets import Button, Checkbox, Footer, Input, Select, Static

from console.ui.screens.base import ConsoleModal
from console.ui.widgets.form_fields import FieldRow, FormInput, SectionTitle
from console.ui.widgets.status_bar import StatusBar
from state.destinations import DestinationRecord, get_destination, save_destination
from state.queries import audience_names
from state.settings import (
    SETTINGS_BY_KIND,
    DestinationSettings,
    ResciSettings,
    SegmentSettings,
    mask_secret,
)

NO_EXPORT = "__none__"
# Offered when an audience export is switched on before any field is mapped; the operator
# adjusts it on Mapping. Address fields are the ones both sides name alike.
DEFAULT_EXPORT_FIELDS = {
    "address_line_1": "address1",
    "address_city": "city",
    "address_state": "state",
    "address_postal": "zip",
}
FILTER_FIELDS = (
    ("email_domains", "Email domains", "gmail.com, yahoo.com"),
    ("landing_page_urls", "Landing page URLs", "full URL or any part of one"),
    ("landing_page_domains", "Landing page domains", "shop.example"),
    ("states", "States", "CA, NY (legacy plans with address data)"),
    ("referrer_urls", "Referrer URLs", "full URL or any part of one"),
)
# Plainer words than pydantic's for the fields whose inline validator already says them.
FRIENDLY = {"schedule_minutes": "a whole number of minutes from 1 to 1440"}


def field_of(location: list[str]) -> str:
    return location[0] if location else ""


# Model error locations -> the form field that shows them.
FIELD_OF_LOCATION = {
    "export": "export_audience",
    "": "site_id",  # the model-level rule: Enable On-Site needs a Site ID
}


def _not_blank(value: str) -> bool:
    return bool(value.strip())


def _url_or_region(value: str) -> bool:
    text = value.strip().lower()
    return text in ("", "us", "eu") or text.startswith(("http://", "https://"))


def split_list(text: str) -> list[str]:
    """`a, b,,c` -> [a, b, c]."""
    return [part.strip() for part in text.split(",") if part.strip()]


class DestinationForm(ConsoleModal):
    """Dismisses with the saved destination's name, or None when cancelled."""

    HELP_NAME = "Destination form"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="form-save"),
        Binding("escape", "cancel", "Cancel", id="cancel"),
        Binding("question_mark", "app.help", "Keys", key_display="?", id="form-keys"),
    ]

    def __init__(self, kind: str, record: DestinationRecord | None) -> None:
        super().__init__()
        self.kind = kind
        self.record = record
        self.settings: DestinationSettings | None = record.settings if record else None
        self.audiences: list[str] = []

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        editing = self.record is not None
        kind_label = "Segment" if self.kind == "segment" else "ReSci"
        title = (
            f"Edit {self.record.name} ({kind_label})"
            if self.record
            else f"Add a {kind_label} destination"
        )
        yield StatusBar()
        yield Static(title, classes="screen-title", markup=False)
        yield Static("", id="form-problems", markup=False)
        with VerticalScroll(id="form-body"):
            yield SectionTitle("General")
            yield FieldRow(
                "Name",
                FormInput(
                    self.record.name if self.record else "",
                    placeholder="a unique name, e.g. segment-prod",
                    id="f-name",
                    disabled=editing,
                    validators=[Function(_not_blank, "a name is required")],
                ),
                "name",
            )
            yield FieldRow(
                "Schedule (minutes)",
                FormInput(
                    str(self.settings.schedule_minutes if self.settings else 15),
                    id="f-schedule_minutes",
                    type="integer",
                    validators=[Integer(1, 1440, "a whole number of minutes from 1 to 1440")],
                ),
                "schedule_minutes",
            )
            yield FieldRow(
                "Enabled",
                Checkbox(
                    "deliver on schedule",
                    self.record.enabled if self.record else True,
                    id="f-enabled",
                    compact=True,
                ),
                "enabled",
            )
            if self.kind == "segment":
                yield from self._segment_fields()
            else:
                yield from self._resci_fields()
            with Horizontal(id="form-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer(compact=True, show_command_palette=False)

    def _key_input(self, secret: SecretStr | None, placeholder: str, field: str) -> FormInput:
        masked = mask_secret(secret)
        return FormInput(
            "",
            placeholder=f"{masked}: leave empty to keep it" if masked else placeholder,
            password=True,
            id=f"f-{field}",
        )

    def _segment_fields(self) -> ComposeResult:
        s = self.settings if isinstance(self.settings, SegmentSettings) else None
        yield SectionTitle("Segment source")
        yield FieldRow(
            "Write Key",
            self._key_input(
                s.write_key if s else None, "the source's Write Key, or env:NAME", "write_key"
            ),
            "write_key",
        )
        yield FieldRow(
            "Endpoint",
            FormInput(
                s.endpoint if s else "us",
                placeholder="us, eu or a URL",
                id="f-endpoint",
                validators=[Function(_url_or_region, "us, eu, or an http(s):// URL")],
            ),
            "endpoint",
        )
        yield SectionTitle("Grow and Reclaim")
        yield FieldRow(
            "Grow",
            Checkbox("send contacts as identify", s.grow if s else True, id="f-grow", compact=True),
            "grow",
        )
        yield FieldRow(
            "Reclaim",
            Checkbox(
                "send events as track", s.reclaim if s else True, id="f-reclaim", compact=True
            ),
            "reclaim",
        )
        yield FieldRow(
            "Group ID",
            FormInput((s.group_id or "") if s else "", placeholder="optional", id="f-group_id"),
            "group_id",
        )
        yield FieldRow(
            "Suppression",
            Checkbox(
                "skip contacts on the suppression list",
                s.suppression if s else True,
                id="f-suppression",
                compact=True,
            ),
            "suppression",
        )
        yield FieldRow(
            "Revenue metric",
            FormInput(
                (s.revenue_metric or "") if s else "",
                placeholder="event property carrying revenue, e.g. Price",
                id="f-revenue_metric",
            ),
            "revenue_metric",
        )
        yield SectionTitle("Sync filters (comma separated; empty sends every contact)")
        for field, label, placeholder in FILTER_FIELDS:
            values = getattr(s.filters, field) if s else []
            yield FieldRow(
                label,
                FormInput(", ".join(values), placeholder=placeholder, id=f"f-filters-{field}"),
                f"filters-{field}",
            )

    def _resci_fields(self) -> ComposeResult:
        s = self.settings if isinstance(self.settings, ResciSettings) else None
        current = s.export.audience if s and s.export else None
        yield SectionTitle("API key authorization")
        yield FieldRow(
            "API key",
            self._key_input(s.api_key if s else None, "ReSci Data API key, or env:NAME", "api_key"),
            "api_key",
        )
        yield FieldRow(
            "Key label",
            FormInput(
                s.api_key_label if s else "ReSci API key",
                id="f-api_key_label",
                validators=[Function(_not_blank, "a label is required")],
            ),
            "api_key_label",
        )
        yield FieldRow(
            "Key description",
            FormInput(
                (s.api_key_description or "") if s else "",
                placeholder="optional: what this key is for",
                id="f-api_key_description",
            ),
            "api_key_description",
        )
        yield FieldRow(
            "Endpoint",
            FormInput(
                s.endpoint if s else "https://data.retentionscience.com",
                id="f-endpoint",
                validators=[Function(_url_or_region, "an http(s):// URL")],
            ),
            "endpoint",
        )
        yield SectionTitle("Site")
        yield FieldRow(
            "Site ID",
            FormInput(
                (s.site_id or "") if s else "",
                placeholder="a number, e.g. 4242",
                id="f-site_id",
                validators=[
                    Regex(r"^\s*\d*\s*$", failure_description="a ReSci Site ID is a number")
                ],
            ),
            "site_id",
        )
        yield FieldRow(
            "Enable On-Site",
            Checkbox(
                "deliver mapped events", s.on_site if s else False, id="f-on_site", compact=True
            ),
            "on_site",
        )
        yield SectionTitle("Audience export")
        yield FieldRow(
            "Audience",
            Select(
                [("no export", NO_EXPORT)] + ([(current, current)] if current else []),
                value=current or NO_EXPORT,
                id="f-export_audience",
                allow_blank=False,
                compact=True,
            ),
            "export_audience",
            hint="fields are mapped on the Mapping screen (m)",
        )
        yield FieldRow(
            "When a user leaves",
            Select(
                [
                    ("set the membership attribute false", "attribute"),
                    ("set date_unsubscribed", "unsubscribe"),
                ],
                value=s.export.exit_mode if s and s.export else "attribute",
                id="f-exit_mode",
                allow_blank=False,
                compact=True,
            ),
            "exit_mode",
        )

    # -- lifecycle ----------------------------------------------------------------------------
    def on_mount(self) -> None:
        first = self.query_one("#f-schedule_minutes" if self.record else "#f-name")
        first.focus()
        if self.kind == "resci":
            self._load_audiences()

    @work(thread=True, group="form-load")
    def _load_audiences(self) -> None:
        with self.console.store.read() as conn:
            names = audience_names(conn)
        self.app.call_from_thread(self._set_audiences, names)

    def _set_audiences(self, names: list[str]) -> None:
        self.audiences = names
        select: Select[str] = self.query_one("#f-export_audience", Select)
        current = None
        if isinstance(self.settings, ResciSettings) and self.settings.export:
            current = self.settings.export.audience
        options = [("no export", NO_EXPORT)] + [(n, n) for n in names]
        if current and current not in names:
            options.append((f"{current} (missing)", current))
        select.set_options(options)
        select.value = current or NO_EXPORT

    # -- inline validation --------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        field = (event.input.id or "").removeprefix("f-")
        row = self._row(field)
        if row is None:
            return
        result = event.validation_result
        row.show_error(
            None if result is None or result.is_valid else "; ".join(result.failure_descriptions)
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def _row(self, field: str) -> FieldRow | None:
        rows = self.query(f"#row-{field}")
        return rows.first(FieldRow) if rows else None

    # -- save ---------------------------------------------------------------------------------
    def _value(self, field: str) -> str:
        return self.query_one(f"#f-{field}", Input).value

    def _checked(self, field: str) -> bool:
        return self.query_one(f"#f-{field}", Checkbox).value

    def collect(self) -> dict[str, Any]:
        """The form's values as the kind's settings dictionary (secrets kept when left empty)."""
        values: dict[str, Any] = {"kind": self.kind}
        schedule = self._value("schedule_minutes").strip()
        values["schedule_minutes"] = schedule or 0
        if self.kind == "segment":
            old = self.settings if isinstance(self.settings, SegmentSettings) else None
            key = self._value("write_key").strip()
            values["write_key"] = key or (old.write_key.get_secret_value() if old else "")
            values["endpoint"] = self._value("endpoint")
            values["grow"] = self._checked("grow")
            values["reclaim"] = self._checked("reclaim")
            values["group_id"] = self._value("group_id")
            values["suppression"] = self._checked("suppression")
            values["revenue_metric"] = self._value("revenue_metric")
            values["reclaim_events"] = list(old.reclaim_events) if old else []
            values["filters"] = {
                field: split_list(self._value(f"filters-{field}")) for field, _, _ in FILTER_FIELDS
            }
            return values
        old_r = self.settings if isinstance(self.settings, ResciSettings) else None
        key = self._value("api_key").strip()
        values["api_key"] = key or (old_r.api_key.get_secret_value() if old_r else "")
        values["api_key_label"] = self._value("api_key_label")
        values["api_key_description"] = self._value("api_key_description").strip() or None
        values["endpoint"] = self._value("endpoint")
        values["site_id"] = self._value("site_id")
        values["on_site"] = self._checked("on_site")
        values["events"] = dict(old_r.events) if old_r else {}
        audience = self.query_one("#f-export_audience", Select).value
        if isinstance(audience, str) and audience != NO_EXPORT:
            fields = dict(old_r.export.fields) if old_r and old_r.export else {}
            values["export"] = {
                "audience": audience,
                "fields": fields or dict(DEFAULT_EXPORT_FIELDS),
                "exit_mode": self.query_one("#f-exit_mode", Select).value,
            }
        return values

    def validate_form(self) -> tuple[DestinationSettings | None, dict[str, str]]:
        """The settings, or the problems by field (messages never echo what was typed)."""
        problems: dict[str, str] = {}
        name = self._value("name").strip()
        if not name:
            problems["name"] = "a name is required"
        try:
            settings = SETTINGS_BY_KIND[self.kind].model_validate(self.collect())
        except ValidationError as exc:
            for error in exc.errors(include_input=False, include_url=False):
                location = [str(part) for part in error["loc"]]
                reason = FRIENDLY.get(
                    field_of(location), error["msg"].removeprefix("Value error, ")
                )
                field = (
                    "-".join(location[:2])
                    if location[:1] == ["filters"]
                    else (location[0] if location else "")
                )
                field = FIELD_OF_LOCATION.get(field, field)
                if field in problems:
                    continue
                problems[field] = reason
            return None, problems
        return (settings if not problems else None), problems

    def show_problems(self, problems: dict[str, str]) -> None:
        for row in self.query(FieldRow):
            row.show_error(problems.get(row.field))
        banner = self.query_one("#form-problems", Static)
        if problems:
            count = len(problems)
            banner.update(f"{count} problem{'s' if count > 1 else ''}: fix the fields marked below")
            banner.add_class("-shown")
            first = next((r for r in self.query(FieldRow) if r.field in problems), None)
            if first is not None and first.widget.focusable:
                first.widget.focus()
                first.scroll_visible()
        else:
            banner.update("")
            banner.remove_class("-shown")

    def action_save(self) -> None:
        settings, problems = self.validate_form()
        self.show_problems(problems)
        if settings is None:
            return
        name = self._value("name").strip()
        self._save(name, settings, self._checked("enabled"))

    @work(thread=True, exclusive=True, group="form-save")
    def _save(self, name: str, settings: DestinationSettings, enabled: bool) -> None:
        try:
            with self.console.store.write() as conn:
                if self.record is None and get_destination(conn, name) is not None:
                    raise ValueError(f"a destination named {name!r} exists already")
                _, created = save_destination(conn, name, settings, enabled=enabled)
        except ValueError as exc:
            message = str(exc)
            self.app.call_from_thread(self.show_problems, {"name": message})
            return
        self.app.call_from_thread(self._saved, name, created)

    def _saved(self, name: str, created: bool) -> None:
        self.notify(f"{'Added' if created else 'Saved'} {name}", timeout=4)
        self.dismiss(name)
