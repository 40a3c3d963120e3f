"""The `[alerts]` section: where alerts go (an HTTP POST of Slack-compatible JSON, a command,
e-mail over SMTP) and what counts as failing. Validated like a destination's settings; secrets
(the URL, which carries its token, and the SMTP password) are `SecretStr`, given as `env:NAME` or the value,
masked on export.

```toml
[alerts]
failures_above = 10                  # rows refused in one run above which it is failing
[alerts.http]
url = "env:ALERT_HOOK_URL"        # Slack-compatible: {"text": ...} plus fields
[alerts.command]
argv = ["/usr/local/bin/page-ops"]   # the alert as JSON on stdin
timeout_seconds = 10
[alerts.email]
host = "smtp.example.com"
port = 587
starttls = true
username = "alerts@example.com"
password = "env:SMTP_PASSWORD"
from = "alerts@example.com"
to = ["ops@example.com"]
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from console.core.secrets import check_secret, http_url, is_masked
from console.destinations.settings_fields import NonEmptyStr


class HttpChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: SecretStr
    """An http(s) URL, or `env:NAME` naming a variable that holds one."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        value = check_secret(value)
        text = value.get_secret_value()
        # A mask (an exported file) stands for the stored URL: applying it keeps that one.
        if text.startswith("env:") or is_masked(text):
            return value
        return SecretStr(http_url(text))


class CommandChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    argv: list[NonEmptyStr] = Field(min_length=1)
    """The program and its arguments (no shell)."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)


class EmailChannel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    host: NonEmptyStr
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: SecretStr | None = None
    sender: NonEmptyStr = Field(alias="from")
    to: list[NonEmptyStr] = Field(min_length=1)
    timeout_seconds: float = Field(default=15.0, gt=0, le=300)

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else check_secret(value)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if address.count("@") != 1 or any(char.isspace() for char in address):
                raise ValueError("each recipient must be one e-mail address")
        return value

    @model_validator(mode="after")
    def _login_needs_both(self) -> EmailChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("give username and password together (or neither)")
        return self


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    failures_above: int = Field(default=10, ge=0)
    """A run that had more rows refused than this is failing (0: any refused row). A few
    refused emails are an ordinary night; the default alerts on more than 10."""
    http: HttpChannel | None = None
    command: CommandChannel | None = None
    email: EmailChannel | None = None

    @property
    def channels(self) -> list[str]:
        return [name for name in ("http", "command", "email") if getattr(self, name)]
