"""Importing suppressions (known contacts never to be sent as Grow contacts) into
`suppressions`, stored as the MD5 hex of the trimmed, lower-cased email.

Lists come as plain emails or as MD5s already (the form Retention.com's suppression API
takes), in a CSV (`email` and/or `email_md5` column, other columns ignored; or a single column
without a header), JSONL (`{"email": ...}` or `{"email_md5": ...}`) or a .txt file with one
value a line. Inserting is insert-or-ignore: a suppression already stored counts unchanged.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from console.core import clock
from console.core.identity import email_md5
from console.ingest.contacts import normalise_email
from console.ingest.reader import (
    MAX_TEXT_CHARS,
    csv_records,
    file_format,
    jsonl_values,
    open_text,
    shorten,
    text_lines,
    write_chunks,
)
from console.ingest.report import FileRejected, ImportReport, RowError
from state.db import Connection, Store
from state.suppressions import known_md5s, note_inserts, suppression_inserts

COLUMNS = ("email", "email_md5")

_MD5 = re.compile(r"[0-9a-fA-F]{32}")

Row = tuple[int, str]


def suppression_md5(value: str) -> str:
    """The stored key for one list value: 32 hex characters are an MD5 already (lower-cased);
    anything else is normalised as an email and hashed. Raises ValueError(reason)."""
    text = value.strip()
    if _MD5.fullmatch(text):
        return text.lower()
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"value is longer than {MAX_TEXT_CHARS:,} characters")
    try:
        return email_md5(normalise_email(text))
    except ValueError as exc:
        raise ValueError(f"{shorten(text)} is neither an MD5 nor an email: {exc}") from None


def suppression_search(text: str) -> str:
    """What a search for `text` matches on the list: the MD5 of an email (`@` in it), else the
    start of an MD5 (hex digits). Raises ValueError(reason) for anything else."""
    text = text.strip()
    if "@" in text:
        return suppression_md5(text)
    if re.fullmatch(r"[0-9a-fA-F]{1,32}", text):
        return text.lower()
    raise ValueError(f"search by an email or (the start of) an MD5, not {shorten(text)}")


def _row(line: int, value: str) -> Row | RowError:
    try:
        return line, suppression_md5(value)
    except ValueError as exc:
        return RowError(line, str(exc))


def _csv_rows(path: Path, handle: BinaryIO) -> Iterator[Row | RowError]:
    records = csv_records(handle)
    first = next(records, None)
    if first is None:
        raise FileRejected(path, "no rows (the file is empty)")
    if isinstance(first, RowError):
        raise FileRejected(path, f"the first line cannot be read: {first.reason}")
    line, cells = first
    names = [cell.strip().lower() for cell in cells]
    if len(names) == 1 and names[0] not in COLUMNS:
        # A single column without a header: the first line is data.
        return _csv_values(records, first_value=(line, cells[0]), width=1, columns=[0])
    repeated = sorted(n for n, count in Counter(names).items() if count > 1 and n in COLUMNS)
    if repeated:
        raise FileRejected(path, f"the header repeats column(s): {', '.join(repeated)}")
    # email_md5 first: when a row has both, the MD5 is the value the list was keyed on.
    columns = [names.index(name) for name in ("email_md5", "email") if name in names]
    if not columns:
        raise FileRejected(
            path, "no email or email_md5 column (or a single column of values without a header)"
        )
    return _csv_values(records, first_value=None, width=len(names), columns=columns)


def _csv_values(
    records: Iterator[tuple[int, list[str]] | RowError],
    first_value: tuple[int, str] | None,
    width: int,
    columns: list[int],
) -> Iterator[Row | RowError]:
    if first_value is not None:
        yield _row(*first_value)
    for item in records:
        if isinstance(item, RowError):
            yield item
            continue
        line, cells = item
        if len(cells) != width:
            yield RowError(line, f"expected {width} cells, found {len(cells)}")
            continue
        value = next((cells[i] for i in columns if cells[i].strip()), None)
        if value is None:
            yield RowError(line, "no email or email_md5 value")
            continue
        yield _row(line, value)


def _jsonl_rows(handle: BinaryIO) -> Iterator[Row | RowError]:
    for item in jsonl_values(handle):
        if isinstance(item, RowError):
            yield item
            continue
        line, obj = item
        if not isinstance(obj, dict):
            yield RowError(
                line, 'each line must be an object: {"email": ...} or {"email_md5": ...}'
            )
            continue
        values = [obj.get(name) for name in ("email_md5", "email")]
        if any(value is not None and not isinstance(value, str) for value in values):
            yield RowError(line, "email and email_md5 must be strings")
            continue
        value = next((v for v in values if v and v.strip()), None)
        if value is None:
            yield RowError(line, "no email or email_md5 value")
            continue
        yield _row(line, value)


def _txt_rows(handle: BinaryIO) -> Iterator[Row | RowError]:
    for item in text_lines(handle):
        yield item if isinstance(item, RowError) else _row(*item)


class _SuppressionWriter:
    def __init__(self, conn: Connection, report: ImportReport, source: str) -> None:
        self.report = report
        self.insert = suppression_inserts(conn)
        self.notes = note_inserts(conn)
        self.source = source
        self.added_at = clock.now_iso()

    def write(self, conn: Connection, chunk: list[Row]) -> None:
        md5s = list({md5 for _, md5 in chunk})
        known = known_md5s(conn, md5s)
        fresh: list[tuple[str]] = []
        for _, md5 in chunk:
            if md5 in known:
                self.report.unchanged += 1
                continue
            known.add(md5)
            fresh.append((md5,))
        self.report.inserted += len(fresh)
        self.insert.run(conn, fresh)
        self.notes.run(conn, [(md5, self.source, self.added_at) for (md5,) in fresh])


def import_suppressions(store: Store, path: Path, *, encoding: str | None = None) -> ImportReport:
    """Insert-or-ignore the suppressions of a `.csv`, `.jsonl`/`.ndjson` or `.txt` file, in one
    transaction. Bad rows are reported and skipped; FileRejected (nothing written) when the file
    as a whole is not a suppression list. `encoding`: see `console.ingest.reader.open_text`
    (None: UTF-8, or UTF-16 by its BOM)."""
    path = Path(path)
    fmt = file_format(
        path, ("csv", "jsonl", "txt"), "suppressions are read from .csv, .jsonl, .ndjson or .txt"
    )
    report = ImportReport(kind="suppressions", path=str(path))
    with open_text(path, encoding) as handle:
        if fmt == "csv":
            rows = _csv_rows(path, handle)
        elif fmt == "jsonl":
            rows = _jsonl_rows(handle)
        else:
            rows = _txt_rows(handle)
        return write_chunks(
            store, report, rows, lambda conn: _SuppressionWriter(conn, report, path.name).write
        )
