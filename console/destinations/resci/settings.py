"""ReSci settings: API key authorization, Site ID, the audience export and event mapping."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from console.core.fields import CONTACT_FIELDS
from console.core.secrets import SecretError, check_secret, http_url
from console.destinations.settings_fields import NonEmptyStr, OptionalText, ScheduleMinutes

RESCI_DEFAULT_ENDPOINT = "https://data.retentionscience.com"
RESCI_RESERVED_EVENTS: tuple[str, ...] = (
    "click",
    "view",
    "email_open",
    "email_click",
    "shopping_cart",
    "checkout_success",
    "search",
)
# ReSci's documented user-file columns (RESCI-API.md); record_id, email and account_created_on are
# always sent, so they are not mapping targets.
RESCI_USER_FIELDS: tuple[str, ...] = (
    "date_unsubscribed",
    "full_name",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "country",
    "phone",
    "birthday",
    "gender",
    "registration_source",
)
RESCI_ALWAYS_SENT = ("record_id", "email", "account_created_on")


def reserved_name(name: str) -> str | None:
    """The reserved event `name` stands for, whatever its case and surrounding spaces
    (`Click`, ` View `), or None when it is not one."""
    folded = name.strip().lower()
    return folded if folded in RESCI_RESERVED_EVENTS else None


class ResciExport(BaseModel):
    """The Export Audiences job: which audience, and contact field -> ReSci user field."""

    model_config = ConfigDict(extra="forbid")
    audience: NonEmptyStr
    fields: dict[str, str]
    """Console contact field -> ReSci user field; at least one."""
    exit_mode: Literal["attribute", "unsubscribe"] = "attribute"
    """How a user who leaves the audience is told: membership attribute false, or
    `date_unsubscribed` set."""

    @field_validator("fields")
    @classmethod
    def _fields(cls, fields: dict[str, str]) -> dict[str, str]:
        if not fields:
            raise ValueError("map at least one contact field onto a ReSci user field")
        seen: dict[str, str] = {}
        for source, target in fields.items():
            if source not in CONTACT_FIELDS:
                raise ValueError(f"unknown contact field {source!r}")
            target = target.strip()
            if not target:
                raise ValueError(f"{source!r} is mapped onto nothing")
            if target in RESCI_ALWAYS_SENT:
                raise ValueError(f"{target!r} is always sent; map {source!r} onto another field")
            if target in seen:
                raise ValueError(f"{seen[target]!r} and {source!r} are both mapped onto {target!r}")
            seen[target] = source
        return {source: target.strip() for source, target in fields.items()}


class ResciSettings(BaseModel):
    """A Retention Science account: API key authorization, Site ID, export and event mapping."""

    # The model-level rule (On-Site needs a Site ID) is shown under the Site ID field.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"errors_shown_at": "site_id"})
    kind: Literal["resci"] = "resci"
    authorization: OptionalText = Field(
        default=None,
        title="Authorization",
        description="A saved authorization (shared by destinations), or none: this "
        "destination's own key below.",
        json_schema_extra={"section": "API key authorization", "widget": "authorization"},
    )
    api_key: SecretStr | None = Field(
        default=None,
        title="API key",
        description="ReSci Data API key, or `env:NAME` (when no authorization is chosen).",
        json_schema_extra={"placeholder": "ReSci Data API key, or env:NAME"},
        validate_default=True,
    )
    api_key_label: NonEmptyStr = Field(
        default="ReSci API key",
        title="Key label",
        json_schema_extra={"pattern": r"(?s).*\S.*", "invalid": "a label is required"},
    )
    api_key_description: str | None = Field(
        default=None,
        title="Key description",
        json_schema_extra={"placeholder": "optional: what this key is for"},
    )
    production_key: bool = Field(
        default=True,
        title="Production key",
        description="reaches the live account (untick: a test account's key)",
    )
    endpoint: str = Field(
        default=RESCI_DEFAULT_ENDPOINT,
        title="Endpoint",
        json_schema_extra={
            "pattern": r"(?i)\s*(us|eu|https?://.*)?\s*",
            "invalid": "an http(s):// URL",
        },
    )
    site_id: str | None = Field(
        default=None,
        title="Site ID",
        description="ReSci Site ID (a small integer).",
        json_schema_extra={
            "section": "Site",
            "placeholder": "a number, e.g. 4242",
            "pattern": r"^\s*\d*\s*$",
            "invalid": "a ReSci Site ID is a number",
        },
    )
    on_site: bool = Field(
        default=False,
        title="Enable On-Site",
        description="deliver mapped events",
    )
    test: bool = Field(
        default=False,
        title="Test destination",
        description="exports a test audience",
    )
    schedule_minutes: ScheduleMinutes = 15
    import_job_limit_minutes: int = Field(
        default=60,
        ge=1,
        le=7 * 24 * 60,
        title="Import job limit (minutes)",
        description="How long an import job may stay pending before a run reports it and "
        "alerts (ReSci processes a job within the hour).",
        # Set in the TOML (`config apply`); the form keeps the stored value.
        json_schema_extra={"form": "hidden"},
    )
    export_label: OptionalText = Field(
        default=None,
        title="Job label",
        description="Identifies the export job (seed 001); the destination's name when empty.",
        json_schema_extra={"section": "Audience export", "placeholder": "optional"},
    )
    export_description: OptionalText = Field(
        default=None,
        title="Job description",
        json_schema_extra={"placeholder": "optional: what this export is for"},
    )
    export: ResciExport | None = Field(
        default=None,
        title="Audience export",
        json_schema_extra={"widget": "audience_export"},
    )
    events: dict[str, str] = Field(
        default={},
        title="Event mapping",
        description="Custom event name -> ReSci reserved event.",
        json_schema_extra={"form": "hidden"},
    )

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key(cls, value: object) -> object:
        # An empty key field (the form, with an authorization chosen) is no key.
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return value

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            # Said under the key's field (the authorization is validated before it).
            if not info.data.get("authorization"):
                raise ValueError("choose an authorization or enter an API key")
            return None
        return check_secret(value)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return http_url(value)

    @field_validator("site_id", mode="before")
    @classmethod
    def _site_id(cls, value: object) -> str | None:
        if value is None or str(value).strip() == "":
            return None
        text = str(value).strip()
        if not text.isdigit():
            raise ValueError("a ReSci Site ID is a number")
        return text

    @field_validator("events")
    @classmethod
    def _events(cls, events: dict[str, str]) -> dict[str, str]:
        for custom, reserved in events.items():
            if not custom.strip():
                raise ValueError("a custom event name must not be empty")
            if reserved_name(custom) is not None:
                raise ValueError(
                    f"{custom!r} is a ReSci reserved event and cannot be used as a custom event; "
                    "map a custom event onto it instead"
                )
            if reserved not in RESCI_RESERVED_EVENTS:
                raise ValueError(
                    f"{custom!r} is mapped onto {reserved!r}, which is not a ReSci reserved event "
                    f"({', '.join(RESCI_RESERVED_EVENTS)})"
                )
        return {custom.strip(): reserved for custom, reserved in events.items()}

    def key(self) -> SecretStr:
        """The key a request carries: this destination's own, or its authorization's (filled
        in when the destination is loaded from the store). Raises SecretError when the named
        authorization was not found."""
        if self.api_key is None:
            raise SecretError(
                f"authorization {self.authorization!r} does not exist (any more): choose "
                "another or create it"
            )
        return self.api_key

    @model_validator(mode="after")
    def _on_site_needs_site(self) -> ResciSettings:
        if self.on_site and not self.site_id:
            raise ValueError("Enable On-Site needs a Site ID")
        return self
