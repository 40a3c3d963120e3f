"""The audience as ReSci is told it: the export resolved against its audience's rule, what is
sent for a contact (and the hash of it), and the backfill file on disk.

The users CSV holds `record_id`, `email`, `account_created_on`, the mapped fields in mapping
order, then the membership attribute `audience_<name>` = `true`; mapped cells a spreadsheet
would run as formulas get a leading apostrophe. Beside it a side file lists (contact id, hash
of what was sent) per data row, so a completed job records the membership of exactly the rows
ReSci imported. Both files appear under their final names only once complete (`.part` first).

No store and no HTTP here: contacts are handed in (tuples for the file, streamed; mappings
for the delta).
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

import orjson

from console.audiences.rules import parse_rule
from console.audiences.tree import Rule
from console.core.identity import email_md5
from console.destinations.base import DestinationHalted
from console.destinations.resci.adapter import (
    FIXED_COLUMNS,
    FORMULA_PREFIXES,
    account_created_on,
    membership_attribute,
)

FORMULA_CHARS = "".join(FORMULA_PREFIXES)


@dataclass(frozen=True)
class Export:
    """A destination's export resolved against the store: the audience's rule parsed."""

    audience: str
    rule: Rule
    fields: tuple[tuple[str, str], ...]  # (contact field, ReSci field), in mapping order
    exit_mode: str

    @property
    def fingerprint(self) -> str:
        """Identifies what a backfill file holds: the audience and the mapping."""
        return hashlib.sha1(orjson.dumps([self.audience, self.fields])).hexdigest()

    @property
    def attribute(self) -> str:
        return membership_attribute(self.audience)

    @property
    def columns(self) -> list[str]:
        """Contact columns the file reads: id, seq, email, created_at, mapped fields, rule
        fields (once each, in a stable order)."""
        wanted = ["id", "seq"]
        for name in (
            "email",
            "created_at",
            *(s for s, _ in self.fields),
            *sorted(self.rule.fields),
        ):
            if name not in wanted:
                wanted.append(name)
        return wanted

    @property
    def header(self) -> list[str]:
        return [*FIXED_COLUMNS, *(t for _, t in self.fields), self.attribute]


def resolve_export(export: Any, rule_text: str | None) -> Export:
    """The export settings (`ResciExport`) with their audience's rule (None: no such audience);
    DestinationHalted when the audience is gone or its rule no longer parses (nothing can be
    sent until the operator fixes it)."""
    if rule_text is None:
        raise DestinationHalted(
            f"the exported audience {export.audience!r} does not exist; "
            "add it (config apply) or pick another audience"
        )
    try:
        rule = parse_rule(rule_text)
    except ValueError as exc:
        raise DestinationHalted(f"audience {export.audience!r}: rule: {exc}") from None
    return Export(export.audience, rule, tuple(export.fields.items()), export.exit_mode)


def sent_digest(email: str, created_at: str | None, mapped: Iterable[object]) -> str:
    """Hash of what ReSci is told about a contact: email, creation date, mapped values. A
    change of it is a `changed` user in the delta."""
    sent = (email, account_created_on(created_at), *mapped)
    return hashlib.blake2b(orjson.dumps(sent), digest_size=16).hexdigest()


class Projection:
    """What is sent for a contact read as a mapping of its columns (the delta's rows)."""

    def __init__(self, export: Export) -> None:
        self.sources = [s for s, _ in export.fields]
        self.targets = [t for _, t in export.fields]
        # Bound once: both run once per contact of every full delta.
        self.matches: Callable[[Mapping[str, Any]], bool] = export.rule.matches
        self._values = itemgetter("email", "created_at", *self.sources)

    def digest(self, contact: Mapping[str, Any]) -> str:
        """`sent_digest` of the contact, inlined (the same bytes are hashed)."""
        email, created_at, *mapped = self._values(contact)
        sent = orjson.dumps((email, (created_at or "")[:10], *mapped))
        return hashlib.blake2b(sent, digest_size=16).hexdigest()

    def mapped(self, contact: Mapping[str, Any]) -> list[tuple[str, object]]:
        return [(t, contact[s]) for s, t in zip(self.sources, self.targets, strict=True)]


# --- the file ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltFile:
    csv_path: Path
    rows: int
    snapshot_seq: int


def members_path(csv_path: Path) -> Path:
    """The side file of (contact id, hash) beside a users CSV."""
    return csv_path.with_name(csv_path.name + ".members")


def partial_path(path: Path) -> Path:
    """Where `path` is written until it is complete."""
    return path.with_name(path.name + ".part")


def remove_files(csv_path: str | None) -> None:
    """Remove a job's files (and any half-written ones): a final job needs them no more."""
    if not csv_path:
        return
    path = Path(csv_path)
    for candidate in (
        path,
        members_path(path),
        partial_path(path),
        partial_path(members_path(path)),
    ):
        candidate.unlink(missing_ok=True)


def files_complete(csv_path: str | None) -> bool:
    """Whether a job's file and its side file are both there (complete: `.part` first)."""
    if not csv_path:
        return False
    return Path(csv_path).exists() and members_path(Path(csv_path)).exists()


def _private_fd(path: Path) -> int:
    """A new (or emptied) file only this user can read: it holds customers' emails."""
    return os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)


def _private_open(path: Path) -> IO[str]:
    return os.fdopen(_private_fd(path), "w", encoding="utf-8", newline="")


def private_binary_open(path: Path) -> IO[bytes]:
    return os.fdopen(_private_fd(path), "wb")


class FileRows:
    """The users CSV rows and side-file lines of one chunk of contact tuples with
    `export.columns`: the backfill file is written from them, and a dry run counts and shows
    them without writing."""

    def __init__(self, export: Export) -> None:
        columns = export.columns
        index = {name: i for i, name in enumerate(columns)}
        self.matches = export.rule.predicate(columns)
        self.at_email, self.at_created = index["email"], index["created_at"]
        self.mapped_at = [index[s] for s, _ in export.fields]

    def __call__(self, partition: Sequence[Sequence[Any]]) -> tuple[list[list[str]], list[str]]:
        matches, at_email, at_created, mapped_at = (
            self.matches,
            self.at_email,
            self.at_created,
            self.mapped_at,
        )
        blake2b, dumps = hashlib.blake2b, orjson.dumps
        csv_rows = []
        side_lines = []
        for row in partition:
            if not matches(row):
                continue
            # record_id, account_created_on, the formula guard and sent_digest inlined:
            # this loop runs once per contact of audiences of millions.
            email = row[at_email]
            created = (row[at_created] or "")[:10]
            mapped = [row[i] for i in mapped_at]
            line = [email_md5(email), email, created]
            for value in mapped:
                if value is None:
                    line.append("")
                elif value and value[0] in FORMULA_CHARS:
                    line.append("'" + value)
                else:
                    line.append(value)
            line.append("true")
            csv_rows.append(line)
            sent = dumps((email, created, *mapped))
            side_lines.append(f"{row[0]},{blake2b(sent, digest_size=16).hexdigest()}\n")
        return csv_rows, side_lines


def write_backfill_file(
    export: Export, partitions: Iterable[Sequence[Sequence[Any]]], csv_path: Path
) -> BuiltFile:
    """Write the users CSV at `csv_path` and its side file from contact tuples with
    `export.columns`, handed in chunk by chunk (memory stays flat whatever the audience's
    size); both appear under their final names only once complete and on disk."""
    file_rows = FileRows(export)
    side_path = members_path(csv_path)
    rows = 0
    snapshot_seq = 0
    with (
        _private_open(partial_path(csv_path)) as out,
        _private_open(partial_path(side_path)) as side,
    ):
        writer = csv.writer(out)
        writer.writerow(export.header)
        for partition in partitions:
            csv_rows, side_lines = file_rows(partition)
            writer.writerows(csv_rows)
            side.writelines(side_lines)
            rows += len(csv_rows)
            if partition:
                snapshot_seq = max(snapshot_seq, partition[-1][1])
        out.flush()
        os.fsync(out.fileno())
        side.flush()
        os.fsync(side.fileno())
    os.replace(partial_path(side_path), side_path)
    os.replace(partial_path(csv_path), csv_path)
    return BuiltFile(csv_path, rows, snapshot_seq)


def read_side_file(csv_path: Path) -> Iterable[tuple[int, str]]:
    """(contact id, hash) of each data row of the job's file, in row order."""
    with members_path(csv_path).open(encoding="utf-8") as side:
        for line in side:
            contact_text, _, digest = line.rstrip("\n").partition(",")
            yield int(contact_text), digest


FORGOTTEN_CONTACT = 0
"""The contact id a forgotten contact's line of a side file is given (no contact has it):
the row stays, so the rows after it keep the numbers ReSci reports rejections by."""


def forget_in_files(csv_path: str, emails: set[str], uploaded: bool) -> bool:
    """Take the contacts with these emails out of a job's files; True when one was there.

    A file not uploaded yet is removed (the next run builds it again, without them). An
    uploaded one is rewritten with each such row reduced to its record id (the email's MD5,
    which the suppression list holds anyway) and its side-file line to `FORGOTTEN_CONTACT`,
    so the job can still complete and record the other rows."""
    path = Path(csv_path)
    if not path.exists():
        return False
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    hits = {
        number
        for number, row in enumerate(rows[1:], 1)
        if len(row) > 1 and row[1].strip().lower() in emails
    }
    if not hits:
        return False
    if not uploaded:
        remove_files(csv_path)
        return True
    side_path = members_path(path)
    side_lines = side_path.read_text(encoding="utf-8").splitlines(keepends=True)
    with _private_open(partial_path(path)) as out:
        writer = csv.writer(out)
        for number, row in enumerate(rows):
            writer.writerow([row[0], *[""] * (len(row) - 1)] if number in hits else row)
    with _private_open(partial_path(side_path)) as side:
        side.writelines(
            f"{FORGOTTEN_CONTACT},\n" if number in hits else line
            for number, line in enumerate(side_lines, 1)
        )
    os.replace(partial_path(side_path), side_path)
    os.replace(partial_path(path), path)
    return True
