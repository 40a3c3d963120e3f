"""What the engine hands a kind's poller for one run: the run context, and the store as a
session of plain operations the engine implements with `state/`.

A poller holds a kind's policy for work that spans runs (ReSci's import job: start, resume,
poll, complete). Destinations import nothing from the store, so the store reaches a poller only
through `StoreSession`, whose methods the engine implements over one transaction each
(`console.engine.sessions`). Every method is kind-neutral: import jobs, audience membership,
cursor notes, contacts and the outbox are the store's own notions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel

from console.core import clock
from console.destinations.kind import PlannedMessage

N = TypeVar("N", bound=BaseModel)


class Counts(Protocol):
    """The run's counters (the engine's `RunCounts`), as History shows them."""

    added: int
    changed: int
    removed: int
    delivered: int
    rejected: int
    requests: int
    notes: list[str]
    attention: list[str]
    """Reasons the run needs an operator though no row failed; the run is then not `ok`."""
    jobs_pending: int


class StoredJob(Protocol):
    """An import job as the store holds it."""

    @property
    def id(self) -> int: ...
    @property
    def audience(self) -> str: ...
    @property
    def remote_id(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def rows(self) -> int: ...
    @property
    def file_path(self) -> str | None: ...
    @property
    def created_at(self) -> str: ...


class StoreSession(Protocol):
    """One transaction over the store, for one destination and run."""

    # -- cursors and their notes
    def note(self, stream: str, model: type[N]) -> tuple[int, N | None]:
        """The position on `stream` and its note as `model` (None: no note, or one that
        does not fit the model)."""
        ...

    def set_cursor(self, stream: str, position: int, note: BaseModel | None = None) -> None: ...

    # -- audiences and import jobs
    def audience_rule(self, name: str) -> str | None:
        """The audience's rule text; None when no audience has that name."""
        ...

    def latest_job(self) -> StoredJob | None: ...

    def create_job(self, audience: str) -> int:
        """A new job in state `uploading`; returns its id."""
        ...

    def update_job(self, job_id: int, **values: Any) -> None:
        """Set columns of the job (`status`, `remote_id`, `rows`, `imported`, `rejected`,
        `file_path`, `audience`, `message`; `clear_message=True` empties the message)."""
        ...

    def keep_job_file(self, job_id: int, name: str, parts: Iterable[bytes]) -> int:
        """Keep a job's file in the store (see `RunContext.files_in_store`), as these parts;
        returns its size."""
        ...

    def job_file_parts(self, job_id: int, name: str) -> Iterator[bytes] | None:
        """The parts of a job's file kept in the store (None: none kept under `name`)."""
        ...

    def drop_job_files(self, job_id: int) -> None: ...

    # -- contacts (read in `seq` order by the scan every planner shares)
    def contacts_after(
        self, after_seq: int, limit: int, columns: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The next `limit` contacts past `after_seq` (`columns` of each, by name)."""
        ...

    def contact_seq_range(self) -> tuple[int, int]:
        """The lowest and highest contact `seq` ((0, 0) without contacts)."""
        ...

    def contact_partitions(
        self, columns: Sequence[str], chunk: int
    ) -> Iterator[Sequence[Sequence[Any]]]:
        """Every contact's `columns` as tuples in `seq` order, `chunk` at a time."""
        ...

    def contacts_by_id(
        self, ids: Sequence[int], columns: Sequence[str]
    ) -> dict[int, dict[str, Any]]: ...

    # -- audience membership
    def known_members(self, contact_ids: Sequence[int]) -> Mapping[int, tuple[str, bool]]: ...

    def members_after(self, after_id: int, limit: int) -> list[dict[str, Any]]:
        """Contacts counted as members, by id past `after_id` (id, email, created_at)."""
        ...

    def record_members(self, rows: Sequence[tuple[int, str, bool]]) -> None: ...

    def forget_members(self) -> None: ...

    # -- the outbox and the day's counters
    def queue(self, messages: Sequence[PlannedMessage]) -> int:
        """Queue the messages not already queued (by messageId); returns how many are new."""
        ...

    def add_completions(self, count: int) -> None: ...


@dataclass
class RunContext:
    """One run of one destination, as a poller sees it: who, with which settings, counting
    where, talking through which client, reading the store and the clock through what it was
    handed (no long parameter lists, no hidden globals)."""

    destination_id: int
    destination_name: str
    settings: Any
    """The kind's own settings model."""
    run_id: int
    counts: Counts
    client: httpx.AsyncClient
    read: Callable[[], AbstractContextManager[StoreSession]]
    """A read-only session (one snapshot)."""
    write: Callable[[], AbstractContextManager[StoreSession]]
    """A write session: committed when the block ends without an exception."""
    files: Callable[[str], Path]
    """files(name): a private folder (0700) called `name` beside the store, for files that
    outlive a run (made when first asked for)."""
    today: Callable[[], str]
    """Today's date, `YYYY-MM-DD` (the engine's clock)."""
    now: Callable[[], datetime] = clock.now
    """The engine's clock (how old a pending import job is)."""
    files_in_store: bool = False
    """Whether a job's files are kept in the store too (PostgreSQL, where workers on other
    hosts may upload or complete a job whose files this one built)."""
    progress: Callable[[str], None] = lambda _said: None
    """Say how long work spanning the run goes (`backfill: 20,043 rows written`): the
    console's panel and `--run-once`'s stderr on a terminal show it."""
