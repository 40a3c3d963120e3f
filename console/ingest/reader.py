"""Streaming a CSV or JSONL file line by line, and writing what it yields in chunks.

Shared by the contacts, events and suppressions importers. Nothing here holds more than one
line (or one CSV record) of the file at a time; rows are handed to the importer's writer in
chunks of `CHUNK_ROWS`, all inside one write transaction, so a file lands whole or not at all.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

import orjson

from console.core import clock
from console.ingest.report import FileRejected, ImportReport, RowError
from state.db import Connection, Store

T = TypeVar("T")

# How much of the head of a file must be clean UTF-8 without NUL bytes for it to count as text.
TEXT_PROBE_BYTES = 64 * 1024
# A single line longer than this is a row error, and is skipped without being held in memory.
MAX_LINE_BYTES = 1024 * 1024
# Any text value of a row; longer ones are row errors (see each importer for exceptions).
MAX_TEXT_CHARS = 2_000
# Rows written per executemany: big enough to amortise a statement, small enough for SQLite's
# bound-parameter limit in the `IN (...)` look-ups and to keep memory flat.
CHUNK_ROWS = 5_000

BOM = codecs.BOM_UTF8
NUL_REASON = "contains a NUL character"

FORMATS_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}


def file_format(path: Path, allowed: Iterable[str], what: str) -> str:
    """`csv`, `jsonl` or `txt` from the file's extension; FileRejected when it is none of
    `allowed`. `what` (e.g. "contacts are read from .csv or .jsonl files") ends the message."""
    suffix = path.suffix.lower()
    fmt = FORMATS_BY_SUFFIX.get(suffix)
    if fmt is None or fmt not in allowed:
        shown = f"'{suffix}'" if suffix else "no extension"
        raise FileRejected(path, f"unsupported file type ({shown}); {what}")
    return fmt


def open_text(path: Path) -> BinaryIO:
    """Open `path` for reading after checking that its head looks like UTF-8 text.

    Raises FileRejected when the file cannot be opened, holds NUL bytes or invalid UTF-8 in
    its first 64 KB ("... is not a text file"). The caller closes the returned file.
    """
    try:
        handle: BinaryIO = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except OSError as exc:
        raise FileRejected(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        head = handle.read(TEXT_PROBE_BYTES)
        reason = _binary_reason(head, complete=len(head) < TEXT_PROBE_BYTES)
        if reason:
            raise FileRejected(path, f"is not a text file ({reason})")
        handle.seek(0)
    except OSError as exc:
        handle.close()
        raise FileRejected(path, f"cannot be read ({exc.strerror or exc})") from None
    except BaseException:
        handle.close()
        raise
    return handle


def _binary_reason(head: bytes, *, complete: bool) -> str | None:
    nul = head.find(b"\x00")
    if nul >= 0:
        return f"NUL byte at offset {nul}"
    skip = len(BOM) if head.startswith(BOM) else 0
    # An incremental decoder, because the probe may cut a multi-byte character in two.
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head[skip:], final=complete)
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at offset {skip + exc.start}"
    return None


def raw_lines(handle: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """(1-based line number, line bytes with a leading BOM removed) for each physical line
    (split on LF; a CR before it is kept). A line longer than MAX_LINE_BYTES comes as None,
    after being skipped in bounded pieces."""
    number = 0
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if number == 1 and line.startswith(BOM):
            line = line[len(BOM) :]
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            # Drain the rest of the over-long line without keeping it.
            while (rest := handle.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield number, None
            continue
        yield number, line


def too_long_line_reason() -> str:
    return f"line is longer than {MAX_LINE_BYTES // 1024:,} KB"


class _DecodedLines:
    """Feeds the csv module decoded lines, standing in an empty line for one that cannot be
    decoded and remembering why, so the record holding it is rejected rather than guessed at."""

    def __init__(self, lines: Iterator[tuple[int, bytes | None]]) -> None:
        self._lines = lines
        self.bad: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        for number, line in self._lines:
            if line is None:
                self.bad[number] = too_long_line_reason()
                yield "\n"
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.bad[number] = f"not valid UTF-8 (byte {exc.start + 1} of the line)"
                yield "\n"
                continue
            if "\x00" in text:
                # The csv module passes NUL through, but no database text column should hold it
                # (PostgreSQL refuses it outright).
                self.bad[number] = NUL_REASON
                yield "\n"
                continue
            yield text


def csv_records(handle: BinaryIO) -> Iterator[tuple[int, list[str]] | RowError]:
    """(first line of the record, cells) for each CSV record, or a RowError for a record the
    csv module cannot parse or that holds an undecodable line. Blank lines are skipped."""
    lines = _DecodedLines(raw_lines(handle))
    reader = csv.reader(lines, strict=False)
    previous_end = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start, previous_end = previous_end + 1, reader.line_num
            lines.bad.clear()
            yield RowError(start, f"not valid CSV: {exc}")
            continue
        start, previous_end = previous_end + 1, reader.line_num
        if lines.bad:
            line, reason = next(iter(lines.bad.items()))
            lines.bad.clear()
            yield RowError(line, reason)
            continue
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        yield start, cells


def jsonl_values(handle: BinaryIO) -> Iterator[tuple[int, object] | RowError]:
    """(line number, parsed JSON value) for each non-blank line, or a RowError with orjson's
    reason (or "not valid UTF-8") for a line that does not parse."""
    for number, line in raw_lines(handle):
        if line is None:
            yield RowError(number, too_long_line_reason())
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if not line.strip():
                continue
            yield RowError(number, _json_reason(line, exc))
            continue
        yield number, value


def _json_reason(line: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not valid UTF-8 (byte {bad.start + 1} of the line)"
    # orjson counts lines and columns within the text it was given: one line, so the column
    # is what helps.
    return f"not valid JSON: {exc.msg} at column {exc.colno}"


def text_lines(handle: BinaryIO) -> Iterator[tuple[int, str] | RowError]:
    """(line number, stripped text) for each non-blank line of a plain text file."""
    for number, line in raw_lines(handle):
        if line is None:
            yield RowError(number, too_long_line_reason())
            continue
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            yield RowError(number, f"not valid UTF-8 (byte {exc.start + 1} of the line)")
            continue
        if text:
            yield number, text


# The form clock.iso() writes; such a value only needs checking, not reformatting. The year
# must not start with 0 because strftime does not zero-pad years before 1000.
_CANONICAL_TIMESTAMP = re.compile(r"[1-9]\d{3}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def parse_timestamp(text: str, name: str) -> str:
    """An ISO-8601 timestamp or `YYYY-MM-DD` date normalised the way the store keeps them
    (`clock.iso`: UTC, milliseconds, `Z`); naive values are taken as UTC.

    Raises ValueError naming the field `name` when the text is not such a timestamp.
    """
    try:
        if _CANONICAL_TIMESTAMP.fullmatch(text):
            datetime.fromisoformat(text)  # still rejects e.g. month 13
            return text
        return clock.iso(clock.parse_iso(text))
    except (ValueError, OverflowError):
        raise ValueError(
            f"{name} {shorten(text)} is not an ISO-8601 timestamp or YYYY-MM-DD date"
        ) from None


def shorten(value: str, limit: int = 60) -> str:
    """`repr` of a value for an error message, cut to about `limit` characters."""
    if len(value) > limit:
        return repr(value[:limit]) + "..."
    return repr(value)


def write_chunks(
    store: Store,
    report: ImportReport,
    items: Iterable[tuple[int, T] | RowError],
    begin: Callable[[Connection], Callable[[Connection, list[tuple[int, T]]], None]],
) -> ImportReport:
    """Run one import in one write transaction: count each item in `report`, keep RowErrors,
    and pass good items to the writer `begin(conn)` returns, CHUNK_ROWS at a time, in order.

    An exception (FileRejected included) rolls everything back. A file without a single data
    row raises FileRejected("no rows").
    """
    with store.write() as conn:
        write = begin(conn)
        chunk: list[tuple[int, T]] = []
        for item in items:
            report.rows += 1
            if isinstance(item, RowError):
                report.reject(item.line, item.reason)
                continue
            chunk.append(item)
            if len(chunk) >= CHUNK_ROWS:
                write(conn, chunk)
                chunk = []
        if chunk:
            write(conn, chunk)
        if report.rows == 0:
            raise FileRejected(report.path, "no rows")
    return report
