"""The ReSci poller against an in-memory session and a mocked ReSci: it reaches the store only
through the run context, and moves its job only through the state machine."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import BaseModel

from console.core import clock
from console.destinations.base import DestinationHalted
from console.destinations.context import RunContext
from console.destinations.kind import PlannedMessage
from console.destinations.resci import poller
from console.destinations.resci.settings import ResciExport, ResciSettings

N = TypeVar("N", bound=BaseModel)
COLUMNS = ("id", "seq", "email", "created_at", "first_name", "address_state")


@dataclass(frozen=True)
class Job:
    id: int
    audience: str
    remote_id: str | None = None
    status: str = "uploading"
    rows: int = 0
    file_path: str | None = None
    imported: int = 0
    rejected: int = 0
    message: str | None = None
    created_at: str = field(default_factory=clock.now_iso)


@dataclass
class Memory:
    """What the store would hold, kept in dictionaries."""

    contacts: list[dict[str, Any]]
    jobs: list[Job] = field(default_factory=list)
    cursors: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    members: dict[int, tuple[str, bool]] = field(default_factory=dict)
    queued: list[PlannedMessage] = field(default_factory=list)
    completions: int = 0
    kept_files: dict[tuple[int, str], list[bytes]] = field(default_factory=dict)


class Session:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def note(self, stream: str, model: type[N]) -> tuple[int, N | None]:
        position, text = self.m.cursors.get(stream, (0, None))
        return position, model.model_validate_json(text) if text else None

    def set_cursor(self, stream: str, position: int, note: BaseModel | None = None) -> None:
        old = self.m.cursors.get(stream, (0, None))[1]
        self.m.cursors[stream] = (position, note.model_dump_json() if note else old)

    def audience_rule(self, name: str) -> str | None:
        return "address_state = 'CA'" if name == "ca" else None

    def latest_job(self) -> Job | None:
        return self.m.jobs[-1] if self.m.jobs else None

    def create_job(self, audience: str) -> int:
        self.m.jobs.append(Job(len(self.m.jobs) + 1, audience))
        return len(self.m.jobs)

    def update_job(self, job_id: int, **values: Any) -> None:
        values = {k: v for k, v in values.items() if v is not None and k != "clear_message"}
        self.m.jobs[job_id - 1] = replace(self.m.jobs[job_id - 1], **values)

    def keep_job_file(self, job_id: int, name: str, parts: Iterable[bytes]) -> int:
        self.m.kept_files[job_id, name] = list(parts)
        return sum(map(len, self.m.kept_files[job_id, name]))

    def job_file_parts(self, job_id: int, name: str) -> Iterator[bytes] | None:
        kept = self.m.kept_files.get((job_id, name))
        return iter(kept) if kept is not None else None

    def drop_job_files(self, job_id: int) -> None:
        for key in [key for key in self.m.kept_files if key[0] == job_id]:
            del self.m.kept_files[key]

    def contacts_after(
        self, after_seq: int, limit: int, columns: Sequence[str]
    ) -> list[dict[str, Any]]:
        return [c for c in self.m.contacts if c["seq"] > after_seq][:limit]

    def contact_partitions(
        self, columns: Sequence[str], chunk: int
    ) -> Iterator[Sequence[Sequence[Any]]]:
        yield [tuple(c.get(name) for name in columns) for c in self.m.contacts]

    def contacts_by_id(
        self, ids: Sequence[int], columns: Sequence[str]
    ) -> dict[int, dict[str, Any]]:
        return {c["id"]: c for c in self.m.contacts if c["id"] in ids}

    def known_members(self, contact_ids: Sequence[int]) -> Mapping[int, tuple[str, bool]]:
        return {i: self.m.members[i] for i in contact_ids if i in self.m.members}

    def members_after(self, after_id: int, limit: int) -> list[dict[str, Any]]:
        return []

    def record_members(self, rows: Sequence[tuple[int, str, bool]]) -> None:
        self.m.members.update({c: (h, m) for c, h, m in rows})

    def forget_members(self) -> None:
        self.m.members.clear()

    def queue(self, messages: Sequence[PlannedMessage]) -> int:
        self.m.queued.extend(messages)
        return len(messages)

    def add_completions(self, count: int) -> None:
        self.m.completions += count


@dataclass
class Counts:
    added: int = 0
    changed: int = 0
    removed: int = 0
    delivered: int = 0
    rejected: int = 0
    requests: int = 0
    notes: list[str] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)
    jobs_pending: int = 0


def contact(i: int, state: str = "CA") -> dict[str, Any]:
    return {
        "id": i,
        "seq": i,
        "email": f"user{i}@example.com",
        "created_at": "2024-01-02T00:00:00.000Z",
        "first_name": f"First{i}",
        "address_state": state,
    }


def context(
    memory: Memory, tmp_path: Path, handler: Any, *, files_in_store: bool = False
) -> RunContext:
    @contextmanager
    def session() -> Iterator[Session]:
        yield Session(memory)

    settings = ResciSettings(
        api_key="key",  # type: ignore[arg-type]
        endpoint="https://resci.example",
        export=ResciExport(audience="ca", fields={"first_name": "full_name"}),
    )
    return RunContext(
        destination_id=1,
        destination_name="main",
        settings=settings,
        run_id=1,
        counts=Counts(),
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        read=session,
        write=session,
        files=lambda name: tmp_path / name,
        today=lambda: "2024-05-01",
        files_in_store=files_in_store,
    )


def queued_then_completed(imported: int) -> Callable[[httpx.Request], httpx.Response]:
    """ReSci accepting one upload as job_1, then reporting it completed."""
    replies = iter(
        [
            httpx.Response(201, json={"id": "job_1", "status": "queued"}),
            httpx.Response(200, json={"id": "job_1", "status": "completed", "imported": imported}),
        ]
    )
    return lambda _request: next(replies)


def never(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.method} {request.url}")


async def test_an_empty_audience_completes_without_an_upload(tmp_path: Path) -> None:
    (tmp_path / "resci-imports").mkdir()
    memory = Memory(contacts=[contact(1, state="NY")])
    await poller.poll(context(memory, tmp_path, never))
    [job] = memory.jobs
    assert (job.status, job.rows) == ("completed", 0)
    assert memory.queued == []


async def test_a_refused_file_fails_the_job_and_the_run(tmp_path: Path) -> None:
    (tmp_path / "resci-imports").mkdir()
    memory = Memory(contacts=[contact(1), contact(2)])

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"message": "bad header"})

    with pytest.raises(DestinationHalted, match="bad header; the next run builds a new"):
        await poller.poll(context(memory, tmp_path, refuse))
    [job] = memory.jobs
    assert (job.status, job.rows, job.message) == (
        "failed",
        2,
        "ReSci did not accept the import file (HTTP 422): bad header",
    )
    assert list((tmp_path / "resci-imports").iterdir()) == []  # a failed job's files go


async def test_a_completed_job_records_members_then_deltas_flow(tmp_path: Path) -> None:
    (tmp_path / "resci-imports").mkdir()
    memory = Memory(contacts=[contact(1), contact(2), contact(3, state="NY")])
    resci = queued_then_completed(imported=2)

    await poller.poll(context(memory, tmp_path, resci))
    assert memory.jobs[-1].status == "queued"
    await poller.poll(context(memory, tmp_path, resci))
    assert memory.jobs[-1].status == "completed"
    assert (memory.completions, sorted(memory.members)) == (2, [1, 2])
    memory.contacts[2]["address_state"] = "CA"
    memory.contacts[2]["seq"] = 4
    await poller.poll(context(memory, tmp_path, never))
    assert [m.email for m in memory.queued] == ["user3@example.com"]


async def test_files_kept_in_the_store_complete_a_job_whose_disk_copy_is_gone(
    tmp_path: Path,
) -> None:
    """Workers on PostgreSQL: the host that polls the job is not the one that built its files;
    they are written back from the store's copy, and dropped from it with the job."""
    imports = tmp_path / "resci-imports"
    imports.mkdir()
    memory = Memory(contacts=[contact(1), contact(2), contact(3, state="NY")])
    resci = queued_then_completed(imported=2)

    await poller.poll(context(memory, tmp_path, resci, files_in_store=True))
    assert sorted(name for _, name in memory.kept_files) == ["members", "users"]
    for path in imports.iterdir():  # another host: nothing of the job on its disk
        path.unlink()
    await poller.poll(context(memory, tmp_path, resci, files_in_store=True))
    assert memory.jobs[-1].status == "completed"
    assert (memory.completions, sorted(memory.members)) == (2, [1, 2])
    assert memory.kept_files == {} and list(imports.iterdir()) == []
