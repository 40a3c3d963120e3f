"""How the ReSci sandbox reads an upload: the multipart/form-data body and the users CSV in it,
checked as ``resci.py``'s contract describes (whole-file problems refuse the upload; row problems
become the job's per-row errors)."""

from __future__ import annotations

import csv
import datetime
import io
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any

REQUIRED_COLUMNS = ("record_id", "email", "account_created_on")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def is_valid_email(email: object) -> bool:
    """The sandbox's deliberately simple email check: one ``@``, a dotted domain, no spaces."""
    if not isinstance(email, str) or not email or any(c.isspace() for c in email):
        return False
    local, at, domain = email.partition("@")
    if not at or not local or "@" in domain:
        return False
    labels = domain.split(".")
    return len(labels) >= 2 and all(labels)


def is_valid_date(value: object) -> bool:
    """True for a real calendar date written ``YYYY-MM-DD``."""
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def check_users_csv(text: str, reject: set[str]) -> tuple[list[str], int, list[dict[str, Any]]]:
    """Validate a users CSV in one streaming pass: (columns, data row count, per-row errors).

    Raises ``ValueError`` for problems that refuse the whole file.
    """
    if "\x00" in text:
        raise ValueError("users file is not a CSV (contains NUL bytes)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if not header:
            raise ValueError("users file is empty: a header row is required")
        columns = [c.strip() for c in header]
        if any(not c for c in columns):
            raise ValueError("users file has an empty column name in its header")
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise ValueError(f"users file has duplicate columns: {', '.join(duplicates)}")
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"users file is missing required columns: {', '.join(missing)}")
        i_email = columns.index("email")
        i_created = columns.index("account_created_on")
        i_record = columns.index("record_id")
        width = len(columns)
        errors: list[dict[str, Any]] = []
        row_number = 0
        for row in reader:
            if not row:
                continue  # blank line
            row_number += 1
            email = row[i_email].strip() if i_email < len(row) else ""
            if len(row) != width:
                message = f"row has {len(row)} fields, the header has {width}"
            elif not is_valid_email(email):
                message = "invalid email address"
            elif not is_valid_date(row[i_created].strip()):
                message = "account_created_on must be a date written YYYY-MM-DD"
            elif not row[i_record].strip():
                message = "record_id is empty"
            elif email.lower() in reject:
                message = f"rejected: {email.lower()} is on the sandbox's reject list"
            else:
                continue
            errors.append({"row": row_number, "email": email, "message": message})
    except csv.Error as exc:
        raise ValueError(f"users file is not a valid CSV: {exc}") from None
    return columns, row_number, errors


# --------------------------------------------------------------------------------------------
# multipart/form-data
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class FormPart:
    """One part of a multipart/form-data body."""

    name: str
    filename: str | None
    content_type: str
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> list[FormPart]:
    """Split a multipart/form-data body into parts; ``ValueError`` with a 400-ready message.

    Written with ``bytes.find`` rather than the ``email`` feed parser so a large CSV upload is
    split in linear time without line-by-line processing. Part headers are parsed with the
    ``email`` package, which handles quoting and RFC 2231 file names.
    """
    header = Message()
    header["content-type"] = content_type or "text/plain"
    if header.get_content_type() != "multipart/form-data":
        raise ValueError("expected a multipart/form-data body")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("multipart/form-data without a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    start = body.find(delimiter)
    if start < 0:
        raise ValueError("multipart body does not contain its boundary")
    parts: list[FormPart] = []
    position = start + len(delimiter)
    next_delimiter = b"\r\n" + delimiter
    header_parser = BytesHeaderParser()
    while True:
        if body.startswith(b"--", position):
            return parts  # closing delimiter
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise ValueError("multipart body is truncated")
        part_start = line_end + 2
        end = body.find(next_delimiter, part_start)
        if end < 0:
            raise ValueError("multipart body is truncated (no closing boundary)")
        raw = body[part_start:end]
        head, sep, data = raw.partition(b"\r\n\r\n")
        if not sep:
            # A part with no headers at all starts directly with the blank line.
            if raw.startswith(b"\r\n"):
                head, data = b"", raw[2:]
            else:
                raise ValueError("multipart part without a header/body separator")
        headers = header_parser.parsebytes(head + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise ValueError("multipart part without a Content-Disposition name")
        parts.append(
            FormPart(
                name=name,
                filename=headers.get_filename(),
                content_type=headers.get_content_type(),
                data=data,
            )
        )
        position = end + len(next_delimiter)
