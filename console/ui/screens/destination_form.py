"""Add or edit a destination: the fields its kind's settings model declares.

The form is built from the model (see `console/destinations/kind.py` for the hints): labels,
placeholders and inline checks come from the fields, a `SecretStr` is a password input, a bool a
Checkbox, a nested model a section. Fields validate as they are typed (Textual validators) and
again as a whole on save (the kind's pydantic model, the same one `config apply` uses), and each
problem is shown under its field. Secrets are never shown: on edit the key field is empty with
the masked key as its placeholder, and leaving it empty keeps the stored key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.validation import Function, Integer, Regex, Validator
from textual.widgets import Button, Checkbox, Footer, Input, Select, Static

from console.core.secrets import mask_secret
from console.core.text import printable
from console.destinations import registry
from console.destinations.fields import GENERAL, FormField, errors_shown_at, form_fields
from console.destinations.fields import Input as Kind
from console.engine.commands import CommandRefused
from console.engine.destinations import DestinationRecord
from console.ui.form_preview import DRAFT_HINT, FormPreview
from console.ui.form_values import format_export_fields, parse_export_fields, split_list
from console.ui.screens.authorization_picker import (
    NEW,
    OWN_KEY,
    new_authorization_dialog,
    picked,
    picker,
    picker_options,
)
from console.ui.screens.base import ConsoleModal
from console.ui.widgets.domain_suggester import DomainSuggester, hint_text
from console.ui.widgets.form_fields import FieldRow, FormCheckbox, FormInput, SectionTitle
from console.ui.widgets.preview_counts import PreviewCounts
from console.ui.widgets.status_bar import StatusBar
from state.choices import audience_names, authorization_labels
from state.domains import domain_counts

NO_EXPORT = "__none__"
# There are no default export fields (seed 001): the operator maps at least one, here as
# `console_field=user_field, ...` or one at a time on Mapping.
# The `audience_export` widget: an audience Select and how a leaving user is told. Its rows are
# named after the field (`export_audience`, `export_fields`, `exit_mode`); model errors on its
# fields show on the second, others on the first.
AUDIENCE_EXPORT = "audience_export"
AUTHORIZATION = "authorization"
EXIT_MODES = [
    ("set the membership attribute false", "attribute"),
    ("set date_unsubscribed", "unsubscribe"),
]


def _not_blank(value: str) -> bool:
    return bool(value.strip())


def _validators(field: FormField) -> list[Validator]:
    if field.input is Kind.INTEGER:
        return [Integer(field.minimum, field.maximum, field.invalid)]
    if field.pattern:
        return [Regex(field.pattern, failure_description=field.invalid)]
    return []


def _walk(fields: Iterable[FormField]) -> Iterable[FormField]:
    """Every field, those of nested sections included."""
    for field in fields:
        yield field
        yield from _walk(field.children)


class DestinationForm(FormPreview, ConsoleModal[str]):
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
        self.declaration = registry.kind(kind)
        self.record = record
        self.settings: BaseModel | None = record.settings if record else None
        self.fields = list(form_fields(self.declaration.settings_model))
        self.audiences: list[str] = []

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        editing = self.record is not None
        label = self.declaration.label
        title = (
            f"Edit {self.record.name} ({label})" if self.record else f"Add a {label} destination"
        )
        yield StatusBar()
        yield Static(printable(title), classes="screen-title", markup=False)  # a name: escaped
        yield Static("", id="form-problems", markup=False)
        yield PreviewCounts(id="form-preview")
        with VerticalScroll(id="form-body"):
            yield SectionTitle(GENERAL)
            yield FieldRow(
                "Name",
                FormInput(
                    self.record.name if self.record else "",
                    placeholder=f"a unique name, e.g. {self.kind}-prod",
                    id="f-name",
                    disabled=editing,
                    validators=[Function(_not_blank, "a name is required")],
                ),
                "name",
            )
            for field in self.fields:
                if field.section == GENERAL:
                    yield from self._field_rows(field, self.settings)
            yield FieldRow(
                "Enabled",
                FormCheckbox(
                    "deliver on schedule",
                    self.record.enabled if self.record else False,
                    id="f-enabled",
                    disabled=not editing,
                ),
                "enabled",
                hint="" if editing else DRAFT_HINT,
            )
            for field in self.fields:
                if field.section != GENERAL and field.input is not Kind.HIDDEN:
                    if field.section:
                        yield SectionTitle(field.section)
                    yield from self._field_rows(field, self.settings)
            with Horizontal(id="form-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer(compact=True, show_command_palette=False)

    def _field_rows(self, field: FormField, owner: BaseModel | None) -> ComposeResult:
        """The row(s) of one field; `owner` is the stored model holding it (None when adding)."""
        value = getattr(owner, field.name) if owner is not None else field.default
        widget_id = f"f-{field.id}"
        if field.input is Kind.SECTION:
            yield SectionTitle(field.label)
            for child in field.children:
                yield from self._field_rows(child, value if owner is not None else None)
            return
        if field.input is Kind.WIDGET:
            yield from self._widget_rows(field, value)
            return
        widget: FormCheckbox | FormInput
        if field.input is Kind.SECRET:
            masked = mask_secret(value if isinstance(value, SecretStr) else None)
            widget = FormInput(
                "",
                placeholder=f"{masked}: leave empty to keep it" if masked else field.placeholder,
                password=True,
                id=widget_id,
            )
        elif field.input is Kind.CHECKBOX:
            widget = FormCheckbox(field.help, bool(value), id=widget_id)
        elif field.input is Kind.LIST and field.suggest:
            widget = FormInput(
                ", ".join(value or []),
                placeholder=field.placeholder,
                id=widget_id,
                suggester=DomainSuggester(),
            )
            yield FieldRow(field.label, widget, field.id, hint="reading the domains seen…")
            return
        elif field.input is Kind.LIST:
            widget = FormInput(", ".join(value or []), placeholder=field.placeholder, id=widget_id)
        else:
            widget = FormInput(
                "" if value is None else str(value),
                placeholder=field.placeholder,
                id=widget_id,
                type="integer" if field.input is Kind.INTEGER else "text",
                validators=_validators(field),
            )
        yield FieldRow(field.label, widget, field.id)

    def _widget_rows(self, field: FormField, value: Any) -> ComposeResult:
        if field.widget == AUTHORIZATION:
            yield FieldRow(field.label, picker(field.id, [], value), field.id, hint=field.help)
            return
        if field.widget != AUDIENCE_EXPORT:
            raise TypeError(f"the console has no form widget named {field.widget!r}")
        current = value.audience if value is not None else None
        yield FieldRow(
            "Audience",
            Select(
                [("no export", NO_EXPORT)] + ([(current, current)] if current else []),
                value=current or NO_EXPORT,
                id=f"f-{field.id}_audience",
                allow_blank=False,
                compact=True,
            ),
            f"{field.id}_audience",
        )
        fields = value.fields if value is not None else {}
        yield FieldRow(
            "User fields",
            FormInput(
                format_export_fields(fields),
                placeholder="at least one: console_field=resci_field, …",
                id=f"f-{field.id}_fields",
            ),
            f"{field.id}_fields",
            hint="at least one is needed (no defaults), e.g. first_name=full_name; "
            "also edited on Mapping (m)",
        )
        yield FieldRow(
            "When a user leaves",
            Select(
                EXIT_MODES,
                value=value.exit_mode if value is not None else "attribute",
                id="f-exit_mode",
                allow_blank=False,
                compact=True,
            ),
            "exit_mode",
        )

    def _authorization_field(self) -> FormField | None:
        return next((f for f in self.fields if f.widget == AUTHORIZATION), None)

    @work(thread=True, group="form-load")
    def _load_authorizations(self, select: str | None = None) -> None:
        with self.console.store.read() as conn:
            labels = authorization_labels(conn)
        self.app.call_from_thread(self._set_authorizations, labels, select)

    def _set_authorizations(self, labels: list[str], select: str | None) -> None:
        field = self._authorization_field()
        if field is None:
            return
        widget: Select[str] = self.query_one(f"#f-{field.id}", Select)
        stored = getattr(self.settings, field.name, None) if self.settings else None
        current = select or picked(widget.value) or stored
        widget.set_options(picker_options(labels, current))
        widget.value = current or OWN_KEY

    def on_select_changed(self, event: Select.Changed) -> None:
        self._preview_soon()
        field = self._authorization_field()
        if field is None or event.select.id != f"f-{field.id}" or event.value != NEW:
            return

        widget: Select[str] = self.query_one(f"#f-{field.id}", Select)

        def created(values: object) -> None:
            if isinstance(values, dict):
                self._create_authorization(values)
            else:
                widget.value = OWN_KEY

        self.app.push_screen(new_authorization_dialog(), created)

    @work(thread=True, exclusive=True, group="form-save")
    def _create_authorization(self, values: dict[str, str]) -> None:
        try:
            self.console.engine.commands.save_authorization(
                values["label"], values["api_key"], values["description"]
            )
        except CommandRefused as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self.notify, f"Saved authorization {values['label']}")
        self._load_authorizations(values["label"])

    def _export_field(self) -> FormField | None:
        return next((f for f in self.fields if f.widget == AUDIENCE_EXPORT), None)

    # -- lifecycle ----------------------------------------------------------------------------
    def on_mount(self) -> None:
        general = next((f for f in self.fields if f.section == GENERAL), None)
        first = f"#f-{general.id}" if self.record and general else "#f-name"
        self.query_one(first).focus()
        if self._export_field() is not None:
            self._load_audiences()
        if self._authorization_field() is not None:
            self._load_authorizations()
        suggested = [f for f in _walk(self.fields) if f.suggest]
        if suggested:
            self._load_domains(suggested)
        self._preview_soon()

    @work(thread=True, group="form-load")
    def _load_domains(self, fields: list[FormField]) -> None:
        with self.console.store.read() as conn:
            seen = {f.id: domain_counts(conn, str(f.suggest)) for f in fields}
        self.app.call_from_thread(self._set_domains, seen)

    def _set_domains(self, seen: dict[str, list[tuple[str, int]]]) -> None:
        for field_id, domains in seen.items():
            widget = self.query_one(f"#f-{field_id}", Input)
            if isinstance(widget.suggester, DomainSuggester):
                widget.suggester.seen = domains
                self._show_domains(field_id, widget.value)

    def _show_domains(self, field_id: str, value: str) -> None:
        widget = self.query_one(f"#f-{field_id}", Input)
        if isinstance(widget.suggester, DomainSuggester):
            hint = self.query_one(f"#row-{field_id} .field-hint", Static)
            hint.update(hint_text(widget.suggester.seen, value))

    @work(thread=True, group="form-load")
    def _load_audiences(self) -> None:
        with self.console.store.read() as conn:
            names = audience_names(conn)
        self.app.call_from_thread(self._set_audiences, names)

    def _set_audiences(self, names: list[str]) -> None:
        field = self._export_field()
        if field is None:
            return
        self.audiences = names
        select: Select[str] = self.query_one(f"#f-{field.id}_audience", Select)
        export = getattr(self.settings, field.name, None) if self.settings else None
        current = export.audience if export is not None else None
        options = [("no export", NO_EXPORT)] + [(n, n) for n in names]
        if current and current not in names:
            options.append((f"{current} (missing)", current))
        select.set_options(options)
        select.value = current or NO_EXPORT

    # -- inline validation --------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        self._preview_soon()
        field = (event.input.id or "").removeprefix("f-")
        if isinstance(event.input.suggester, DomainSuggester):
            self._show_domains(field, event.value)
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

    def _row(self, field: str) -> FieldRow | None:
        rows = self.query(f"#row-{field}")
        return rows.first(FieldRow) if rows else None

    # -- save ---------------------------------------------------------------------------------
    def _value(self, field: str) -> str:
        return self.query_one(f"#f-{field}", Input).value

    def _checked(self, field: str) -> bool:
        return self.query_one(f"#f-{field}", Checkbox).value

    def collect(self) -> dict[str, Any]:
        """The form's values as the kind's settings dictionary (secrets kept when left empty,
        hidden fields kept as stored)."""
        values: dict[str, Any] = {"kind": self.kind}
        values.update(self._collect(self.fields, self.settings))
        return values

    def _collect(self, fields: Iterable[FormField], old: BaseModel | None) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field in fields:
            kind = field.input
            if kind is Kind.HIDDEN:
                if old is not None:
                    values[field.name] = old.model_dump(mode="python")[field.name]
            elif kind is Kind.SECTION:
                inner = getattr(old, field.name) if old is not None else None
                values[field.name] = self._collect(field.children, inner)
            elif kind is Kind.WIDGET and field.widget == AUTHORIZATION:
                values[field.name] = picked(self.query_one(f"#f-{field.id}", Select).value)
            elif kind is Kind.WIDGET:
                values[field.name] = self._collect_export(field, old)
            elif kind is Kind.SECRET:
                typed = self._value(field.id).strip()
                stored = getattr(old, field.name, None) if old is not None else None
                kept = stored.get_secret_value() if isinstance(stored, SecretStr) else ""
                values[field.name] = typed or kept
            elif kind is Kind.CHECKBOX:
                values[field.name] = self._checked(field.id)
            elif kind is Kind.INTEGER:
                values[field.name] = self._value(field.id).strip() or 0
            elif kind is Kind.LIST:
                values[field.name] = split_list(self._value(field.id))
            elif kind is Kind.OPTIONAL_TEXT:
                values[field.name] = self._value(field.id).strip() or None
            else:
                values[field.name] = self._value(field.id)
        return values

    def _collect_export(self, field: FormField, old: BaseModel | None) -> dict[str, Any] | None:
        audience = self.query_one(f"#f-{field.id}_audience", Select).value
        if not isinstance(audience, str) or audience == NO_EXPORT:
            return None
        return {
            "audience": audience,
            "fields": parse_export_fields(self._value(f"{field.id}_fields")),
            "exit_mode": self.query_one("#f-exit_mode", Select).value,
        }

    def _problem_field(self, location: list[str]) -> str:
        """The form row that shows a model error at `location`."""
        if not location:
            return errors_shown_at(self.declaration.settings_model)
        field = next((f for f in self.fields if f.name == location[0]), None)
        if field is None:
            return location[0]
        if field.input is Kind.SECTION and len(location) > 1:
            return "-".join(location[:2])
        if field.widget == AUTHORIZATION:
            return field.id
        if field.input is Kind.WIDGET:
            return f"{field.id}_fields" if location[1:2] == ["fields"] else f"{field.id}_audience"
        return field.id

    def validate_form(self) -> tuple[BaseModel | None, dict[str, str]]:
        """The settings, or the problems by field (messages never echo what was typed)."""
        problems: dict[str, str] = {}
        name = self._value("name").strip()
        if not name:
            problems["name"] = "a name is required"
        by_id = {f.id: f for f in _walk(self.fields)}
        try:
            settings = self.declaration.settings_model.model_validate(self.collect())
        except ValidationError as exc:
            for error in exc.errors(include_input=False, include_url=False):
                location = [str(part) for part in error["loc"]]
                field = self._problem_field(location)
                declared = by_id.get(location[0]) if location else None
                # An integer's own words are plainer than pydantic's.
                friendly = declared.invalid if declared and declared.input is Kind.INTEGER else None
                reason = friendly or error["msg"].removeprefix("Value error, ")
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
        self.save_or_ask(name, settings)

    @work(thread=True, exclusive=True, group="form-save")
    def _save(self, name: str, settings: BaseModel, enabled: bool) -> None:
        # Saved through the engine (the one writer), which also reschedules; adding refuses a
        # name already taken.
        try:
            saved = self.console.engine.save_destination(
                name, settings, enabled=enabled, create=self.record is None
            )
        except CommandRefused as exc:
            self.app.call_from_thread(self.show_problems, {"name": str(exc)})
            return
        self.app.call_from_thread(self._saved, name, saved.created)

    def _saved(self, name: str, created: bool) -> None:
        self.notify(f"Added {name} as a draft (off)" if created else f"Saved {name}", timeout=4)
        self.dismiss(name)
