"""The engine's knobs in one place: defaults, `RETENTION_CONSOLE_<NAME>` environment variables and
an optional TOML file, validated once.

The console, `--run-once` and the demo load the same `EngineSettings` (through the CLI); the
engine itself takes the plain `EngineOptions` built from it, so code that runs the engine
directly (tests, the benchmark) never depends on the environment it happens to run in.

Precedence, highest first: values passed to `EngineSettings.load` (command-line flags), the
environment, the TOML file, the defaults below.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Self

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from console.core import clock
from console.engine.options import EngineOptions
from console.engine.retries import RetryPolicy

ENV_PREFIX = "RETENTION_CONSOLE_"
SETTINGS_FILE_VARIABLE = f"{ENV_PREFIX}SETTINGS"
"""Names the TOML file when `--settings` is not given."""

# The file `load` reads, handed to `settings_customise_sources` (a classmethod, so it cannot take
# it as an argument). A context variable keeps concurrent loads in threads or tasks apart.
_toml_file: ContextVar[Path | None] = ContextVar("_toml_file", default=None)


class SettingsError(ValueError):
    """A setting is missing its file, is not valid TOML, or holds a value out of range; the
    message names the environment variable or file that holds it."""


class EngineSettings(BaseSettings):
    """How the engine delivers: batch sizes, concurrency, timeouts, retries, health; and the
    console's page size. Every field can be set as `RETENTION_CONSOLE_<FIELD NAME>` or as
    `<field name> = value` in the settings file."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # A misspelt key in the file is an error, not a silently ignored knob.
        extra="forbid",
        frozen=True,
        # The docstrings below become the fields' descriptions (README's table, error hints).
        use_attribute_docstrings=True,
    )

    batch_rows: int = Field(2500, ge=1, le=2500)
    """Messages per request; Segment takes at most 2,500 (and 500 KB, enforced separately)."""
    in_flight: int = Field(2, ge=1, le=16)
    """Batches on the wire at once per destination, so SQLite work overlaps HTTP."""
    timeout_seconds: float = Field(15.0, gt=0, le=600)
    """Seconds an HTTP request may take before it counts as a timeout (and is retried)."""
    max_wait_seconds: float = Field(60.0, ge=0, le=3600)
    """How long a run waits for rows whose retry falls due soon before it ends."""
    lease_wait_seconds: float = Field(300.0, ge=0, le=3600)
    """`--run-once` only: how long to wait for a destination another engine is working. The
    console never waits: its scheduler tries again on the next tick."""
    retry_base_seconds: float = Field(1.0, gt=0, le=3600)
    """First backoff before a retry; it doubles with each attempt (with jitter)."""
    retry_cap_seconds: float = Field(300.0, gt=0, le=86400)
    """Longest backoff between two attempts (a `Retry-After` from the service wins)."""
    retry_max_attempts: int = Field(8, ge=1, le=100)
    """Attempts before a retryable row becomes a failure with its last feedback."""
    unhealthy_after: int = Field(3, ge=1, le=1000)
    """Consecutive runs that delivered nothing and hit errors before a destination is unhealthy."""
    unhealthy_probe_seconds: float = Field(1800.0, ge=1, le=86400)
    """An unhealthy destination's scheduled runs are skipped; it is probed at most this often."""
    history_retention_days: int = Field(90, ge=1, le=36500)
    """Delivered outbox rows older than this many days are pruned once a day by the console's
    engine (and by `retention-console prune`); failures, counters and runs stay."""
    page_size: int = Field(100, ge=10, le=1000)
    """Rows per page in the console's Failures and History tables."""
    timezone: str = "UTC"
    """The operator's time zone (an IANA name, e.g. Europe/Paris): where a day starts for the
    daily counters of Summary, the days of Failures and the CLI's --day/--since/--until from
    now on. Stored timestamps stay UTC; days already counted keep their UTC day."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        clock.zone_named(value)  # raises ValueError naming the bad name
        return value.strip()

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Self:
        if self.retry_cap_seconds < self.retry_base_seconds:
            raise ValueError(
                f"retry_cap_seconds ({self.retry_cap_seconds:g}) is below "
                f"retry_base_seconds ({self.retry_base_seconds:g})"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env file and no secrets directory: a stray file in the working directory of a
        # cron job must not change how it delivers.
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_toml_file.get()),
        )

    @classmethod
    def load(cls, toml_file: Path | None = None, **overrides: Any) -> EngineSettings:
        """Settings from `overrides` (flags), the environment, `toml_file` and the defaults.

        Raises SettingsError, whose message names the variable or file to fix."""
        if toml_file is not None:
            _check_file(toml_file)
        with _reading(toml_file):
            try:
                return cls(**overrides)
            except ValidationError as exc:
                raise SettingsError(_explain(exc, toml_file, overrides)) from None

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            base_seconds=self.retry_base_seconds,
            cap_seconds=self.retry_cap_seconds,
            max_attempts=self.retry_max_attempts,
        )

    def engine_options(self, *, headless: bool) -> EngineOptions:
        """What the engine runs with. `headless`: `--run-once`, which waits up to
        `lease_wait_seconds` for a busy destination; the console does not wait."""
        return EngineOptions(
            policy=self.retry_policy(),
            batch_rows=self.batch_rows,
            in_flight=self.in_flight,
            max_wait_seconds=self.max_wait_seconds,
            lease_wait_seconds=self.lease_wait_seconds if headless else 0.0,
            timeout_seconds=self.timeout_seconds,
            unhealthy_after=self.unhealthy_after,
            unhealthy_probe_seconds=self.unhealthy_probe_seconds,
            history_retention_days=self.history_retention_days,
        )


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    return f"{ENV_PREFIX}{field.upper()}"


@contextmanager
def _reading(toml_file: Path | None) -> Iterator[None]:
    token = _toml_file.set(toml_file)
    try:
        yield
    finally:
        _toml_file.reset(token)


def _check_file(path: Path) -> None:
    # pydantic-settings skips a missing file without a word; an operator who named one meant it.
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"settings file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"settings file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None


def _explain(exc: ValidationError, toml_file: Path | None, overrides: dict[str, Any]) -> str:
    """One line per bad value, naming where it came from, the way the operator would fix it."""
    environment = {name.upper() for name in os.environ}
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        reason = error["msg"].removeprefix("Value error, ")
        if not field:
            lines.append(f"engine settings: {reason}")
            continue
        got = f" (got {error['input']!r})" if error["type"] != "extra_forbidden" else ""
        if field in overrides:
            where = f"option for {field}"
        elif env_name(field) in environment:
            where = env_name(field)
        elif toml_file is not None:
            where = f"{field} in {toml_file}"
        else:
            where = field
        if error["type"] == "extra_forbidden":
            known = ", ".join(EngineSettings.model_fields)
            lines.append(f"{where}: no such setting (known: {known})")
        else:
            lines.append(f"{where}: {reason}{got}")
    return "; ".join(lines)
