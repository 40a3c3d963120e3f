"""Messages the console's workers and engine bridge post: small dataclasses named for what
happened. Loaded messages carry a `token` so a screen can drop a reply to a stale request."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from console.engine.destinations import DestinationRecord
from console.engine.service import EngineEvent
from state.changes import ChangeRow
from state.destination_dates import DestinationDates
from state.failures import OutboxState


@dataclass
class EngineChanged(Message):
    """The engine started or finished a run, or its state or schedule changed."""

    event: EngineEvent


@dataclass
class DestinationsLoaded(Message):
    destinations: list[DestinationRecord]
    token: int = 0
    dates: dict[int, DestinationDates] = field(default_factory=dict)
    """Each destination's integration dates, by id (the settings panel)."""
    changes: dict[int, list[ChangeRow]] = field(default_factory=dict)
    """Each destination's last few changes, newest first, by id (the settings panel)."""


@dataclass
class DestinationSaved(Message):
    """A destination form or the mapping screen wrote settings."""

    name: str
    created: bool = False


@dataclass
class DestinationRemoved(Message):
    name: str


@dataclass
class ConnectionTested(Message):
    name: str
    ok: bool
    reply: str


@dataclass
class PayloadLoaded(Message):
    row_id: int
    text: str


@dataclass
class RowsRetried(Message):
    """A retry went through the engine; `states` says where each row stands now."""

    states: dict[int, OutboxState]
    requeued: int
    refused: str = ""
    """Why some rows were not retried (`Requeued.refused_line`), or ""."""


@dataclass
class ExportWritten(Message):
    path: str
    rows: int


@dataclass
class MappingLoaded(Message):
    destination: DestinationRecord | None
    audiences: list[str] = field(default_factory=list)
    event_names: list[str] = field(default_factory=list)
    token: int = 0
