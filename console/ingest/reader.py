"""Streaming a CSV or JSONL file line by line, and writing what it yields in chunks.

Shared by the contacts, events and suppressions importers. Nothing here holds more than one
line (or one CSV record) of the file at a time; rows are handed to the importer's writer in
chunks of `CHUNK_ROWS`, all inside one write transaction, so a file lands whole or not at all.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

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
NOT_UTF8 = "not valid UTF-8"
UTF16_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
UTF32_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"))
ENCODING_LABELS = {
    "utf-16-le": "UTF-16",
    "utf-16-be": "UTF-16",
    "utf-16": "UTF-16",
    "utf-32-le": "UTF-32",
    "utf-32-be": "UTF-32",
    "utf-32": "UTF-32",
    "cp1252": "Windows-1252",
    "iso8859-1": "Latin-1",
}
# Names the import commands' option: the ingest package has no other caller that reads files.
ENCODING_HINT = (
    "if it was saved by Excel or another Windows program, import it with --encoding cp1252"
)
# Raw bytes decoded at a time when a file is not UTF-8.
TRANSCODE_CHUNK = 64 * 1024

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


def text_encoding(name: str) -> str:
    """Python's name for the text encoding `name` (`cp1252`, `utf-16`, `iso8859-1` ...);
    ValueError when there is no such text encoding (`hex` and `zlib` are codecs of bytes)."""
    try:
        canonical = codecs.lookup(name).name
        "".encode(canonical)  # LookupError for a codec that is not a text encoding
    except LookupError:
        raise ValueError(f"{name!r} is not a text encoding Python knows") from None
    return canonical


def open_text(path: Path, encoding: str | None = None) -> BinaryIO:
    """Open `path` for reading as UTF-8 after checking that its head looks like text.

    `encoding` None reads UTF-8 (a UTF-8 byte-order mark is skipped), or UTF-16 when the file
    starts with a UTF-16 byte-order mark (spreadsheets' "Unicode text"). Another `encoding`
    (`text_encoding`'s name) is decoded and handed on as UTF-8, line breaks unchanged, so line
    numbers stay the file's; a file whose byte-order mark names another Unicode encoding is
    refused.

    Raises FileRejected when the file cannot be opened, holds NUL characters or what its
    encoding does not allow in its first 64 KB, or (any encoding but UTF-8) further on: the
    message names the line. The caller closes the returned file.
    """
    try:
        handle: BinaryIO = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except OSError as exc:
        raise FileRejected(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        head = handle.read(TEXT_PROBE_BYTES)
        if encoding is not None:
            encoding = codecs.lookup(encoding).name
        if encoding is None:
            encoding = next((name for bom, name in UTF16_BOMS if head.startswith(bom)), None)
        elif (marked := _byte_order_mark(head)) and not encoding.startswith(marked[:6].lower()):
            # The mark says which Unicode encoding the file is in: decoding it as another
            # (cp1252, say) would store every accented name garbled.
            raise FileRejected(
                path,
                f"starts with the byte-order mark of {marked}, so it is {marked} text, not "
                f"{encoding}: import it without --encoding",
            )
        if encoding in (None, "utf-8", "utf-8-sig"):
            reason = _binary_reason(head, complete=len(head) < TEXT_PROBE_BYTES)
            if reason:
                raise FileRejected(path, reason)
            handle.seek(0)
            return handle
        return _transcoded(path, handle, encoding)
    except OSError as exc:
        handle.close()
        raise FileRejected(path, f"cannot be read ({exc.strerror or exc})") from None
    except BaseException:
        handle.close()
        raise


def _byte_order_mark(head: bytes) -> str | None:
    """The Unicode encoding whose byte-order mark starts `head` (UTF-8, UTF-16), or None."""
    if head.startswith(BOM):
        return "UTF-8"
    # UTF-32's little-endian mark starts with UTF-16's: the longer marks first.
    if any(head.startswith(bom) for bom, _ in UTF32_BOMS):
        return "UTF-32"
    if any(head.startswith(bom) for bom, _ in UTF16_BOMS):
        return "UTF-16"
    return None


def _binary_reason(head: bytes, *, complete: bool) -> str | None:
    nul = head.find(b"\x00")
    if nul >= 0:
        return f"is not a text file (NUL byte at offset {nul}){_utf16_hint(head)}"
    skip = len(BOM) if head.startswith(BOM) else 0
    # An incremental decoder, because the probe may cut a multi-byte character in two.
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head[skip:], final=complete)
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        line = head.count(b"\n", 0, offset) + 1
        column = offset - head.rfind(b"\n", 0, offset)
        return (
            f"is not UTF-8 text: line {line} has a byte UTF-8 does not allow "
            f"(byte {column} of the line); {ENCODING_HINT}"
        )
    return None


def _utf16_hint(head: bytes) -> str:
    """A hint for UTF-16 saved without its byte-order mark: mostly ASCII text, so nearly every
    other byte is NUL (little-endian: the odd ones)."""
    sample = head[:1024]
    odd, even = sample[1::2], sample[0::2]
    if len(sample) < 8:
        return ""
    for zeros, others, order in ((odd, even, "le"), (even, odd, "be")):
        if zeros.count(0) >= 0.75 * len(zeros) and others.count(0) <= 0.05 * len(others):
            return f"; if it is UTF-16 without a byte-order mark, try --encoding utf-16-{order}"
    return ""


def _transcoded(path: Path, handle: BinaryIO, encoding: str) -> BinaryIO:
    """`handle` (positioned anywhere) read through `encoding` as UTF-8, after probing its head
    for what the encoding cannot decode and for NUL characters."""
    handle.seek(0)
    probe = _Utf8Transcoder(path, handle, encoding, owns_file=False)
    head = b""
    while len(head) < TEXT_PROBE_BYTES and (piece := probe.read(TEXT_PROBE_BYTES - len(head))):
        head += piece
    if (nul := head.find(b"\x00")) >= 0:
        line = head.count(b"\n", 0, nul) + 1
        raise FileRejected(path, f"is not a text file (NUL character on line {line})")
    handle.seek(0)
    return io.BufferedReader(_Utf8Transcoder(path, handle, encoding))


class _Utf8Transcoder(io.RawIOBase):
    """A file in `encoding` read as UTF-8 bytes, so the line parsers take it as they take a
    UTF-8 file: line breaks (and so line numbers) and the line length limit as in the file.
    Bytes the encoding cannot decode reject the whole file, naming their line: they mean the
    encoding is the wrong one, and guessing would store garbled names."""

    def __init__(self, path: Path, raw: BinaryIO, encoding: str, *, owns_file: bool = True) -> None:
        super().__init__()
        self._path = path
        self._raw = raw
        self._owns_file = owns_file
        # The byte-order mark chooses UTF-16's byte order; known here, the error path can
        # decode a piece of the file on its own.
        self._encoding = encoding
        if encoding in ("utf-16", "utf-32"):
            start, skip = raw.read(4), 0
            # UTF-32's little-endian mark starts with UTF-16's: the longer marks first.
            for bom, name in (*UTF32_BOMS, *UTF16_BOMS):
                if start.startswith(bom) and name.startswith(encoding):
                    self._encoding, skip = name, len(bom)
                    break
            raw.seek(skip)
        self._label = ENCODING_LABELS.get(self._encoding, self._encoding)
        self._decoder = codecs.getincrementaldecoder(self._encoding)("strict")
        self._lines_before = 0  # line breaks decoded so far
        self._pending = b""
        self._offset = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self._owns_file:
            self._raw.close()
        super().close()

    def readinto(self, buffer: Any) -> int:
        while self._offset >= len(self._pending) and not self._done:
            chunk = self._raw.read(TRANSCODE_CHUNK)
            self._done = not chunk
            try:
                text = self._decoder.decode(chunk, final=self._done)
            except UnicodeDecodeError as exc:
                raise self._undecodable(exc) from None
            self._lines_before += text.count("\n")
            # surrogatepass: a codec that yields a lone surrogate gives a line the UTF-8
            # parsers reject as a row, never an exception here.
            self._pending, self._offset = text.encode("utf-8", "surrogatepass"), 0
        count = min(len(buffer), len(self._pending) - self._offset)
        buffer[:count] = self._pending[self._offset : self._offset + count]
        self._offset += count
        return count

    def _undecodable(self, exc: UnicodeDecodeError) -> FileRejected:
        # exc.object is what this decode was given (with bytes carried over from the last one);
        # the line breaks before the bad byte place it.
        before = exc.object[: exc.start].decode(self._encoding, "replace").count("\n")
        line = self._lines_before + before + 1
        return FileRejected(
            self._path,
            f"is not {self._label} text: line {line} has bytes {self._label} does not allow; "
            "check --encoding",
        )


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


def not_utf8_reason(exc: UnicodeDecodeError) -> str:
    """A line past the 64 KB probe that is not UTF-8: a row error (the probe refuses the file
    when its head is not), starting with NOT_UTF8 so the import command can add its hint."""
    return f"{NOT_UTF8} (byte {exc.start + 1} of the line)"


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
                self.bad[number] = not_utf8_reason(exc)
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
        return not_utf8_reason(bad)
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
            yield RowError(number, not_utf8_reason(exc))
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
