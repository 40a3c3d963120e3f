"""Importing contacts (the seed's Grow traits) from CSV or JSONL into `contacts`.

A contact is keyed by its normalised email. Each import upserts: a new email is inserted with a
fresh `seq`, a known email whose content changed is updated with a fresh `seq`, and a known
email with the same content is left alone, so re-importing a file changes nothing and
destinations (which keep a cursor on `seq`) see only real changes.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import orjson
from email_validator import EmailNotValidError, validate_email

from console.core import clock
from console.core.fields import CONTACT_FIELDS
from console.core.identity import email_md5
from console.ingest.reader import (
    MAX_TEXT_CHARS,
    NUL_REASON,
    csv_records,
    file_format,
    jsonl_values,
    open_text,
    parse_timestamp,
    shorten,
    write_chunks,
)
from console.ingest.report import FileRejected, ImportReport, RowError
from state.contacts import STORED_FIELDS, ContactWrites, known_contacts, max_seq
from state.db import Connection, Store
from state.forget import any_forgotten, forgotten_among

# Keys a file may carry: the contact fields, plus `id`, which exports of the seed carry and which
# is ignored because ids are the store's own.
ACCEPTED_KEYS: frozenset[str] = frozenset(CONTACT_FIELDS) | {"id"}
TIMESTAMP_FIELDS = ("clicked_at", "created_at", "updated_at")
MAX_EXTRA_DATA_BYTES = 32 * 1024

_CONTACT_GETTER = itemgetter(*CONTACT_FIELDS)
_STORED_GETTER = itemgetter(*STORED_FIELDS)


# --- email ------------------------------------------------------------------------------------

# Plain ASCII addresses without quoting, brackets or a display name: for these
# `validate_email` is the local-part check plus the domain check plus a length check, and the
# domain check (IDNA, ~13 us) repeats for every gmail.com address of a million-row file. So the
# fast path runs the library's own two checks and remembers good domains; anything unusual, and
# every failure, goes through `validate_email` itself, so results and reasons are the library's.
_SIMPLE_EMAIL = re.compile(r"[^@\s\"<>()\[\]\\,;:]+@[^@\s\"<>()\[\]\\,;:]+")
_EMAIL_MAX_LENGTH = 254
_GOOD_DOMAINS_MAX = 100_000
_good_domains: set[str] = set()

try:
    from email_validator.syntax import validate_email_domain_name, validate_email_local_part
except ImportError:  # a future email-validator may move these; the slow path still works
    validate_email_domain_name = validate_email_local_part = None  # type: ignore[assignment]


def _fast_email(text: str) -> str | None:
    """`text` when it is a simple address the library accepts unchanged, else None."""
    if (
        validate_email_local_part is None
        or len(text) > _EMAIL_MAX_LENGTH
        or not text.isascii()
        or not _SIMPLE_EMAIL.fullmatch(text)
    ):
        return None
    local, _, domain = text.partition("@")
    try:
        checked_local = validate_email_local_part(
            local, allow_smtputf8=True, allow_empty_local=False, quoted_local_part=False
        )
        if checked_local["local_part"] != local:
            return None
        if domain not in _good_domains:
            checked = validate_email_domain_name(
                domain, test_environment=False, globally_deliverable=True
            )
            if checked["domain"] != domain or checked["ascii_domain"] != domain:
                return None
            if len(_good_domains) >= _GOOD_DOMAINS_MAX:
                _good_domains.clear()
            _good_domains.add(domain)
    except Exception:  # any doubt: let validate_email decide and word the reason
        return None
    return text


FORMULA_FIRST_CHARACTERS = frozenset("=+-@")


def normalise_email(raw: str) -> str:
    """The email trimmed, lower-cased and validated by `email_validator` (syntax only, no DNS);
    the library's normalised form, which for ASCII addresses is the lower-cased input.

    Raises ValueError whose message is the library's reason (e.g. "An email address must have
    an @-sign."). Contacts, events and suppressions all key on this form.
    """
    text = raw.strip().lower()
    if not text:
        raise ValueError("The email address is empty.")
    if text[0] in FORMULA_FIRST_CHARACTERS:
        # Legal in a local part but almost never real, and spreadsheets opening the users CSV
        # sent to ReSci would run it as a formula; the email column cannot be neutralised
        # without changing the address, so such an address is refused here.
        raise ValueError(
            f"An email starting with {text[0]!r} is refused: spreadsheets run it as a formula."
        )
    fast = _fast_email(text)
    if fast is not None:
        return fast
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


# --- one contact ------------------------------------------------------------------------------


def contact_content_hash(values: Mapping[str, str | None]) -> str:
    """SHA-1 hex of a contact's normalised fields: all of CONTACT_FIELDS (created_at included)
    in that fixed order; a missing key counts as None and other keys (id, seq, ...) are ignored.
    Equal contacts hash equal, whatever the order of `values`."""
    try:
        fields = _CONTACT_GETTER(values)
    except KeyError:
        fields = tuple(values.get(name) for name in CONTACT_FIELDS)
    return hashlib.sha1(orjson.dumps(fields)).hexdigest()


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# `scheme://plain.host...`: the common case, read without urlsplit (4 us a call on unique URLs).
_PLAIN_HOST = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([A-Za-z0-9.-]+)(?:[:/?#]|$)")


def _host(url: str) -> str | None:
    plain = _PLAIN_HOST.match(url)
    if plain:
        return plain.group(1).lower()
    # A bare "shop.example/launch" has no scheme; read it as a host rather than a path.
    text = url if _SCHEME.match(url) else "//" + url
    try:
        return urlsplit(text).hostname or None
    except ValueError:  # e.g. an unclosed IPv6 bracket: keep the URL, derive nothing
        return None


def _length_error(key: str, value: str) -> str | None:
    if key == "extra_data":
        # Counted in UTF-8 bytes, as Segment counts its 32 KB message limit.
        if len(value) > MAX_EXTRA_DATA_BYTES // 4 and (
            len(value.encode("utf-8")) > MAX_EXTRA_DATA_BYTES
        ):
            return f"extra_data is larger than {MAX_EXTRA_DATA_BYTES // 1024} KB"
        return None
    if len(value) > MAX_TEXT_CHARS:
        return f"{key} is longer than {MAX_TEXT_CHARS:,} characters"
    return None


def _finish(values: dict[str, Any]) -> dict[str, Any]:
    """Normalise a contact whose text values are trimmed, with empty ones as None, and every
    CONTACT_FIELDS key present. `created_at` stays None when the row had none: the writer fills
    it (the stored value, or the import time). Raises ValueError(reason)."""
    email = values["email"]
    if email is None:
        raise ValueError("email is missing")
    try:
        values["email"] = email = normalise_email(email)
    except ValueError as exc:
        raise ValueError(f"email {shorten(email)}: {exc}") from None
    domain = values["email_domain"]
    values["email_domain"] = domain.lower() if domain else email.rpartition("@")[2]
    page_domain = values["landing_page_domain"]
    if page_domain:
        values["landing_page_domain"] = page_domain.lower()
    elif values["landing_page_url"]:
        values["landing_page_domain"] = _host(values["landing_page_url"])
    for name in TIMESTAMP_FIELDS:
        if values[name] is not None:
            values[name] = parse_timestamp(values[name], name)
    return values


# --- files ------------------------------------------------------------------------------------

Row = tuple[int, dict[str, Any]]


def _csv_header(path: Path, records: Iterator[tuple[int, list[str]] | RowError]) -> list[str]:
    first = next(records, None)
    if first is None:
        raise FileRejected(path, "no rows (the file is empty)")
    if isinstance(first, RowError):
        raise FileRejected(path, f"the header (line {first.line}) cannot be read: {first.reason}")
    _, cells = first
    # Headers written by hand or by spreadsheets vary in case and stray spaces.
    names = [cell.strip().lower() for cell in cells]
    if not all(names):
        raise FileRejected(path, "the header has an empty column name")
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise FileRejected(path, f"the header repeats column(s): {', '.join(repeated)}")
    unknown = [name for name in names if name not in ACCEPTED_KEYS]
    if unknown:
        raise FileRejected(
            path,
            f"unknown column(s) {', '.join(shorten(n, 40) for n in unknown)}; a contacts file "
            f"has email and any of: {', '.join(f for f in CONTACT_FIELDS if f != 'email')}",
        )
    if "email" not in names:
        raise FileRejected(path, "no email column; a contacts file must have one")
    return names


def _csv_rows(path: Path, handle: BinaryIO) -> Iterator[Row | RowError]:
    records = csv_records(handle)
    header = _csv_header(path, records)  # now, so a bad header fails before the transaction
    return _csv_contacts(header, records)


def _csv_contacts(
    header: list[str], records: Iterator[tuple[int, list[str]] | RowError]
) -> Iterator[Row | RowError]:
    width = len(header)
    for item in records:
        if isinstance(item, RowError):
            yield item
            continue
        line, cells = item
        if len(cells) != width:
            yield RowError(line, f"expected {width} cells as in the header, found {len(cells)}")
            continue
        values: dict[str, Any] = dict.fromkeys(CONTACT_FIELDS)
        reason = None
        for key, cell in zip(header, cells, strict=True):
            if len(cell) > MAX_TEXT_CHARS and (reason := _length_error(key, cell)):
                break
            text = cell.strip()
            if text:  # an empty cell is no value
                values[key] = text
        if reason:
            yield RowError(line, reason)
            continue
        values.pop("id", None)
        try:
            yield line, _finish(values)
        except ValueError as exc:
            yield RowError(line, str(exc))


def _jsonl_contacts(handle: BinaryIO) -> Iterator[Row | RowError]:
    for item in jsonl_values(handle):
        if isinstance(item, RowError):
            yield item
            continue
        line, obj = item
        try:
            yield line, _finish(_json_values(obj))
        except ValueError as exc:
            yield RowError(line, str(exc))


_JSON_TYPES = {
    "address_postal": "a string, a number or null",
    "extra_data": "an object, a string or null",
}


def _json_values(obj: object) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError("each line must be a JSON object (one contact)")
    unknown = [key for key in obj if key not in ACCEPTED_KEYS]
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(shorten(k, 40) for k in unknown)}")
    values: dict[str, Any] = dict.fromkeys(CONTACT_FIELDS)
    for key, value in obj.items():
        if key == "id" or value is None:
            continue
        if isinstance(value, str):
            text = value
        elif (
            key == "address_postal"
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            # Zip codes typed as numbers; 2134.0 means 2134.
            text = str(int(value) if isinstance(value, float) and value.is_integer() else value)
        elif key == "extra_data" and isinstance(value, dict):
            text = orjson.dumps(value).decode("utf-8")
        else:
            expected = _JSON_TYPES.get(key, "a string or null")
            raise ValueError(f"{key} must be {expected}, not {_json_type(value)}")
        reason = _length_error(key, text)
        if reason:
            raise ValueError(reason)
        if "\x00" in text:  # a JSON "\u0000"; see reader.NUL_REASON
            raise ValueError(f"{key} {NUL_REASON}")
        values[key] = text.strip() or None
    return values


def _json_type(value: object) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "an array"}.get(
        type(value), "an object"
    )


# --- writing ----------------------------------------------------------------------------------

FORGOTTEN_REASON = (
    "this email was forgotten (an erasure request); lift its suppression to import it again"
)


def skip_forgotten(
    conn: Connection,
    chunk: list[tuple[int, Any]],
    email_of: Callable[[Any], str | None],
    report: ImportReport,
) -> list[tuple[int, Any]]:
    """The chunk without rows of forgotten emails, each rejected with the reason: an erased
    contact is not brought back by a re-import of an old file."""
    md5s = {line: email_md5(email) for line, row in chunk if (email := email_of(row))}
    forgotten = forgotten_among(conn, list(md5s.values()))
    if not forgotten:
        return chunk
    kept = []
    for line, row in chunk:
        if md5s.get(line) in forgotten:
            report.reject(line, FORGOTTEN_REASON)
        else:
            kept.append((line, row))
    return kept


class _ContactWriter:
    """Upserts chunks of cleaned contacts; `seq` counts up from the store's max at the start."""

    def __init__(self, conn: Connection, report: ImportReport, now: str) -> None:
        self.report = report
        self.now = now
        # One max() per import: the write transaction (BEGIN IMMEDIATE) keeps other writers out.
        self.next_seq = max_seq(conn) + 1
        self.writes = ContactWrites(conn)
        self.forgetting = any_forgotten(conn)

    def write(self, conn: Connection, chunk: list[Row]) -> None:
        if self.forgetting:
            chunk = skip_forgotten(conn, chunk, lambda values: values["email"], self.report)
        emails = list({values["email"] for _, values in chunk})
        # email -> [id, or None when inserted by this chunk; content_hash; created_at]
        known: dict[str, list[Any]] = {
            email: [row_id, digest, created_at]
            for row_id, email, digest, created_at in known_contacts(conn, emails)
        }
        inserts: dict[str, dict[str, Any]] = {}
        updates: dict[int, dict[str, Any]] = {}
        report = self.report
        for _, values in chunk:
            email = values["email"]
            current = known.get(email)
            if values["created_at"] is None:
                # No created_at in the file: a new contact was created now; a known one keeps
                # its date, so re-importing the same file is a no-op.
                values["created_at"] = current[2] if current else self.now
            digest = contact_content_hash(values)
            if current is not None and current[1] == digest:
                report.unchanged += 1
                continue
            values["content_hash"] = digest
            values["seq"] = self.next_seq
            self.next_seq += 1
            if current is None:
                known[email] = [None, digest, values["created_at"]]
                inserts[email] = values
                report.inserted += 1
                continue
            # The later row for an email wins, whether the earlier one is stored or pending.
            current[1] = digest
            if current[0] is None:
                inserts[email] = values
            else:
                updates[current[0]] = values
            report.updated += 1
        if inserts:
            self.writes.insert(conn, [_STORED_GETTER(values) for values in inserts.values()])
        if updates:
            self.writes.update(
                conn, [(*_STORED_GETTER(values), row_id) for row_id, values in updates.items()]
            )


def import_contacts(store: Store, path: Path, *, encoding: str | None = None) -> ImportReport:
    """Upsert the contacts of a `.csv`, `.jsonl` or `.ndjson` file, in one transaction.

    Bad rows are reported (line and reason) and skipped; the good ones land. Raises
    FileRejected, with nothing written, when the file as a whole is not a contacts file.
    `encoding`: see `console.ingest.reader.open_text` (None: UTF-8, or UTF-16 by its BOM).
    """
    path = Path(path)
    fmt = file_format(path, ("csv", "jsonl"), "contacts are read from .csv, .jsonl or .ndjson")
    report = ImportReport(kind="contacts", path=str(path))
    now = clock.now_iso()
    with open_text(path, encoding) as handle:
        rows = _csv_rows(path, handle) if fmt == "csv" else _jsonl_contacts(handle)
        return write_chunks(
            store, report, rows, lambda conn: _ContactWriter(conn, report, now).write
        )
