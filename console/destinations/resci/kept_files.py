"""A backfill's two files kept in the store too, where workers on other hosts share it
(PostgreSQL: `RunContext.files_in_store`). The worker that builds a job's files is not always
the one that uploads it or records its completion; that one writes them back to its own disk
from the store, byte for byte, and carries on with the same job.

The store's copy is kept in parts of `PART_BYTES`, read and written one part at a time, so a
large audience's file never sits in memory whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from console.destinations.context import StoreSession
from console.destinations.resci.backfill import members_path, partial_path, private_binary_open

PART_BYTES = 1 << 20
USERS = "users"
MEMBERS = "members"


def _parts(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while data := handle.read(PART_BYTES):
            yield data


def keep_files(session: StoreSession, job_id: int, csv_path: Path) -> int:
    """Keep the users file and its side file in the store; returns their size in bytes."""
    return session.keep_job_file(job_id, USERS, _parts(csv_path)) + session.keep_job_file(
        job_id, MEMBERS, _parts(members_path(csv_path))
    )


def restore_files(session: StoreSession, job_id: int, csv_path: Path) -> bool:
    """Write the job's files kept in the store to `csv_path` and its side file; False when the
    store keeps none. Each appears under its final name only once complete, the side file
    first (a users file without its side file is never taken for a complete pair)."""
    users = session.job_file_parts(job_id, USERS)
    members = session.job_file_parts(job_id, MEMBERS)
    if users is None or members is None:
        return False
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    for target, parts in ((members_path(csv_path), members), (csv_path, users)):
        partial = partial_path(target)
        with private_binary_open(partial) as out:
            for data in parts:
                out.write(data)
        os.replace(partial, target)
    return True
