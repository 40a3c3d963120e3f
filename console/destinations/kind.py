"""What a destination kind declares, once, in its own package.

The registry lists the declarations; the engine, the destination form, the settings panel, the
mapping screen, `config apply/export`, the demo and the CLI are built from them, so adding a kind
is one package plus one registry line.

Settings models carry their form hints on each field, by one convention:

* `Field(title=...)` is the field's label; `description=` its help (a Checkbox's own text);
* `json_schema_extra` may hold `placeholder`, `section` (a title shown before the field; the
  section `General` puts the field beside the destination's name), `form_default` (what an empty
  form shows when it differs from the model's default, e.g. `us` for a URL),
  `pattern` and `invalid` (the inline check and its message), `widget` (a named widget the
  console supplies, e.g. `audience_export`) and `form: "hidden"` (kept as stored, edited
  elsewhere, e.g. on Mapping);
* a nested model is a section of its own, titled by its field's `title`;
* secrets are `SecretStr`: masking, export and "an empty field keeps the stored key" follow the
  type, never a field's name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from console.core.vocab import RowKind
from console.destinations.base import DestinationAdapter

if TYPE_CHECKING:  # the context and the preview name PlannedMessage from here
    from console.destinations.context import RunContext
    from console.destinations.preview import Previewer


@dataclass(frozen=True)
class BatchLimits:
    """What one request may carry (Segment: 2,500 messages, 500 KB; 32 KB a message)."""

    max_messages: int | None = None
    max_request_bytes: int | None = None
    max_message_bytes: int | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a kind does, so screens ask the declaration instead of naming a kind."""

    contacts: bool = False
    """Sends contacts (Grow) and honours contact filters."""
    events: bool = False
    """Sends events (Reclaim or mapped events)."""
    event_selection: bool = False
    """Settings name the events sent (`reclaim_events`) and the revenue property
    (`revenue_metric`), edited on the Mapping screen."""
    event_mapping: bool = False
    """Settings map custom event names onto the destination's own (`events`, onto
    `reserved_events`), edited on the Mapping screen."""
    reserved_events: tuple[str, ...] = ()
    audience_export: bool = False
    """Settings export an audience (`export`: audience, fields, exit_mode), contact fields
    mapped onto the destination's `user_fields`."""
    user_fields: tuple[str, ...] = ()
    always_sent: tuple[str, ...] = ()
    """User fields every export sends by itself (not mapping targets)."""
    import_jobs: bool = False
    """Sends a backfill as a long-running import job, polled before real-time rows flow."""
    batch: BatchLimits = field(default_factory=BatchLimits)


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """One message a planner wants sent: its stable id, payload, and a problem found locally
    (a message the destination would drop), which makes it a failure at once."""

    kind: RowKind
    message_id: str
    email: str | None
    payload: bytes
    problem: str | None = None


@dataclass
class PlannedChunk:
    """What a planner made of one chunk of source rows."""

    messages: list[PlannedMessage] = field(default_factory=list)
    filtered: int = 0
    suppressed: int = 0
    skipped: int = 0


@runtime_checkable
class ChunkPlanner(Protocol):
    """A pure planner: given settings and a chunk of source rows (plain dicts of the store's
    `contacts` or `events` columns), the messages and the counts. No SQL, no HTTP, no clock."""

    def streams(self, settings: Any) -> Sequence[str]:
        """The source streams to read for these settings, in order (`contacts`, `events`)."""
        ...

    def wants_suppressions(self, settings: Any) -> bool:
        """Whether the engine should look up the suppression list for the chunks it plans
        (contacts and events: `suppressed` then holds the MD5s of their emails that are
        listed)."""
        ...

    def plan(
        self, stream: str, settings: Any, rows: Sequence[dict[str, Any]], suppressed: set[str]
    ) -> PlannedChunk:
        """`suppressed` holds the email MD5s of the chunk's rows on the suppression list."""
        ...


# A step before planning for work that spans runs (ReSci's import job and audience delta): it
# reads and writes the store only through the run context the engine hands it.
Poller = Callable[["RunContext"], Awaitable[None]]


@dataclass(frozen=True)
class DestinationKind:
    """One destination kind, declared once in its package and listed by the registry."""

    name: str
    """Stored in `destinations.kind` and written as `kind = "..."` in TOML."""
    label: str
    """How screens name the kind (`Segment`, `ReSci`)."""
    summary: str
    """One line for the kind picker."""
    settings_model: type[BaseModel]
    capabilities: Capabilities
    adapter: Callable[[Any], DestinationAdapter]
    """settings -> the adapter that sends (secrets resolved at that moment)."""
    describe: Callable[[Any], list[tuple[str, str]]]
    """settings -> (label, value) lines for the settings panel, secrets masked."""
    planner: ChunkPlanner
    """The pure planner of the kind's source streams."""
    poller: Poller | None = None
    """A step before planning (import jobs, audience deltas); see `console.destinations.context`."""
    preview: Previewer | None = None
    """What the poller would do next run, counted read-only (a dry run); a kind with a poller
    declares one, see `console.destinations.preview`."""
    confirm: Callable[[Any], list[str]] = lambda settings: []
    """settings -> what an operator must confirm before they go live (ReSci: a destination
    marked test on a production key); asked when switching on or saving into that state."""
    rescan_streams: Callable[[Any, Any], Sequence[str]] = lambda old, new: ()
    """(old settings, new settings) -> source streams to read again from the start, because
    the new settings let through rows the old ones held back."""
    site_tag: Callable[[Any, str], str] | None = None
    """(settings, destination name) -> the snippet the operator pastes into their website
    (ReSci's on-site tag), shown and copied from the Destinations screen; raises ValueError
    naming what the settings lack. None: the kind has none."""
