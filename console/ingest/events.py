"""Importing shopping events (Segment `track` calls, the seed's Reclaim payloads) from JSONL.

Events are immutable: a messageId already in the store with the same content is counted
unchanged and never written twice, so re-importing a file (or an overlapping export) is
harmless; the same messageId with other content is a conflict, rejected with its line. `seq`, the table's
integer primary key, is the insertion order destinations keep their cursor on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from console.ingest.contacts import normalise_email, skip_forgotten
from console.ingest.reader import (
    MAX_TEXT_CHARS,
    NUL_REASON,
    file_format,
    jsonl_values,
    open_text,
    parse_timestamp,
    shorten,
    write_chunks,
)
from console.ingest.report import ImportReport, RowError
from state.db import Connection, Store
from state.events import COLUMNS, event_inserts, stored_events
from state.forget import any_forgotten

# Segment's own limits: messageId under 100 characters, 32 KB a message. An event whose
# properties alone pass 32 KB could never be delivered, so it is refused here, with its line.
MAX_MESSAGE_ID_CHARS = 99
MAX_PROPERTIES_BYTES = 32 * 1024

EventRow = tuple[str, str, str | None, str | None, str | None, str, str, str | None]


def derived_message_id(obj: dict[str, Any]) -> str:
    """The messageId given to an event that has none: "rc-" and the first 32 hex digits of the
    SHA-1 of the object's canonical JSON (orjson, sorted keys). The same line always gets the
    same id, so re-importing it is recognised."""
    canonical = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    return "rc-" + hashlib.sha1(canonical).hexdigest()[:32]


def _check_text(key: str, value: str, limit: int = MAX_TEXT_CHARS) -> str:
    if len(value) > limit:
        raise ValueError(f"{key} is longer than {limit:,} characters")
    if "\x00" in value:  # a JSON "\u0000"; see reader.NUL_REASON
        raise ValueError(f"{key} {NUL_REASON}")
    return value


def _optional_text(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return _check_text(key, value) if value.strip() else None


def _email_text(obj: dict[str, Any], properties: dict[str, Any]) -> str | None:
    """The first email found: top level (as in the seed), `properties.email`, then
    `context.traits.email`. A top-level email must be a string; the nested ones are free-form
    data, so a non-string there is simply not an email."""
    top = obj.get("email")
    if top is not None and not isinstance(top, str):
        raise ValueError("email must be a string")
    if top and top.strip():
        return top
    nested = properties.get("email")
    if isinstance(nested, str) and nested.strip():
        return nested
    context = obj.get("context")
    traits = context.get("traits") if isinstance(context, dict) else None
    nested = traits.get("email") if isinstance(traits, dict) else None
    if isinstance(nested, str) and nested.strip():
        return nested
    return None


def event_row(obj: object) -> EventRow:
    """The stored columns (`state.events.COLUMNS` order) of one Segment track object.

    Raises ValueError with the reason the object cannot be stored.
    """
    if not isinstance(obj, dict):
        raise ValueError("each line must be a JSON object (a Segment track call)")
    kind = obj.get("type")
    if kind is not None and kind != "track":
        shown = shorten(kind) if isinstance(kind, str) else str(kind)
        raise ValueError(f"type is {shown}; only track calls are events")
    event = obj.get("event")
    if not isinstance(event, str) or not event.strip():
        raise ValueError("event is missing (the event's name, a non-empty string)")
    _check_text("event", event)

    message_id = obj.get("messageId")
    if message_id is None or (isinstance(message_id, str) and not message_id.strip()):
        message_id = derived_message_id(obj)
    elif not isinstance(message_id, str):
        raise ValueError("messageId must be a string")
    elif len(message_id) > MAX_MESSAGE_ID_CHARS:
        raise ValueError(f"messageId must be under 100 characters ({len(message_id):,} given)")
    else:
        _check_text("messageId", message_id)

    timestamp = obj.get("timestamp")
    if timestamp is None:
        raise ValueError("timestamp is missing")
    if not isinstance(timestamp, str):
        raise ValueError("timestamp must be an ISO-8601 string")
    timestamp = parse_timestamp(timestamp, "timestamp")
    original = obj.get("originalTimestamp")
    if original is not None:
        if not isinstance(original, str):
            raise ValueError("originalTimestamp must be an ISO-8601 string")
        original = parse_timestamp(original, "originalTimestamp")

    properties = obj.get("properties")
    if properties is None:
        properties = {}
    elif not isinstance(properties, dict):
        raise ValueError("properties must be an object")
    properties_json = orjson.dumps(properties)
    if len(properties_json) > MAX_PROPERTIES_BYTES:
        raise ValueError(f"properties are larger than {MAX_PROPERTIES_BYTES // 1024} KB")

    anonymous_id = _optional_text(obj, "anonymousId")
    user_id = _optional_text(obj, "userId")
    email_text = _email_text(obj, properties)
    email = None
    if email_text is not None:
        try:
            email = normalise_email(email_text)
        except ValueError as exc:
            raise ValueError(f"email {shorten(email_text)}: {exc}") from None
    if anonymous_id is None and user_id is None and email is None:
        raise ValueError("no anonymousId, userId or email: the event belongs to nobody")
    return (
        message_id,
        event,
        email,
        anonymous_id,
        user_id,
        properties_json.decode("utf-8"),
        timestamp,
        original,
    )


def _rows(handle: BinaryIO) -> Iterator[tuple[int, EventRow] | RowError]:
    for item in jsonl_values(handle):
        if isinstance(item, RowError):
            yield item
            continue
        line, obj = item
        try:
            yield line, event_row(obj)
        except ValueError as exc:
            yield RowError(line, str(exc))


EMAIL_AT = COLUMNS.index("email")


class _EventWriter:
    """Inserts events whose messageId is new (to the store and to the file so far)."""

    def __init__(self, conn: Connection, report: ImportReport) -> None:
        self.report = report
        self.insert = event_inserts(conn)
        self.forgetting = any_forgotten(conn)

    def write(self, conn: Connection, chunk: list[tuple[int, EventRow]]) -> None:
        if self.forgetting:
            chunk = skip_forgotten(conn, chunk, itemgetter(EMAIL_AT), self.report)
        ids = list({row[0] for _, row in chunk})
        known = stored_events(conn, ids)
        fresh: list[EventRow] = []
        for line, row in chunk:
            stored = known.get(row[0])
            if stored is None:
                known[row[0]] = row
                fresh.append(row)
            elif tuple(stored) == row:
                self.report.unchanged += 1
            else:
                # Dropping it as "unchanged" would hide that the sender reused an id for another
                # event; the first one stays (events are immutable) and the operator is told.
                self.report.reject(
                    line,
                    f"messageId {shorten(row[0])} is already stored with other content "
                    "(a conflicting event; the stored one is kept)",
                )
        self.report.inserted += len(fresh)
        self.insert.run(conn, fresh)


def import_events(store: Store, path: Path, *, encoding: str | None = None) -> ImportReport:
    """Insert the events of a `.jsonl` / `.ndjson` file (one Segment track object a line) in
    one transaction; events whose messageId is already stored with the same content count as
    unchanged, with other content as rejected (a conflict).

    Bad lines are reported (line and reason) and skipped. Raises FileRejected, with nothing
    written, for a CSV or other non-JSONL file, a binary file or one without rows.
    `encoding`: see `console.ingest.reader.open_text` (None: UTF-8, or UTF-16 by its BOM).
    """
    path = Path(path)
    file_format(
        path,
        ("jsonl",),
        "events are JSONL (.jsonl or .ndjson), one Segment track object a line",
    )
    report = ImportReport(kind="events", path=str(path))
    with open_text(path, encoding) as handle:
        return write_chunks(
            store, report, _rows(handle), lambda conn: _EventWriter(conn, report).write
        )
